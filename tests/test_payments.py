"""Pay Bill end to end over real HTTP: the portal, the sandbox PIMS and Cayan, and real SMTP."""
from __future__ import annotations

import re
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from cpp.payments import record, states
from cpp.payments.ledger import Ledger
from cpp.payments.reconcile import reconcile
from cpp.sandbox.faults import Fault

from .live import eventually
from .visitor import Visitor, text_of

# The ledger's compare-and-set must hold on both databases the portal supports.
pytestmark = pytest.mark.both_databases

APPROVE = "4012000033330026"
APPROVE_MC = "5424180279791732"
DECLINE = "4000300011112220"
REFERRAL = "4000300011112238"
SHORT_AMOUNT = "4005550000000019"


def ledger_of(portal) -> Ledger:
    return portal[0].extensions["ledger"]


def only_payment(portal):
    payments = ledger_of(portal).find()
    assert len(payments) == 1, payments
    return payments[0]


def edit_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_full_visit_pays_two_invoices_posts_once_and_emails_a_receipt(portal, visitor, sandbox,
                                                                     smtp):
    visitor.login("M-1000")
    card_page = visitor.pay(["INV-10244", "INV-10252"])
    assert card_page.startswith(sandbox.url + "/sandbox/cayan/transportweb.aspx?transportKey=")
    back = visitor.card_page(card_page, APPROVE, name="Jordan Rivera")
    assert back.startswith(portal[1].url + "/pay/return?ref=")
    result = visitor.follow(back)
    assert result.status_code == 200 and "/payments/" in result.url
    text = text_of(result.text)
    assert "Thank you! Your payment was successful" in text
    assert "INV-10244" in text and "INV-10252" in text and "$546.50" in text
    assert "Visa ending in 0026" in text
    payment = only_payment(portal)
    assert payment.state == states.POSTED and payment.amount == Decimal("546.50")
    assert payment.authorization_code and payment.authorization_code in text
    assert payment.reference in text
    # PIMS has it exactly once, against those invoices
    pims_payments = sandbox.pims.all_payments()
    assert len(pims_payments) == 1 and pims_payments[0]["reference"] == payment.reference
    assert sandbox.pims.balance("INV-10244") == 0 and sandbox.pims.balance("INV-10252") == 0
    # the invoices are gone from the list
    remaining = visitor.invoice_choices()
    assert "INV-10244" not in remaining and "INV-10252" not in remaining and len(remaining) == 5
    # the receipt went out over SMTP, with what a receipt needs
    [mail] = smtp.wait_for(1)
    assert mail["rcpt_to"] == "jordan.rivera@example.com"
    assert "$546.50" in mail["subject"] and payment.reference in mail["subject"]
    for expected in ("INV-10244", "$199.00", "INV-10252", "$347.50", "Total paid: $546.50",
                     "Visa ending in 0026", payment.authorization_code, payment.reference,
                     "Test Repair - Main", "1 Main St, Testville", "(555) 010-0001",
                     "Test Repair - West"):
        assert expected in mail["text"], expected
    assert "INV-10252" in mail["html"] and "$546.50" in mail["html"]
    assert mail["sender"] == "Test Repair Main <main@shop.example>"  # the location's sender
    assert mail["reply_to"] == "desk@shop.example"
    # every state change is written down
    events = [(e["from_state"], e["to_state"]) for e in ledger_of(portal).events(payment.id)]
    assert (None, "new") in events and ("new", "staged") in events
    assert ("staged", "approved") in events and ("approved", "posted") in events


def test_location_without_its_own_sender_falls_back_to_the_shop(portal, visitor, smtp):
    visitor.login("M-1000")
    visitor.follow(visitor.card_page(visitor.pay(["INV-10252"]), APPROVE_MC))
    [mail] = smtp.wait_for(1)
    assert mail["sender"] == "Test Repair Shop <billing@shop.example>"
    assert "Mastercard ending in 1732" in mail["text"]


def test_printable_receipt_page(portal, visitor):
    visitor.login("M-1000")
    visitor.follow(visitor.card_page(visitor.pay(["INV-10260"]), APPROVE))
    payment = only_payment(portal)
    receipt = visitor.get(f"/payments/{payment.reference}/receipt")
    text = text_of(receipt.text)
    assert receipt.status_code == 200 and "Payment receipt" in text and "$99.00" in text


