"""Pay Bill: check the ticks against PIMS, write the payment down, stage it with Cayan.

Amounts come from PIMS, never from the form. Writing the payment and checking that no other
payment holds its invoices are one write transaction (cpp.payments.record.create), so two tabs
or a double click cannot both stage a charge.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal
from urllib.parse import quote

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import email_address
from ..cayan.client import get_cayan
from ..cayan.models import CayanError, CayanUnavailable
from ..formatting import absolute_url, amount_as_typed, format_money, number_symbols
from ..i18n import formatting_locale, language
from ..marks import N_
from ..money import from_cents, to_cents
from ..pims.client import get_pims
from ..selection import MAX_INVOICES_PER_PAYMENT, amount_text, read_amount, read_tick
from . import record, states
from .ledger import Payment, PaymentInvoice, get_ledger, utcnow
from .posting import charge_being_voided, charge_kept
from .retry import next_attempt
from .settlement import complete, settle_staged, settle_unsent

log = logging.getLogger(__name__)
audit = logging.getLogger("cpp.audit")


class PayBillRefused(Exception):
    """Pay Bill cannot go ahead; the message is for the customer. Nothing was charged."""

    def __init__(self, message: str, resume_url: str | None = None):
        super().__init__(message)
        self.message = message
        self.resume_url = resume_url


def amount_to_pay(invoice, typed: dict[str, str] | None) -> Decimal:
    """The whole balance, or (partial payments allowed) the amount typed for it: two decimal
    places at most, at least MIN_PARTIAL_AMOUNT (or the whole balance, if that is less), at
    most the balance PIMS has now."""
    text = amount_text((typed or {}).get(invoice.number))
    if typed is None or not text:
        return invoice.balance_due
    locale = formatting_locale()
    cents = read_amount(text, group=number_symbols(locale)[1])
    balance = to_cents(invoice.balance_due)
    minimum = min(to_cents(Decimal(str(current_app.config["MIN_PARTIAL_AMOUNT"]))), balance)
    if cents is None:
        raise PayBillRefused(_("The amount for invoice %(number)s should look like %(example)s, "
                               "with at most two decimal places.", number=invoice.number,
                               example=amount_as_typed(invoice.balance_due, locale)))
    if cents > balance:
        raise PayBillRefused(_("You can pay at most %(amount)s on invoice %(number)s: its "
                               "balance due.", amount=format_money(invoice.balance_due),
                               number=invoice.number))
    if cents < minimum:
        raise PayBillRefused(_("Please pay at least %(amount)s on invoice %(number)s.",
                               amount=format_money(from_cents(minimum)), number=invoice.number))
    return from_cents(cents)


def parse_selection(values: list[str]) -> dict[str, int]:
    """Ticked boxes -> {invoice number: balance in cents the customer saw}."""
    picked: dict[str, int] = {}
    for value in values:
        tick = read_tick(value)
        if tick is None:
            raise PayBillRefused(_("We couldn't read your selection. Please reload the page "
                                   "and try again."))
        number, cents = tick
        picked[number] = cents
    if not picked:
        raise PayBillRefused(_("Tick at least one invoice to pay."))
    if len(picked) > MAX_INVOICES_PER_PAYMENT:
        raise PayBillRefused(_("Please pay at most %(most)s invoices at a time.",
                               most=MAX_INVOICES_PER_PAYMENT))
    return picked


def no_longer_open(customer_code: str, number: str) -> str:
    """Why a ticked invoice cannot be paid: most often, Back from a payment that paid it."""
    paid = get_ledger().find(states=(states.POSTED,), customer_code=customer_code,
                             invoice_numbers=[number], limit=1)
    if paid:
        return already_paid(number, paid[0].reference)
    return _("Invoice %(number)s is no longer open on your account.", number=number)


def already_paid(number: str, reference: str) -> str:
    return _("You have already paid invoice %(number)s (payment %(reference)s).",
             number=number, reference=reference)


def paid_on(number: str, payment: Payment) -> str:
    """What a posted payment did for one of its invoices: paid it, or paid part of it."""
    part = next((i for i in payment.invoices if i.number == number), None)
    if part is None or part.remaining is None:
        return already_paid(number, payment.reference)
    return _("You have paid %(amount)s of invoice %(number)s (payment %(reference)s); "
             "%(rest)s of it is still to pay.", amount=format_money(part.amount), number=number,
             reference=payment.reference, rest=format_money(part.remaining))


def start_payment(customer, selection: list[str], typed: dict[str, str] | None = None) -> str:
    """Check the ticked invoices against PIMS, record the payment, stage it with Cayan.

    `typed` holds the amounts typed for invoices when partial payments are allowed (None:
    every ticked invoice is paid in full). Returns the URL of Cayan's card page.
    """
    picked = parse_selection(selection)
    open_invoices = {inv.number: inv for inv in get_pims().get_open_invoices(customer.code)}
    problems = []
    for number, seen_cents in picked.items():
        invoice = open_invoices.get(number)
        if invoice is None:
            problems.append(no_longer_open(customer.code, number))
        elif to_cents(invoice.balance_due) != seen_cents:
            problems.append(_("The balance of invoice %(number)s has changed to %(amount)s.",
                              number=number, amount=format_money(invoice.balance_due)))
    if problems:
        raise PayBillRefused(" ".join([*problems, _("Please review your invoices and try again.")]))
    amounts = {number: amount_to_pay(open_invoices[number], typed) for number in picked}
    invoices = [PaymentInvoice(i.number, amounts[i.number], i.location, i.description, i.date,
                               balance=i.balance_due)
                for i in (open_invoices[number] for number in picked)]
    ledger = get_ledger()
    email, email_problem = email_address.normalise(customer.customer.email)
    for _attempt in range(2):
        reference, holders = record.create(
            ledger, f"Pay Bill for {', '.join(picked)}",
            customer_code=customer.code, customer_name=customer.name,
            customer_email=email, invoices=invoices, language=language(),
        )
        if reference:
            payment = ledger.get(reference)
            if email_problem and customer.customer.email:
                record.note(ledger, payment.id, f"no receipt possible: {email_problem}")
                # Shop staff can fix it in PIMS, for this customer's later payments.
                log.warning("EMAIL ADDRESS NEEDS FIXING IN PIMS: customer %s, payment %s: %s",
                            customer.code, payment.reference, email_problem)
            return stage(payment)
        freed = [expire_if_stale(holder) or replace_if_abandoned(holder, customer, amounts)
                 for holder in holders]
        if not any(freed):
            return resume_or_refuse(holders, amounts)
    return resume_or_refuse(holders, amounts)


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
        record.transition(ledger, payment.id, states.NEW, states.STAGE_FAILED,
                          "Cayan refused to stage: " + "; ".join(exc.messages),
                          failure_reason="; ".join(exc.messages))
        raise PayBillRefused(_("The card processor couldn't start this payment (%(why)s). "
                               "Nothing was charged. Please try again, or call the shop.",
                               why="; ".join(exc.messages))) from None
    except CayanUnavailable:
        record.transition(ledger, payment.id, states.NEW, states.STAGE_FAILED,
                          "Cayan unreachable while staging", failure_reason=N_("Cayan unreachable"))
        raise
    if not record.transition(ledger, payment.id, states.NEW, states.STAGED, "staged with Cayan",
                             transport_key=staged.transport_key,
                             validation_key=staged.validation_key):
        # Settled meanwhile: Cayan took so long to stage it that another request took it for
        # lost (expire_if_stale). Its card page must not be used: a charge there would only
        # be voided as a late charge.
        log.warning("payment %s was settled while Cayan staged it", payment.reference)
        raise PayBillRefused(_("This payment could not be started in time, and nothing was "
                               "charged. Please press Pay Bill again."))
    audit.info("payment %s staged: %s for %s", payment.reference, payment.amount,
               payment.customer_code)
    return card_page_url(staged.transport_key)


def card_page_url(transport_key: str) -> str:
    return f"{current_app.config['CAYAN_TRANSPORTWEB_URL']}?transportKey={quote(transport_key)}"


def selection_of(payment: Payment) -> dict[str, Decimal]:
    """What a payment pays: invoice number -> amount."""
    return {invoice.number: invoice.amount for invoice in payment.invoices}


def resume_or_refuse(holders: list[Payment], wanted: dict[str, Decimal]) -> str:
    """Another payment holds some of these invoices: the same one again (the same invoices,
    for the same amounts) resumes it."""
    picked = set(wanted)
    holders = [get_ledger().get(h.reference) for h in holders]  # as they are now
    for _attempt in range(25):  # a double click: the first request may still be staging
        if not any(h.state == states.NEW for h in holders):
            break
        time.sleep(0.2)
        holders = [get_ledger().get(h.reference) for h in holders]
    # Charged, not yet in PIMS: the customer paid and never came back from the card page (this
    # Pay Bill, or an earlier one, found the charge at Cayan). Post it now, while the customer
    # is here, rather than leave it, and the invoice open, until a reconcile pass.
    holders = [complete(h, receipt_soon=True) if h.state in (states.APPROVED, states.MISMATCH)
               else h for h in holders]
    for index, holder in enumerate(holders):
        if holder.state == states.STAGED and selection_of(holder) == wanted:
            # The customer may have paid it already and never come back: complete() asks Cayan.
            holder = holders[index] = complete(holder)
            if holder.state == states.STAGED:
                audit.info("payment %s resumed", holder.reference)
                return card_page_url(holder.transport_key)
            if holder.state in states.NOTHING_CHARGED:
                raise PayBillRefused(not_completed())
            if charge_kept(holder):
                raise PayBillRefused(ngettext(
                    "You have already paid this invoice (payment reference %(reference)s); it "
                    "is being applied to your account. Please don't pay again.",
                    "You have already paid these invoices (payment reference %(reference)s); "
                    "it is being applied to your account. Please don't pay again.",
                    len(picked), reference=holder.reference))
            # Its charge was not to be kept (charged for another amount): said below.
    # Posted just now (above): paid, which is what the customer is told, invoice by invoice.
    # (Never a new payment for them: their balances were read from PIMS before the posting.)
    paid = [paid_on(number, h) for h in holders
            if h.state == states.POSTED for number in sorted(set(h.invoice_numbers) & picked)]
    if paid:
        raise PayBillRefused(" ".join(paid))
    for holder in holders:
        refusal = charge_not_kept(holder, picked)
        if refusal:
            raise PayBillRefused(refusal)
    holding = [h for h in holders if h.state in states.HOLDS_INVOICES]
    if not holding and all(h.state in states.NOTHING_CHARGED for h in holders):
        raise PayBillRefused(not_completed())  # let go of them meanwhile (a stage that failed)
    holders = holding or holders
    busy = sorted({n for h in holders for n in h.invoice_numbers} & picked)
    holder = holders[0]
    numbers = ", ".join(busy)
    if holder.state == states.STAGED:
        raise PayBillRefused(
            ngettext("Invoice %(numbers)s is already part of a payment you started (reference "
                     "%(reference)s). You can continue that payment, or wait %(minutes)s "
                     "minutes and start again.",
                     "Invoices %(numbers)s are already part of a payment you started (reference "
                     "%(reference)s). You can continue that payment, or wait %(minutes)s "
                     "minutes and start again.",
                     len(busy), numbers=numbers, reference=holder.reference,
                     minutes=current_app.config["PAYMENT_TIMEOUT"]),
            resume_url=url_for("payments.resume", reference=holder.reference),
        )
    raise PayBillRefused(ngettext(
        "A payment for invoice %(numbers)s is already being processed (reference "
        "%(reference)s). Please check back shortly.",
        "A payment for invoices %(numbers)s is already being processed (reference "
        "%(reference)s). Please check back shortly.",
        len(busy), numbers=numbers, reference=holder.reference))


def not_completed() -> str:
    return _("Your earlier payment for these invoices was not completed, and nothing was "
             "charged. Please press Pay Bill again.")


def charge_not_kept(holder: Payment, picked: set[str]) -> str | None:
    """What to tell a customer whose earlier payment for these invoices was charged but could
    not be kept (another amount, a late charge): not that they paid, nor that a payment is
    still being processed, and nothing of the charge their bank may show for a while."""
    numbers = sorted(set(holder.invoice_numbers) & picked)
    if holder.state == states.VOIDED:
        return ngettext(
            "Your earlier payment for invoice %(numbers)s (reference %(reference)s) could not "
            "be kept, and its charge has been voided: the invoice is not paid yet. Please press "
            "Pay Bill again.",
            "Your earlier payment for invoices %(numbers)s (reference %(reference)s) could not "
            "be kept, and its charge has been voided: the invoices are not paid yet. Please "
            "press Pay Bill again.",
            len(numbers), numbers=", ".join(numbers), reference=holder.reference)
    if charge_being_voided(holder):
        return ngettext(
            "Your earlier payment for invoice %(numbers)s (reference %(reference)s) could not "
            "be kept, and its charge is being voided: the invoice is not paid yet. You can pay "
            "it once that is done; please check back later, or call the shop.",
            "Your earlier payment for invoices %(numbers)s (reference %(reference)s) could not "
            "be kept, and its charge is being voided: the invoices are not paid yet. You can "
            "pay them once that is done; please check back later, or call the shop.",
            len(numbers), numbers=", ".join(numbers), reference=holder.reference)
    return None


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


def replace_if_abandoned(holder: Payment, customer, wanted: dict[str, Decimal]) -> bool:
    """The customer went back from the card page and chose differently (other invoices, or
    other amounts of them): replace that payment.

    Only once Cayan Reporting confirms nothing was charged for it, the way a new Stripe
    Checkout session replaces an abandoned one. The same selection resumes the old card page
    instead (resume_or_refuse). True if the holder's invoices are free now.
    """
    if holder.state != states.STAGED or holder.customer_code != customer.code \
            or selection_of(holder) == wanted:
        return False
    if not settle_staged(holder, browser_status=None):
        return False  # Reporting cannot say whether it was paid: it keeps its invoices
    holder = get_ledger().get(holder.reference)
    if holder.state == states.STAGED and record.transition(
            get_ledger(), holder.id, states.STAGED, states.REPLACED,
            "the customer started a new Pay Bill; Reporting shows no charge",
            failure_reason=N_("Replaced by a newer payment."), next_attempt_at=next_attempt(1)):
        audit.info("payment %s replaced by a new Pay Bill", holder.reference)
        return True
    return get_ledger().get(holder.reference).state in states.NOTHING_CHARGED
