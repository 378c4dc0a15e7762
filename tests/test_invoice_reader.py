"""GetOpenInvoices' answer, read by cpp.pims.invoice_reader, against a PIMS that answers
whatever the test tells it to (a real HTTP server on loopback).

Two promises: a readable answer comes out as zeep would read it under pims.wsdl (but for
whitespace around a value, which the reader drops and zeep keeps in strings), and an
unreadable one (hostile or broken data) is PIMS being unavailable: never another exception,
never "no invoices".
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask, Response

from cpp.pims.client import PimsClient
from cpp.pims.models import PimsUnavailable
from cpp.soap_transport import SoapAnswer

from .live import LiveServer

NS = "urn:cpp:pims:webservices:v1"


def envelope(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<soap:Body>{body}</soap:Body></soap:Envelope>').encode()


def invoices_answer(*rows: str) -> bytes:
    return envelope(f'<GetOpenInvoicesResponse xmlns="{NS}"><Invoices>{"".join(rows)}'
                    '</Invoices></GetOpenInvoicesResponse>')


def row(number="INV-1", date="2026-11-01", due="2026-12-01", location="MAIN",
        reference="SRO-1", description="Screen repair", total="120.00", balance="120.00",
        extra="") -> str:
    fields = [("Number", number), ("Date", date), ("DueDate", due), ("Location", location),
              ("ReferenceNumber", reference), ("Description", description),
              ("Total", total), ("BalanceDue", balance)]
    return ("<Invoice>" + "".join(f"<{name}>{value}</{name}>" for name, value in fields
                                  if value is not None) + extra + "</Invoice>")


@pytest.fixture(scope="module")
def pims_says():
    """A PIMS that answers every POST with the bytes last set; returns (client, set answer)."""
    answer = {"body": b""}
    app = Flask("scripted-pims")

    @app.post("/pims")
    def reply():
        return Response(answer["body"], content_type="text/xml; charset=utf-8")

    server = LiveServer(app)
    client = PimsClient(server.url + "/pims", "test-user", "test-password-not-real", 5)

    def say(body: bytes) -> PimsClient:
        answer["body"] = body
        return client

    yield say
    server.stop()


def as_zeep_reads_it(client: PimsClient, body: bytes) -> list[tuple]:
    """The same answer through zeep's own reply handling, as the portal read it before."""
    result = client._reply("GetOpenInvoices",
                           SoapAnswer(200, body, {"Content-Type": "text/xml; charset=utf-8"}))
    rows = result.Invoice if result is not None and hasattr(result, "Invoice") else (result or [])
    return [(r.Number, *(value.strip() or None if isinstance(value, str) else value for value in (
        r.Date, r.DueDate, r.Location, r.ReferenceNumber, r.Description,
        r.Total.quantize(Decimal("0.01")), r.BalanceDue.quantize(Decimal("0.01")))))
        for r in rows]


def fields(invoice) -> tuple:
    return (invoice.number, invoice.date, invoice.due_date, invoice.location,
            invoice.reference_number, invoice.description, invoice.total, invoice.balance_due)


READABLE = {
    "plain": [row(), row(number="INV-2", due=None, reference=None, description=None)],
    "dates with a time zone": [row(date="2026-11-01Z", due="2026-12-01+05:00")],
    "whitespace around values": [row(total=" 10.5 ", balance="\n10.50\n", location=" MAIN ")],
    "hostile text, escaped": [row(description="&lt;script&gt;alert(1)&lt;/script&gt; &amp; co",
                                  reference="O&apos;Brien")],
    "empty optional elements": [row(due="", reference="", description="")],
    "a comment among the fields": [row(extra="<!-- PIMS debug -->")],
    "a processing instruction among the fields": [row(extra="<?pims debug?>")],
    "no invoices": [],
}


@pytest.mark.parametrize("rows", READABLE.values(), ids=READABLE.keys())
def test_a_readable_answer_reads_as_zeep_reads_it(pims_says, rows):
    body = invoices_answer(*rows)
    client = pims_says(body)
    ours = [fields(invoice) for invoice in client.get_open_invoices("M-1")]
    assert ours == as_zeep_reads_it(client, body)
    assert len(ours) == len(rows)


