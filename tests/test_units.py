"""The pure parts, without a server: the state machine's decisions, the customer's wording,
the ticks a form sends, the balance at the top of the invoices page. They run in a second
(`python -m pytest -m "not slow"`)."""
from __future__ import annotations

import datetime as dt
import smtplib
import socket
import ssl
from decimal import Decimal

import pytest
import urllib3.exceptions
from flask import Flask

from cpp import shop
from cpp.cayan.models import SALE, VOID, CayanTransaction
from cpp.formatting import phone_link
from cpp.invoices import Balance
from cpp.money import to_money
from cpp.payments import states
from cpp.payments.checkout import PayBillRefused, parse_selection
from cpp.pims.models import Invoice
from cpp.selection import MAX_INVOICES_PER_PAYMENT, read_tick, tick_value, ticked_numbers


def row(status="APPROVED", amount="546.50", kind=SALE, error=None) -> CayanTransaction:
    return CayanTransaction(token="T1", merchant_transaction_id="M1", approval_status=status,
                            amount=Decimal(amount) if amount is not None else None,
                            authorization_code="A1", card_type="Visa", card_last4="0026",
                            cardholder="J R", transaction_type=kind, error_message=error)


STAGED = Decimal("546.50")


@pytest.mark.parametrize("rows,browser_status,timed_out,expected", [
    ([row()], None, False, states.APPROVED),
    ([row(amount="545.50")], None, False, states.MISMATCH),          # a partial approval
    ([row("DECLINED;1023;insufficient funds")], None, False, states.DECLINED),
    ([row("DECLINED;1023;x"), row()], None, False, states.APPROVED),  # declined, then paid
    ([], "User_Cancelled", False, states.CANCELLED),
    ([], "APPROVED", False, None),  # the browser's word alone decides nothing
    ([], None, True, states.EXPIRED),
    ([], None, False, None),        # still on the card page, as far as anyone knows
    ([row(kind=VOID)], None, True, states.EXPIRED),  # a void row is not a sale
])
def test_what_reporting_says_decides_a_staged_payment(rows, browser_status, timed_out, expected):
    decision = states.staged_payment_reported(STAGED, rows, browser_status, timed_out)
    assert (decision.to if decision else None) == expected
    if decision is not None:
        assert decision.to in states.ALLOWED[states.STAGED]
        assert (decision.sale is not None) == (decision.to in (states.APPROVED, states.MISMATCH))


def test_an_approval_whose_amount_cannot_be_read_is_voided_and_says_so():
    """Cayan's client reads an unreadable amount (1e30, words) as None: the charge cannot be
    shown to match what was staged, so it is voided, and its history says why in words."""
    decision = states.staged_payment_reported(STAGED, [row(amount=None)], None, False)
    assert decision.to == states.MISMATCH
    assert "None" not in decision.why and "unreadabl" in decision.why
    late = states.ended_payment_reported(states.EXPIRED, [row(amount=None)])
    assert late.to == states.MISMATCH
    assert "None" not in late.why and "unreadabl" in late.why


def test_a_payment_whose_pay_bill_died_is_settled_by_what_cayan_has():
    assert states.unsent_payment_reported([]).to == states.EXPIRED
    assert states.unsent_payment_reported([row()]).to == states.STAGED


@pytest.mark.parametrize("ended", states.CARD_PAGE_MAY_BE_OPEN)
def test_a_late_charge_on_an_ended_payment_is_voided_never_posted(ended):
    assert states.ended_payment_reported(ended, []) is None
    assert states.ended_payment_reported(ended, [row("DECLINED;1;x")]) is None
    decision = states.ended_payment_reported(ended, [row()])
    assert decision.to == states.MISMATCH and decision.to in states.ALLOWED[ended]
    assert decision.failure_reason == states.LATE_CHARGE_REASONS[ended]


def test_retries_give_up_to_staff_at_max_attempts():
    assert states.after_failed_try(7, 8, "PIMS down") is None
    decision = states.after_failed_try(8, 8, "PIMS down")
    assert decision.to == states.NEEDS_ATTENTION and decision.failure_reason == "PIMS down"
    assert states.pims_refused("InvoiceClosed", "closed").to == states.NEEDS_ATTENTION


@pytest.mark.parametrize("state,ever_mismatched,voided", [
    (states.MISMATCH, False, True), (states.VOIDED, False, True),
    (states.NEEDS_ATTENTION, True, True), (states.NEEDS_ATTENTION, False, False),
    (states.APPROVED, False, False), (states.POSTED, False, False),
])
def test_what_must_be_voided(state, ever_mismatched, voided):
    assert states.to_be_voided(state, ever_mismatched) is voided


