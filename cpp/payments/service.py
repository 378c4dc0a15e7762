"""Pay Bill and the return from Cayan: stage, verify server to server, post once, send receipt.

Nothing here trusts the browser. Amounts come from PIMS; the outcome comes from Cayan
Reporting; each step is a compare-and-set in the ledger, so a refresh, a double click, two tabs
or a replayed URL can never charge, post or email twice.
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from dataclasses import replace
from urllib.parse import quote

from flask import current_app, url_for

from .. import email_address
from ..cayan.client import get_cayan
from ..cayan.models import SALE, VOID, CayanError, CayanTransaction, CayanUnavailable
from ..formatting import absolute_url, money
from ..money import to_cents
from ..pims.client import get_pims
from ..pims.models import Allocation, PaymentToApply, PimsError, PimsUnavailable
from ..receipts import send_receipt
from ..selection import MAX_INVOICES_PER_PAYMENT, read_tick
from . import states
from .ledger import Payment, PaymentInvoice, get_ledger, utcnow
from .retry import next_attempt

log = logging.getLogger(__name__)
audit = logging.getLogger("cpp.audit")



class Refused(Exception):
    """Pay Bill cannot go ahead; the message is for the customer. Nothing was charged."""

    def __init__(self, message: str, resume_url: str | None = None):
        super().__init__(message)
        self.message = message
        self.resume_url = resume_url


class ReturnNotRecognised(Exception):
    """A return that does not match a staged payment: forged, edited or for someone else."""


# -- Pay Bill ------------------------------------------------------------------------------------

def parse_selection(values: list[str]) -> dict[str, int]:
    """Ticked boxes -> {invoice number: balance in cents the customer saw}."""
    picked: dict[str, int] = {}
    for value in values:
        tick = read_tick(value)
        if tick is None:
            raise Refused("We couldn't read your selection. Please reload the page and try again.")
        number, cents = tick
        picked[number] = cents
    if not picked:
        raise Refused("Tick at least one invoice to pay.")
    if len(picked) > MAX_INVOICES_PER_PAYMENT:
        raise Refused(f"Please pay at most {MAX_INVOICES_PER_PAYMENT} invoices at a time.")
    return picked


def start_payment(customer, selection: list[str]) -> str:
    """Check the ticked invoices against PIMS, record the payment, stage it with Cayan.

    Returns the URL of Cayan's card page.
    """
    picked = parse_selection(selection)
    open_invoices = {inv.number: inv for inv in get_pims().get_open_invoices(customer.code)}
    problems = []
    for number, seen_cents in picked.items():
        invoice = open_invoices.get(number)
        if invoice is None:
            problems.append(f"Invoice {number} is no longer open on your account.")
        elif to_cents(invoice.balance_due) != seen_cents:
            problems.append(f"The balance of invoice {number} has changed to "
                            f"{money(invoice.balance_due)}.")
    if problems:
        raise Refused(" ".join(problems) + " Please review your invoices and try again.")
    chosen = [open_invoices[number] for number in picked]
    invoices = [PaymentInvoice(i.number, i.balance_due, i.location, i.description, i.date)
                for i in chosen]
    ledger = get_ledger()
    email, email_problem = email_address.normalise(customer.customer.email)
    for _ in range(2):
        reference, holders = states.create(
            ledger, f"Pay Bill for {', '.join(picked)}",
            customer_code=customer.code, customer_name=customer.name,
            customer_email=email, invoices=invoices,
        )
        if reference:
            payment = ledger.get(reference)
            if email_problem and customer.customer.email:
                states.note(ledger, payment.id, f"no receipt possible: {email_problem}")
                # Shop staff can fix it in PIMS, for this customer's later payments.
                log.warning("EMAIL ADDRESS NEEDS FIXING IN PIMS: customer %s, payment %s: %s",
                            customer.code, payment.reference, email_problem)
            return stage(payment)
        freed = [expire_if_stale(holder) or replace_if_abandoned(holder, customer, set(picked))
                 for holder in holders]
        if not any(freed):
            return resume_or_refuse(holders, set(picked))
    return resume_or_refuse(holders, set(picked))


def stage(payment: Payment) -> str:
    config = current_app.config
    ledger = get_ledger()
    redirect_location = (config["PUBLIC_URL"].rstrip("/")
                         + url_for("payments.returned", ref=payment.reference))
    try:
        staged = get_cayan().create_transaction(
            amount=payment.amount, order_number=payment.reference,
            transaction_id=payment.transaction_id, redirect_location=redirect_location,
            customer_code=payment.customer_code, dba=config["SHOP_NAME"],
            logo_location=absolute_url(config.get("SHOP_LOGO")),
        )
    except CayanError as exc:
        states.transition(ledger, payment.id, states.NEW, states.STAGE_FAILED,
                          "Cayan refused to stage: " + "; ".join(exc.messages),
                          failure_reason="; ".join(exc.messages))
        raise Refused("The card processor couldn't start this payment ("
                      + "; ".join(exc.messages) + "). Nothing was charged. "
                      "Please try again, or call the shop.") from None
    except CayanUnavailable:
        states.transition(ledger, payment.id, states.NEW, states.STAGE_FAILED,
                          "Cayan unreachable while staging", failure_reason="Cayan unreachable")
        raise
    states.transition(ledger, payment.id, states.NEW, states.STAGED, "staged with Cayan",
                      transport_key=staged.transport_key, validation_key=staged.validation_key)
    audit.info("payment %s staged: %s for %s", payment.reference, payment.amount,
               payment.customer_code)
    return card_page_url(staged.transport_key)


def card_page_url(transport_key: str) -> str:
    return f"{current_app.config['CAYAN_TRANSPORTWEB_URL']}?transportKey={quote(transport_key)}"


def resume_or_refuse(holders: list[Payment], picked: set[str]) -> str:
    """Another payment holds some of these invoices: the same one again resumes it."""
    holders = [get_ledger().get(h.reference) for h in holders]  # as they are now
    for _ in range(25):  # a double click: the first request may still be staging
        if not any(h.state == states.NEW for h in holders):
            break
        time.sleep(0.2)
        holders = [get_ledger().get(h.reference) for h in holders]
    for holder in holders:
        if holder.state == states.STAGED and set(holder.invoice_numbers) == picked:
            # The customer may have paid it already and never come back: complete() asks Cayan.
            holder = complete(holder)
            if holder.state == states.STAGED:
                audit.info("payment %s resumed", holder.reference)
                return card_page_url(holder.transport_key)
            if holder.state in states.NOTHING_CHARGED:
                raise Refused("Your earlier payment for these invoices was not completed, "
                              "and nothing was charged. Please press Pay Bill again.")
            raise Refused(f"You have already paid {'these invoices' if len(picked) > 1 else 'this invoice'} "
                          f"(payment reference {holder.reference}); it is being applied to "
                          "your account. Please don't pay again.")
    busy = sorted({n for h in holders for n in h.invoice_numbers} & picked)
    holder = holders[0]
    which = ("invoice " if len(busy) == 1 else "invoices ") + ", ".join(busy)
    if holder.state == states.STAGED:
        raise Refused(
            f"{which[0].upper()}{which[1:]} {'is' if len(busy) == 1 else 'are'} already part of "
            "a payment you started "
            f"(reference {holder.reference}). You can continue that payment, or wait "
            f"{current_app.config['PAYMENT_TIMEOUT']} minutes and start again.",
            resume_url=card_page_url(holder.transport_key),
        )
    raise Refused(f"A payment for {which} is already being processed "
                  f"(reference {holder.reference}). Please check back shortly.")


def expire_if_stale(payment: Payment) -> bool:
    """A payment holding invoices for too long: settle it from Cayan's records. True if freed."""
    age = utcnow() - payment.updated_at
    config = current_app.config
    if payment.state == states.STAGED and age > dt.timedelta(minutes=config["PAYMENT_TIMEOUT"]):
        settle_staged(payment, browser_status=None, expire=True)
    elif payment.state == states.NEW and age > dt.timedelta(seconds=config["CAYAN_TIMEOUT"] * 2 + 30):
        settle_unsent(payment)
    else:
        return False
    return get_ledger().get(payment.reference).state in states.NOTHING_CHARGED