def test_amounts_round_to_cents_half_up_and_dates_are_dates(pims_says):
    client = pims_says(invoices_answer(row(total="12.345", balance="12.335", date="2026-02-03Z")))
    (invoice,) = client.get_open_invoices("M-1")
    assert (invoice.total, invoice.balance_due) == (Decimal("12.35"), Decimal("12.34"))
    assert invoice.date == dt.date(2026, 2, 3)


def test_invoices_with_nothing_to_pay_are_not_listed(pims_says, caplog):
    """The contract lists balances above zero only. A zero balance cannot be paid (Pay Bill
    charged for the rest, then PIMS refused the allocation), a negative one is a credit that
    made the total due look smaller: neither is an open invoice to the portal."""
    client = pims_says(invoices_answer(row(number="OWED", balance="50.00"),
                                       row(number="ZERO", balance="0.00"),
                                       row(number="CREDIT", balance="-20.00")))
    assert [invoice.number for invoice in client.get_open_invoices("M-1")] == ["OWED"]
    assert "2 open invoice(s) of customer M-1 with a zero or negative balance" in caplog.text


@pytest.mark.parametrize("number", ["  INV-3 ", "INV-3 ", "INV 105", "INV-2 |x", "=1+2",
                                    "INV-&lt;b&gt;1", "N" * 41])
def test_an_invoice_number_a_tick_cannot_carry_is_not_listed(pims_says, caplog, number):
    """Given back to PIMS as it came, " INV-3 " shortened to "INV-3" was charged, then refused
    by PIMS; a number with a space inside was listed and could never be paid ("We couldn't read
    your selection"), and with it nothing else ticked beside it."""
    client = pims_says(invoices_answer(row(number="INV-1"), row(number=number)))
    assert [invoice.number for invoice in client.get_open_invoices("M-1")] == ["INV-1"]
    assert "cannot take payment for" in caplog.text and repr(number.replace("&lt;", "<").replace(
        "&gt;", ">")) in caplog.text


def test_an_invoice_listed_twice_differently_is_not_listed(pims_says, caplog):
    """Which of two balances would be owed? Ticking the first always failed ("the balance has
    changed"), since Pay Bill read the second. The same row twice is just listed once."""
    client = pims_says(invoices_answer(row(number="DUP", balance="11.11"),
                                       row(number="TWICE"), row(number="ONE"),
                                       row(number="DUP", balance="22.22"), row(number="TWICE")))
    assert [invoice.number for invoice in client.get_open_invoices("M-1")] == ["TWICE", "ONE"]
    assert "invoice(s) DUP of customer M-1 more than once, differently" in caplog.text


UNREADABLE = {
    "not XML": b"<html><body>Service Unavailable</body></html",
    "not a SOAP envelope": f'<GetOpenInvoicesResponse xmlns="{NS}"/>'.encode(),
    "another operation's answer": envelope(f'<PingResponse xmlns="{NS}"/>'),
    "an amount too big for cents": invoices_answer(row(total="1e30")),
    "an amount past Decimal's precision": invoices_answer(row(balance="1" * 35)),
    "NaN": invoices_answer(row(balance="NaN")),
    "Infinity": invoices_answer(row(total="-Infinity")),
    "words for money": invoices_answer(row(total="twelve dollars")),
    "no balance": invoices_answer(row(balance=None)),
    "February 30th": invoices_answer(row(date="2026-02-30")),
    "a date in words": invoices_answer(row(due="next Tuesday")),
    "a date and time": invoices_answer(row(date="2026-11-01T10:00:00")),
    "no invoice number": invoices_answer(row(number=None)),
}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_answer_is_pims_unavailable(pims_says, body):
    client = pims_says(body)
    with pytest.raises(PimsUnavailable):
        client.get_open_invoices("M-1")


def test_an_external_entity_is_never_fetched(pims_says, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for PIMS to read")
    body = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "{secret.as_uri()}">]>'
            .encode() + invoices_answer(row(description="&e;")).split(b"?>", 1)[1])
    (invoice,) = pims_says(body).get_open_invoices("M-1")
    assert invoice.description is None and invoice.number == "INV-1"


