"""What a ticked invoice box sends: "<invoice number>|<balance in cents the customer saw>".

The balance is only compared with PIMS's on Pay Bill, so a change since the page was shown is
caught; the amount charged is always PIMS's own.
"""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from .money import to_cents

INVOICE_NUMBER = r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}"
MAX_INVOICES_PER_PAYMENT = 500
TICK = re.compile(rf"^({INVOICE_NUMBER})\|(\d{{1,12}})\Z", re.ASCII)
WHOLE_INVOICE_NUMBER = re.compile(rf"{INVOICE_NUMBER}\Z", re.ASCII)


def payable_number(number: str) -> bool:
    """Whether a tick can carry this invoice number (cpp.pims.client.payable)."""
    return WHOLE_INVOICE_NUMBER.match(number) is not None


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
# AMOUNT_FIELD + its number: "50", "50.5", "$1,234.56", or as a Spanish page writes money,
# "50,5" and "1.234,56"; never more than two decimal places.
#
# The decimal point is whichever of "." and "," the customer typed: a phone's decimal keypad
# has only its region's, whatever the page's language. Followed by three digits, a separator
# groups thousands, and only the page's own group symbol does: "1,250" is 1250 on an English
# page and refused on a Spanish one, where the comma is the decimal point and it may be 1,25
# mistyped ("1.250" the other way round). An amount is read the same in both languages or
# refused, never read as a thousand times what was meant. (cpp/static/js/invoices.js reads the
# running total by the same rules; tests/test_browser.py checks that the two agree.)
AMOUNT_FIELD = "amount-"
# What counts as blank around and inside an amount, spelled out: Python's str.strip() and \s
# and JavaScript's trim() and \s each take a few invisible characters the other does not.
BLANK = "[ \t\n\r\f\v\u00a0\u2000-\u200a\u202f\u3000]"
SPACES = "[ \u00a0\u202f]"  # a group symbol that is a space (French): typed as any of these
EDGES = re.compile(rf"^{BLANK}+|{BLANK}+\Z")


def amount_text(text: str | None) -> str:
    """What was typed in an amount field, without the blanks around it ("" if nothing)."""
    return EDGES.sub("", text or "")


@lru_cache(maxsize=8)
def amount_pattern(group: str) -> re.Pattern:
    separator = SPACES if group.isspace() else re.escape(group)
    # [0-9], not \d: Python's \d is any script's digits, and JavaScript's only these.
    return re.compile(rf"^\$?{BLANK}*(?:(?P<grouped>[1-9][0-9]{{0,2}}(?:{separator}[0-9]{{3}}){{1,3}})|"
                      rf"(?P<plain>[0-9]{{1,12}}))?(?:(?P<point>[.,])(?P<fraction>[0-9]{{0,2}}))?\Z")


def read_amount(text: str, group: str) -> int | None:
    """Cents typed by the customer, or None for anything that is not an amount of money.
    `group`: the page's thousands separator (cpp.formatting.number_symbols)."""
    match = amount_pattern(group).match(amount_text(text))
    if not match:
        return None
    grouped, point = match["grouped"], match["point"]
    whole, fraction = grouped or match["plain"] or "", match["fraction"] or ""
    if not whole and not fraction:
        return None  # "", "$", "."
    if grouped and point and point in grouped:
        return None  # "1,234,5": the same symbol cannot group and be the decimal point
    return int(re.sub(r"[^0-9]", "", whole) or "0") * 100 + int(fraction.ljust(2, "0"))


def typed_amounts(form) -> dict[str, str]:
    """{invoice number: the amount typed for it} from a submitted form."""
    return {key[len(AMOUNT_FIELD):]: value for key, value in form.items()
            if key.startswith(AMOUNT_FIELD)}
