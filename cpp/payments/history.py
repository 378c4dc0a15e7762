"""Your payments: what a customer sees of their own payments, in plain words.

Attempts that ended before anything was charged without the customer finishing them (timed
out, replaced by a newer Pay Bill, refused by Cayan before the card page) are left out: they
were never payments to the customer. Declines and cancellations stay, so a customer can see
that a card did not go through.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from . import states
from .ledger import Payment, get_ledger
from .posting import charge_kept, to_be_voided

NOT_SHOWN = (states.EXPIRED, states.REPLACED, states.STAGE_FAILED)
PAGE_SIZE = 25


@dataclass(frozen=True)
class PaymentLine:
    payment: Payment
    words: str
    tone: str  # ok, info, warning, error: how the state badge looks
    has_receipt: bool


def in_plain_words(payment: Payment) -> tuple[str, str]:
    s = payment.state
    if s == states.POSTED:
        return _("Paid"), "ok"
    if s in (states.APPROVED, states.NEEDS_ATTENTION):
        if s == states.NEEDS_ATTENTION and to_be_voided(payment):
            return _("Charge being cancelled by the shop"), "warning"
        return _("Charged; the shop is applying it to your invoices"), "info"
    if s == states.RESOLVED:
        return _("Settled by the shop"), "ok"
    if s in (states.NEW, states.STAGED):
        return _("In progress"), "info"
    if s == states.DECLINED:
        return _("Declined; nothing charged"), "error"
    if s == states.CANCELLED:
        return _("Cancelled; nothing charged"), "info"
    if s == states.MISMATCH:
        return _("Charge being cancelled"), "warning"
    if s == states.VOIDED:
        return _("Charge cancelled"), "info"
    return _("Not completed; nothing charged"), "info"


def paid_since(payment: Payment) -> Payment | None:
    """A later payment of the same customer that was charged for some of this one's invoices
    (a newer Pay Bill, another tab): an uncharged or voided payment's invoices may be paid, or
    partly paid, since it ended, and "pay again" would be refused."""
    later = [other for other in get_ledger().find(
                 states=(states.POSTED, states.APPROVED, states.NEEDS_ATTENTION),
                 customer_code=payment.customer_code, invoice_numbers=payment.invoice_numbers)
             if other.id > payment.id and charge_kept(other)]
    return later[-1] if later else None  # the first of them (find lists the newest first)


def has_receipt(payment: Payment) -> bool:
    """The printable receipt exists for a charge that is kept (as payments.routes.receipt)."""
    return charge_kept(payment) and payment.cayan_token is not None


def lines_for(customer_code: str, page: int = 1) -> tuple[list[PaymentLine], bool]:
    """One page of the customer's payments, newest first, and whether there are older ones."""
    ledger = get_ledger()
    shown = tuple(state for state in states.ALL_PAYMENT_STATES if state not in NOT_SHOWN)
    found = ledger.find(customer_code=customer_code, states=shown,
                        limit=page * PAGE_SIZE + 1)
    more = len(found) > page * PAGE_SIZE
    lines = []
    for payment in found[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]:
        words, tone = in_plain_words(payment)
        lines.append(PaymentLine(payment, words, tone, has_receipt(payment)))
    return lines, more