def replace_if_abandoned(holder: Payment, customer, picked: set[str]) -> bool:
    """The customer went back from the card page and chose differently: replace that payment.

    Only once Cayan Reporting confirms nothing was charged for it, the way a new Stripe
    Checkout session replaces an abandoned one. The same selection resumes the old card page
    instead (resume_or_refuse). True if the holder's invoices are free now.
    """
    if holder.state != states.STAGED or holder.customer_code != customer.code \
            or set(holder.invoice_numbers) == picked:
        return False
    if not settle_staged(holder, browser_status=None):
        return False  # Reporting cannot say whether it was paid: it keeps its invoices
    holder = get_ledger().get(holder.reference)
    if holder.state == states.STAGED and states.transition(
            get_ledger(), holder.id, states.STAGED, states.REPLACED,
            "the customer started a new Pay Bill; Reporting shows no charge",
            failure_reason="Replaced by a newer payment.", next_attempt_at=next_attempt(1)):
        audit.info("payment %s replaced by a new Pay Bill", holder.reference)
        return True
    return get_ledger().get(holder.reference).state in states.NOTHING_CHARGED


def settle_unsent(payment: Payment) -> None:
    """A payment that never got past NEW: its Pay Bill died before the customer saw the card page.

    Nobody was given its TransportKey, so nothing can have been charged; Reporting confirms it.
    """
    ledger = get_ledger()
    rows = cayan_records(payment)
    if rows is None:
        return
    if rows:
        log.error("payment %s never staged here, yet Cayan has a transaction for it",
                  payment.reference)
        if states.transition(ledger, payment.id, states.NEW, states.STAGED,
                             "Cayan has a transaction for it: settling as staged"):
            settle_staged(ledger.get(payment.reference), browser_status=None, expire=True)
        return
    states.transition(ledger, payment.id, states.NEW, states.EXPIRED,
                      "Pay Bill never finished staging; Reporting shows no charge",
                      failure_reason="The payment was not started.")


