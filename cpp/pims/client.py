"""The only module that talks to the PIMS Web Services Module (see docs/pims-contract.md)."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import zeep.exceptions
from zeep.wsse.username import UsernameToken

from ..lazy_service import built_on_first_use
from ..money import to_money
from ..selection import payable_number
from ..soap_client import build_service, call, repeated
from .invoice_reader import UnreadableAnswer, read_open_invoices
from .models import (
    AccountDisabled,
    Allocation,
    AppliedPayment,
    Customer,
    InvalidCredentials,
    Invoice,
    PaymentToApply,
    PimsCredentialsRejected,
    PimsError,
    PimsStatus,
    PimsUnavailable,
    UnknownCustomer,
)

WSDL = Path(__file__).with_name("pims.wsdl")
BINDING = "{urn:cpp:pims:webservices:v1}PimsPortalBinding"
FAULTS = {"InvalidCredentials": InvalidCredentials, "AccountDisabled": AccountDisabled,
          "UnknownCustomer": UnknownCustomer, "NotAuthorized": PimsCredentialsRejected}

log = logging.getLogger(__name__)


class PimsClient:
    def __init__(self, url: str, username: str, password: str, timeout: float):
        self.url = url
        self._service = build_service(
            WSDL, BINDING, url, timeout, wsse=UsernameToken(username, password)
        )

    def authenticate_customer(self, code: str, password: str) -> Customer:
        return _customer(self._call("AuthenticateCustomer", CustomerCode=code, Password=password))

    def get_customer(self, code: str) -> Customer:
        """One customer by code, without their password (pay-by-link): authorised by our
        web-services user. UnknownCustomer if there is no such code, AccountDisabled if the
        account may not pay online."""
        return _customer(self._call("GetCustomer", CustomerCode=code))

    def get_open_invoices(self, customer_code: str) -> list[Invoice]:
        """The hottest call: every invoices page and every Pay Bill.

        zeep builds and sends the request (WS-Security, SOAPAction, timeouts); a 200 answer is
        read with lxml directly (cpp.pims.invoice_reader), because turning 300 rows into zeep
        objects took longer than the round trip itself. Any other answer goes through zeep's
        own reply handling, so faults mean exactly what they mean for every other call.
        """
        with self._service._client.settings(raw_response=True):
            response = call(self._service, "GetOpenInvoices", {"CustomerCode": customer_code},
                            label="PIMS", unavailable=PimsUnavailable)
        if response.status_code == 200:
            try:
                invoices = read_open_invoices(response.content)
            except UnreadableAnswer as exc:
                log.warning("PIMS GetOpenInvoices answered something unusable: %s", exc)
                raise PimsUnavailable("PIMS GetOpenInvoices: unusable answer") from None
            return payable(invoices, customer_code)
        self._reply("GetOpenInvoices", response)  # raises the fault's error
        raise PimsUnavailable(f"PIMS GetOpenInvoices: HTTP {response.status_code}")

    def apply_payment(self, payment: PaymentToApply) -> tuple[str, bool]:
        """Returns (PIMS payment id, whether PIMS already had this reference)."""
        result = self._call(
            "ApplyPayment",
            PaymentReference=payment.reference,
            CustomerCode=payment.customer_code,
            Allocations={"Allocation": [
                {"InvoiceNumber": a.invoice_number, "Amount": a.amount}
                for a in payment.allocations
            ]},
            CardType=payment.card_type,
            CardLast4=payment.card_last4,
            AuthorizationCode=payment.authorization_code,
            CayanToken=payment.cayan_token,
            PaidAt=payment.paid_at,
        )
        payment_id = str(result.PaymentId or "").strip()
        if not payment_id:  # applied, perhaps: the next attempt asks GetPayment first
            log.warning("PIMS ApplyPayment answered without a payment id")
            raise PimsUnavailable("PIMS ApplyPayment: unusable answer")
        return payment_id, bool(result.AlreadyApplied)

    def get_payment(self, reference: str) -> AppliedPayment | None:
        found = self._call("GetPayment", PaymentReference=reference)
        if found is None:
            return None
        try:
            return _applied_payment(found)
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("PIMS GetPayment answered something unusable: %s", exc)
            raise PimsUnavailable("PIMS GetPayment: unusable answer") from None

    def applied_payment(self, reference: str) -> tuple[str, str] | None:
        """(PIMS's payment id, its customer code) of the payment applied under `reference`, or
        None if there is none: all that posting asks before it would apply a payment again.
        Only those and the reference are read, so an odd amount or date elsewhere in PIMS's
        record cannot hold up a payment that is in PIMS already (get_payment reads it all)."""
        found = self._call("GetPayment", PaymentReference=reference)
        if found is None:
            return None
        payment_id, found_reference, customer_code = (
            str(getattr(found, name, None) or "").strip()
            for name in ("PaymentId", "PaymentReference", "CustomerCode"))
        if not payment_id or not customer_code or found_reference != reference:
            log.warning("PIMS GetPayment answered without this payment's id, reference or "
                        "customer")
            raise PimsUnavailable("PIMS GetPayment: unusable answer")
        return payment_id, customer_code

    def ping(self) -> PimsStatus:
        """A health check that reads and changes nothing: PIMS answers, and accepts our
        web-services user (PimsCredentialsRejected if not; PimsUnavailable if it cannot be
        reached or answers nonsense)."""
        result = self._call("Ping")
        server_time = result.ServerTime
        if not isinstance(server_time, dt.datetime) or not result.ModuleVersion:
            log.warning("PIMS Ping answered something unusable")
            raise PimsUnavailable("PIMS Ping: unusable answer")
        if server_time.tzinfo is None:
            server_time = server_time.replace(tzinfo=dt.UTC)
        return PimsStatus(module_version=str(result.ModuleVersion), server_time=server_time)

    def _reply(self, operation: str, response):
        """zeep's handling of an answer fetched raw: a SOAP fault raised as a domain error."""
        binding = self._service._binding
        try:
            return binding.process_reply(self._service._client, binding.get(operation), response)
        except zeep.exceptions.Fault as fault:
            error = fault_to_error(fault)
            raise error or PimsUnavailable(f"PIMS {operation}: server fault") from None
        except Exception as exc:  # noqa: BLE001 - as soap_client.call: not a usable answer
            log.warning("PIMS %s answered something unusable: %s", operation, type(exc).__name__)
            raise PimsUnavailable(f"PIMS {operation}: unusable answer") from None

    def _call(self, operation: str, **arguments):
        try:
            return call(self._service, operation, arguments, label="PIMS",
                        unavailable=PimsUnavailable)
        except zeep.exceptions.Fault as fault:
            error = fault_to_error(fault)
            if error is None:
                # A Server fault without a contract FaultCode: PIMS broke, not a refusal.
                log.warning("PIMS %s server fault: %s", operation, fault.message)
                raise PimsUnavailable(f"PIMS {operation}: server fault") from None
            raise error from None


def payable(invoices: list[Invoice], customer_code: str) -> list[Invoice]:
    """The open invoices a customer can be charged for, as the contract promises them; what
    else a PIMS sends is left out and logged, for the shop to put right:
    * a zero balance (nothing to pay: PIMS would refuse the allocation after the charge), or a
      negative one (a credit, which would make the total due look smaller than what is charged);
    * an invoice number listed twice with different rows: which balance is owed is not known.
      The same row twice is listed once;
    * an invoice number a customer's tick cannot carry (cpp.selection.INVOICE_NUMBER: letters,
      digits and . _ / - up to 40, no spaces around it): such an invoice could be shown but
      never paid ("We couldn't read your selection")."""
    owing = [invoice for invoice in invoices if invoice.balance_due > 0]
    if len(owing) != len(invoices):
        log.warning("PIMS listed %d open invoice(s) of customer %s with a zero or negative "
                    "balance: not shown", len(invoices) - len(owing), customer_code)
    tickable = [invoice for invoice in owing if payable_number(invoice.number)]
    if len(tickable) != len(owing):  # (read again only to say which)
        log.error("PIMS listed invoice number(s) %s of customer %s that the portal cannot take "
                  "payment for (letters, digits and . _ / - only, at most 40): not shown",
                  ", ".join(repr(invoice.number) for invoice in owing
                            if not payable_number(invoice.number))[:500], customer_code)
    first_rows: dict[str, Invoice] = {}
    ambiguous: set[str] = set()
    for invoice in tickable:  # (300 invoices: one dict lookup each, rows compared only twice)
        first = first_rows.setdefault(invoice.number, invoice)
        if first is not invoice and first != invoice:
            ambiguous.add(invoice.number)
    if ambiguous:
        log.error("PIMS listed invoice(s) %s of customer %s more than once, differently: not "
                  "shown until PIMS lists each once", ", ".join(sorted(ambiguous))[:500],
                  customer_code)
    return [invoice for number, invoice in first_rows.items() if number not in ambiguous]


def _customer(result) -> Customer:
    return Customer(
        code=result.Code, name=result.Name, email=result.Email or None,
        location=result.Location or None,
    )


def _applied_payment(found) -> AppliedPayment:
    paid_at = found.PaidAt
    if isinstance(paid_at, dt.datetime) and paid_at.tzinfo is None:
        paid_at = paid_at.replace(tzinfo=dt.UTC)
    return AppliedPayment(
        payment_id=str(found.PaymentId),
        reference=found.PaymentReference,
        customer_code=found.CustomerCode,
        amount=to_money(found.Amount),
        allocations=tuple(
            Allocation(a.InvoiceNumber, to_money(a.Amount))
            for a in repeated(found.Allocations, "Allocation")
        ),
        paid_at=paid_at,
        card_type=found.CardType,
        card_last4=found.CardLast4,
        authorization_code=found.AuthorizationCode,
        cayan_token=found.CayanToken,
    )


def fault_to_error(fault: zeep.exceptions.Fault) -> PimsError | None:
    """The contract's refusal, or None for a fault that means PIMS itself failed."""
    code = None
    if fault.detail is not None:
        for element in fault.detail.iter():
            if isinstance(element.tag, str) and element.tag.endswith("}FaultCode") and element.text:
                code = element.text.strip()
                break
    if code is None:
        if (fault.code or "").endswith("Server"):
            return None
        code = "Fault"
    return FAULTS.get(code, PimsError)(code, str(fault.message or "PIMS refused the request"))


init_app, get_pims = built_on_first_use("pims", lambda config: PimsClient(
    config["PIMS_URL"], config["PIMS_USERNAME"], config["PIMS_PASSWORD"], config["PIMS_TIMEOUT"]))