@pytest.mark.parametrize("card,state,words", [
    (DECLINE, states.DECLINED, "Your card was declined: insufficient funds."),
    (REFERRAL, states.DECLINED, "asked for the payment to be referred"),
])
def test_declined_and_referral_leave_the_invoices_payable(portal, visitor, sandbox, smtp, card,
                                                          state, words):
    visitor.login("M-1000")
    result = visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), card))
    text = text_of(result.text)
    assert "Your payment didn't go through" in text and words in text
    assert "Nothing was charged" in text and "Try another card" in text
    assert only_payment(portal).state == state
    assert sandbox.pims.all_payments() == [] and smtp.messages() == []
    assert "$199.00" in text  # the amount that didn't go through
    # "Try another card" stages the same invoice again, straight to a new card page.
    ticks = re.findall(r'name="invoice" value="([^"]+)"', result.text)
    assert ticks == ["INV-10244|19900"]
    again = visitor.pay_bill(ticks)
    assert "transportweb.aspx" in again.headers["Location"]
    visitor.follow(visitor.card_page(again.headers["Location"], APPROVE))
    assert sandbox.pims.balance("INV-10244") == 0


def test_cancel_on_the_card_page(portal, visitor, sandbox):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), None, action="cancel")
    assert "Status=User_Cancelled" in back
    text = text_of(visitor.follow(back).text)
    assert "Payment cancelled" in text and "Nothing was charged" in text
    assert only_payment(portal).state == states.CANCELLED
    assert "INV-10244" in visitor.invoice_choices()


def test_replayed_return_posts_once_and_shows_the_same_result(portal, visitor, sandbox, smtp):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10231"]), APPROVE)
    # Either: the background sender may have sent it before the browser followed the redirect.
    shown = text_of(visitor.follow(back).text)
    assert "A receipt is on its way" in shown or "A receipt has been emailed to" in shown
    smtp.wait_for(1)  # then the page says it was emailed, and stays the same
    first = text_of(visitor.follow(back).text)
    assert "A receipt has been emailed to" in first
    for _ in range(3):
        again = visitor.follow(back)
        assert text_of(again.text) == first
    assert len(sandbox.pims.all_payments()) == 1
    assert len(smtp.messages()) == 1
    payment = only_payment(portal)
    transitions = [e for e in ledger_of(portal).events(payment.id) if e["from_state"] != e["to_state"]]
    assert len(transitions) == 4  # created, staged, approved, posted: nothing more on replays


def test_declined_return_edited_to_approved_is_still_declined(portal, visitor, sandbox):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), DECLINE)
    forged = edit_query(back, Status="APPROVED", AuthCode="999999", AmountApproved="199.00")
    text = text_of(visitor.follow(forged).text)
    assert "Your payment didn't go through" in text
    assert only_payment(portal).state == states.DECLINED
    assert sandbox.pims.all_payments() == []


def test_return_with_a_wrong_validation_key_is_refused(portal, visitor, sandbox):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    forged = edit_query(back, ValidationKey="00000000-0000-0000-0000-000000000000")
    response = visitor.follow(forged)
    assert response.status_code == 404 and "We couldn't match this payment" in text_of(response.text)
    assert only_payment(portal).state == states.STAGED  # nothing trusted, nothing posted
    assert sandbox.pims.all_payments() == []
    visitor.follow(back)  # the genuine return still completes it
    assert only_payment(portal).state == states.POSTED


@pytest.mark.parametrize("change", [
    {"ref": "ZZZZZZZZ"},
    {"ref": "<script>"},
    {"TransportKey": "11111111-2222-3333-4444-555555555555"},
])
def test_return_for_an_unknown_payment_or_transport_key_is_refused(portal, visitor, sandbox,
                                                                   change):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    response = visitor.follow(edit_query(back, **change))
    assert response.status_code == 404
    assert sandbox.pims.all_payments() == []


def test_another_customer_cannot_use_or_view_a_payment(portal, visitor, sandbox):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    intruder = Visitor(portal[1].url)
    intruder.login("M-1001")
    assert intruder.follow(back).status_code == 404
    assert only_payment(portal).state == states.STAGED
    visitor.follow(back)
    reference = only_payment(portal).reference
    for path in (f"/payments/{reference}", f"/payments/{reference}/receipt"):
        response = intruder.get(path)
        assert response.status_code == 404 and "INV-10244" not in response.text
    assert visitor.get(f"/payments/{reference}").status_code == 200


def test_approved_for_a_different_amount_is_voided_not_posted(portal, visitor, sandbox, smtp):
    visitor.login("M-1000")
    result = visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), SHORT_AMOUNT))
    text = text_of(result.text)
    assert "We couldn't accept this payment" in text and "voided" in text
    payment = only_payment(portal)
    assert payment.state == states.VOIDED and payment.approved_amount == Decimal("198.00")
    assert sandbox.pims.all_payments() == [] and smtp.messages() == []
    kinds = [(row["transaction_type"], row["voided"]) for row in sandbox.cayan.all_transactions()]
    assert kinds == [(1, 1), (3, 0)]  # the sale, marked voided, and the void itself
    assert "INV-10244" in visitor.invoice_choices()


