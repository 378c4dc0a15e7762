"""What crosses the PIMS boundary: frozen value objects with Decimal money, and the errors."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Customer:
    code: str
    name: str
    email: str | None
    location: str | None


@dataclass(frozen=True)
class Invoice:
    number: str
    date: dt.date
    due_date: dt.date | None
    location: str
    reference_number: str | None
    description: str | None
    total: Decimal
    balance_due: Decimal

    def is_overdue(self, today: dt.date | None = None) -> bool:
        today = today or dt.date.today()
        return self.due_date is not None and self.due_date < today and self.balance_due > 0


@dataclass(frozen=True)
class Allocation:
    invoice_number: str
    amount: Decimal


@dataclass(frozen=True)
class AppliedPayment:
    payment_id: str
    reference: str
    customer_code: str
    amount: Decimal
    allocations: tuple[Allocation, ...]
    paid_at: dt.datetime
    card_type: str | None = None
    card_last4: str | None = None
    authorization_code: str | None = None
    cayan_token: str | None = None


@dataclass(frozen=True)
class PaymentToApply:
    reference: str
    customer_code: str
    allocations: tuple[Allocation, ...]
    paid_at: dt.datetime
    card_type: str | None
    card_last4: str | None
    authorization_code: str | None
    cayan_token: str | None


@dataclass(frozen=True)
class PimsStatus:
    """PIMS's answer to Ping: it is up, and it accepted the portal's web-services user."""
    module_version: str
    server_time: dt.datetime


class PimsError(Exception):
    """PIMS answered with a fault. `code` is the contract's FaultCode; `message` is safe to log."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidCredentials(PimsError):
    pass


class AccountDisabled(PimsError):
    pass


class UnknownCustomer(PimsError):
    """GetCustomer: PIMS has no customer with that code (the `UnknownCustomer` fault)."""


class PimsCredentialsRejected(PimsError):
    """PIMS refused the portal's own web-services user (PIMS_USERNAME / PIMS_PASSWORD): the
    `NotAuthorized` fault. A configuration problem, never the customer's; not to be confused
    with InvalidCredentials, a customer's wrong portal password."""


class PimsUnavailable(Exception):
    """PIMS could not be reached in time, or answered with something that is not SOAP."""
