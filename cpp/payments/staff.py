"""What shop staff can do to a payment, from the command line or the dashboard. Nothing here
can charge a card."""
from __future__ import annotations

from . import record, states
from .ledger import Payment, get_ledger
from .posting import lease_seconds, to_be_voided, try_under_lease
from .receipts import send_receipt


class PaymentBusy(RuntimeError):
    """Someone else (another staff member, the reconcile job) is acting on it right now."""


def retry_for_staff(payment: Payment) -> Payment:
    """Staff asked to try a needs-attention payment again (PIMS is back, the invoice fixed).

    Under the payment's lease, like every post or void: a double click, two staff members, or
    staff and the reconcile job never post or void it twice.
    """
    if payment.state != states.NEEDS_ATTENTION:
        return payment
    # Charged but not to be kept: voided; charged for the right amount: it belongs in PIMS.
    if not try_under_lease(payment, voiding=to_be_voided(payment)):
        raise PaymentBusy(payment.reference)
    ledger = get_ledger()
    payment = ledger.get(payment.reference)
    if payment.state == states.POSTED and payment.receipt_status == states.RECEIPT_NONE:
        send_receipt(payment)
    return ledger.get(payment.reference)


def resolve_for_staff(payment: Payment, note: str, who: str) -> bool:
    """Staff settled a needs-attention payment by hand. Refused (False) while a retry of it is
    running, so a hand-made fix and an automatic one never both happen."""
    ledger = get_ledger()
    if not record.take_lease(ledger, payment.id, states.NEEDS_ATTENTION, lease_seconds()):
        return False
    try:
        return record.transition(ledger, payment.id, states.NEEDS_ATTENTION, states.RESOLVED,
                                 f"marked resolved: {note}", who=who)
    finally:
        record.release_lease(ledger, payment.id)
