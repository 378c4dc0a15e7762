"""Your payments: a customer's own payments, newest first, in plain words, with the printable
receipt of each successful one; nobody else's, and not the attempts that never got anywhere."""
from __future__ import annotations

from cpp.payments import states

from .test_payments import APPROVE, DECLINE
from .visitor import Visitor, text_of


def test_your_payments_lists_yours_in_plain_words(portal, sandbox):
    app, server = portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    customer.follow(customer.card_page(customer.pay(["INV-10244"]), APPROVE))
    customer.follow(customer.card_page(customer.pay(["INV-10252"]), DECLINE))
    customer.pay(["INV-10252", "INV-10260"])  # started, then replaced: not listed
    customer.follow(customer.card_page(customer.pay(["INV-10252"]), None, action="cancel"))
    other = Visitor(server.url)
    other.login("M-1001")
    other.follow(other.card_page(other.pay([next(iter(other.invoice_choices()))]), APPROVE))

    page = customer.get("/payments")
    text = text_of(page.text)
    ledger = app.extensions["ledger"]
    mine = {p.state: p for p in ledger.find(customer_code="M-1000")}
    assert states.REPLACED in mine and mine[states.REPLACED].reference not in text
    paid, declined, cancelled = mine[states.POSTED], mine[states.DECLINED], \
        mine[states.CANCELLED]
    # Newest first, each in the customer's words.
    assert text.index(cancelled.reference) < text.index(declined.reference) \
        < text.index(paid.reference)
    assert "Paid" in text and "Declined; nothing charged" in text \
        and "Cancelled; nothing charged" in text
    assert f"Visa ending in {paid.card_last4}" in text and "$199.00" in text
    receipts = [line for line in page.text.splitlines() if "/receipt" in line]
    assert len(receipts) == 1 and paid.reference in receipts[0]
    assert customer.get(f"/payments/{paid.reference}/receipt").status_code == 200
    (others,) = ledger.find(customer_code="M-1001")
    assert others.reference not in text
    assert 'aria-current="page">Your payments' in page.text


def test_a_charge_the_shop_is_still_applying_says_so(portal, sandbox):
    from .test_staff import needs_attention_payment
    app, server = portal
    needs_attention_payment(app, server, sandbox)  # PIMS refused it after the charge
    customer = Visitor(server.url)
    customer.login("M-1000")
    text = text_of(customer.get("/payments").text)
    assert "Charged; the shop is applying it to your invoices" in text
    assert "Printable receipt" in text  # the charge is kept: its receipt can be printed


def test_no_payments_yet_and_a_login_first(portal):
    app, server = portal
    stranger = Visitor(server.url)
    assert stranger.get("/payments").url.split("?")[0].endswith("/login")
    customer = Visitor(server.url)
    customer.login("M-2000")
    assert "You haven't made any payments here yet." in text_of(customer.get("/payments").text)
    assert customer.get("/payments", params={"page": "99999999999"}).status_code == 200