def test_smtp_down_leaves_the_receipt_unsent_and_the_page_fine(make_portal, sandbox, closed_port):
    app, server = make_portal(MAIL_PORT=closed_port)
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    result = visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    text = text_of(result.text)
    assert result.status_code == 200 and "Thank you! Your payment was successful" in text
    ledger = app.extensions["ledger"]
    payment = eventually(lambda: ledger.find()[0], lambda p: p.receipt_status != "sending")
    assert payment.state == states.POSTED and payment.receipt_status == "unsent"
    assert "We couldn't email your receipt just yet" in text_of(visitor.get(result.url).text)
    assert len(sandbox.pims.all_payments()) == 1


def test_the_result_page_does_not_wait_for_a_slow_mail_server(make_portal, smtp, faults):
    """The receipt goes out from the background just after the page: a mail server that takes
    seconds to accept it (a hosted one, STARTTLS and a login) never holds up the customer."""
    portal = make_portal(MAIL_TIMEOUT=10)  # the shop's default: the pause below is no failure
    visitor = Visitor(portal[1].url)
    faults.arm(Fault("smtp", "DATA", mode="slow", seconds=4))
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    started = time.monotonic()
    text = text_of(visitor.follow(back).text)
    # About 0.1 s; the margin is for a loaded CI machine.
    assert time.monotonic() - started < 2, "the page waited for the mail server"
    assert "Thank you! Your payment was successful" in text
    assert "A receipt is on its way to jordan.rivera@example.com" in text
    assert only_payment(portal).receipt_status == "sending"
    [mail] = smtp.wait_for(1, timeout=15)  # after the mail server's pause
    assert only_payment(portal).reference in mail["subject"]
    assert eventually(lambda: only_payment(portal).receipt_status,
                      lambda status: status == "sent") == "sent"


def test_pims_down_after_the_charge_tells_the_customer_and_keeps_it_for_retry(portal, visitor,
                                                                              sandbox, smtp, faults):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    faults.arm(Fault("pims", "ApplyPayment", mode="http500", when="after"))
    text = text_of(visitor.follow(back).text)
    assert "Your card was charged" in text and "you don't need to pay again" in text
    payment = only_payment(portal)
    assert payment.state == states.APPROVED and payment.attempts == 1
    assert payment.next_attempt_at is not None
    visitor.follow(back)  # a refresh during the backoff does not hammer PIMS
    assert only_payment(portal).attempts == 1
    # PIMS had in fact applied it (the answer was lost): reconcile asks GetPayment first
    result = portal[0].test_cli_runner().invoke(args=["cpp", "reconcile", "--all"])
    assert result.exit_code == 0, result.output
    assert only_payment(portal).state == states.POSTED
    assert "Thank you! Your payment was successful" in text_of(visitor.follow(back).text)
    assert len(sandbox.pims.all_payments()) == 1 and len(smtp.wait_for(1)) == 1


def test_a_retry_from_a_stale_read_still_asks_pims_first(portal, visitor, sandbox, faults):
    """A process read the payment approved and untried; before it took the lease, another
    tried to post it and lost PIMS's answer (PIMS had applied it). The attempt is counted from
    the ledger as it is then, not as read: attempt 2, which asks GetPayment before applying."""
    from dataclasses import replace

    from cpp.payments.posting import act_under_lease

    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    faults.arm(Fault("pims", "ApplyPayment", mode="http500", when="after"))
    visitor.follow(back)  # attempt 1: applied in PIMS, the answer lost
    tried = only_payment(portal)
    assert tried.state == states.APPROVED and tried.attempts == 1
    read_before = replace(tried, attempts=0, next_attempt_at=None)
    with portal[0].app_context():
        act_under_lease(read_before)
    payment = only_payment(portal)
    assert payment.state == states.POSTED and payment.attempts == 2
    assert faults.calls[("pims", "GetPayment")] == 1
    assert faults.calls[("pims", "ApplyPayment")] == 1  # not applied a second time
    assert len(sandbox.pims.all_payments()) == 1


def test_pims_refusing_the_charge_marks_it_for_staff(portal, visitor, sandbox):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    with sandbox.pims.transaction() as db:  # paid at the counter while the customer was on Cayan
        db.execute("UPDATE invoices SET balance_cents = 0 WHERE number = 'INV-10244'")
    text = text_of(visitor.follow(back).text)
    assert "Your card was charged" in text
    payment = only_payment(portal)
    assert payment.state == states.NEEDS_ATTENTION and "balance" in payment.failure_reason


def test_pay_bill_refuses_a_changed_balance_and_names_the_invoice(portal, visitor, sandbox):
    visitor.login("M-1000")
    choices = visitor.invoice_choices()
    with sandbox.pims.transaction() as db:
        db.execute("UPDATE invoices SET balance_cents = 15000 WHERE number = 'INV-10244'")
    response = visitor.pay_bill([choices["INV-10244"], choices["INV-10252"]])
    assert response.status_code == 303 and response.headers["Location"] == "/invoices"
    text = text_of(visitor.follow(portal[1].url + "/invoices").text)
    assert "The balance of invoice INV-10244 has changed to $150.00" in text
    assert ledger_of(portal).find() == []  # nothing recorded, nothing staged


