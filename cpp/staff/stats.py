"""The dashboard's figures: payments, declines and cancellations today, in 7 and in 30 days, and
the daily totals of the last 30 days, counted by the shop's own calendar (TIMEZONE)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app

from ..money import from_cents
from ..payments import states
from ..payments.ledger import get_ledger

# Resolved payments are left out: staff may have settled one by voiding its charge.
PAID = (states.POSTED,)
DAYS = 30


@dataclass
class Period:
    label: str
    paid_count: int = 0
    paid_total: Decimal = Decimal("0.00")
    declined: int = 0
    cancelled: int = 0


@dataclass
class Figures:
    periods: list[Period]
    daily: list[tuple[dt.date, Decimal]] = field(default_factory=list)

    @property
    def busiest(self) -> Decimal:
        return max((total for _, total in self.daily), default=Decimal("0"))


def shop_today() -> dt.date:
    return dt.datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


def figures() -> Figures:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    today = shop_today()
    first_day = today - dt.timedelta(days=DAYS - 1)
    since = dt.datetime.combine(first_day, dt.time(), zone).astimezone(dt.UTC)
    with get_ledger().connect() as db:
        rows = db.execute("SELECT created_at, amount_cents, state FROM payments"
                          " WHERE created_at >= ?", (since.isoformat(),)).fetchall()
    periods = {1: Period("Today"), 7: Period("Last 7 days"), DAYS: Period("Last 30 days")}
    daily = {first_day + dt.timedelta(days=n): 0 for n in range(DAYS)}
    for created_at, cents, state in rows:
        day = dt.datetime.fromisoformat(created_at).astimezone(zone).date()
        age = (today - day).days
        for span, period in periods.items():
            if age < span:
                if state in PAID:
                    period.paid_count += 1
                    period.paid_total += from_cents(cents)
                elif state == states.DECLINED:
                    period.declined += 1
                elif state == states.CANCELLED:
                    period.cancelled += 1
        if state in PAID and day in daily:
            daily[day] += cents
    return Figures(list(periods.values()),
                   [(day, from_cents(cents)) for day, cents in sorted(daily.items())])


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    day: dt.date
    total: Decimal


def chart_bars(daily: list[tuple[dt.date, Decimal]], width: float = 600, height: float = 160,
               gap: float = 2) -> list[Bar]:
    """Bars for an SVG chart drawn on the server (no script, no outside service)."""
    busiest = max((total for _, total in daily), default=Decimal("0")) or Decimal("1")
    slot = width / max(len(daily), 1)
    bars = []
    for n, (day, total) in enumerate(daily):
        bar_height = float(total / busiest) * (height - 4) if total else 0.0
        bars.append(Bar(x=round(n * slot + gap / 2, 2), y=round(height - bar_height, 2),
                        height=round(bar_height, 2), day=day, total=total))
    return bars
