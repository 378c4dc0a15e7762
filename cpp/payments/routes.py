"""Pay Bill, the return from Cayan's card page, and the result / receipt pages."""
from __future__ import annotations

import datetime as dt
import logging
import re
import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..auth.session import end_session
from ..cayan.models import CayanUnavailable
from ..database import DatabaseError
from ..errors import loggable_path, render_error
from ..kiosk import is_kiosk
from ..selection import MAX_INVOICES_PER_PAYMENT, ticked_numbers, typed_amounts
from . import checkout, history, settlement, states
from .ledger import REFERENCE_ALPHABET, REFERENCE_LENGTH, get_ledger, utcnow
from .posting import to_be_voided

bp = Blueprint("payments", __name__)
log = logging.getLogger(__name__)

REFERENCE = re.compile(rf"^[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}\Z")


@bp.post("/pay")
@login_required
def pay():
    try:
        card_page = checkout.start_payment(current_user, request.form.getlist("invoice"),
                                           partial_amounts())
    except checkout.PayBillRefused as refusal:
        keep_for_another_try(refusal)
        return redirect(url_for("invoices.index"), 303)
    return to_the_card_page(card_page)


def to_the_card_page(card_page: str):
    """Off to Cayan's card page. On a kiosk the customer's session ends here: the card page
    has no countdown, and the next customer must not find this account behind Back. The
    return still shows the result (the ValidationKey proves it; remember_return)."""
    if is_kiosk():
        end_session()
    return redirect(card_page, 303)


@bp.get("/pay/resume/<reference>")
def resume(reference: str):
    """"Continue the payment you started", offered by a refused Pay Bill: through here, not a
    link straight to Cayan, so that a kiosk ends the customer's session on the way to the card
    page as it does for every other way there. Only the customer's own payment (logged in, or
    by their pay link), and only while its card page is still open for paying."""
    from ..links.routes import current_link  # cpp.links builds on this module

    link = None if current_user.is_authenticated else current_link()
    customer_code = current_user.code if current_user.is_authenticated else \
        (link["customer"]["code"] if link else None)
    payment = get_ledger().get(reference) if REFERENCE.match(reference) else None
    if payment is None or customer_code is None or payment.customer_code != customer_code \
            or payment.state != states.STAGED:
        flash(_("That payment can't be continued any more. Please choose your invoices "
                "again."), "error")
        return redirect(url_for("links.invoices" if link else "invoices.index"), 303)
    return to_the_card_page(checkout.card_page_url(payment.transport_key))


def keep_for_another_try(refusal) -> None:
    """A refused Pay Bill: say why, and keep the ticks and typed amounts for the next try."""
    flash(refusal.message, "error")
    if refusal.resume_url:
        session["resume_url"] = refusal.resume_url
    kept = ticked_numbers(request.form.getlist("invoice"), MAX_INVOICES_PER_PAYMENT)
    session["kept_selection"] = kept
    typed = partial_amounts()
    if typed:
        session["pending_amounts"] = {number: value[:20] for number, value in typed.items()
                                      if number in kept}


def partial_amounts() -> dict[str, str] | None:
    """The amounts typed on the invoices page, when the shop allows partial payments."""
    if not current_app.config["ALLOW_PARTIAL_PAYMENTS"]:
        return None
    return typed_amounts(request.form)


@bp.errorhandler(CayanUnavailable)
def cayan_unavailable(exc: CayanUnavailable):
    # Raised while staging: the payment is recorded as stage_failed, nothing was charged.
    log.warning("Cayan unavailable during %s %s: %s", request.method, loggable_path(), exc)
    return render_error(503, _("Card payments are temporarily unavailable"),
                        _("We can't reach the card processor right now. Nothing has been "
                          "charged. Please try again in a few minutes."))


