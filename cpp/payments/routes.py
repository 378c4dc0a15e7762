"""Pay Bill, the return from Cayan's card page, and the result / receipt pages."""
from __future__ import annotations

import logging
import re
import sqlite3

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from ..cayan.models import CayanUnavailable
from ..errors import render_error
from . import service, states
from .ledger import REFERENCE_ALPHABET, REFERENCE_LENGTH, get_ledger

bp = Blueprint("payments", __name__)
log = logging.getLogger(__name__)

REFERENCE = re.compile(f"^[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}$")


@bp.post("/pay")
@login_required
def pay():
    try:
        card_page = service.start_payment(current_user, request.form.getlist("invoice"))
    except service.Refused as refusal:
        flash(refusal.message, "error")
        if refusal.resume_url:
            session["resume_url"] = refusal.resume_url
        return redirect(url_for("invoices.index"), 303)
    except CayanUnavailable:
        return render_error(503, "Card payments are temporarily unavailable",
                            "We can't reach the card processor right now. Nothing has been "
                            "charged. Please try again in a few minutes.")
    return redirect(card_page, 303)


@bp.get("/pay/return")
def returned():
    """Cayan sends the browser here. Everything in the query string is the customer's to edit."""
    reference = request.args.get("ref", "")
    if not REFERENCE.match(reference):
        return not_recognised()
    try:
        payment = service.find_returned_payment(reference, request.args)
        if current_user.is_authenticated and payment.customer_code != current_user.code:
            log.warning("payment return %s refused: opened by customer %s", reference,
                        current_user.code)
            return not_recognised()
        service.complete(payment, browser_status=request.args.get("Status", "")[:200])
    except service.ReturnNotRecognised as exc:
        log.warning("payment return refused: %s", exc)
        return not_recognised()
    except sqlite3.Error as exc:
        # The customer may just have been charged: never a bare "something went wrong".
        # Cayan has the sale under this reference and reconciliation will pick it up.
        log.error("PAYMENT NEEDS ATTENTION: the ledger could not record the return of payment "
                  "%s from Cayan (%s); run `flask --app app cpp reconcile` once the database "
                  "is writable again", reference, exc)
        return render_error(
            503, "We couldn't finish recording your payment",
            f"Your card may have been charged. Please don't pay again: the card processor has "
            f"the payment on record, and the shop will see it and apply it to your invoices. "
            f"Your payment reference is {reference}.")
    # Post/redirect/get: the result page's URL carries no transaction data, and a refresh
    # of it only reads the ledger.
    return redirect(url_for("payments.result", reference=reference), 303)


@bp.get("/payments/<reference>")
@login_required
def result(reference: str):
    payment = own_payment(reference)
    return render_template("payments/result.html", payment=payment, states=states)


@bp.get("/payments/<reference>/receipt")
@login_required
def receipt(reference: str):
    payment = own_payment(reference)
    if payment.state not in (states.POSTED, states.APPROVED, states.NEEDS_ATTENTION) \
            or payment.cayan_token is None:
        abort(404)
    return render_template("payments/receipt.html", payment=payment)


def own_payment(reference: str):
    if not REFERENCE.match(reference):
        abort(404)
    payment = get_ledger().get(reference)
    # Someone else's payment looks exactly like one that does not exist.
    if payment is None or payment.customer_code != current_user.code:
        abort(404)
    return payment


def not_recognised():
    return render_error(
        404, "We couldn't match this payment",
        "This payment link doesn't match a payment we started. If you were charged, the shop "
        "will see it and apply it; otherwise please log in and try again.",
    )
