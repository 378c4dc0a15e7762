"""What shop staff can do to a payment from the command line (and, later, the dashboard)."""
from __future__ import annotations

from . import states
from .ledger import Payment, get_ledger
from .posting import post_to_pims, to_be_voided, void_charge
from .receipts import send_receipt


def retry_for_staff(payment: Payment) -> Payment:
    """Staff asked to try a needs-attention payment again (PIMS is back, the invoice fixed)."""
    if payment.state != states.NEEDS_ATTENTION:
        return payment
    ledger = get_ledger()
    if to_be_voided(payment):
        void_charge(payment)  # charged but not to be kept: it must be voided
    else:
        post_to_pims(payment)  # charged for the right amount: it belongs in PIMS
    payment = ledger.get(payment.reference)
    if payment.state == states.POSTED and payment.receipt_status == states.RECEIPT_NONE:
        send_receipt(payment)
    return ledger.get(payment.reference)