def test_pay_bill_refuses_invoices_that_are_not_yours_or_not_open(portal, visitor):
    visitor.login("M-1000")
    visitor.get("/invoices")
    response = visitor.pay_bill(["INV-20011|12900", "INV-10190|8900"])
    assert response.status_code == 303
    text = text_of(visitor.follow(portal[1].url + "/invoices").text)
    assert "Invoice INV-20011 is no longer open on your account." in text
    assert "Invoice INV-10190 is no longer open on your account." in text
    assert ledger_of(portal).find() == []


@pytest.mark.parametrize("values,message", [
    ([], "Tick at least one invoice to pay."),
    (["INV-10244|-5"], "We couldn't read your selection."),
    (["INV-10244"], "We couldn't read your selection."),
])
def test_pay_bill_with_a_bad_selection(portal, visitor, values, message):
    visitor.login("M-1000")
    visitor.get("/invoices")
    visitor.pay_bill(values)
    assert message in text_of(visitor.follow(portal[1].url + "/invoices").text)


def test_amount_comes_from_pims_not_from_the_form(portal, visitor, sandbox):
    visitor.login("M-1000")
    visitor.pay(["INV-10266"])
    [transport] = sandbox.cayan.all_transactions() or [None]  # nothing charged yet
    payment = only_payment(portal)
    assert payment.amount == Decimal("425.75")
    staged = sandbox.cayan.transport(payment.transport_key)
    assert staged["amount_cents"] == 42575 and staged["order_number"] == payment.reference


def test_pay_bill_again_from_an_old_page_says_the_invoice_is_paid(portal, visitor, sandbox):
    """Back to the invoices page after paying, and Pay Bill again: the invoice was paid by
    this customer's own payment, which is what the refusal says, with its reference."""
    visitor.login("M-1000")
    old_page = visitor.get("/invoices")
    tick = visitor.invoice_choices()["INV-10244"]
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    [paid] = ledger_of(portal).find()
    visitor.last = old_page
    response = visitor.pay_bill([tick])
    text = text_of(visitor.follow(portal[1].url + response.headers["Location"]).text)
    assert f"You have already paid invoice INV-10244 (payment {paid.reference})." in text
    assert len(sandbox.pims.all_payments()) == 1


def test_a_declined_payment_opened_after_another_card_paid_says_so(portal, visitor, sandbox):
    """Declined, "Try another card", paid: the declined payment's page (from Your payments)
    must not still say the invoice is open, nor offer to try again."""
    visitor.login("M-1000")
    declined_back = visitor.card_page(visitor.pay(["INV-10244"]), DECLINE)
    declined_page = visitor.follow(declined_back).url
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    [paid] = ledger_of(portal).find(states=(states.POSTED,))
    page = visitor.follow(declined_page)
    text = text_of(page.text)
    assert "Your payment didn't go through" in text and "Nothing was charged." in text
    assert "INV-10244 is still open" not in text
    assert f"Since then, payment {paid.reference} paid for this invoice." in text
    assert 'name="invoice"' not in page.text  # no "Try another card" form


def test_a_declined_payment_opened_after_another_card_was_charged_says_so(make_portal, sandbox,
                                                                           faults):
    """As above, but PIMS could not take the second card's payment and it waits for staff:
    charged and kept all the same, so still not "still open", and no "Try another card"."""
    app, server = make_portal(MAX_ATTEMPTS=1)
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    declined_page = visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), DECLINE)).url
    faults.arm(Fault("pims", "ApplyPayment", mode="http500"))
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    [kept] = app.extensions["ledger"].find(states=(states.NEEDS_ATTENTION,))
    page = visitor.follow(declined_page)
    text = text_of(page.text)
    assert "INV-10244 is still open" not in text
    assert f"Since then, payment {kept.reference} paid for this invoice." in text
    assert 'name="invoice"' not in page.text  # no "Try another card" form


def test_pay_bill_twice_resumes_the_same_payment(portal, visitor, sandbox):
    visitor.login("M-1000")
    first = visitor.pay(["INV-10244", "INV-10252"])
    second = visitor.pay(["INV-10252", "INV-10244"])
    assert first == second
    assert len(ledger_of(portal).find()) == 1


