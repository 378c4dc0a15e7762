"""Email receipts: built from templates (subject, text, HTML) with per-location senders, sent
once per posted payment, and the outcome recorded as the receipt's state (cpp.payments.states).

A mail server that is down never breaks the payment: the receipt is recorded as unsent and
`flask cpp reconcile` sends it later.
"""
from __future__ import annotations

import logging

from flask import current_app, render_template
from flask_babel import force_locale

from .. import mailer, shop
from ..formatting import absolute_url, portal_url
from . import receipt_sender, record, states
from .ledger import Payment, get_ledger, utcnow
from .retry import next_attempt

audit = logging.getLogger("cpp.audit")
log = logging.getLogger(__name__)


def location_settings(code: str | None) -> dict:
    """A location's mail settings from LOCATIONS (empty for an unknown one)."""
    return dict(current_app.config["LOCATIONS"].get(code or "", {}))


def email_logo_url() -> str | None:
    """The logo for email, as an absolute URL; None for SVG, which Gmail and Outlook don't show."""
    logo = current_app.config.get("SHOP_LOGO")
    if not logo or logo.lower().split("?")[0].endswith(".svg"):
        return None
    return absolute_url(logo)


def sender_for(location: dict) -> tuple[tuple[str, str] | str, str | None]:
    """The location's from-address, reply-to and name, falling back to the shop's defaults."""
    default = current_app.config["MAIL_DEFAULT_SENDER"]
    if isinstance(default, (list, tuple)):
        default_name, default_address = default
    else:
        default_name, default_address = current_app.config["SHOP_NAME"], default
    address = location.get("mail_sender") or default_address
    name = location.get("mail_sender_name") or default_name
    reply_to = location.get("mail_reply_to") or current_app.config.get("MAIL_REPLY_TO")
    return ((name, address) if name else address), reply_to


def build_receipt(payment: Payment) -> mailer.EncodedMessage:
    """The receipt in the language the customer paid in."""
    with force_locale(payment.language or current_app.config["DEFAULT_LANGUAGE"]):
        return receipt_message(payment)


def receipt_message(payment: Payment) -> mailer.EncodedMessage:
    codes = [invoice.location for invoice in payment.invoices]
    # The sender is the first location's; the footer lists every location the payment covered.
    sender, reply_to = sender_for(location_settings(codes[0] if codes else None))
    context = {"payment": payment, "shop_name": current_app.config["SHOP_NAME"],
               "location_name": lambda code: shop.location(code).name,
               "locations": [shop.location(code) for code in dict.fromkeys(codes)],
               "logo_url": email_logo_url(),
               # The first location's footer (Manage Settings > per-location email settings).
               "footer": location_settings(codes[0] if codes else None).get("receipt_footer"),
               # A portal that only runs at the counter (KIOSK_MODE) shows no receipt page.
               "receipt_url": None if current_app.config["KIOSK_MODE"] else
               portal_url("payments.receipt", reference=payment.reference)}
    subject = render_template("receipts/subject.txt", **context).strip()
    return mailer.EncodedMessage(
        subject=subject,  # on one line, inert (cpp.mailer.EncodedMessage)
        recipients=[payment.customer_email],
        body=render_template("receipts/receipt.txt", **context),
        html=render_template("receipts/receipt.html", **context),
        sender=sender,
        reply_to=reply_to,
    )


def send_receipt(payment: Payment, retry: bool = False, by_staff: bool = False,
                 soon: bool = False) -> bool:
    """Send the receipt of a posted payment once. Returns True if it went out now.

    `retry` (the reconcile job) also takes receipts that failed before, or whose sender died
    mid-send ('sending' for long); `by_staff` (Resend on the dashboard) also those that failed
    MAX_ATTEMPTS times. `soon` (the customer's return from the card page) claims it here and
    sends it from the background (cpp.payments.receipt_sender), so the page does not wait on
    the mail server; it returns False.
    """
    ledger = get_ledger()
    expected = (states.RECEIPT_STAFF_MAY_SEND if by_staff else
                states.RECEIPT_TO_SEND if retry else (states.RECEIPT_NONE,))
    claimed_at = utcnow().isoformat()
    # Taking over one left 'sending' (reconcile): only as it was when read, never from under
    # a sender that has taken it up since.
    seen_at = payment.updated_at.isoformat() \
        if retry and payment.receipt_status == states.RECEIPT_SENDING else None
    if not record.claim_receipt(ledger, payment.id, expected, at=claimed_at, seen_at=seen_at):
        return False
    if not payment.customer_email:
        record.receipt_outcome(ledger, payment.id, states.RECEIPT_NO_EMAIL,
                               "no email address on file: no receipt sent")
        return False
    if soon:
        receipt_sender.sender().submit(payment.reference, claimed_at)
        return False
    return deliver(payment)


def sent_to_another_address(payment: Payment, to: str, who: str) -> bool:
    """Staff sent the receipt to another address (a corrected one, Resend), and it went. A
    receipt that never reached the address on file (unsent, or failed every try) is done
    then: not retried to the old address, nor left under Needs attention. True if that was
    recorded; False if it was not such a receipt (or another sender holds it now)."""
    ledger = get_ledger()
    if not record.claim_receipt(ledger, payment.id, (states.RECEIPT_UNSENT,
                                                     states.RECEIPT_FAILED)):
        return False
    return record.receipt_outcome(ledger, payment.id, states.RECEIPT_SENT,
                                  f"receipt sent to {to}", who=who)


def deliver_claimed(reference: str, claimed_at: str) -> bool:
    """The background half of send_receipt(soon=True): send the receipt claimed at
    `claimed_at`, unless a forced reconcile has taken it over since (it sends it then)."""
    ledger = get_ledger()
    payment = ledger.get(reference)
    if payment is None or not record.take_claimed_receipt(ledger, payment.id, claimed_at):
        log.info("receipt for payment %s was taken over before it went; not sent here",
                 reference)
        return False
    return deliver(payment, who=receipt_sender.ACTOR)  # taking it changed only updated_at


def deliver(payment: Payment, who: str | None = None) -> bool:
    """Send a claimed receipt and record how it went. True if the mail server took it."""
    ledger = get_ledger()
    try:
        mailer.send(build_receipt(payment))
    except Exception as exc:  # noqa: BLE001 - any failure is this receipt's, never the payment's
        # (a refused address, a template error, a dead server): recorded and retried, and
        # after MAX_ATTEMPTS shown to staff; the payment itself is already done.
        attempt = payment.receipt_attempts + 1
        gave_up = attempt >= current_app.config["MAX_ATTEMPTS"]
        audit.warning("receipt for payment %s not sent: %s", payment.reference,
                      mailer.failure(exc))
        record.receipt_outcome(
            ledger, payment.id, states.RECEIPT_FAILED if gave_up else states.RECEIPT_UNSENT,
            f"receipt not sent (attempt {attempt}): {type(exc).__name__}", who=who,
            receipt_attempts=attempt, receipt_next_at=next_attempt(attempt))
        if gave_up:
            logging.getLogger("cpp").error(
                "RECEIPT NEEDS ATTENTION: payment %s to %s could not be emailed after %d tries",
                payment.reference, payment.customer_email, attempt)
        return False
    record.receipt_outcome(ledger, payment.id, states.RECEIPT_SENT,
                           f"receipt sent to {payment.customer_email}", who=who)
    audit.info("receipt for payment %s sent", payment.reference)
    return True
