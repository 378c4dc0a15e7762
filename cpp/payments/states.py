"""A payment's whole life in one place: its states, the changes allowed between them, and the
decisions that pick the next state from what Cayan and PIMS report. Its receipt's states too.

Pure: no database, no network. cpp.payments.record applies a decision as a compare-and-set;
the settlement, posting and checkout modules gather the facts and call it.
docs/payment-states.md draws the same machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..cayan.models import SALE, VOID, CayanTransaction
from ..marks import N_  # failure reasons: stored in English, shown translated (cpp.i18n.reason)

# -- The payment ------------------------------------------------------------------------------

NEW = "new"                    # written, not yet sent to Cayan
STAGED = "staged"              # Cayan gave a TransportKey; the customer is on the card page
STAGE_FAILED = "stage_failed"  # Cayan refused to stage it; nothing charged
DECLINED = "declined"          # Cayan declined the card (or referral); nothing charged
CANCELLED = "cancelled"        # the customer pressed Cancel on the card page
EXPIRED = "expired"            # never came back, and Cayan confirms nothing was charged
REPLACED = "replaced"          # the customer started a new Pay Bill; Cayan confirmed no charge
APPROVED = "approved"          # Cayan confirmed the charge server to server; not yet in PIMS
POSTED = "posted"              # applied in PIMS: done
MISMATCH = "mismatch"          # charged but not to be kept (wrong amount, or late): voiding
VOIDED = "voided"              # that charge was voided
NEEDS_ATTENTION = "needs_attention"  # retries exhausted, or PIMS refused: shop staff must look
RESOLVED = "resolved"          # staff settled it by hand (in PIMS, or Cayan's Virtual Terminal)

ALLOWED: dict[str, frozenset[str]] = {
    NEW: frozenset({STAGED, STAGE_FAILED, EXPIRED}),
    STAGED: frozenset({APPROVED, DECLINED, CANCELLED, EXPIRED, REPLACED, MISMATCH}),
    # Cayan's card page cannot be withdrawn: a tab left open on it (or Back to it) can still
    # charge the card after its payment ended without a charge. Such a late charge is voided.
    DECLINED: frozenset({MISMATCH}),
    CANCELLED: frozenset({MISMATCH}),
    EXPIRED: frozenset({MISMATCH}),
    REPLACED: frozenset({MISMATCH}),
    APPROVED: frozenset({POSTED, NEEDS_ATTENTION}),
    MISMATCH: frozenset({VOIDED, NEEDS_ATTENTION}),
    NEEDS_ATTENTION: frozenset({POSTED, VOIDED, RESOLVED}),
}
ALL_PAYMENT_STATES = (NEW, STAGED, STAGE_FAILED, DECLINED, CANCELLED, EXPIRED, REPLACED,
                      APPROVED, POSTED, MISMATCH, VOIDED, NEEDS_ATTENTION, RESOLVED)
# A payment in one of these holds its invoices: no second payment may include them.
HOLDS_INVOICES = (NEW, STAGED, APPROVED, MISMATCH, NEEDS_ATTENTION)
NOTHING_CHARGED = (STAGE_FAILED, DECLINED, CANCELLED, EXPIRED, REPLACED)
# Left STAGED without a charge, but the card page may still be open somewhere (see ALLOWED):
# watched for a late charge for LATE_CHARGE_HOURS (cpp.payments.settlement.settle_late).
CARD_PAGE_MAY_BE_OPEN = (DECLINED, CANCELLED, EXPIRED, REPLACED)

# -- Its receipt ------------------------------------------------------------------------------

RECEIPT_NONE = "none"          # not sent yet (the payment is not posted yet, or just was)
RECEIPT_SENDING = "sending"    # claimed by one request or job, which is sending it now
RECEIPT_SENT = "sent"
RECEIPT_UNSENT = "unsent"      # the mail server failed: reconcile retries with backoff
RECEIPT_FAILED = "failed"      # MAX_ATTEMPTS tries failed: staff must look
RECEIPT_NO_EMAIL = "no_email"  # no usable address on file: nothing to send

RECEIPT_ALLOWED: dict[str, frozenset[str]] = {
    RECEIPT_NONE: frozenset({RECEIPT_SENDING}),
    RECEIPT_UNSENT: frozenset({RECEIPT_SENDING}),
    # Only staff (Resend on the dashboard) try a receipt again after MAX_ATTEMPTS failures.
    RECEIPT_FAILED: frozenset({RECEIPT_SENDING}),
    # A sender that died mid-send leaves "sending": reconcile claims it again after a while.
    RECEIPT_SENDING: frozenset({RECEIPT_SENDING, RECEIPT_SENT, RECEIPT_UNSENT, RECEIPT_FAILED,
                                RECEIPT_NO_EMAIL}),
}
RECEIPT_TO_SEND = (RECEIPT_NONE, RECEIPT_UNSENT, RECEIPT_SENDING)
RECEIPT_STAFF_MAY_SEND = (RECEIPT_NONE, RECEIPT_UNSENT, RECEIPT_FAILED)

# Columns a transition (or a note) may set besides the state.
UPDATABLE = frozenset({
    "transport_key", "validation_key", "cayan_token", "authorization_code", "card_type",
    "card_last4", "approved_cents", "pims_payment_id", "failure_reason", "receipt_status",
    "attempts", "next_attempt_at", "approved_at", "posted_at", "lease_until",
    "receipt_attempts", "receipt_next_at",
})

# -- The decisions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Where a payment goes next, why (for its history), and the customer's words if any."""
    to: str
    why: str
    failure_reason: str | None = None
    sale: CayanTransaction | None = None  # the approved sale whose details are recorded