def test_changing_ones_mind_on_the_card_page_replaces_the_unpaid_payment(portal, visitor, sandbox):
    """Tick two, Pay Bill, Back from the card page, tick a third: a new Pay Bill replaces the
    first payment once Cayan Reporting confirms nothing was charged for it."""
    visitor.login("M-1000")
    first_card_page = visitor.pay(["INV-10244", "INV-10252"])
    second_card_page = visitor.pay(["INV-10244", "INV-10252", "INV-10231"])
    assert second_card_page != first_card_page
    by_state = {p.state: p for p in ledger_of(portal).find()}
    assert set(by_state) == {states.REPLACED, states.STAGED}
    assert set(by_state[states.STAGED].invoice_numbers) == {"INV-10244", "INV-10252", "INV-10231"}
    back = visitor.card_page(second_card_page, APPROVE)
    assert "Thank you! Your payment was successful" in text_of(visitor.follow(back).text)
    assert len(sandbox.pims.all_payments()) == 1


def test_a_selection_is_not_replaced_while_cayan_cannot_say_it_was_unpaid(portal, visitor,
                                                                         faults):
    visitor.login("M-1000")
    visitor.pay(["INV-10244", "INV-10252"])
    faults.arm(Fault("reporting", "TransactionsByTransactionId", mode="fault"))
    response = visitor.pay_bill([visitor.invoice_choices()["INV-10252"]])
    assert response.headers["Location"] == "/invoices"
    text = text_of(visitor.follow(portal[1].url + "/invoices").text)
    assert "Invoice INV-10252 is already part of a payment you started" in text
    [payment] = ledger_of(portal).find()
    assert payment.state == states.STAGED
    # "Continue" goes to that payment's card page, and only for its own customer.
    [resume] = re.findall(r'href="([^"]+)">Continue the payment you started', visitor.last.text)
    onward = visitor.get(resume, allow_redirects=False)
    assert onward.headers["Location"].endswith(f"transportKey={payment.transport_key}")
    stranger = Visitor(portal[1].url)
    stranger.login("M-1001")
    refused = stranger.get(resume)
    assert refused.url.endswith("/invoices") and "can't be continued any more" in text_of(refused.text)


def test_a_selection_paid_in_another_tab_is_not_replaced_but_posted(portal, visitor, sandbox):
    """Paid on the card page, the way back never taken (a closed tab): the next Pay Bill
    finds the charge at Cayan and posts it there and then, instead of leaving it charged, the
    invoices open and payable again, until a reconcile pass."""
    visitor.login("M-1000")
    first_card_page = visitor.pay(["INV-10244", "INV-10252"])
    other_tab = Visitor(portal[1].url)
    other_tab.card_page(first_card_page, APPROVE)  # paid, the return never followed
    response = visitor.pay_bill([visitor.invoice_choices()["INV-10252"]])
    text = text_of(visitor.follow(portal[1].url + response.headers["Location"]).text)
    [payment] = ledger_of(portal).find()
    assert payment.state == states.POSTED
    assert f"You have already paid invoice INV-10252 (payment {payment.reference})." in text
    [posted] = sandbox.pims.all_payments()
    assert posted["reference"] == payment.reference
    choices = visitor.invoice_choices()
    assert "INV-10244" not in choices and "INV-10252" not in choices


def test_a_charge_on_a_replaced_card_page_is_voided_not_posted(portal, visitor, sandbox):
    """Cayan's card page cannot be withdrawn: Forward to the old one and paying there must
    neither post the old selection nor leave the customer charged."""
    app, server = portal
    visitor.login("M-1000")
    old_card_page = visitor.pay(["INV-10244", "INV-10252"])
    new_card_page = visitor.pay(["INV-10252"])
    back = visitor.card_page(old_card_page, APPROVE)
    text = text_of(visitor.follow(back).text)
    assert "We couldn't accept this payment" in text
    assert "replaced by a newer payment" in text and "voided" in text
    old = next(p for p in ledger_of(portal).find() if len(p.invoices) == 2)
    assert old.state == states.VOIDED
    assert sandbox.pims.all_payments() == []
    assert "INV-10244" in visitor.invoice_choices()  # still open, payable again
    # The newer payment is untouched and still pays.
    back = visitor.card_page(new_card_page, APPROVE)
    assert "Thank you! Your payment was successful" in text_of(visitor.follow(back).text)


def test_reconcile_voids_a_late_charge_whose_customer_never_came_back(portal, visitor, sandbox):
    app, server = portal
    visitor.login("M-1000")
    old_card_page = visitor.pay(["INV-10244"])
    visitor.pay(["INV-10244", "INV-10252"])
    Visitor(server.url).card_page(old_card_page, APPROVE)  # charged; the tab is closed
    with app.app_context():
        outcome = reconcile(force=True)
    assert outcome["late charges checked"] == 1
    old = next(p for p in ledger_of(portal).find() if len(p.invoices) == 1)
    assert old.state == states.VOIDED and sandbox.pims.all_payments() == []


def charged_short_in_a_closed_tab(visitor: Visitor, base: str) -> None:
    """Pay Bill for INV-10244, charged $1.00 short in a tab closed before the way back."""
    visitor.login("M-1000")
    Visitor(base).card_page(visitor.pay(["INV-10244"]), SHORT_AMOUNT)