def test_an_entity_reference_among_the_fields_is_not_a_field(pims_says):
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "INV-9">]>'
            + invoices_answer(row(extra="&e;")).split(b"?>", 1)[1])
    (invoice,) = pims_says(body).get_open_invoices("M-1")
    assert fields(invoice) == fields(pims_says(invoices_answer(row())).get_open_invoices("M")[0])


def test_a_long_amount_is_refused_before_it_is_read_or_kept(pims_says):
    """The reader keeps each amount text it has read; a broken PIMS's megabyte of zeros in
    front of a valid amount must neither be read nor kept."""
    from cpp.pims import invoice_reader

    client = pims_says(invoices_answer(row(total="0" * 1_000_000 + "1.00")))
    kept = invoice_reader._xs_money.cache_info().currsize
    with pytest.raises(PimsUnavailable):
        client.get_open_invoices("M-1")
    assert invoice_reader._xs_money.cache_info().currsize <= kept + 1  # the balance, 120.00
    (invoice,) = pims_says(invoices_answer(row(total="0" * 30 + "1.00"))).get_open_invoices("M")
    assert invoice.total == Decimal("1.00")


def payment_answer(payment_id: str | None = "PAY-1", reference: str = "R1",
                   customer: str | None = "M-1") -> bytes:
    return envelope(
        f'<GetPaymentResponse xmlns="{NS}"><Payment>'
        + (f"<PaymentId>{payment_id}</PaymentId>" if payment_id is not None else "")
        + f"<PaymentReference>{reference}</PaymentReference>"
        + (f"<CustomerCode>{customer}</CustomerCode>" if customer is not None else "")
        + "<Amount>1e30</Amount><Allocations><Allocation><InvoiceNumber>INV-1</InvoiceNumber>"
        "<Amount>1e30</Amount></Allocation></Allocations>"
        "<PaidAt>2026-11-01T10:00:00Z</PaidAt></Payment></GetPaymentResponse>")


def test_a_payment_pims_reports_with_an_impossible_amount_is_pims_unavailable(pims_says):
    """get_payment, which reads PIMS's whole record (the contract tests check through it what
    ApplyPayment stored), says an unreadable record is unusable rather than crashing."""
    with pytest.raises(PimsUnavailable):
        pims_says(payment_answer()).get_payment("R1")


def test_whether_pims_has_a_payment_is_read_whatever_else_its_record_holds(pims_says):
    """Before applying a payment a second time, posting asks only whether PIMS has it, under
    which id and for which customer: the impossible amounts above do not stop it."""
    assert pims_says(payment_answer()).applied_payment("R1") == ("PAY-1", "M-1")
    assert pims_says(payment_answer(customer=" M-2 ")).applied_payment("R1") == ("PAY-1", "M-2")
    assert pims_says(envelope(f'<GetPaymentResponse xmlns="{NS}"/>')).applied_payment(
        "R1") is None


@pytest.mark.parametrize("answer", [payment_answer(payment_id=None), payment_answer(" "),
                                    payment_answer(reference="SOMEONE-ELSES"),
                                    payment_answer(customer=None)],
                         ids=["no id", "a blank id", "another reference", "no customer"])
def test_a_payment_record_without_its_id_reference_or_customer_is_unusable(pims_says, answer):
    with pytest.raises(PimsUnavailable):
        pims_says(answer).applied_payment("R1")


def test_an_answer_too_large_is_cut_off_and_the_next_call_works(pims_says):
    """A broken or hostile PIMS streaming megabytes (here 17 MB of invoices, which would read)
    must not fill the portal's memory: the answer is cut off at 16 MB, and the next call goes
    through (on a new connection: the half-read one is closed, and urllib3 would not reuse a
    connection with unread data anyway)."""
    body = invoices_answer(*[row()] * (17 * 1024 * 1024 // len(row())))
    assert len(body) > 17 * 1024 * 1024
    with pytest.raises(PimsUnavailable):
        pims_says(body).get_open_invoices("M-1")
    (invoice,) = pims_says(invoices_answer(row())).get_open_invoices("M-1")
    assert invoice.number == "INV-1"
