"""A charged payment, finished: applied in PIMS exactly once, or its charge voided at Cayan.

Only the request (or job) holding the payment's lease acts on it; every attempt is written down
before it goes out, and failures back off (cpp.payments.retry) until MAX_ATTEMPTS, after which
cpp.payments.states hands the payment to shop staff.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace

from flask import current_app

from ..cayan.client import get_cayan
from ..cayan.models import CayanError, CayanUnavailable
from ..pims.client import get_pims
from ..pims.models import Allocation, PaymentToApply, PimsError, PimsUnavailable
from . import alerts, record, states
from .ledger import Payment, get_ledger, utcnow

log = logging.getLogger(__name__)
audit = logging.getLogger("cpp.audit")


def act_under_lease(payment: Payment) -> Payment:
    """Post (or void) it if no one else is; otherwise wait briefly for whoever is."""
    if not try_under_lease(payment, voiding=payment.state != states.APPROVED):
        return wait_for_lease_holder(payment)
    return get_ledger().get(payment.reference)


def try_under_lease(payment: Payment, voiding: bool) -> bool:
    """Post or void it as one attempt, under its lease (record.take_lease_to_try), if the
    lease is free and the payment still in the state it was read in. False if not."""
    ledger = get_ledger()
    attempt = record.take_lease_to_try(ledger, payment.id, payment.state, lease_seconds(),
                                       "voiding the charge" if voiding else "posting to PIMS")
    if attempt is None:
        return False
    try:
        if voiding:
            void_charge(payment, attempt)
        else:
            post_to_pims(payment, attempt)
    finally:
        record.release_lease(ledger, payment.id)
    return True


def lease_seconds() -> float:
    """Longer than posting or voiding can take (each call times out), so a live holder keeps it."""
    config = current_app.config
    return max(config["PIMS_TIMEOUT"], config["CAYAN_TIMEOUT"]) * 2 + 5


def wait_for_lease_holder(payment: Payment, longest: float = 10.0) -> Payment:
    """Show the outcome of the request that holds the lease rather than a half-way state."""
    ledger = get_ledger()
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        time.sleep(0.1)
        current = ledger.get(payment.reference)
        if current.state != payment.state or current.lease_until is None:
            return current
    return ledger.get(payment.reference)


def post_to_pims(payment: Payment, attempt: int) -> None:
    """Apply an approved payment in PIMS under our reference, exactly once.

    `attempt` was written down with the lease (record.take_lease_to_try) before ApplyPayment
    goes out; any later attempt asks PIMS (GetPayment) whether an earlier one landed before
    applying again. PIMS also ignores a repeated reference, so even a lost answer cannot post
    twice.
    """
    pims = get_pims()
    try:
        existing = pims.applied_payment(payment.reference) if attempt > 1 else None
        if existing is not None:
            pims_id, pims_customer = existing
            if pims_customer.casefold() != payment.customer_code.casefold():
                needs_attention(payment, states.reference_of_another_customer(*existing))
                return
        elif attempt > 1 and already_voided(payment):
            # A retry (reconcile, staff) comes minutes or days after Cayan confirmed the
            # charge: someone may have voided it at Cayan since. (The first try follows
            # Cayan's confirmation at once, and is not slowed by the question.)
            needs_attention(payment, states.voided_elsewhere())
            return
        else:
            pims_id, _ = pims.apply_payment(PaymentToApply(
                reference=payment.reference, customer_code=payment.customer_code,
                allocations=tuple(Allocation(i.number, i.amount) for i in payment.invoices),
                paid_at=payment.approved_at or utcnow(), card_type=payment.card_type,
                card_last4=payment.card_last4, authorization_code=payment.authorization_code,
                cayan_token=payment.cayan_token,
            ))
    except PimsUnavailable as exc:
        log.warning("payment %s charged but not yet posted: %s", payment.reference, exc)
        failed_try(payment, attempt, f"PIMS unavailable: {exc}")
        return
    except (CayanUnavailable, CayanError) as exc:  # Reporting could not say
        failed_try(payment, attempt, f"Cayan Reporting unavailable: {exc}")
        return
    except PimsError as exc:
        needs_attention(payment, states.pims_refused(exc.code, exc.message))
        return
    if record.transition(get_ledger(), payment.id, (states.APPROVED, states.NEEDS_ATTENTION),
                         states.POSTED, f"applied in PIMS as {pims_id}",
                         pims_payment_id=pims_id, posted_at=utcnow().isoformat(),
                         next_attempt_at=None):
        audit.info("payment %s posted to PIMS as %s", payment.reference, pims_id)


def void_charge(payment: Payment, attempt: int) -> None:
    """Void a charge that is not to be kept (a wrong amount, or a late charge), as attempt
    `attempt` (written down with the lease)."""
    try:
        # An earlier void may have gone through with its answer lost: Cayan refuses a second.
        if attempt > 1 and already_voided(payment):
            record.transition(get_ledger(), payment.id, (states.MISMATCH, states.NEEDS_ATTENTION),
                              states.VOIDED, "Cayan Reporting shows the charge already voided")
            return
        result = get_cayan().void(payment.cayan_token, payment.transaction_id)
        if not result.approved and already_voided(payment):
            result = replace(result, approved=True)
    except (CayanUnavailable, CayanError) as exc:
        failed_try(payment, attempt, f"void failed: {exc}")
        return
    if result.approved:
        record.transition(get_ledger(), payment.id, (states.MISMATCH, states.NEEDS_ATTENTION),
                          states.VOIDED, f"voided at Cayan (void token {result.token})")
    else:
        needs_attention(payment, states.void_refused(result.message))


def already_voided(payment: Payment) -> bool:
    return states.void_confirmed(get_cayan().transactions_by_transaction_id(payment.transaction_id))


def to_be_voided(payment: Payment) -> bool:
    """Whether a charge on this payment must be voided rather than posted (see states): it
    was ever in MISMATCH, or a retry found it voided at Cayan already (a staff Retry then
    records it voided, through void_charge)."""
    voided_elsewhere = states.voided_elsewhere().why  # that decision's line in the history
    ever_mismatched = payment.state == states.NEEDS_ATTENTION and any(
        event["to_state"] == states.MISMATCH or event["reason"] == voided_elsewhere
        for event in get_ledger().events(payment.id))
    return states.to_be_voided(payment.state, ever_mismatched)


def charge_kept(payment: Payment) -> bool:
    """Charged, and applied in PIMS or to be applied: not a charge that is being voided."""
    return payment.state in (states.APPROVED, states.POSTED) or (
        payment.state == states.NEEDS_ATTENTION and not to_be_voided(payment))


def charge_being_voided(payment: Payment) -> bool:
    """Charged, not to be kept, and not yet voided (the void failed, or is under way)."""
    return payment.state == states.MISMATCH or (
        payment.state == states.NEEDS_ATTENTION and to_be_voided(payment))


def failed_try(payment: Payment, attempt: int, why: str) -> None:
    decision = states.after_failed_try(attempt, current_app.config["MAX_ATTEMPTS"], why,
                                       with_staff=payment.state == states.NEEDS_ATTENTION)
    if decision is not None:
        needs_attention(payment, decision)
    else:
        record.note(get_ledger(), payment.id, f"attempt {attempt} failed, will retry: {why}")


def needs_attention(payment: Payment, decision: states.Decision) -> None:
    ledger = get_ledger()
    if payment.state == states.NEEDS_ATTENTION:  # a staff retry that failed again
        record.note(ledger, payment.id, decision.why, failure_reason=decision.failure_reason)
    else:
        record.transition(ledger, payment.id, payment.state, states.NEEDS_ATTENTION,
                          decision.why, failure_reason=decision.failure_reason)
    payment = ledger.get(payment.reference)
    log_for_staff(payment)
    alerts.alert_staff_once(payment)


def log_for_staff(payment: Payment) -> None:
    log.error(
        "PAYMENT NEEDS ATTENTION: reference %s, customer %s (%s, %s), amount %s, invoices %s, "
        "Cayan token %s, authorization %s, card %s %s, reason: %s",
        payment.reference, payment.customer_code, payment.customer_name, payment.customer_email,
        payment.amount, ", ".join(f"{i.number}={i.amount}" for i in payment.invoices),
        payment.cayan_token, payment.authorization_code, payment.card_type, payment.card_last4,
        payment.failure_reason,
    )
