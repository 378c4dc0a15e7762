"""Sandbox PIMS Web Services Module: a real SOAP endpoint implementing cpp/pims/pims.wsdl."""
from __future__ import annotations

import datetime as dt
import hmac
from decimal import Decimal, InvalidOperation

from flask import Blueprint, current_app
from lxml import etree
from lxml.builder import ElementMaker

from ..money import from_cents
from ..pims.client import WSDL
from .pims_store import PimsFault, PimsStore, payment_id
from .soap import SoapFault, dispatch, schema_from_wsdl

NS = "urn:cpp:pims:webservices:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
E = ElementMaker(namespace=NS, nsmap={None: NS})
INVOICES, INVOICE, NUMBER, DATE, DUE_DATE, LOCATION, REFERENCE, DESCRIPTION, TOTAL, BALANCE_DUE = (
    f"{{{NS}}}{name}" for name in ("Invoices", "Invoice", "Number", "Date", "DueDate", "Location",
                                   "ReferenceNumber", "Description", "Total", "BalanceDue"))
SCHEMA = schema_from_wsdl(WSDL)
MODULE_VERSION = "CPP sandbox PIMS 1.0"

bp = Blueprint("sandbox_pims", __name__)


def store() -> PimsStore:
    return current_app.extensions["sandbox_pims"]


@bp.post("/sandbox/pims")
def endpoint():
    handlers = {
        "AuthenticateCustomer": authenticate_customer,
        "GetCustomer": get_customer,
        "GetOpenInvoices": get_open_invoices,
        "ApplyPayment": apply_payment,
        "GetPayment": get_payment,
        "Ping": ping,
    }
    return dispatch("pims", NS, SCHEMA, {name: authenticated(h) for name, h in handlers.items()})


def authenticated(handler):
    """Every operation needs the portal's WS-Security UsernameToken."""
    def wrapper(operation, header):
        token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken") if header is not None else None
        username = token.findtext(f"{{{WSSE}}}Username") if token is not None else None
        password = token.findtext(f"{{{WSSE}}}Password") if token is not None else None
        config = current_app.config
        if not (username and password
                and hmac.compare_digest(username, config["SANDBOX_PIMS_USERNAME"])
                and hmac.compare_digest(password, config["SANDBOX_PIMS_PASSWORD"])):
            raise refused(PimsFault("NotAuthorized", "The web services username or password is wrong."))
        try:
            return handler(operation)
        except PimsFault as exc:
            raise refused(exc) from None
    return wrapper


def refused(exc: PimsFault) -> SoapFault:
    return SoapFault(exc.message, detail=[E.FaultCode(exc.code)])


def text(element, name: str) -> str | None:
    value = element.findtext(f"{{{NS}}}{name}")
    return value.strip() if value is not None else None


def soap_decimal(value: Decimal) -> str:
    return f"{value:.2f}"


def customer_element(row):
    customer = E.Customer(E.Code(row["code"]), E.Name(row["name"]))
    if row["email"]:
        customer.append(E.Email(row["email"]))
    if row["location"]:
        customer.append(E.Location(row["location"]))
    return customer


def authenticate_customer(operation):
    row = store().authenticate(text(operation, "CustomerCode"), text(operation, "Password") or "")
    return E.AuthenticateCustomerResponse(customer_element(row))


def get_customer(operation):
    """Pay-by-link: one customer by code, no password. Reads one customer, changes nothing."""
    return E.GetCustomerResponse(customer_element(store().customer(text(operation, "CustomerCode"))))


def get_open_invoices(operation):
    # SubElement into one tree, not ElementMaker: each E.X() carries its own namespace map,
    # and tidying those up on every append made a 300-invoice answer take 25 ms.
    answer = etree.Element(f"{{{NS}}}GetOpenInvoicesResponse", nsmap={None: NS})
    invoices = etree.SubElement(answer, INVOICES)
    for row in store().open_invoices(text(operation, "CustomerCode")):
        invoice = etree.SubElement(invoices, INVOICE)
        for tag, value, required in (
                (NUMBER, row["number"], True), (DATE, row["date"], True),
                (DUE_DATE, row["due_date"], False), (LOCATION, row["location"], True),
                (REFERENCE, row["reference_number"], False),
                (DESCRIPTION, row["description"], False),
                (TOTAL, soap_decimal(from_cents(row["total_cents"])), True),
                (BALANCE_DUE, soap_decimal(from_cents(row["balance_cents"])), True)):
            if value or required:
                etree.SubElement(invoice, tag).text = value
    return answer


def apply_payment(operation):
    allocations = []
    for allocation in operation.iterfind(f"{{{NS}}}Allocations/{{{NS}}}Allocation"):
        try:
            amount = Decimal(text(allocation, "Amount"))
        except (InvalidOperation, TypeError):
            raise PimsFault("InvalidAmount", "An allocation amount is not a number.") from None
        allocations.append((text(allocation, "InvoiceNumber"), amount))
    paid_at = dt.datetime.fromisoformat(text(operation, "PaidAt").replace("Z", "+00:00"))
    payment_id, already = store().apply_payment(
        text(operation, "PaymentReference"), text(operation, "CustomerCode"), allocations,
        text(operation, "CardType"), text(operation, "CardLast4"),
        text(operation, "AuthorizationCode"), text(operation, "CayanToken"), paid_at,
    )
    return E.ApplyPaymentResponse(E.PaymentId(payment_id), E.AlreadyApplied(str(already).lower()))


def get_payment(operation):
    payment, allocations = store().get_payment(text(operation, "PaymentReference"))
    if payment is None:
        return E.GetPaymentResponse()
    found = E.Payment(
        E.PaymentId(payment_id(payment["id"])),
        E.PaymentReference(payment["reference"]),
        E.CustomerCode(payment["customer_code"]),
        E.Amount(soap_decimal(from_cents(payment["amount_cents"]))),
        E.Allocations(*[
            E.Allocation(E.InvoiceNumber(a["invoice_number"]),
                         E.Amount(soap_decimal(from_cents(a["amount_cents"]))))
            for a in allocations
        ]),
    )
    for name, column in (("CardType", "card_type"), ("CardLast4", "card_last4"),
                         ("AuthorizationCode", "authorization_code"),
                         ("CayanToken", "cayan_token")):
        if payment[column]:
            found.append(E(name, payment[column]))
    found.append(E.PaidAt(payment["paid_at"]))
    return E.GetPaymentResponse(found)


def ping(operation):
    """The health check: touches no data, so it needs nothing from the store."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return E.PingResponse(E.ModuleVersion(MODULE_VERSION),
                          E.ServerTime(now.isoformat().replace("+00:00", "Z")))