def refused_pay_bill(visitor: Visitor, base: str, numbers: list[str]) -> str:
    """Press Pay Bill for these invoices, expecting a refusal: the invoices page's words."""
    choices = visitor.invoice_choices()
    response = visitor.pay_bill([choices[number] for number in numbers])
    assert response.headers["Location"] == "/invoices"
    return text_of(visitor.follow(base + "/invoices").text)


@pytest.mark.parametrize("again", [["INV-10244"], ["INV-10244", "INV-10252"]],
                         ids=["the-same-invoices", "more-invoices"])
def test_pay_bill_after_a_charge_that_could_not_be_kept_says_it_was_voided(portal, visitor,
                                                                          sandbox, again):
    """Charged $1.00 short on the card page, the way back never taken: the next Pay Bill finds
    the charge and voids it. It must say so, not that the invoice is paid ("Please don't pay
    again") nor that a payment is still being processed, and the next press pays."""
    charged_short_in_a_closed_tab(visitor, portal[1].url)
    text = refused_pay_bill(visitor, portal[1].url, again)
    [voided] = ledger_of(portal).find()
    assert voided.state == states.VOIDED
    assert (f"Your earlier payment for invoice INV-10244 (reference {voided.reference}) could "
            "not be kept, and its charge has been voided: the invoice is not paid yet.") in text
    assert "already paid" not in text and "being processed" not in text
    back = visitor.card_page(visitor.pay(again), APPROVE)
    assert "Thank you! Your payment was successful" in text_of(visitor.follow(back).text)
    assert len(sandbox.pims.all_payments()) == 1
    assert all(sandbox.pims.balance(number) == 0 for number in again)


def test_pay_bill_while_a_charge_that_could_not_be_kept_is_being_voided(portal, visitor, sandbox,
                                                                         faults):
    """As above, but Cayan's Void fails: the charge is still there, waiting for the next try.
    Not paid, not "being processed" as if it were: being voided, and not payable until then."""
    charged_short_in_a_closed_tab(visitor, portal[1].url)
    faults.arm(Fault("credit", "Void", mode="fault"))
    text = refused_pay_bill(visitor, portal[1].url, ["INV-10244"])
    [held] = ledger_of(portal).find()
    assert held.state == states.MISMATCH
    assert (f"Your earlier payment for invoice INV-10244 (reference {held.reference}) could "
            "not be kept, and its charge is being voided: the invoice is not paid yet.") in text
    assert "already paid" not in text and "being processed" not in text
    assert sandbox.pims.all_payments() == []


def test_cayan_messages_are_shown_and_nothing_is_charged(make_portal, sandbox):
    app, server = make_portal(CAYAN_MERCHANT_KEY="WRONG-KEY-FOR-TEST")
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    response = visitor.pay_bill([visitor.invoice_choices()["INV-10244"]])
    assert response.headers["Location"] == "/invoices"
    text = text_of(visitor.follow(server.url + "/invoices").text)
    assert "The card processor couldn't start this payment" in text
    assert "Invalid merchant credentials" in text and "Nothing was charged" in text
    [payment] = app.extensions["ledger"].find()
    assert payment.state == states.STAGE_FAILED and "Invalid merchant credentials" in payment.failure_reason


def test_a_voided_late_charge_says_which_payment_paid_its_invoices(portal, visitor, sandbox):
    """Two tabs: the newer selection paid first, then the older card page. The older charge
    is voided; its page must not say the invoice is still open or offer to pay it again."""
    visitor.login("M-1000")
    old_card_page = visitor.pay(["INV-10252"])
    new_card_page = visitor.pay(["INV-10252", "INV-10266"])
    assert "Thank you!" in text_of(visitor.follow(visitor.card_page(new_card_page, APPROVE)).text)
    [newer] = ledger_of(portal).find(states=(states.POSTED,))
    page = visitor.follow(visitor.card_page(old_card_page, APPROVE))
    text = text_of(page.text)
    assert "voided" in text
    assert f"Since then, payment {newer.reference} paid for this invoice." in text
    assert "Your invoices are still open" not in text
    assert 'name="invoice"' not in page.text  # no "Pay again" form
    assert len(sandbox.pims.all_payments()) == 1