# -- The return ----------------------------------------------------------------------------------

def find_returned_payment(reference: str | None, args) -> Payment:
    """The payment a return belongs to, if the return proves it knows the ValidationKey."""
    ledger = get_ledger()
    payment = ledger.get(reference) if reference else None
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
             retry_now: bool = False) -> Payment:
    """Drive a payment as far as it can go now. Safe to call any number of times, concurrently.

    Retries respect the backoff unless `retry_now` (staff running `reconcile --all`).
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
    if payment.state == states.POSTED and payment.receipt_status == "none":
        send_receipt(payment)
        payment = ledger.get(payment.reference)
    return payment


def act_under_lease(payment: Payment) -> Payment:
    """Post (or void) it if no one else is; otherwise wait briefly for whoever is."""
    ledger = get_ledger()
    config = current_app.config
    lease = max(config["PIMS_TIMEOUT"], config["CAYAN_TIMEOUT"]) * 2 + 5
    if states.take_lease(ledger, payment.id, payment.state, lease):
        try:
            if payment.state == states.APPROVED:
                post_to_pims(payment)
            else:
                void_mismatch(payment)
        finally:
            states.release_lease(ledger, payment.id)
        return ledger.get(payment.reference)
    return wait_for_lease_holder(payment)


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


def settle_staged(payment: Payment, browser_status: str | None, expire: bool = False) -> bool:
    """Ask Cayan Reporting what really happened to a staged payment, and record it.

    False if Reporting could not say (the payment stays as it was).
    """
    ledger = get_ledger()
    rows = cayan_records(payment)
    if rows is None:
        return False
    sales = [row for row in rows if row.transaction_type == SALE]
    approved = [row for row in sales if row.approved]
    if len(approved) > 1:
        log.error("payment %s has %d approved sales at Cayan", payment.reference, len(approved))
    if approved:
        record_approval(payment, approved[0])
    elif sales:
        reason = decline_reason(sales[-1])
        states.transition(ledger, payment.id, states.STAGED, states.DECLINED,
                          f"Cayan Reporting: {sales[-1].approval_status}", failure_reason=reason)
    elif (browser_status or "").lower().startswith("user_cancelled"):
        states.transition(ledger, payment.id, states.STAGED, states.CANCELLED,
                          "customer cancelled on the card page; Reporting shows no charge")
    elif expire:
        states.transition(ledger, payment.id, states.STAGED, states.EXPIRED,
                          "customer never came back; Reporting shows no charge",
                          next_attempt_at=next_attempt(1))
    return True


# Why a late charge is being voided, in the customer's words, by the state it came from.
LATE_CHARGE_REASONS = {
    states.REPLACED: "This card page had been replaced by a newer payment before you paid on it",
    states.EXPIRED: "This card page had timed out before you paid on it",
    states.DECLINED: "This payment had already ended before you paid on its card page again",
    states.CANCELLED: "This payment had already been cancelled before you paid on its card page",
}
# After the watch ends, the reconcile query keeps a payment in view this much longer, so its
# last check (at the end of the watch) is never missed.
LATE_WATCH_SLACK = dt.timedelta(hours=6)


def late_watch_ends(payment: Payment) -> dt.datetime:
    """Until when a payment whose card page may still be open is checked for a late charge.

    Counted from its creation, when Cayan's card page was made; Cayan does not say how long
    that page lives, so LATE_CHARGE_HOURS is the shop's setting.
    """
    return payment.created_at + dt.timedelta(hours=current_app.config["LATE_CHARGE_HOURS"])


def settle_late(payment: Payment) -> None:
    """A payment that ended without a charge, whose card page may still be open: was it charged
    after all (a tab left open, Back to the card page)?

    A late charge cannot be posted (its invoices may be in a newer payment by now), so it is
    voided like a wrong-amount charge. Checked on its return, and by reconcile with backoff
    until late_watch_ends, with one last check then.
    """
    rows = cayan_records(payment)
    if rows is None:
        if utcnow() >= late_watch_ends(payment):
            log.warning("payment %s: Cayan Reporting could not be asked for a late charge at the "
                        "end of its watch; reconcile will try again", payment.reference)
        return
    approved = [row for row in rows if row.transaction_type == SALE and row.approved]
    if not approved:
        checks = payment.attempts + 1
        now, ends = utcnow(), late_watch_ends(payment)
        if now < ends:
            following = min(dt.datetime.fromisoformat(next_attempt(checks + 1)), ends)
            reason = "Reporting checked: no late charge"
        else:  # the last check: out of reconcile's view before it is due again
            following = ends + LATE_WATCH_SLACK + dt.timedelta(minutes=1)
            reason = "Reporting checked at the end of the watch: no late charge"
        states.note(get_ledger(), payment.id, reason, only_in=states.CARD_PAGE_MAY_BE_OPEN,
                    attempts=checks, next_attempt_at=following.isoformat())
        return
    sale = approved[0]
    if states.transition(
        get_ledger(), payment.id, payment.state, states.MISMATCH,
        f"Cayan approved {sale.amount} after the payment was {payment.state}: voiding",
        failure_reason=LATE_CHARGE_REASONS[payment.state], attempts=0, next_attempt_at=None,
        **approval_fields(sale),
    ):
        log.error("payment %s was charged %s after it was %s: voiding", payment.reference,
                  sale.amount, payment.state)


def to_be_voided(payment: Payment) -> bool:
    """Whether a charge on this payment must be voided, not posted: it was ever in MISMATCH
    (a wrong amount, or a late charge), whatever has happened to it since."""
    if payment.state in (states.MISMATCH, states.VOIDED):
        return True
    return payment.state == states.NEEDS_ATTENTION and any(
        event["to_state"] == states.MISMATCH for event in get_ledger().events(payment.id))


def cayan_records(payment: Payment) -> list[CayanTransaction] | None:
    """What Cayan Reporting knows of this payment's TransactionId; None if it cannot say now."""
    try:
        return get_cayan().transactions_by_transaction_id(payment.transaction_id)
    except (CayanUnavailable, CayanError) as exc:
        states.note(get_ledger(), payment.id, f"Reporting lookup failed: {exc}")
        return None


