"""Payments: the list with its filters and CSV export, one payment's page with its timeline,
and what staff can do to a payment (retry, resend the receipt, mark resolved). No action here
can charge a card: retry posts to PIMS or voids, resend sends an email."""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from .. import mailer
from ..payments import record, staff, states
from ..payments.ledger import get_ledger
from ..payments.posting import to_be_voided
from ..payments.receipts import build_receipt, send_receipt, sent_to_another_address
from . import activity, payment_search
from .blueprint import bp
from .forms import ResendForm, ResolveForm

log = logging.getLogger("cpp.audit")
# The biggest CSV export in one go (the filter narrows it further).
CSV_MAX_ROWS = 50_000


@bp.get("/payments")
def payments():
    filters = payment_search.PaymentFilter.from_args(request.args)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), payment_search.LAST_PAGE)
    found, total = payment_search.search(filters, page)
    pages = max((total + payment_search.PAGE_SIZE - 1) // payment_search.PAGE_SIZE, 1)
    return render_template("staff/payments.html", payments=found, total=total, page=page,
                           pages=pages, filters=filters, all_states=states.ALL_PAYMENT_STATES,
                           locations=payment_search.locations_in_ledger())


@bp.get("/payments.csv")
def payments_csv():
    filters = payment_search.PaymentFilter.from_args(request.args)
    found, _ = payment_search.search(filters, page_size=CSV_MAX_ROWS)
    activity.record("exported payments", str(filters.as_args()), who=g.staff.email)
    return Response(csv_rows(found), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=payments.csv"})


def csv_rows(found) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "created (UTC)", "customer code", "customer name", "invoices",
                     "amount", "state", "card", "last 4", "authorization", "PIMS payment id",
                     "receipt"])
    for p in found:
        writer.writerow([safe_cell(value) for value in (
            p.reference, p.created_at.strftime("%Y-%m-%d %H:%M:%S"), p.customer_code,
            p.customer_name, " ".join(p.invoice_numbers), f"{p.amount:.2f}", p.state,
            p.card_type or "", p.card_last4 or "", p.authorization_code or "",
            p.pims_payment_id or "", p.receipt_status)])
    yield out.getvalue()


def safe_cell(value: str) -> str:
    """No spreadsheet formula from PIMS data: a cell starting =, +, - or @ is made text."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def payment_or_404(reference: str):
    payment = get_ledger().get(reference.upper()[:20])
    if payment is None:
        abort(404)
    return payment


@bp.get("/payments/<reference>")
def payment(reference: str):
    found = payment_or_404(reference)
    return render_template("staff/payment.html", payment=found,
                           events=get_ledger().events(found.id), states=states,
                           must_void=found.state == states.NEEDS_ATTENTION
                           and to_be_voided(found),
                           resolve_form=ResolveForm(), resend_form=ResendForm())


@bp.post("/payments/<reference>/retry")
def retry(reference: str):
    found = payment_or_404(reference)
    if found.state != states.NEEDS_ATTENTION:
        flash("Only a payment that needs attention can be retried.", "error")
        return redirect(url_for("staff.payment", reference=found.reference), 303)
    activity.record("retried payment", found.reference, who=g.staff.email)
    try:
        after = staff.retry_for_staff(found)
    except staff.PaymentBusy:
        flash("Someone is working on this payment right now. Wait a minute and look again.",
              "error")
        return redirect(url_for("staff.payment", reference=found.reference), 303)
    if after.state == states.NEEDS_ATTENTION:
        flash(f"Tried again; it still needs attention: {after.failure_reason}", "error")
    else:
        flash(f"Done: the payment is now {after.state.replace('_', ' ')}.", "success")
    return redirect(url_for("staff.payment", reference=found.reference), 303)


@bp.post("/payments/<reference>/resolve")
def resolve(reference: str):
    found = payment_or_404(reference)
    form = ResolveForm()
    if found.state != states.NEEDS_ATTENTION:
        flash("Only a payment that needs attention can be marked resolved.", "error")
    elif not form.validate_on_submit():
        flash(form.problems(), "error")
    elif staff.resolve_for_staff(found, form.note.data.strip(), who=f"staff {g.staff.email}"):
        activity.record("resolved payment", f"{found.reference}: {form.note.data.strip()}",
                        who=g.staff.email)
        flash("Marked resolved. The note is in the payment's history.", "success")
    else:
        flash("The payment is being retried or changed meanwhile; nothing was marked. Look "
              "again in a minute.", "error")
    return redirect(url_for("staff.payment", reference=found.reference), 303)


@bp.post("/payments/<reference>/resend")
def resend(reference: str):
    found = payment_or_404(reference)
    form = ResendForm()
    if found.state != states.POSTED:
        flash("Only a completed (posted) payment has a receipt.", "error")
        return redirect(url_for("staff.payment", reference=found.reference), 303)
    if not form.validate_on_submit():
        flash(form.problems(), "error")
        return redirect(url_for("staff.payment", reference=found.reference), 303)
    to = (form.to.data or "").strip() or found.customer_email
    if not to:
        flash("There is no email address on file: type one in.", "error")
        return redirect(url_for("staff.payment", reference=found.reference), 303)
    activity.record("resent receipt", f"{found.reference} to {to}", who=g.staff.email)
    if to == found.customer_email and found.receipt_status in states.RECEIPT_STAFF_MAY_SEND:
        sent = send_receipt(found, by_staff=True)  # the receipt that never went: its record
    else:
        message = build_receipt(found)
        message.recipients = [to]
        try:
            mailer.send(message)
            sent = True
        except Exception as exc:  # noqa: BLE001 - told to the staff member, logged
            log.warning("receipt for %s not resent to %s: %s", found.reference, to,
                        mailer.failure(exc))
            sent = False
        who = f"staff {g.staff.email}"
        if sent and not sent_to_another_address(found, to, who):
            record.note(get_ledger(), found.id, f"receipt resent to {to}", who=who)
    flash(f"Receipt sent to {to}." if sent else
          "The receipt could not be sent: the mail server refused or did not answer. Check "
          "Health.", "success" if sent else "error")
    return redirect(url_for("staff.payment", reference=found.reference), 303)