def test_a_payment_settled_while_cayan_staged_it_is_not_sent_to_the_card_page(portal, visitor,
                                                                              sandbox, faults):
    """CreateTransaction so slow that another request took the payment for lost and settled
    it (nothing charged): its card page must not be used, since a charge there would only be
    voided as a late charge. Pay Bill says so, and the next press starts a new payment."""
    app, server = portal
    visitor.login("M-1000")
    choice = visitor.invoice_choices()["INV-10244"]
    faults.arm(Fault("transport", "CreateTransaction", mode="slow", seconds=2))
    pressed = []
    press = threading.Thread(target=lambda: pressed.append(visitor.pay_bill([choice])))
    press.start()
    [new] = eventually(lambda: ledger_of(portal).find(states=(states.NEW,)), bool)
    with app.app_context():  # as expire_if_stale does for a payment NEW for too long
        assert record.transition(ledger_of(portal), new.id, states.NEW, states.EXPIRED, "stale")
    press.join(timeout=30)
    assert pressed[0].headers["Location"] == "/invoices"
    text = text_of(visitor.follow(server.url + "/invoices").text)
    assert "This payment could not be started in time, and nothing was charged." in text
    assert ledger_of(portal).get(new.reference).state == states.EXPIRED
    assert "/sandbox/cayan/transportweb.aspx?transportKey=" in visitor.pay(["INV-10244"])


def test_cayan_unreachable_when_staging_gives_a_503(make_portal, closed_port):
    app, server = make_portal(CAYAN_TRANSPORT_URL=f"http://127.0.0.1:{closed_port}/transport")
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    response = visitor.pay_bill([visitor.invoice_choices()["INV-10244"]])
    assert response.status_code == 503 and "Nothing has been charged" in text_of(response.text)
    assert app.extensions["ledger"].find()[0].state == states.STAGE_FAILED


def test_redirect_location_comes_from_public_url_not_the_host_header(portal, visitor, sandbox):
    visitor.login("M-1000")
    choices = visitor.invoice_choices()
    # requests matches cookies against the Host header, so send the session cookie by hand.
    cookies = "; ".join(f"{c.name}={c.value}" for c in visitor.session.cookies)
    response = requests.post(portal[1].url + "/pay", allow_redirects=False, timeout=30,
                             headers={"Host": "evil.example", "Cookie": cookies},
                             data={"csrf_token": visitor.token(), "invoice": choices["INV-10244"]})
    assert response.status_code == 303
    payment = only_payment(portal)
    staged = sandbox.cayan.transport(payment.transport_key)
    assert staged["redirect_location"].startswith(portal[1].url + "/pay/return?ref=")


def test_reporting_down_on_return_shows_confirming_and_completes_later(portal, visitor, sandbox, faults):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    faults.arm(Fault("reporting", "TransactionsByTransactionId", mode="fault"))
    text = text_of(visitor.follow(back).text)
    assert "We're confirming your payment" in text and "don't pay again" in text
    assert only_payment(portal).state == states.STAGED
    visitor.follow(back)
    assert only_payment(portal).state == states.POSTED


def test_receipt_carries_the_logo_and_local_time(make_portal, smtp):
    app, server = make_portal(SHOP_LOGO="/static/img/demo-logo.png", TIMEZONE="America/Chicago")
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    [mail] = smtp.wait_for(1)
    assert f'src="{server.url}/static/img/demo-logo.png"' in mail["html"]
    logo = requests.get(f"{server.url}/static/img/demo-logo.png", timeout=10)
    assert logo.headers["Content-Type"] == "image/png"
    assert re.search(r"Date: .* (CST|CDT|Central)", mail["text"]), mail["text"]


def test_an_svg_logo_is_left_out_of_email_which_cannot_show_it(make_portal, smtp):
    app, server = make_portal(SHOP_LOGO="/static/img/demo-logo.svg")
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    [mail] = smtp.wait_for(1)
    assert "<img" not in mail["html"] and "Test Repair Shop: payment receipt" in mail["html"]


def test_receipt_links_to_itself_online_and_lists_every_location(portal, visitor, smtp):
    app, server = portal
    visitor.login("M-1000")
    # INV-10244 is at Main Street, INV-10252 at the West side.
    back = visitor.card_page(visitor.pay(["INV-10244", "INV-10252"]), APPROVE)
    visitor.follow(back)
    [mail] = smtp.wait_for(1)
    reference = only_payment(portal).reference
    link = f"{server.url}/payments/{reference}/receipt"
    assert link in mail["text"] and f'href="{link}"' in mail["html"]
    for part in (mail["text"], mail["html"]):
        assert "Test Repair - Main" in part and "1 Main St, Testville" in part
        assert "Test Repair - West" in part and "9 West Ave, Testville" in part
        assert "(555) 010-0002" in part and "PAID" in part
    # The link opens the receipt for its customer (after logging in, in another browser).
    other = Visitor(server.url)
    login_page = other.follow(link)
    assert "/login?next=" in login_page.url
    other.post_form(login_page.url.replace(server.url, ""), {"account": "M-1000", "password": "demo"})
    assert other.last.url == link and "Payment receipt" in text_of(other.last.text)


