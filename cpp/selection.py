"""What a ticked invoice box sends: "<invoice number>|<balance in cents the customer saw>".

The balance is only compared with PIMS's on Pay Bill, so a change since the page was shown is
caught; the amount charged is always PIMS's own.
"""
from __future__ import annotations

import re
from decimal import Decimal

from .money import to_cents

INVOICE_NUMBER = r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}"
MAX_INVOICES_PER_PAYMENT = 500
TICK = re.compile(rf"^({INVOICE_NUMBER})\|(\d{{1,12}})\Z", re.ASCII)


def tick_value(number: str, amount: Decimal) -> str:
    return tick_of(number, to_cents(amount))


def tick_of(number: str, cents: int) -> str:
    return f"{number}|{cents}"


def read_tick(value: str) -> tuple[str, int] | None:
    """(invoice number, cents seen), or None for anything that is not a box's value."""
    match = TICK.match(value or "")
    return (match.group(1), int(match.group(2))) if match else None


def ticked_numbers(values: list[str], most: int) -> list[str]:
    """The invoice numbers of well-formed ticks, at most `most` of them."""
    ticks = (read_tick(value) for value in values[:most])
    return [tick[0] for tick in ticks if tick]


# Partial payments (ALLOW_PARTIAL_PAYMENTS): the amount typed for an invoice, in a field named
# AMOUNT_FIELD + its number. "50", "50.5", "$1,234.56"; never more than two decimal places.
AMOUNT_FIELD = "amount-"
AMOUNT = re.compile(r"^\$?\s*(\d{1,3}(?:,\d{3})+|\d{1,12})(?:\.(\d{1,2}))?\Z", re.ASCII)


def read_amount(text: str) -> int | None:
    """Cents typed by the customer, or None for anything that is not an amount of money."""
    match = AMOUNT.match((text or "").strip())
    if not match:
        return None
    whole, fraction = match.group(1).replace(",", ""), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(fraction)


def typed_amounts(form) -> dict[str, str]:
    """{invoice number: the amount typed for it} from a submitted form."""
    return {key[len(AMOUNT_FIELD):]: value for key, value in form.items()
            if key.startswith(AMOUNT_FIELD)}