def test_void_confirmed_only_by_an_approved_void():
    assert states.void_confirmed([row(kind=VOID)])
    assert not states.void_confirmed([row(kind=SALE)])
    assert not states.void_confirmed([row("DECLINED", kind=VOID)])


@pytest.mark.parametrize("status,error,words", [
    ("DECLINED;1023;insufficient funds", None, "Your card was declined: insufficient funds."),
    ("DECLINED;1023;Insufficient Funds.", None, "Your card was declined: insufficient Funds."),
    ("DECLINED", "Card expired", "Your card was declined: card expired."),
    ("DECLINED", None, "Your card was declined."),
    ("REFERRAL;1011", None, "Your card issuer asked for the payment to be referred"),
    ("DECLINED,DUPLICATE;1110;duplicate transaction", None, "a duplicate of an earlier payment"),
])
def test_decline_reasons_in_plain_words(status, error, words):
    assert words in states.decline_reason(row(status, error=error))


def test_the_machines_are_closed():
    payment_states = {value for name, value in vars(states).items()
                      if name.isupper() and isinstance(value, str) and not name.startswith("RECEIPT")}
    for source, targets in states.ALLOWED.items():
        assert source in payment_states and targets <= payment_states
    terminal = payment_states - set(states.ALLOWED)
    assert terminal == {states.STAGE_FAILED, states.POSTED, states.VOIDED, states.RESOLVED}
    assert set(states.HOLDS_INVOICES).isdisjoint(states.NOTHING_CHARGED)
    receipt_states = {value for name, value in vars(states).items() if name.startswith("RECEIPT_")
                      and isinstance(value, str)}
    for source, targets in states.RECEIPT_ALLOWED.items():
        assert source in receipt_states and targets <= receipt_states
    assert set(states.RECEIPT_TO_SEND) <= set(states.RECEIPT_ALLOWED)
    assert set(states.RECEIPT_STAFF_MAY_SEND) <= set(states.RECEIPT_ALLOWED)
    # Only staff bring a receipt back from failed (reconcile's list leaves it alone).
    assert states.RECEIPT_FAILED not in states.RECEIPT_TO_SEND


def test_ticks_round_trip_and_refuse_anything_else():
    value = tick_value("INV-10244", Decimal("199.00"))
    assert value == "INV-10244|19900" and read_tick(value) == ("INV-10244", 19900)
    for bad in ("", "INV-1", "INV-1|", "|100", "INV 1|100", "INV-1|-5", "INV-1|1.00",
                "../x|1", "INV-1|100|2", "a" * 41 + "|1"):
        assert read_tick(bad) is None, bad
    assert ticked_numbers(["A-1|1", "bad", "B-2|2"], most=10) == ["A-1", "B-2"]
    assert ticked_numbers([f"N{i}|1" for i in range(5)], most=3) == ["N0", "N1", "N2"]


def test_parse_selection_refuses_with_the_customers_words():
    assert parse_selection(["A-1|100", "A-1|100", "B-2|5"]) == {"A-1": 100, "B-2": 5}
    with pytest.raises(PayBillRefused, match="Tick at least one"):
        parse_selection([])
    with pytest.raises(PayBillRefused, match="couldn't read your selection"):
        parse_selection(["A-1|100", "<script>"])
    with pytest.raises(PayBillRefused, match=f"at most {MAX_INVOICES_PER_PAYMENT}"):
        parse_selection([f"N{i}|1" for i in range(MAX_INVOICES_PER_PAYMENT + 1)])


def invoice(number, due, balance) -> Invoice:
    return Invoice(number=number, date=dt.date(2026, 1, 1), due_date=due, location="MAIN",
                   reference_number=None, description=None, total=Decimal(balance),
                   balance_due=Decimal(balance))


def test_the_balance_puts_the_money_first():
    today = dt.date(2026, 11, 28)
    balance = Balance.of([
        invoice("A", dt.date(2026, 11, 1), "10.10"),   # overdue
        invoice("B", today, "20.20"),                  # due today: not overdue, next due
        invoice("C", dt.date(2026, 12, 5), "30.30"),
        invoice("D", None, "0.01"),                    # no due date
    ], today)
    assert balance.total == Decimal("60.61") and balance.overdue_total == Decimal("10.10")
    assert [i.number for i in balance.overdue] == ["A"] and balance.next_due == today
    assert balance.one_press_for_overdue
    empty = Balance.of([], today)
    assert empty.total == 0 and empty.next_due is None and not empty.one_press_for_overdue


