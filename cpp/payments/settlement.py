"""The return from Cayan, and every later look at it: what really happened to a payment?

Nothing here trusts the browser. A return must prove it knows the payment's ValidationKey, and
the outcome always comes from Cayan Reporting, server to server; cpp.payments.states decides
what it means, and cpp.payments.record writes it down once, whoever asks first.
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging

from flask import current_app

from ..cayan.client import get_cayan
from ..cayan.models import SALE, CayanError, CayanTransaction, CayanUnavailable
from ..database import DatabaseError
from ..money import to_cents
from . import record, states
from .ledger import Payment, get_ledger, utcnow
from .posting import act_under_lease, wait_for_lease_holder
from .receipts import send_receipt
from .retry import next_attempt

log = logging.getLogger(__name__)
audit = logging.getLogger("cpp.audit")

# After the late-charge watch ends, reconcile keeps a payment in view this much longer, so its
# last check (at the end of the watch) is never missed.
LATE_WATCH_SLACK = dt.timedelta(hours=6)


class ReturnNotRecognised(Exception):
    """A return that does not match a staged payment: forged, edited or for someone else."""


class UnrecordedNoCharge(DatabaseError):
    """Cayan reported no charge (declined, cancelled), but the ledger could not record it: the
    payment stays staged, and reconcile settles it again once the ledger is writable."""

    def __init__(self, decision: states.Decision):
        super().__init__(f"could not record: {decision.why}")
        self.decision = decision


def find_returned_payment(reference: str | None, args) -> Payment:
    """The payment a return belongs to, if the return proves it knows the ValidationKey."""
    payment = get_ledger().get(reference) if reference else None
    if payment is None or payment.validation_key is None:
        raise ReturnNotRecognised(f"unknown reference {reference!r}")
    given = args.get("ValidationKey") or ""
    if not hmac.compare_digest(given.encode(), payment.validation_key.encode()):
        raise ReturnNotRecognised(f"wrong ValidationKey for {reference}")
    transport_key = args.get("TransportKey") or args.get("transportKey")
    if transport_key and not hmac.compare_digest(transport_key.encode(),
                                                 (payment.transport_key or "").encode()):
        raise ReturnNotRecognised(f"wrong TransportKey for {reference}")
    return payment


def complete(payment: Payment, browser_status: str | None = None,
             retry_now: bool = False, receipt_soon: bool = False) -> Payment:
    """Drive a payment as far as it can go now. Safe to call any number of times, concurrently.

    Retries respect the backoff unless `retry_now` (staff running `reconcile --all`).
    `receipt_soon`: a customer is waiting for the page, so the receipt goes from the
    background (cpp.payments.receipt_sender) rather than before the page.
    """
    ledger = get_ledger()
    if payment.state == states.STAGED:
        settle_staged(payment, browser_status)
        payment = ledger.get(payment.reference)
    elif payment.state in states.CARD_PAGE_MAY_BE_OPEN and payment.transport_key:
        settle_late(payment)
        payment = ledger.get(payment.reference)
    if payment.state in (states.APPROVED, states.MISMATCH):
        now = utcnow()
        if payment.lease_until is not None and payment.lease_until > now:
            payment = wait_for_lease_holder(payment)  # another request is posting it right now
        elif retry_now or payment.due(now):
            payment = act_under_lease(payment)
    if payment.state == states.POSTED and payment.receipt_status == states.RECEIPT_NONE:
        send_receipt(payment, soon=receipt_soon)
        payment = ledger.get(payment.reference)
    return payment


def settle_staged(payment: Payment, browser_status: str | None, expire: bool = False) -> bool:
    """Ask Cayan Reporting what really happened to a staged payment, and record it.

    False if Reporting could not say (the payment stays as it was).
    """
    rows = cayan_records(payment)
    if rows is None:
        return False
    approved = [row for row in rows if row.transaction_type == SALE and row.approved]
    if len(approved) > 1:
        log.error("payment %s has %d approved sales at Cayan", payment.reference, len(approved))
    decision = states.staged_payment_reported(payment.amount, rows, browser_status, expire)
    if decision is not None:
        try:
            apply(payment, states.STAGED, decision)
        except DatabaseError as exc:
            if decision.to in states.NOTHING_CHARGED:
                raise UnrecordedNoCharge(decision) from exc
            raise
    return True


def settle_unsent(payment: Payment) -> None:
    """A payment that never got past NEW: its Pay Bill died before the customer saw the card page.

    Nobody was given its TransportKey, so nothing can have been charged; Reporting confirms it.
    """
    rows = cayan_records(payment)
    if rows is None:
        return
    decision = states.unsent_payment_reported(rows)
    if decision.to == states.STAGED:
        log.error("payment %s never staged here, yet Cayan has a transaction for it",
                  payment.reference)
        if apply(payment, states.NEW, decision):
            settle_staged(get_ledger().get(payment.reference), browser_status=None, expire=True)
        return
    apply(payment, states.NEW, decision)


def late_watch_ends(payment: Payment) -> dt.datetime:
    """Until when a payment whose card page may still be open is checked for a late charge.

    Counted from its creation, when Cayan's card page was made; Cayan does not say how long
    that page lives, so LATE_CHARGE_HOURS is the shop's setting.
    """
    return payment.created_at + dt.timedelta(hours=current_app.config["LATE_CHARGE_HOURS"])


def settle_late(payment: Payment) -> None:
    """A payment that ended without a charge, whose card page may still be open: was it charged
    after all (a tab left open, Back to the card page)? Checked on its return, and by reconcile
    with backoff until late_watch_ends, with one last check then."""
    rows = cayan_records(payment)
    if rows is None:
        if utcnow() >= late_watch_ends(payment):
            log.warning("payment %s: Cayan Reporting could not be asked for a late charge at the "
                        "end of its watch; reconcile will try again", payment.reference)
        return
    decision = states.ended_payment_reported(payment.state, rows)
    if decision is not None:
        apply(payment, payment.state, decision, attempts=0, next_attempt_at=None)
        return
    checks = payment.attempts + 1
    now, ends = utcnow(), late_watch_ends(payment)
    if now < ends:
        following = min(dt.datetime.fromisoformat(next_attempt(checks + 1)), ends)
        reason = "Reporting checked: no late charge"
    else:  # the last check: out of reconcile's view before it is due again
        following = ends + LATE_WATCH_SLACK + dt.timedelta(minutes=1)
        reason = "Reporting checked at the end of the watch: no late charge"
    record.note(get_ledger(), payment.id, reason, only_in=states.CARD_PAGE_MAY_BE_OPEN,
                attempts=checks, next_attempt_at=following.isoformat())


def apply(payment: Payment, expected: str, decision: states.Decision, **fields) -> bool:
    """Record a decision of the state machine. False if another request got there first."""
    if decision.failure_reason is not None:
        fields["failure_reason"] = decision.failure_reason
    if decision.sale is not None:
        fields.update(approval_fields(decision.sale))
    if decision.to in states.CARD_PAGE_MAY_BE_OPEN:
        fields.setdefault("next_attempt_at", next_attempt(1))  # the late-charge watch begins
    done = record.transition(get_ledger(), payment.id, expected, decision.to, decision.why,
                             **fields)
    if done and decision.to == states.APPROVED:
        audit.info("payment %s approved by Cayan: %s", payment.reference, decision.sale.amount)
    elif done and decision.to == states.MISMATCH:
        log.error("payment %s: %s", payment.reference, decision.why)
    return done


def approval_fields(sale: CayanTransaction) -> dict:
    return dict(cayan_token=sale.token, authorization_code=sale.authorization_code,
                card_type=sale.card_type, card_last4=sale.card_last4,
                approved_cents=to_cents(sale.amount) if sale.amount is not None else None,
                approved_at=utcnow().isoformat())


def cayan_records(payment: Payment) -> list[CayanTransaction] | None:
    """What Cayan Reporting knows of this payment's TransactionId; None if it cannot say now."""
    try:
        return get_cayan().transactions_by_transaction_id(payment.transaction_id)
    except (CayanUnavailable, CayanError) as exc:
        record.note(get_ledger(), payment.id, f"Reporting lookup failed: {exc}")
        return None
