"""Money is Decimal, quantized to cents; the ledger stores integer cents."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def to_money(value) -> Decimal:
    """Parse what a SOAP service sent (Decimal, str or int) into cents; floats are refused."""
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    try:
        amount = Decimal(str(value).strip())
        if amount.is_finite():
            # An amount too big to hold in cents (1e30) fails here too.
            return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        pass
    raise ValueError(f"not an amount: {value!r}")


def to_cents(amount: Decimal) -> int:
    return int((amount.quantize(CENT) * 100).to_integral_value())


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)
