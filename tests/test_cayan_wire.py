"""The Cayan wire format, checked against Cayan's own published WSDLs (../shared/reference/cayan).

The project ships WSDLs of its own; these tests prove that what the portal sends, and what the
sandbox answers, is what Cayan's real services define.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests
from lxml import etree
from zeep import Client, Settings

from cpp.cayan.client import (
    CREDIT_BINDING,
    REPORTING_BINDING,
    TRANSPORT_BINDING,
    WSDL_DIR,
    transport_request,
)
from cpp.sandbox.soap import SAFE_PARSER, SOAP11, schema_from_wsdl

from .conftest import REFERENCE_CAYAN, TEST_CREDENTIALS

pytestmark = pytest.mark.skipif(not REFERENCE_CAYAN.exists(),
                                reason="Cayan's reference WSDLs are not beside the checkout")

CREDENTIALS = {
    "merchantName": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_NAME"],
    "merchantSiteId": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_SITE_ID"],
    "merchantKey": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_KEY"],
}
CREDIT_CREDENTIALS = {"MerchantName": CREDENTIALS["merchantName"],
                      "MerchantSiteId": CREDENTIALS["merchantSiteId"],
                      "MerchantKey": CREDENTIALS["merchantKey"]}
REFERENCE = {  # reference WSDL file, the project's own WSDL, binding, sandbox path
    "transport": ("transportService.wsdl", "transport.wsdl", TRANSPORT_BINDING,
                  "/sandbox/cayan/transport"),
    "reporting": ("Reporting4.wsdl", "reporting.wsdl", REPORTING_BINDING,
                  "/sandbox/cayan/reporting"),
    "credit": ("Credit45.wsdl", "credit.wsdl", CREDIT_BINDING, "/sandbox/cayan/credit"),
}
RANDOM_EXTRA = re.compile(r"^X[0-9a-f]{8}$")


def reference_schema(name: str):
    return schema_from_wsdl(REFERENCE_CAYAN / REFERENCE[name][0])


def reference_service(name: str, base_url: str):
    wsdl, _, binding, path = REFERENCE[name]
    client = Client(str(REFERENCE_CAYAN / wsdl), settings=Settings(strict=False))
    return client.create_service(binding, base_url + path)


def our_message(name: str, operation: str, **arguments):
    """The envelope the portal's own client builds for `operation`."""
    client = Client(str(WSDL_DIR / REFERENCE[name][1]))
    service = client.create_service(REFERENCE[name][2], "http://127.0.0.1:9/unused")
    return client.create_message(service, operation, **arguments)


def body_payload(envelope):
    return envelope.find(f"{{{SOAP11}}}Body")[0]


def test_our_create_transaction_is_valid_for_cayans_wsdl():
    request = transport_request(amount=Decimal("546.50"), order_number="AB12CD34",
                                transaction_id="CPP0123456789ABCDEF",
                                redirect_location="https://pay.shop.example/pay/return?ref=AB12CD34",
                                customer_code="M-1000", dba="Test Repair Shop")
    envelope = our_message("transport", "CreateTransaction", **CREDENTIALS, request=request)
    schema = reference_schema("transport")
    assert schema.validate(body_payload(envelope)), schema.error_log
    assert b"<ns0:ForceDuplicate>false</ns0:ForceDuplicate>" in etree.tostring(envelope)


@pytest.mark.parametrize("name,operation,arguments", [
    ("reporting", "TransactionsByTransactionId", {**CREDENTIALS, "merchantTransactionId": "CPP1"}),
    ("reporting", "TransactionsByReference", {**CREDENTIALS, "token": "600001"}),
    ("credit", "Void", {"Credentials": CREDIT_CREDENTIALS, "Request": {"Token": "600001"}}),
])
def test_our_lookups_and_void_are_valid_for_cayans_wsdls(name, operation, arguments):
    schema = reference_schema(name)
    assert schema.validate(body_payload(our_message(name, operation, **arguments))), schema.error_log


def strip_random_extras(element):
    for child in list(element.iter()):
        if isinstance(child.tag, str) and RANDOM_EXTRA.match(etree.QName(child).localname):
            child.getparent().remove(child)
    return element