@bp.get("/pay/return")
def returned():
    """Cayan sends the browser here. Everything in the query string is the customer's to edit."""
    reference = request.args.get("ref", "")
    if not REFERENCE.match(reference):
        return not_recognised()
    try:
        payment = settlement.find_returned_payment(reference, request.args)
        if current_user.is_authenticated and payment.customer_code != current_user.code:
            log.warning("payment return %s refused: opened by customer %s", reference,
                        current_user.code)
            return not_recognised()
        settlement.complete(payment, browser_status=request.args.get("Status", "")[:200],
                            receipt_soon=True)
    except settlement.ReturnNotRecognised as exc:
        log.warning("payment return refused: %s", exc)
        return not_recognised()
    except settlement.UnrecordedNoCharge as exc:
        log.error("the ledger could not record the end of payment %s (%s); it stays staged until "
                  "reconcile settles it", reference, exc)
        if exc.decision.to == states.CANCELLED:
            # Only this browser said so, and that was not recorded: until the payment times
            # out, Pay Bill takes it for a card page still open and offers it again.
            wait = _("Your card was not charged. We couldn't record this just now, so please "
                     "wait %(minutes)s minutes before you try again. Your payment reference is "
                     "%(reference)s.", minutes=current_app.config["PAYMENT_TIMEOUT"],
                     reference=reference)
        else:  # Cayan has the decline: the next Pay Bill finds it there
            wait = _("Your card was not charged. We couldn't record this just now, so please "
                     "wait a few minutes before you try again. Your payment reference is "
                     "%(reference)s.", reference=reference)
        return render_error(503, _("Your payment did not go through"), wait)
    except DatabaseError as exc:
        # The customer may just have been charged: never a bare "something went wrong".
        # Cayan has the sale under this reference and reconciliation will pick it up.
        log.error("PAYMENT NEEDS ATTENTION: the ledger could not record the return of payment "
                  "%s from Cayan (%s); run `flask --app app cpp reconcile` once the database "
                  "is writable again", reference, exc)
        return render_error(
            503, _("We couldn't finish recording your payment"),
            _("Your card may have been charged. Please don't pay again: the card processor has "
              "the payment on record, and the shop will see it and apply it to your invoices. "
              "Your payment reference is %(reference)s.", reference=reference))
    if just_paid(payment):
        remember_return(reference)
    # Post/redirect/get: the result page's URL carries no transaction data, and a refresh
    # of it only reads the ledger.
    return redirect(url_for("payments.result", reference=reference), 303)


@bp.get("/pay")
@login_required
def pay_is_a_button():
    """Nothing to GET here (an old bookmark, a link shared by mistake): the invoices page is."""
    return redirect(url_for("invoices.index"))


@bp.get("/payments")
@login_required
def history_page():
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 1000)
    lines, more = history.lines_for(current_user.code, page)
    return render_template("payments/history.html", lines=lines, page=page, more=more)


@bp.get("/payments/<reference>")
def result(reference: str):
    payment = own_payment(reference)
    uncharged = payment.state in (*states.NOTHING_CHARGED, states.VOIDED, states.MISMATCH)
    return render_template("payments/result.html", payment=payment, states=states,
                           to_be_voided=to_be_voided(payment),
                           paid_by=history.paid_since(payment) if uncharged else None,
                           late_reasons=states.LATE_CHARGE_REASONS.values())


@bp.get("/payments/<reference>/receipt")
def receipt(reference: str):
    payment = own_payment(reference)
    if not history.has_receipt(payment) or is_kiosk():  # a kiosk's receipts go by email only
        abort(404)
    return render_template("payments/receipt.html", payment=payment, states=states)


# How many verified returns one browser session remembers, and for how long it may show them
# without a login (see remember_return).
REMEMBERED_RETURNS = 5
REMEMBERED_FOR_SECONDS = 30 * 60


def just_paid(payment) -> bool:
    """This browser proved it came back from this payment's card page (the ValidationKey), so
    it may see the outcome even if its login timed out while the customer typed their card;
    but not an old return URL replayed from a shared computer's history: that needs a login."""
    window = dt.timedelta(minutes=2 * current_app.config["PAYMENT_TIMEOUT"])
    return utcnow() - payment.created_at <= window


def remember_return(reference: str) -> None:
    now = int(time.time())
    kept = [[ref, at] for ref, at in remembered_returns().items() if ref != reference]
    session["returned_payments"] = [*kept, [reference, now]][-REMEMBERED_RETURNS:]


def remembered_returns() -> dict[str, int]:
    """Reference -> when this browser came back with it, for the returns still shown."""
    # At the counter, only until the next customer could be there.
    kept = current_app.config["KIOSK_IDLE_SECONDS"] if is_kiosk() else REMEMBERED_FOR_SECONDS
    oldest = time.time() - kept
    try:
        return {ref: at for ref, at in session.get("returned_payments", []) if at >= oldest}
    except (TypeError, ValueError):  # a session written by an older version
        return {}


def own_payment(reference: str):
    """The logged-in customer's payment, or one this browser came back from Cayan with."""
    returned_here = reference in remembered_returns()
    if not current_user.is_authenticated and not returned_here:
        raise LoginNeeded
    if not REFERENCE.match(reference):
        abort(404)
    payment = get_ledger().get(reference)
    if current_user.is_authenticated:
        allowed = payment is not None and payment.customer_code == current_user.code
    else:
        allowed = payment is not None and returned_here
    if not allowed:  # someone else's payment looks exactly like one that does not exist
        abort(404)
    return payment


class LoginNeeded(Exception):
    """The page needs a logged-in customer; Flask-Login's handler sends them to log in."""


@bp.errorhandler(LoginNeeded)
def login_needed(exc: LoginNeeded):
    return current_app.login_manager.unauthorized()


def not_recognised():
    return render_error(
        404, _("We couldn't match this payment"),
        _("This payment link doesn't match a payment we started. If you were charged, the shop "
          "will see it and apply it; otherwise please log in and try again."),
    )
