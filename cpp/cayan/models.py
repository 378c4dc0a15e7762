"""What crosses the Cayan boundary: value objects with Decimal money, and the errors."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CARD_TYPES = {1: "American Express", 2: "Discover", 3: "Mastercard", 4: "Visa", 5: "Debit",
              6: "Gift card", 7: "EBT", 8: "JCB", 9: "Diners Club"}
SALE = 1
VOID = 3  # MerchantWare's TransactionType for a void


@dataclass(frozen=True)
class StagedTransaction:
    transport_key: str
    validation_key: str


@dataclass(frozen=True)
class CayanTransaction:
    """One row of Reporting's answer: what Cayan itself says happened."""

    token: str
    merchant_transaction_id: str | None
    approval_status: str
    amount: Decimal | None
    authorization_code: str | None
    card_type: str
    card_last4: str | None
    cardholder: str | None
    transaction_type: int
    error_message: str | None

    @property
    def approved(self) -> bool:
        return self.approval_status.upper().startswith("APPROVED")


@dataclass(frozen=True)
class VoidResult:
    approved: bool
    token: str | None
    message: str | None


class CayanError(Exception):
    """Cayan answered, and refused (Messages on CreateTransaction, a SOAP fault elsewhere)."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


class CayanUnavailable(Exception):
    """Cayan could not be reached in time, or answered with something that is not SOAP."""


def card_type_name(value) -> str:
    try:
        return CARD_TYPES.get(int(value), "Card")
    except (TypeError, ValueError):
        return "Card"


def last4(masked: str | None) -> str | None:
    digits = "".join(ch for ch in (masked or "") if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else None