def post(sandbox, name: str, envelope) -> etree._Element:
    response = requests.post(sandbox.url + REFERENCE[name][3], data=etree.tostring(envelope),
                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
    assert response.status_code == 200, response.text
    return body_payload(etree.fromstring(response.content, SAFE_PARSER))


def pay_on_card_page(sandbox, transport_key: str, card: str = "4012000033330026") -> dict:
    response = requests.post(sandbox.url + "/sandbox/cayan/transportweb.aspx", timeout=10,
                             allow_redirects=False,
                             data={"transportKey": transport_key, "card_number": card,
                                   "expiry": "12/39", "cvv": "123", "cardholder": "Test Person",
                                   "action": "process"})
    assert response.status_code == 302
    return dict(re.findall(r"[?&]([^=&]+)=([^&]*)", response.headers["Location"]))


def test_sandbox_answers_are_valid_for_cayans_wsdls_apart_from_the_random_extra(sandbox):
    request = transport_request(amount=Decimal("12.34"), order_number="WIRE0001",
                                transaction_id="CPPWIRE0001", customer_code="M-1000", dba=None,
                                redirect_location="https://pay.shop.example/pay/return?ref=WIRE0001")
    staged = post(sandbox, "transport",
                  our_message("transport", "CreateTransaction", **CREDENTIALS, request=request))
    extras = [e for e in staged.iter() if isinstance(e.tag, str)
              and RANDOM_EXTRA.match(etree.QName(e).localname)]
    assert len(extras) == 1  # like Cayan since 2019: one element no WSDL mentions
    schema = reference_schema("transport")
    assert schema.validate(strip_random_extras(staged)), schema.error_log
    key = staged.findtext(".//{http://transport.merchantware.net/v4/}TransportKey")
    params = pay_on_card_page(sandbox, key)
    assert params["Status"] == "APPROVED" and params["TransactionID"] == "CPPWIRE0001"
    for name, operation, arguments in (
        ("reporting", "TransactionsByTransactionId", {**CREDENTIALS,
                                                      "merchantTransactionId": "CPPWIRE0001"}),
        ("reporting", "TransactionsByReference", {**CREDENTIALS, "token": params["Token"]}),
        ("credit", "Void", {"Credentials": CREDIT_CREDENTIALS, "Request": {"Token": params["Token"]}}),
    ):
        answer = post(sandbox, name, our_message(name, operation, **arguments))
        schema = reference_schema(name)
        assert schema.validate(strip_random_extras(answer)), (operation, schema.error_log)


def test_cayans_own_wsdls_drive_the_sandbox_end_to_end(sandbox):
    transport = reference_service("transport", sandbox.url)
    staged = transport.CreateTransaction(**CREDENTIALS, request={
        "TransactionType": "SALE", "Amount": Decimal("20.00"), "OrderNumber": "REFWSDL1",
        "RedirectLocation": "https://pay.shop.example/return", "TransactionId": "CPPREF1",
        "ForceDuplicate": False, "TaxAmount": Decimal("0"), "EntryMode": "Keyed"})
    assert staged.TransportKey and staged.ValidationKey
    params = pay_on_card_page(sandbox, staged.TransportKey)
    assert params["ValidationKey"] == staged.ValidationKey
    rows = reference_service("reporting", sandbox.url).TransactionsByTransactionId(
        **CREDENTIALS, merchantTransactionId="CPPREF1")
    [row] = rows if isinstance(rows, list) else rows.TransactionReference4
    assert (row.ApprovalStatus, row.Amount, row.Token) == ("APPROVED", "20.00", params["Token"])
    voided = reference_service("credit", sandbox.url).Void(Credentials=CREDIT_CREDENTIALS,
                                                           Request={"Token": params["Token"]})
    assert voided.ApprovalStatus == "APPROVED" and voided.AuthorizationCode == "VOID"


def test_bad_merchant_credentials_are_refused_everywhere(sandbox):
    wrong = {**CREDENTIALS, "merchantKey": "WRONG"}
    staged = reference_service("transport", sandbox.url).CreateTransaction(**wrong, request={
        "Amount": Decimal("1.00"), "OrderNumber": "X1", "RedirectLocation": "https://x.example/",
        "ForceDuplicate": False, "TaxAmount": Decimal("0"), "EntryMode": "Keyed"})
    assert not staged.TransportKey
    messages = staged.Messages.Message if not isinstance(staged.Messages, list) else staged.Messages
    assert "Invalid merchant credentials." in [m.Information for m in messages]
