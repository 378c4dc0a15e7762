"""GetOpenInvoices' answer read straight from the XML (see PimsClient.get_open_invoices).

What zeep would make of it under pims.wsdl (tests/test_invoice_reader.py compares the two):
xs:date values (a time zone suffix is allowed and ignored, as zeep does), xs:decimal money
rounded to cents, optional elements absent or empty as None. One difference: whitespace around
a value is dropped (zeep keeps it in strings), except around the invoice's number, which is
given back to PIMS in ApplyPayment and must be exactly PIMS's own: " INV-3 " shortened to
"INV-3" was charged, then refused by PIMS as no invoice of the customer's.

Anything else (not XML, not a SOAP envelope, a row without its number, date or amounts, an
amount cents cannot hold) is unreadable: the caller treats it as PIMS being unavailable, never
as "no invoices".
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache

from lxml import etree

from ..money import to_money
from .models import Invoice

NS = "urn:cpp:pims:webservices:v1"
SOAP_ENVELOPES = ("http://schemas.xmlsoap.org/soap/envelope/",
                  "http://www.w3.org/2003/05/soap-envelope")
# No entities, no network, no giant trees: PIMS's answer is data, never instructions.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
NUMBER, DATE, DUE_DATE, LOCATION, REFERENCE, DESCRIPTION, TOTAL, BALANCE_DUE = (
    f"{{{NS}}}{name}" for name in ("Number", "Date", "DueDate", "Location", "ReferenceNumber",
                                   "Description", "Total", "BalanceDue"))
XS_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?\Z")


class UnreadableAnswer(ValueError):
    pass


def read_open_invoices(content: bytes) -> list[Invoice]:
    try:
        root = etree.fromstring(content, PARSER)
    except etree.XMLSyntaxError as exc:
        raise UnreadableAnswer(f"not XML: {exc}") from None
    body = next((root.find(f"{{{ns}}}Body") for ns in SOAP_ENVELOPES
                 if root.tag == f"{{{ns}}}Envelope"), None)
    answer = body.find(f"{{{NS}}}GetOpenInvoicesResponse") if body is not None else None
    if answer is None:
        raise UnreadableAnswer("no GetOpenInvoicesResponse in a SOAP body")
    return [read_invoice(row) for row in answer.iterfind(f"{{{NS}}}Invoices/{{{NS}}}Invoice")]


def read_invoice(row) -> Invoice:
    # One pass over the row's children (findtext per field would search it eight times).
    # Each .text is a new string made from lxml's tree: read once. (A comment, processing
    # instruction or entity reference among the fields lands under lxml's factory function
    # as its key, which no field is looked up by.)
    fields: dict[object, str] = {}
    for child in row:
        text = child.text
        if text is not None:
            if child.tag == NUMBER and text.strip():
                fields[NUMBER] = text  # as it is (the docstring above)
                continue
            text = text.strip()
            if text:
                fields[child.tag] = text
    number, date = fields.get(NUMBER), fields.get(DATE)
    if number is None or date is None:
        raise UnreadableAnswer("an invoice without its Number or Date")
    return Invoice(number=number, date=xs_date(date), due_date=xs_date(fields.get(DUE_DATE)),
                   location=fields.get(LOCATION), reference_number=fields.get(REFERENCE),
                   description=fields.get(DESCRIPTION), total=xs_money(fields.get(TOTAL)),
                   balance_due=xs_money(fields.get(BALANCE_DUE)))


def xs_date(value: str | None) -> dt.date | None:
    return None if value is None else _xs_date(value)


# A customer's invoices share a handful of dates and many amounts, and an invoice's total is
# often its balance: each distinct text is read once per process (bounded, least recently used
# forgotten). Unreadable texts raise, and an exception is never cached.
@lru_cache(maxsize=4096)
def _xs_date(value: str) -> dt.date:
    match = XS_DATE.match(value)
    if not match:
        raise UnreadableAnswer(f"not an xs:date: {value[:40]!r}")
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        raise UnreadableAnswer(f"not a date: {value[:40]!r}") from None


# Far more than any amount in cents needs (Decimal holds 28 digits); also what keeps the cache
# below small, whatever a broken PIMS sends.
LONGEST_AMOUNT = 40


def xs_money(value: str | None) -> Decimal:
    if value is None:
        raise UnreadableAnswer("an invoice without its Total or BalanceDue")
    if len(value) > LONGEST_AMOUNT:
        raise UnreadableAnswer(f"not an amount: {value[:40]!r}…")
    return _xs_money(value)


@lru_cache(maxsize=4096)
def _xs_money(value: str) -> Decimal:
    try:
        return to_money(value)  # cents, half up; NaN, words and 1e30 are not amounts
    except ValueError:
        raise UnreadableAnswer(f"not an amount: {value[:40]!r}") from None
