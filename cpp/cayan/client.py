"""The only module that talks to Cayan: Transport (stage), Reporting (verify), Credit (void)."""
from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import zeep.exceptions

from ..lazy_service import built_on_first_use
from ..money import to_money
from ..soap_client import build_service, call, repeated
from .models import (
    CayanError,
    CayanTransaction,
    CayanUnavailable,
    StagedTransaction,
    VoidResult,
    card_type_name,
    last4,
)

WSDL_DIR = Path(__file__).with_name("wsdl")
TRANSPORT_BINDING = "{http://transport.merchantware.net/v4/}TransportServiceSoap"
REPORTING_BINDING = "{http://schemas.merchantwarehouse.com/merchantware/40/Reports/}ReportingSoap"
CREDIT_BINDING = "{http://schemas.merchantwarehouse.com/merchantware/v45/}CreditSoap"
SOFTWARE_NAME = "CPP Customer Payment Portal"
SOFTWARE_VERSION = "1.0"

log = logging.getLogger(__name__)


class CayanClient:
    def __init__(self, config):
        timeout = config["CAYAN_TIMEOUT"]
        self._credentials = {
            "merchantName": config["CAYAN_MERCHANT_NAME"],
            "merchantSiteId": config["CAYAN_MERCHANT_SITE_ID"],
            "merchantKey": config["CAYAN_MERCHANT_KEY"],
        }
        self._transport = build_service(WSDL_DIR / "transport.wsdl", TRANSPORT_BINDING,
                                        config["CAYAN_TRANSPORT_URL"], timeout)
        self._reporting = build_service(WSDL_DIR / "reporting.wsdl", REPORTING_BINDING,
                                        config["CAYAN_REPORTING_URL"], timeout)
        self._credit = build_service(WSDL_DIR / "credit.wsdl", CREDIT_BINDING,
                                     config["CAYAN_CREDIT_URL"], timeout)

    def create_transaction(self, **details) -> StagedTransaction:
        """Stage a sale for the hosted page; `details` are transport_request's arguments."""
        result = self._call(self._transport, "CreateTransaction", **self._credentials,
                            request=transport_request(**details))
        messages = [
            " ".join(filter(None, (m.Field, m.Information)))
            for m in repeated(result.Messages if result is not None else None, "Message")
        ]
        if messages or result is None or not result.TransportKey or not result.ValidationKey:
            raise CayanError(messages or ["Cayan did not return a transport key."])
        return StagedTransaction(result.TransportKey, result.ValidationKey)

    def transactions_by_transaction_id(self, transaction_id: str) -> list[CayanTransaction]:
        result = self._call(self._reporting, "TransactionsByTransactionId", **self._credentials,
                            merchantTransactionId=transaction_id)
        return self._rows(result)

    def void(self, token: str, transaction_id: str | None = None) -> VoidResult:
        credentials = {"MerchantName": self._credentials["merchantName"],
                       "MerchantSiteId": self._credentials["merchantSiteId"],
                       "MerchantKey": self._credentials["merchantKey"]}
        result = self._call(self._credit, "Void", Credentials=credentials,
                            Request={"Token": token, "MerchantTransactionId": transaction_id})
        status = (result.ApprovalStatus or "") if result is not None else ""
        return VoidResult(approved=status.upper().startswith("APPROVED"),
                          token=result.Token if result is not None else None,
                          message=(result.ErrorMessage if result is not None else None) or status)

    @staticmethod
    def _rows(result) -> list[CayanTransaction]:
        transactions = []
        for row in repeated(result, "TransactionReference4"):
            try:
                amount = to_money(row.Amount) if row.Amount not in (None, "") else None
            except ValueError:
                amount = None
            transactions.append(CayanTransaction(
                token=row.Token or "",
                merchant_transaction_id=row.MerchantTransactionId,
                approval_status=row.ApprovalStatus or "",
                amount=amount,
                authorization_code=row.AuthorizationCode or None,
                card_type=card_type_name(row.CardType),
                card_last4=last4(row.CardNumber),
                cardholder=row.Cardholder or None,
                transaction_type=int(row.TransactionType or 0),
                error_message=row.ErrorMessage or None,
            ))
        return transactions

    @staticmethod
    def _call(service, operation: str, **arguments):
        try:
            return call(service, operation, arguments, label="Cayan", unavailable=CayanUnavailable)
        except zeep.exceptions.Fault as fault:
            log.warning("Cayan %s fault: %s", operation, fault.message)
            raise CayanError([str(fault.message or "Cayan refused the request")]) from None


def transport_request(*, amount: Decimal, order_number: str, transaction_id: str,
                      redirect_location: str, customer_code: str, dba: str | None,
                      logo_location: str | None = None) -> dict:
    """CreateTransaction's TransportRequest, as Cayan's WSDL defines it."""
    return {
        "TransactionType": "SALE",
        "Amount": amount,
        "ClerkId": "WEB",
        "OrderNumber": order_number,
        "Dba": (dba or "")[:50] or None,
        "SoftwareName": SOFTWARE_NAME,
        "SoftwareVersion": SOFTWARE_VERSION,
        "LogoLocation": logo_location,
        "RedirectLocation": redirect_location,
        "TransactionId": transaction_id,
        # Never let Cayan charge the same card twice for a retried stage.
        "ForceDuplicate": False,
        "CustomerCode": customer_code,
        "TaxAmount": Decimal("0.00"),
        "EntryMode": "Keyed",
        # Partial approvals would leave invoices part-paid; the portal does not take them.
        "EnablePartialAuthorization": False,
    }


init_app, get_cayan = built_on_first_use("cayan", CayanClient)