def test_session_lost_on_the_card_page_still_shows_the_outcome(portal, visitor, sandbox):
    """The return proves itself with the ValidationKey: the customer whose login timed out while
    typing their card still sees that the payment went through, without logging in."""
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    visitor.session.cookies.clear()  # the session expired while the customer typed their card
    response = visitor.follow(back)
    assert "/login" not in response.url
    assert "Thank you! Your payment was successful" in text_of(response.text)
    assert only_payment(portal).state == states.POSTED
    assert len(sandbox.pims.all_payments()) == 1
    receipt = visitor.follow(response.url + "/receipt")
    assert receipt.status_code == 200 and "$199.00" in text_of(receipt.text)
    # Nothing else of the account opens without logging in.
    assert "/login" in visitor.follow(portal[1].url + "/invoices").url
    # Another browser holding only the result page's address sees nothing.
    stranger = requests.get(response.url, timeout=10, allow_redirects=False)
    assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]


def test_an_old_return_url_replayed_later_needs_a_login(make_portal, sandbox):
    """A return URL found in a shared computer's history shows nothing without logging in."""
    app, server = make_portal(PAYMENT_TIMEOUT=0)  # every return is already "old"
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    stranger = Visitor(server.url)
    response = stranger.follow(back)
    assert "/login?next=" in response.url and "INV-10244" not in text_of(response.text)


def charged_on_a_replaced_card_page(visitor: Visitor) -> str:
    """Pay Bill for two invoices, then for one of them (replacing the first payment), then pay
    on the first card page anyway; returns where Cayan sends the browser back."""
    visitor.login("M-1000")
    old_card_page = visitor.pay(["INV-10244", "INV-10252"])
    visitor.pay(["INV-10252"])
    return visitor.card_page(old_card_page, APPROVE)


def test_a_late_charge_is_never_told_nothing_was_charged(portal, visitor, sandbox, faults):
    """Paid on a replaced card page while Reporting could not confirm it: the page must not say
    "nothing was charged", nor offer to pay again; reconcile voids the charge later."""
    app, server = portal
    back = charged_on_a_replaced_card_page(visitor)
    faults.arm(Fault("reporting", "TransactionsByTransactionId", mode="fault"))
    page = visitor.follow(back)
    text = text_of(page.text)
    assert "Nothing was charged" not in text and "we will cancel that charge" in text
    assert 'name="invoice"' not in page.text  # no "Pay again" form
    with app.app_context():
        reconcile(force=True)
    old = next(p for p in ledger_of(portal).find() if len(p.invoices) == 2)
    assert old.state == states.VOIDED and sandbox.pims.all_payments() == []


def test_a_late_charge_whose_void_fails_is_never_shown_as_paid(make_portal, sandbox, faults):
    app, server = make_portal(MAX_ATTEMPTS=1)
    visitor = Visitor(server.url)
    back = charged_on_a_replaced_card_page(visitor)
    faults.arm(Fault("credit", "Void", mode="fault"))
    page = visitor.follow(back)
    text = text_of(page.text)
    old = next(p for p in app.extensions["ledger"].find() if len(p.invoices) == 2)
    assert old.state == states.NEEDS_ATTENTION
    assert "We couldn't accept this payment" in text and "don't need to pay again" not in text
    assert "making sure the charge is cancelled" in text
    assert visitor.follow(page.url + "/receipt").status_code == 404  # no receipt for it
    with app.app_context():  # staff retry, once the cause is fixed: voided, never posted
        from cpp.payments import staff
        assert staff.retry_for_staff(app.extensions["ledger"].get(old.reference)).state \
            == states.VOIDED
    assert sandbox.pims.all_payments() == []


def test_the_late_charge_watch_ends_with_a_last_check(make_portal, sandbox):
    import datetime as dt

    from cpp.payments import settlement
    app, server = make_portal(LATE_CHARGE_HOURS=1)
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.pay(["INV-10244", "INV-10252"])
    visitor.pay(["INV-10252"])
    ledger = app.extensions["ledger"]
    old = next(p for p in ledger.find() if len(p.invoices) == 2)
    with app.app_context():
        for _ in range(6):  # backoff would pass the end of the watch: the last check is at it
            settlement.settle_late(ledger.get(old.reference))
            checked = ledger.get(old.reference)
            assert checked.next_attempt_at <= old.created_at + dt.timedelta(hours=1)
        app.config["LATE_CHARGE_HOURS"] = 0  # the watch is over: one last check, then no more
        settlement.settle_late(ledger.get(old.reference))
        last = ledger.get(old.reference)
        assert last.next_attempt_at > old.created_at + settlement.LATE_WATCH_SLACK
        assert reconcile()["late charges checked"] == 0
        assert "end of the watch" in ledger.events(old.id)[-1]["reason"]


def test_a_remembered_return_is_shown_without_login_only_briefly(portal, visitor, monkeypatch):
    from cpp.payments import routes
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    visitor.session.cookies.clear()
    assert "Thank you!" in text_of(visitor.follow(back).text)
    monkeypatch.setattr(routes, "REMEMBERED_FOR_SECONDS", -1)  # half an hour later
    assert "/login?next=" in visitor.follow(visitor.last.url).url
