"""The customer's unpaid invoices, read from PIMS on every visit (PIMS is the truth)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from flask import Blueprint, current_app, redirect, render_template, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from .formatting import amount_as_typed, formatted_date, formatted_money, number_symbols
from .i18n import formatting_locale, gettext_once_per_language
from .money import to_cents
from .pims.client import get_pims
from .pims.models import Invoice
from .selection import MAX_INVOICES_PER_PAYMENT, tick_of

bp = Blueprint("invoices", __name__)

# With more invoices than this, the page offers search, filters, sorting and "Show more".
LIST_TOOLS_FROM = 10
PAGE_SIZE = 20


@dataclass(frozen=True)
class Balance:
    """The money first: what the customer owes, how much of it is late, and what is due next."""
    total: Decimal
    overdue: list[Invoice]
    overdue_total: Decimal
    next_due: dt.date | None

    @property
    def one_press_for_overdue(self) -> bool:
        """Offer "Pay all overdue" only when it is one payment the portal would accept."""
        return 0 < len(self.overdue) <= MAX_INVOICES_PER_PAYMENT

    @classmethod
    def of(cls, invoices: list[Invoice], today: dt.date) -> Balance:
        overdue = [invoice for invoice in invoices if invoice.is_overdue(today)]
        upcoming = [invoice.due_date for invoice in invoices
                    if invoice.due_date is not None and invoice.due_date >= today]
        return cls(total=sum((invoice.balance_due for invoice in invoices), Decimal(0)),
                   overdue=overdue,
                   overdue_total=sum((invoice.balance_due for invoice in overdue), Decimal(0)),
                   next_due=min(upcoming, default=None))


class InvoiceRow(NamedTuple):
    """One invoice as its row shows it, formatted in Python once: a 300-invoice page spent
    most of its time in the template's per-row attribute lookups, filter calls and escaping.

    The template unpacks each row into plain names in this order (`{% for position, number,
    … in rows %}`): a name is a local variable there, an attribute one more call per value.
    tests/test_templating.py checks the two orders agree."""
    position: int       # 1, 2, …: the row's element ids
    number: str
    tick: str           # what its box sends (cpp.selection)
    cents: int
    location: str
    due_iso: str
    due: str
    overdue: bool
    balance: str
    details: str
    plain: str          # the balance as typed in an amount field: "1234.50" ("1234,50")
    checked: bool       # ticked again: kept through a login, or a refused Pay Bill's
    amount: str         # what its amount field holds: as typed before, or `plain`

    @classmethod
    def all_of(cls, invoices: list[Invoice], today: dt.date, location_names: dict[str, str],
               ticked: set[str], typed: dict[str, str]) -> list[InvoiceRow]:
        currency, locale = current_app.config["CURRENCY"], formatting_locale()
        point = number_symbols(locale)[0]
        # Translated once, filled in per row (a 300-invoice page).
        invoiced, due_on, no_due = (gettext("Invoiced %(date)s"), gettext("Due %(date)s"),
                                    gettext("No due date"))
        rows = []
        for position, invoice in enumerate(invoices, 1):
            number, balance_due, due_date = invoice.number, invoice.balance_due, invoice.due_date
            cents = to_cents(balance_due)
            details = [location_names.get(invoice.location, invoice.location or "")]
            if invoice.description:
                details.append(invoice.description + (f" ({invoice.reference_number})"
                                                      if invoice.reference_number else ""))
            elif invoice.reference_number:
                details.append(f"({invoice.reference_number})")
            details.append(invoiced % {"date": formatted_date(invoice.date, 'medium', locale)})
            plain = f"{balance_due:.2f}".replace(".", point)  # as amount_as_typed writes it
            rows.append(cls(
                position=position, number=number, tick=tick_of(number, cents), cents=cents,
                location=invoice.location or "",
                due_iso=due_date.isoformat() if due_date else "",
                due=(due_on % {"date": formatted_date(due_date, 'medium', locale)}
                     if due_date else no_due),
                overdue=invoice.is_overdue(today),
                balance=formatted_money(balance_due, currency, locale),
                details=" · ".join(part for part in details if part),
                plain=plain, checked=number in ticked, amount=typed.get(number, plain),
            ))
        return rows


def page_messages() -> dict[str, object]:
    """What cpp/static/js/invoices.js says, in the customer's language: [one, many] pairs with
    {n}, {amount} and {visible} filled in by the script."""
    return gettext_once_per_language("invoices page", lambda: {
        "invoices": [gettext("{n} invoice"), gettext("{n} invoices")],
        "pay": [gettext("Pay {amount} for {n} invoice"), gettext("Pay {amount} for {n} invoices")],
        "payBill": gettext("Pay Bill"),
        "showMore": gettext("Show {n} more"),
        "noMatch": gettext("No invoices match."),
        "showing": [gettext("Showing {visible} of {n} invoice."),
                    gettext("Showing {visible} of {n} invoices.")],
        "showingMatch": [gettext("Showing {visible} of {n} invoice that match."),
                         gettext("Showing {visible} of {n} invoices that match.")],
        "hiddenTicked": [gettext("{n} ticked invoice not shown is still in the total."),
                         gettext("{n} ticked invoices not shown are still in the total.")],
        "taking": gettext("Taking you to the secure payment page…"),
    })


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("invoices.index"))
    return redirect(url_for("auth.login"))


@bp.get("/invoices")
@login_required
def index():
    # Ticks of a Pay Bill that found the session timed out (see cpp.auth.routes.must_log_in).
    retick = set(session.pop("pending_selection", None) or ())
    return render_page(get_pims().get_open_invoices(current_user.code), current_user,
                       url_for("payments.pay"), retick=retick)


def render_page(invoices: list[Invoice], customer, pay_url: str, retick: set[str] = frozenset(),
                **extra):
    """The invoices page, for a logged-in customer or a pay link (cpp.links.routes). `retick`:
    ticks kept through a login; a refused Pay Bill's ticks and amounts come back as well."""
    today, locale = dt.date.today(), formatting_locale()
    kept = set(session.pop("kept_selection", None) or ())  # a refused Pay Bill's ticks
    locations = location_names(invoices)
    typed = session.pop("pending_amounts", None) or {}
    return render_template(
        "invoices/index.html", invoices=invoices,
        rows=InvoiceRow.all_of(invoices, today, locations, set(retick) | kept, typed),
        balance=Balance.of(invoices, today),
        reticked=sum(1 for invoice in invoices if invoice.number in retick),
        locations=locations, list_tools=len(invoices) > LIST_TOOLS_FROM,
        page_size=PAGE_SIZE, resume_url=session.pop("resume_url", None),
        customer=customer, pay_url=pay_url,
        messages=page_messages(), group_symbol=number_symbols(locale)[1],
        amount_example=amount_as_typed(Decimal(50), locale), **{"via_link": False, **extra},
    )


def location_names(invoices: list[Invoice]) -> dict[str, str]:
    """The locations these invoices are from, code -> the name customers know it by."""
    configured = current_app.config["LOCATIONS"]
    return {code: (configured.get(code) or {}).get("name", code)
            for code in sorted({invoice.location for invoice in invoices if invoice.location})}
