"""The PIMS contract over real SOAP/HTTP: the portal's client against the sandbox PIMS."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from decimal import Decimal

import pytest
import requests
import trustme

from cpp.pims.client import PimsClient
from cpp.pims.models import (
    AccountDisabled,
    Allocation,
    InvalidCredentials,
    PaymentToApply,
    PimsCredentialsRejected,
    PimsError,
    PimsStatus,
    PimsUnavailable,
    UnknownCustomer,
)
from cpp.sandbox.faults import Fault
from cpp.staff.health import plain_reason

from .conftest import TEST_CREDENTIALS


def client_for(url: str, timeout: float = 3.0, password: str | None = None) -> PimsClient:
    return PimsClient(url, TEST_CREDENTIALS["SANDBOX_PIMS_USERNAME"],
                      password or TEST_CREDENTIALS["SANDBOX_PIMS_PASSWORD"], timeout)


@pytest.fixture
def pims(sandbox):
    return client_for(sandbox.pims_url)


def payment(reference: str, customer: str, *allocations: tuple[str, str]) -> PaymentToApply:
    return PaymentToApply(
        reference=reference, customer_code=customer,
        allocations=tuple(Allocation(number, Decimal(amount)) for number, amount in allocations),
        paid_at=dt.datetime(2026, 11, 27, 15, 30, tzinfo=dt.UTC), card_type="Visa",
        card_last4="0026", authorization_code="123456", cayan_token="600001",
    )


def test_authenticate_returns_the_customer(pims):
    customer = pims.authenticate_customer("M-1000", "demo")
    assert (customer.code, customer.name, customer.email, customer.location) == \
        ("M-1000", "Jordan Rivera", "jordan.rivera@example.com", "MAIN")


@pytest.mark.parametrize("code,password", [("M-1000", "wrong"), ("NOPE-1", "demo")])
def test_bad_credentials_fault_the_same_way(pims, code, password):
    with pytest.raises(InvalidCredentials) as raised:
        pims.authenticate_customer(code, password)
    assert raised.value.code == "InvalidCredentials"


def test_disabled_account_faults(pims):
    with pytest.raises(AccountDisabled):
        pims.authenticate_customer("M-4000", "demo")


def test_disabled_account_with_wrong_password_looks_like_bad_credentials(pims):
    with pytest.raises(InvalidCredentials):
        pims.authenticate_customer("M-4000", "wrong")


def test_open_invoices_have_decimal_money_and_dates(pims):
    invoices = pims.get_open_invoices("M-1000")
    assert len(invoices) == 7
    assert {i.location for i in invoices} == {"MAIN", "WEST"}
    by_number = {i.number: i for i in invoices}
    partly_paid = by_number["INV-10275"]
    assert partly_paid.total == Decimal("79.95") and partly_paid.balance_due == Decimal("39.95")
    assert all(isinstance(i.balance_due, Decimal) and isinstance(i.date, dt.date) for i in invoices)
    assert [i.number for i in invoices if i.is_overdue()] == ["INV-10231"]
    assert "INV-10190" not in by_number  # paid invoices are not open


def test_customer_without_open_invoices(pims):
    assert pims.get_open_invoices("M-2000") == []


def test_large_account_returns_all_invoices(pims):
    invoices = pims.get_open_invoices("M-3000")
    assert len(invoices) == 300
    assert len({i.number for i in invoices}) == 300


def test_apply_payment_reduces_balances(pims, sandbox):
    payment_id, already = pims.apply_payment(
        payment("REF00001", "M-1000", ("INV-10244", "199.00"), ("INV-10275", "10.00")))
    assert payment_id.startswith("PAY-") and already is False
    assert sandbox.pims.balance("INV-10244") == Decimal("0.00")
    assert sandbox.pims.balance("INV-10275") == Decimal("29.95")
    numbers = {i.number for i in pims.get_open_invoices("M-1000")}
    assert "INV-10244" not in numbers and "INV-10275" in numbers


def test_apply_payment_is_idempotent_by_reference(pims, sandbox):
    first = pims.apply_payment(payment("REF00002", "M-1000", ("INV-10260", "99.00")))
    again = pims.apply_payment(payment("REF00002", "M-1000", ("INV-10260", "99.00")))
    assert again == (first[0], True)
    assert len(sandbox.pims.all_payments()) == 1
    assert sandbox.pims.balance("INV-10260") == Decimal("0.00")


def test_apply_payment_refuses_more_than_the_balance(pims, sandbox):
    with pytest.raises(PimsError) as raised:
        pims.apply_payment(payment("REF00003", "M-1000", ("INV-10271", "64.19")))
    assert raised.value.code == "AllocationExceedsBalance"
    assert sandbox.pims.balance("INV-10271") == Decimal("64.18")
    assert sandbox.pims.all_payments() == []


def test_apply_payment_refuses_another_customers_invoice(pims, sandbox):
    with pytest.raises(PimsError) as raised:
        pims.apply_payment(payment("REF00004", "M-1000", ("INV-20011", "129.00")))
    assert raised.value.code == "InvoiceNotFound"
    assert sandbox.pims.balance("INV-20011") == Decimal("129.00")


def test_refused_payment_changes_nothing_even_when_partly_valid(pims, sandbox):
    with pytest.raises(PimsError):
        pims.apply_payment(payment("REF00005", "M-1000", ("INV-10244", "199.00"),
                                   ("INV-20011", "129.00")))
    assert sandbox.pims.balance("INV-10244") == Decimal("199.00")


def test_get_payment_tells_whether_a_reference_was_applied(pims):
    assert pims.get_payment("REF00006") is None
    assert pims.applied_payment("REF00006") is None
    payment_id, _ = pims.apply_payment(payment("REF00006", "M-1000", ("INV-10252", "347.50")))
    assert pims.applied_payment("REF00006") == (payment_id, "M-1000")  # what posting asks
    found = pims.get_payment("REF00006")
    assert found.payment_id == payment_id
    assert found.amount == Decimal("347.50")
    assert found.allocations == (Allocation("INV-10252", Decimal("347.50")),)
    assert (found.card_type, found.card_last4, found.authorization_code) == ("Visa", "0026", "123456")


def test_wrong_web_services_password_is_refused(sandbox):
    with pytest.raises(PimsError) as raised:
        client_for(sandbox.pims_url, password="not-the-password").get_open_invoices("M-1000")
    assert raised.value.code == "NotAuthorized"


def test_request_without_ws_security_is_refused(sandbox):
    body = (b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            b'<soap:Body><GetOpenInvoices xmlns="urn:cpp:pims:webservices:v1"><CustomerCode>M-1000'
            b'</CustomerCode></GetOpenInvoices></soap:Body></soap:Envelope>')
    response = requests.post(sandbox.pims_url, data=body, timeout=5,
                             headers={"Content-Type": "text/xml"})
    assert response.status_code == 500
    assert b"NotAuthorized" in response.content and b"INV-10231" not in response.content


def test_sandbox_rejects_requests_the_wsdl_does_not_allow(sandbox):
    body = (b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            b'<soap:Body><GetOpenInvoices xmlns="urn:cpp:pims:webservices:v1"><Customer>M-1000'
            b'</Customer></GetOpenInvoices></soap:Body></soap:Envelope>')
    response = requests.post(sandbox.pims_url, data=body, timeout=5)
    assert response.status_code == 500 and b"Invalid GetOpenInvoices request" in response.content


def test_refused_connection_is_unavailable(closed_port):
    started = time.monotonic()
    with pytest.raises(PimsUnavailable) as raised:
        client_for(f"http://127.0.0.1:{closed_port}/sandbox/pims").get_open_invoices("M-1000")
    assert time.monotonic() - started < 3
    # The Health page says why in plain words, from what the transport raised.
    assert plain_reason(raised.value).startswith("refused")


def test_slower_than_the_timeout_is_unavailable(sandbox, faults):
    faults.arm(Fault("pims", "GetOpenInvoices", mode="hang", seconds=2))
    with pytest.raises(PimsUnavailable):
        client_for(sandbox.pims_url, timeout=0.5).get_open_invoices("M-1000")


def test_malformed_answer_is_unavailable(pims, faults):
    faults.arm(Fault("pims", "GetOpenInvoices", mode="malformed"))
    with pytest.raises(PimsUnavailable):
        pims.get_open_invoices("M-1000")


def test_lost_answer_after_apply_can_be_checked_with_get_payment(pims, sandbox, faults):
    faults.arm(Fault("pims", "ApplyPayment", mode="http500", when="after"))
    with pytest.raises(PimsUnavailable):
        pims.apply_payment(payment("REF00007", "M-1000", ("INV-10266", "425.75")))
    assert pims.get_payment("REF00007") is not None  # the work was done; only the answer was lost
    _, already = pims.apply_payment(payment("REF00007", "M-1000", ("INV-10266", "425.75")))
    assert already is True and len(sandbox.pims.all_payments()) == 1


def test_dropped_connection_after_the_work_is_unavailable_and_the_work_stays_done(pims, sandbox, faults):
    faults.arm(Fault("pims", "ApplyPayment", mode="drop", when="after"))
    with pytest.raises(PimsUnavailable):
        pims.apply_payment(payment("REF00008", "M-1000", ("INV-10231", "289.99")))
    assert faults.calls[("pims", "ApplyPayment")] == 1  # sent once: the transport never retries
    assert pims.get_payment("REF00008") is not None


def test_pims_over_https_with_an_untrusted_certificate_is_refused(tmp_path):
    """The SOAP transport checks certificates (certifi's bundle), as requests did: a PIMS
    behind a certificate no public authority signed is refused before anything is sent."""
    authority = trustme.CA()
    authority.issue_cert("127.0.0.1").configure_cert(
        context := ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def serve_one() -> None:
        connection, _ = listener.accept()
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                received.append(tls.recv(65536))
        except (ssl.SSLError, OSError):
            pass  # the client hung up during the handshake, as it should

    server = threading.Thread(target=serve_one, daemon=True)
    server.start()
    with pytest.raises(PimsUnavailable):
        client_for(f"https://127.0.0.1:{port}/pims").get_open_invoices("M-1000")
    server.join(5)
    listener.close()
    assert received == []  # no envelope (no web-services password) went to that server


def test_ping_returns_the_module_version_and_the_server_time(pims, sandbox, faults):
    status = pims.ping()
    assert isinstance(status, PimsStatus)
    assert status.module_version == "CPP sandbox PIMS 1.0"
    assert status.server_time.tzinfo is not None
    assert abs(status.server_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert faults.calls[("pims", "Ping")] == 1
    assert sandbox.pims.all_payments() == []  # it reads nothing and changes nothing


def test_ping_with_the_wrong_web_services_password_is_rejected(sandbox):
    with pytest.raises(PimsCredentialsRejected) as raised:
        client_for(sandbox.pims_url, password="not-the-password").ping()
    assert raised.value.code == "NotAuthorized"


@pytest.mark.parametrize("mode", ["fault", "http500", "malformed", "drop"])
def test_ping_failing_is_unavailable(pims, faults, mode):
    faults.arm(Fault("pims", "Ping", mode=mode))
    with pytest.raises(PimsUnavailable):
        pims.ping()
    assert pims.ping().module_version  # one injected failure, then PIMS answers again


def test_ping_slower_than_the_timeout_is_unavailable(sandbox, faults):
    faults.arm(Fault("pims", "Ping", mode="hang", seconds=2))
    with pytest.raises(PimsUnavailable):
        client_for(sandbox.pims_url, timeout=0.5).ping()


def test_ping_to_a_refused_connection_is_unavailable(closed_port):
    with pytest.raises(PimsUnavailable):
        client_for(f"http://127.0.0.1:{closed_port}/sandbox/pims").ping()


def test_get_customer_returns_the_customer_without_a_password(pims, sandbox, faults):
    customer = pims.get_customer("M-1000")
    assert (customer.code, customer.name, customer.email, customer.location) == \
        ("M-1000", "Jordan Rivera", "jordan.rivera@example.com", "MAIN")
    assert faults.calls[("pims", "GetCustomer")] == 1
    assert sandbox.pims.all_payments() == []  # it reads one customer and changes nothing


def test_get_customer_with_an_unknown_code_faults(pims):
    with pytest.raises(UnknownCustomer) as raised:
        pims.get_customer("NOPE-1")
    assert raised.value.code == "UnknownCustomer"


def test_get_customer_of_a_disabled_account_faults(pims):
    with pytest.raises(AccountDisabled) as raised:
        pims.get_customer("M-4000")
    assert raised.value.code == "AccountDisabled"


def test_get_customer_with_the_wrong_web_services_password_is_rejected(sandbox):
    with pytest.raises(PimsCredentialsRejected) as raised:
        client_for(sandbox.pims_url, password="not-the-password").get_customer("M-1000")
    assert raised.value.code == "NotAuthorized"


@pytest.mark.parametrize("mode", ["fault", "http500", "malformed", "drop"])
def test_get_customer_failing_is_unavailable(pims, faults, mode):
    faults.arm(Fault("pims", "GetCustomer", mode=mode))
    with pytest.raises(PimsUnavailable):
        pims.get_customer("M-1000")
    assert pims.get_customer("M-1000").name == "Jordan Rivera"  # one failure, then PIMS answers again