def staged_payment_reported(staged: Decimal, rows: list[CayanTransaction],
                            browser_status: str | None, timed_out: bool) -> Decision | None:
    """A staged payment, as Cayan Reporting reports it. None: nothing to decide yet (the
    customer may still be on the card page)."""
    sales = [row for row in rows if row.transaction_type == SALE]
    approved = [row for row in sales if row.approved]
    if approved:
        sale = approved[0]
        if sale.amount == staged:
            return Decision(APPROVED, f"Cayan Reporting: APPROVED {sale.amount}", sale=sale)
        return Decision(MISMATCH, f"Cayan approved {amount_said(sale)} but {staged} was staged: "
                        "voiding", failure_reason="approved for a different amount", sale=sale)
    if sales:
        return Decision(DECLINED, f"Cayan Reporting: {sales[-1].approval_status}",
                        failure_reason=decline_reason(sales[-1]))
    if (browser_status or "").lower().startswith("user_cancelled"):
        return Decision(CANCELLED, "customer cancelled on the card page; Reporting shows no charge")
    if timed_out:
        return Decision(EXPIRED, "customer never came back; Reporting shows no charge")
    return None


def unsent_payment_reported(rows: list[CayanTransaction]) -> Decision:
    """A payment whose Pay Bill died before staging finished (nobody saw its card page)."""
    if rows:
        return Decision(STAGED, "Cayan has a transaction for it: settling as staged")
    return Decision(EXPIRED, "Pay Bill never finished staging; Reporting shows no charge",
                    failure_reason=N_("The payment was not started."))


# Why a late charge is being voided, in the customer's words, by the state it came from.
LATE_CHARGE_REASONS = {
    REPLACED: N_("This card page had been replaced by a newer payment before you paid on it"),
    EXPIRED: N_("This card page had timed out before you paid on it"),
    DECLINED: N_("This payment had already ended before you paid on its card page again"),
    CANCELLED: N_("This payment had already been cancelled before you paid on its card page"),
}


