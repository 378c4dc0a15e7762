"""Partial payments (ALLOW_PARTIAL_PAYMENTS): the customer chooses how much of a ticked
invoice to pay, within bounds the server checks against PIMS at Pay Bill; Cayan is asked for
that sum, PIMS gets those allocations, and the receipt says what is still to pay."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from cpp.selection import read_amount

from .test_payments import APPROVE
from .visitor import Visitor, text_of


@pytest.mark.parametrize("text,cents", [
    ("50", 5000), ("50.5", 5050), ("50.05", 5005), ("$1,234.56", 123456), (" 7.00 ", 700),
    ("0.01", 1), ("50.555", None), ("-5", None), ("5e2", None), ("1,23.00", None), ("", None),
    ("fifty", None), ("١٢", None), (".", None), ("$", None), ("0.001", None),
    # A phone's keypad may have only a comma; a trailing or leading point is still an amount.
    ("50,00", 5000), ("50,5", 5050), ("50.", 5000), ("50,", 5000), (".5", 50), (",05", 5),
    # Three digits after the page's group symbol (English: ",") are thousands; after the other
    # symbol they are three decimal places, refused; one symbol cannot do both.
    ("1,250", 125000), ("1.250", None), ("1,234,5", None), ("1,234,567.89", 123456789),
    ("01,250", None), ("1 250", None),
    # Blanks are the same set as the page script's (cpp.selection.BLANK), not Python's own.
    ("\u00a050\u3000", 5000), ("$\u2009 50", 5000), ("\x8550", None), ("\ufeff50", None),
])
def test_amounts_as_customers_type_them(text, cents):
    assert read_amount(text, group=",") == cents


@pytest.mark.parametrize("text,cents", [
    ("1.250", 125000), ("1,250", None), ("1.234,56", 123456), ("1,25", 125), ("1.25", 125),
    ("1.234.5", None), ("0.001", None), ("50,555", None),
])
def test_amounts_on_a_spanish_page(text, cents):
    assert read_amount(text, group=".") == cents


@pytest.mark.parametrize("text,cents", [
    ("1 250,50", 125050), ("1\u202f250,50", 125050), ("1\u00a0250", 125000), ("1.250", None),
])
def test_amounts_where_a_space_groups_thousands(text, cents):
    assert read_amount(text, group="\u202f") == cents


@pytest.fixture
def partial_portal(make_portal):
    return make_portal(ALLOW_PARTIAL_PAYMENTS=True, MIN_PARTIAL_AMOUNT="10.00")


def pay_with_amounts(visitor: Visitor, ticks: dict[str, str]):
    choices = visitor.invoice_choices()
    data = {"invoice": [choices[number] for number in ticks]}
    data.update({f"amount-{number}": amount for number, amount in ticks.items()})
    return visitor.post_form("/pay", data, allow_redirects=False)


def test_part_of_an_invoice_is_charged_applied_and_receipted(partial_portal, sandbox, smtp):
    app, server = partial_portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    page = customer.get("/invoices")
    assert 'name="amount-INV-10244"' in page.text and "at least $10.00" in text_of(page.text)
    response = pay_with_amounts(customer, {"INV-10244": "50.00", "INV-10252": ""})
    assert response.status_code == 303
    result = text_of(customer.follow(customer.card_page(response.headers["Location"],
                                                        APPROVE)).text)
    assert "Thank you! Your payment was successful" in result
    assert "$397.50" in result  # 50.00 + the whole 347.50
    assert "Part payment: $199.00 was due, $149.00 is still to pay." in result
    (applied,) = sandbox.pims.all_payments()
    assert applied["amount_cents"] == 39750
    assert sandbox.pims.balance("INV-10244") == Decimal("149.00")
    assert sandbox.pims.balance("INV-10252") == Decimal("0.00")
    (sale,) = sandbox.cayan.all_transactions()
    assert sale["amount_cents"] == 39750
    (receipt,) = smtp.wait_for(1)
    assert "Part payment: $199.00 was due, $149.00 is still to pay." in receipt["text"]
    # The rest is still open, with its new balance.
    assert customer.invoice_choices()["INV-10244"] == "INV-10244|14900"


@pytest.mark.parametrize("amount,words", [
    ("199.01", "You can pay at most $199.00 on invoice INV-10244"),
    ("9.99", "Please pay at least $10.00 on invoice INV-10244"),
    ("50.001", "should look like 199.00"),
    ("0", "Please pay at least $10.00"),
    ("<script>", "should look like 199.00"),
])
def test_an_amount_out_of_bounds_is_refused_plainly(partial_portal, sandbox, amount, words):
    app, server = partial_portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    response = pay_with_amounts(customer, {"INV-10244": amount})
    assert response.status_code == 303 and response.headers["Location"] == "/invoices"
    assert words in text_of(customer.get("/invoices").text)
    assert app.extensions["ledger"].find() == [] and sandbox.cayan.all_transactions() == []


def test_a_small_balance_is_paid_whole_whatever_the_minimum(make_portal, sandbox):
    app, server = make_portal(ALLOW_PARTIAL_PAYMENTS=True, MIN_PARTIAL_AMOUNT="500.00")
    customer = Visitor(server.url)
    customer.login("M-1000")
    response = pay_with_amounts(customer, {"INV-10244": "199.00"})
    assert response.status_code == 303 and "transportweb" in response.headers["Location"]


def test_amounts_are_ignored_unless_the_shop_allows_part_payments(portal, sandbox):
    app, server = portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    assert 'name="amount-' not in customer.get("/invoices").text
    response = pay_with_amounts(customer, {"INV-10244": "50.00"})
    customer.follow(customer.card_page(response.headers["Location"], APPROVE))
    (applied,) = sandbox.pims.all_payments()
    assert applied["amount_cents"] == 19900  # the whole balance, as PIMS has it


def test_another_amount_is_a_new_card_page_the_same_amount_resumes(partial_portal, sandbox):
    app, server = partial_portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    first = pay_with_amounts(customer, {"INV-10244": "50.00"}).headers["Location"]
    again = pay_with_amounts(customer, {"INV-10244": "50"}).headers["Location"]
    assert again == first  # the same choice: the same card page, nothing new staged
    other = pay_with_amounts(customer, {"INV-10244": "150.00"}).headers["Location"]
    assert other != first
    by_amount = {p.amount: p.state for p in app.extensions["ledger"].find()}
    assert by_amount == {Decimal("50.00"): "replaced", Decimal("150.00"): "staged"}
    result = text_of(customer.follow(customer.card_page(other, APPROVE)).text)
    assert "$150.00" in result and "$49.00 is still to pay" in result


def test_a_declined_part_payment_can_be_tried_again_for_the_same_amount(partial_portal,
                                                                         sandbox):
    from .test_payments import DECLINE
    app, server = partial_portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    declined = customer.follow(customer.card_page(
        pay_with_amounts(customer, {"INV-10244": "50.00"}).headers["Location"], DECLINE))
    assert "Nothing was charged for this payment of $50.00: invoice INV-10244 is still open." \
        in text_of(declined.text)
    retry = customer.post_form("/pay", dict(
        (field, value) for field, value in re.findall(
            r'name="(invoice|amount-[^"]+)" value="([^"]+)"', declined.text)),
        allow_redirects=False)
    assert retry.status_code == 303 and "transportweb" in retry.headers["Location"]
    customer.follow(customer.card_page(retry.headers["Location"], APPROVE))
    assert sandbox.pims.balance("INV-10244") == Decimal("149.00")


def test_a_refused_amount_keeps_the_ticks_and_what_was_typed(partial_portal):
    app, server = partial_portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    pay_with_amounts(customer, {"INV-10244": "5.00", "INV-10252": "20.00"})
    page = customer.get("/invoices").text
    assert re.search(r'value="INV-10244\|19900"[^>]*checked', page)
    assert re.search(r'value="INV-10252\|34750"[^>]*checked', page)
    assert 'name="amount-INV-10244"' in page and 'value="5.00"' in page \
        and 'value="20.00"' in page
    assert "ticked before you were logged out" not in page


def test_pay_bill_after_a_part_payment_in_another_tab_says_what_is_left(partial_portal, sandbox):
    """$50.00 of a $199.00 invoice paid in a tab closed before the way back: the invoices page
    still offers $199.00, as PIMS has not heard of the payment. Pay Bill posts the part
    payment it finds and says so: part of the invoice is paid, not all of it."""
    app, server = partial_portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    whole = customer.invoice_choices()["INV-10244"]
    card_page = pay_with_amounts(customer, {"INV-10244": "50"}).headers["Location"]
    Visitor(server.url).card_page(card_page, APPROVE)
    assert customer.invoice_choices()["INV-10244"] == whole
    response = customer.post_form("/pay", {"invoice": [whole]}, allow_redirects=False)
    assert response.headers["Location"] == "/invoices"
    text = text_of(customer.get("/invoices").text)
    [posted] = app.extensions["ledger"].find()
    assert (f"You have paid $50.00 of invoice INV-10244 (payment {posted.reference}); $149.00 "
            "of it is still to pay.") in text
    assert sandbox.pims.balance("INV-10244") == Decimal("149.00")