def record_approval(payment: Payment, sale: CayanTransaction) -> None:
    ledger = get_ledger()
    fields = approval_fields(sale)
    if sale.amount == payment.amount:
        if states.transition(ledger, payment.id, states.STAGED, states.APPROVED,
                             f"Cayan Reporting: APPROVED {sale.amount}", **fields):
            audit.info("payment %s approved by Cayan: %s", payment.reference, sale.amount)
        return
    if states.transition(
        ledger, payment.id, states.STAGED, states.MISMATCH,
        f"Cayan approved {sale.amount} but {payment.amount} was staged: voiding",
        failure_reason="approved for a different amount", **fields,
    ):
        log.error("payment %s approved for %s, staged %s: voiding", payment.reference,
                  sale.amount, payment.amount)


def approval_fields(sale: CayanTransaction) -> dict:
    return dict(cayan_token=sale.token, authorization_code=sale.authorization_code,
                card_type=sale.card_type, card_last4=sale.card_last4,
                approved_cents=to_cents(sale.amount) if sale.amount is not None else None,
                approved_at=utcnow().isoformat())


def void_mismatch(payment: Payment) -> None:
    ledger = get_ledger()
    attempt = record_attempt(payment, "voiding the wrong-amount charge")
    try:
        # An earlier void may have gone through with its answer lost: Cayan refuses a second.
        if attempt > 1 and already_voided(payment):
            states.transition(ledger, payment.id, (states.MISMATCH, states.NEEDS_ATTENTION),
                              states.VOIDED, "Cayan Reporting shows the charge already voided")
            return
        result = get_cayan().void(payment.cayan_token, payment.transaction_id)
        if not result.approved and already_voided(payment):
            result = replace(result, approved=True)
    except (CayanUnavailable, CayanError) as exc:
        give_up_or_retry(payment, attempt, f"void failed: {exc}")
        return
    if result.approved:
        states.transition(ledger, payment.id, (states.MISMATCH, states.NEEDS_ATTENTION),
                          states.VOIDED, f"voided at Cayan (void token {result.token})")
    else:
        needs_attention(payment, f"Cayan refused the void: {result.message}",
                        f"void refused: {result.message}")