def ended_payment_reported(ended_as: str, rows: list[CayanTransaction]) -> Decision | None:
    """A payment that ended without a charge, looked up again: was it charged after all? A late
    charge is never posted (its invoices may be in a newer payment by now): it is voided."""
    approved = [row for row in rows if row.transaction_type == SALE and row.approved]
    if not approved:
        return None
    sale = approved[0]
    return Decision(MISMATCH, f"Cayan approved {amount_said(sale)} after the payment was "
                              f"{ended_as}: voiding", failure_reason=LATE_CHARGE_REASONS[ended_as],
                    sale=sale)


def amount_said(sale: CayanTransaction) -> str:
    """A sale's amount for a payment's history; Cayan's client reads an unreadable one as None."""
    return "an amount Reporting gave unreadably" if sale.amount is None else str(sale.amount)


def void_confirmed(rows: list[CayanTransaction]) -> bool:
    return any(row.transaction_type == VOID and row.approved for row in rows)


def after_failed_try(attempt: int, max_attempts: int, why: str,
                     with_staff: bool = False) -> Decision | None:
    """PIMS or Cayan could not be reached: try again later, or give up and ask staff. A
    payment already with staff (a staff retry) stays with them, for this reason now: nothing
    retries it on its own."""
    if attempt >= max_attempts:
        return Decision(NEEDS_ATTENTION, f"gave up after {attempt} attempts: {why}", why)
    if with_staff:
        return Decision(NEEDS_ATTENTION, f"attempt {attempt} failed: {why}", why)
    return None


def pims_refused(code: str, message: str) -> Decision:
    """PIMS understood and refused (an invoice paid at the counter meanwhile, say): retrying
    will not help, a person must look."""
    return Decision(NEEDS_ATTENTION, f"PIMS refused ApplyPayment: {code}: {message}", message)


def reference_of_another_customer(pims_id: str, customer_code: str) -> Decision:
    """PIMS holds a payment under this payment's reference, but another customer's: marking
    this one posted would leave its invoices unpaid, and applying it would be refused as a
    repeat. A person must look. (Not the customer's words: they name another account.)"""
    return Decision(NEEDS_ATTENTION, f"PIMS already has payment {pims_id} under this "
                    f"reference, for customer {customer_code}, not this payment's customer")


def voided_elsewhere() -> Decision:
    """Cayan shows the charge voided, though the portal never voided it: someone did, in
    Cayan's Virtual Terminal (a refund the customer asked for while PIMS was down, say).
    Applying it in PIMS would mark invoices paid with money that was given back."""
    return Decision(NEEDS_ATTENTION, "Cayan shows the charge voided outside the portal: not "
                    "posted to PIMS", "The charge was voided at Cayan, so it was not applied in "
                    "PIMS. Retry records it voided.")


def void_refused(message: str) -> Decision:
    return Decision(NEEDS_ATTENTION, f"Cayan refused the void: {message}",
                    f"void refused: {message}")


def to_be_voided(state: str, ever_mismatched: bool) -> bool:
    """Whether a charge must be voided rather than posted: it was ever in MISMATCH (a wrong
    amount, or a late charge), whatever has happened to it since."""
    return state in (MISMATCH, VOIDED) or (state == NEEDS_ATTENTION and ever_mismatched)


def decline_reason(sale: CayanTransaction) -> str:
    """Cayan's status in plain words for the customer."""
    status = sale.approval_status.upper()
    if status.startswith("REFERRAL"):
        return N_("Your card issuer asked for the payment to be referred to them. Please call "
                  "your bank, or try another card.")
    if "DUPLICATE" in status:
        return N_("The card processor saw this as a duplicate of an earlier payment.")
    detail = sale.error_message or (sale.approval_status.split(";")[-1]
                                    if ";" in sale.approval_status else "")
    detail = detail.strip().rstrip(".")
    return f"Your card was declined: {detail[0].lower()}{detail[1:]}." if detail \
        else N_("Your card was declined.")