def test_whom_to_call():
    app = Flask(__name__)
    app.config.update(SHOP_NAME="Shop", SHOP_PHONE=None, SHOP_EMAIL=None, SHOP_ADDRESS=None,
                      LOCATIONS={"MAIN": {"name": "Main", "phone": "(555) 010-0001"},
                                 "WEST": {"name": "West", "email": "west@shop.example"},
                                 "EAST": {"name": "East"}})
    with app.app_context():
        # No shop-wide contact: every location that has one.
        assert [c.name for c in shop.contacts()] == ["Main", "West"]
        # A payment's locations, once each, in order; one without a contact is left out.
        assert [c.name for c in shop.contacts(["WEST", "MAIN", "WEST", "EAST"])] == ["West", "Main"]
        app.config.update(SHOP_PHONE="(555) 010-9999")
        assert [(c.name, c.phone) for c in shop.contacts()] == [("Shop", "(555) 010-9999")]
        # A location without its own phone falls back to the shop's.
        assert shop.location("EAST").phone == "(555) 010-9999"
        assert shop.location("NOWHERE").name == "Shop"
    assert phone_link("(217) 555-0142") == "tel:2175550142"
    assert phone_link("+1 217 555 0142") == "tel:+12175550142"


@pytest.mark.parametrize("typed,link", [
    ("+1 (217) 555-0142 ext. 12", "tel:+12175550142;ext=12"),
    ("(217) 555-0142 x12", "tel:2175550142;ext=12"),
    ("217-555-0142 Extension 7", "tel:2175550142;ext=7"),
    ("Call 555-0142 or 555-0143", "tel:5550142"),
    ("(217) 555-0142 9am-5pm", "tel:2175550142"),
    ("(217)555-0142", "tel:2175550142"),
    ("555.010.0001", "tel:5550100001"),
    ("Mon-Fri 9-5: (217) 555-0142", "tel:2175550142"),
    ("1-800-FLOWERS", None),
    ("Ask at the counter", None),
    ("", None),
    ("٢١٧ ٥٥٥ ٠١٤٢", None),  # not ASCII digits: not a number a phone can dial from a link
])
def test_phone_links_call_the_number_and_only_it(typed, link):
    assert phone_link(typed) == link


@pytest.mark.parametrize("exc,words", [
    (ConnectionRefusedError(111, "Connection refused"), "refused"),
    (TimeoutError("timed out"), "timed out"),
    (ssl.SSLCertVerificationError("certificate verify failed"), "certificate problem"),
    (smtplib.SMTPAuthenticationError(535, b"bad login"), "credentials rejected"),
    (socket.gaierror(-2, "Name or service not known"), "unknown host name"),
    (ValueError("something odd"), "the log has the details"),
    # urllib3 (the SOAP transport) files these under its connect timeouts: still said right.
    (urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"),
     "refused"),
    (urllib3.exceptions.NameResolutionError("pims.invalid", None, socket.gaierror(-2, "x")),
     "unknown host name"),
    (urllib3.exceptions.ConnectTimeoutError(None, "Connection to pims timed out"), "timed out"),
])
def test_health_reasons_in_plain_words(exc, words):
    from cpp.staff.health import plain_reason

    assert words in plain_reason(exc)
    wrapped = RuntimeError("PIMS Ping: ConnectionError")
    wrapped.__cause__ = exc
    assert words in plain_reason(wrapped)


def test_csv_cells_never_start_a_formula():
    from cpp.staff.payment_views import safe_cell

    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("M-1000") == "M-1000" and safe_cell("") == ""


@pytest.mark.parametrize("text", ["1e30", "1" * 40, "NaN", "-Infinity", "", "ten", None])
def test_an_amount_a_service_sends_that_cents_cannot_hold_is_not_an_amount(text):
    """ValueError, which the SOAP clients turn into an unusable answer; never decimal's own
    InvalidOperation from deep inside a page."""
    with pytest.raises(ValueError):
        to_money(text)


def test_an_amount_a_service_sends_rounds_half_up_to_cents():
    assert to_money("12.345") == Decimal("12.35") and to_money(Decimal("7")) == Decimal("7.00")
    with pytest.raises(TypeError):
        to_money(12.5)