def already_voided(payment: Payment) -> bool:
    rows = get_cayan().transactions_by_transaction_id(payment.transaction_id)
    return any(row.transaction_type == VOID and row.approved for row in rows)


def post_to_pims(payment: Payment) -> None:
    """Apply an approved payment in PIMS under our reference, exactly once.

    The attempt is written down before ApplyPayment goes out; any later attempt asks PIMS
    (GetPayment) whether an earlier one landed before applying again. PIMS also ignores a
    repeated reference, so even a lost answer cannot post twice.
    """
    ledger = get_ledger()
    pims = get_pims()
    attempt = record_attempt(payment, "posting to PIMS")
    try:
        existing = pims.get_payment(payment.reference) if attempt > 1 else None
        if existing is not None:
            pims_id = existing.payment_id
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
        give_up_or_retry(payment, attempt, f"PIMS unavailable: {exc}")
        return
    except PimsError as exc:
        # PIMS understood and refused (an invoice paid at the counter meanwhile, say):
        # retrying will not help, a person must look.
        needs_attention(payment, f"PIMS refused ApplyPayment: {exc.code}: {exc.message}",
                        exc.message)
        return
    if states.transition(ledger, payment.id, (states.APPROVED, states.NEEDS_ATTENTION),
                         states.POSTED, f"applied in PIMS as {pims_id}",
                         pims_payment_id=pims_id, posted_at=utcnow().isoformat(),
                         next_attempt_at=None):
        audit.info("payment %s posted to PIMS as %s", payment.reference, pims_id)


def record_attempt(payment: Payment, what: str) -> int:
    """Write the attempt down before making it; returns its number."""
    attempt = payment.attempts + 1
    states.note(get_ledger(), payment.id, f"attempt {attempt}: {what}", attempts=attempt,
                next_attempt_at=next_attempt(attempt))
    return attempt


def give_up_or_retry(payment: Payment, attempt: int, reason: str) -> None:
    if attempt >= current_app.config["MAX_ATTEMPTS"]:
        needs_attention(payment, f"gave up after {attempt} attempts: {reason}", reason)
    else:
        states.note(get_ledger(), payment.id, f"attempt {attempt} failed, will retry: {reason}")


def needs_attention(payment: Payment, why: str, reason: str) -> None:
    ledger = get_ledger()
    if payment.state == states.NEEDS_ATTENTION:  # a staff retry that failed again
        states.note(ledger, payment.id, why, failure_reason=reason)
    else:
        states.transition(ledger, payment.id, payment.state, states.NEEDS_ATTENTION, why,
                          failure_reason=reason)
    log_for_staff(ledger.get(payment.reference))


def retry_for_staff(payment: Payment) -> Payment:
    """Staff asked to try a needs-attention payment again (PIMS is back, the invoice fixed)."""
    if payment.state != states.NEEDS_ATTENTION:
        return payment
    ledger = get_ledger()
    if to_be_voided(payment):
        void_mismatch(payment)
    else:
        post_to_pims(payment)
    payment = ledger.get(payment.reference)
    if payment.state == states.POSTED and payment.receipt_status == "none":
        send_receipt(payment)
    return ledger.get(payment.reference)


def log_for_staff(payment: Payment) -> None:
    log.error(
        "PAYMENT NEEDS ATTENTION: reference %s, customer %s (%s, %s), amount %s, invoices %s, "
        "Cayan token %s, authorization %s, card %s %s, reason: %s",
        payment.reference, payment.customer_code, payment.customer_name, payment.customer_email,
        payment.amount, ", ".join(f"{i.number}={i.amount}" for i in payment.invoices),
        payment.cayan_token, payment.authorization_code, payment.card_type, payment.card_last4,
        payment.failure_reason,
    )


def decline_reason(sale: CayanTransaction) -> str:
    """Cayan's status in plain words for the customer."""
    status = sale.approval_status.upper()
    if status.startswith("REFERRAL"):
        return ("Your card issuer asked for the payment to be referred to them. Please call "
                "your bank, or try another card.")
    if "DUPLICATE" in status:
        return "The card processor saw this as a duplicate of an earlier payment."
    detail = sale.error_message or (sale.approval_status.split(";")[-1]
                                    if ";" in sale.approval_status else "")
    detail = detail.strip().rstrip(".")
    return f"Your card was declined: {detail[0].lower()}{detail[1:]}." if detail \
        else "Your card was declined."
