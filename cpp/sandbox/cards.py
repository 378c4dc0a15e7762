"""The sandbox card page's test cards and the checks a real hosted page makes on what is typed."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..marks import N_  # the card page translates them where it shows them

VISA, MASTERCARD, DISCOVER, AMEX = 4, 3, 2, 1


@dataclass(frozen=True)
class Outcome:
    status: str  # Reporting's ApprovalStatus
    redirect_status: str  # what the browser's Status parameter says
    error_message: str | None = None
    amount_off_cents: int = 0  # approve this much less than staged (exercises the void path)


APPROVED = Outcome("APPROVED", "APPROVED")
TEST_CARDS: dict[str, tuple[Outcome, str]] = {
    "4012000033330026": (APPROVED, N_("Visa: approved")),
    "5424180279791732": (APPROVED, N_("Mastercard: approved")),
    "4000300011112220": (Outcome("DECLINED", "DECLINED;1001;Insufficient funds",
                                 "Insufficient funds"), N_("Visa: declined (insufficient funds)")),
    "4000300011112238": (Outcome("REFERRAL", "REFERRAL;1002;Call issuer", "Call issuer"),
                         N_("Visa: referral (call the issuer)")),
    "4005550000000019": (Outcome("APPROVED", "APPROVED", None, amount_off_cents=100),
                         N_("Visa: approved for $1.00 less than asked (the portal voids it)")),
}


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_type(number: str) -> int:
    if number.startswith(("34", "37")):
        return AMEX
    if number.startswith(("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27")):
        return MASTERCARD
    if number.startswith(("6011", "65", "64")):
        return DISCOVER
    return VISA


def check_card(number: str, expiry: str, cvv: str, name: str, today: dt.date) -> dict[str, str]:
    """Field -> message for everything wrong with what was typed."""
    errors = {}
    digits = number.replace(" ", "").replace("-", "")
    if not (digits.isdigit() and 13 <= len(digits) <= 19 and luhn_valid(digits)):
        errors["card_number"] = N_("Enter a valid card number.")
    try:
        month, year = expiry.strip().split("/")
        month, year = int(month), 2000 + int(year)
        if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
            raise ValueError
    except ValueError:
        errors["expiry"] = N_("Enter an expiration date in the future, as MM/YY.")
    if not (cvv.isdigit() and len(cvv) in (3, 4)):
        errors["cvv"] = N_("Enter the 3 or 4 digit CVV.")
    if not name.strip() or len(name) > 60:
        errors["cardholder"] = N_("Enter the name on the card.")
    return errors


def outcome_for(number: str) -> Outcome:
    """Listed test cards have fixed outcomes; any other valid card is approved."""
    return TEST_CARDS.get(number, (APPROVED, ""))[0]
