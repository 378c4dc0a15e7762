"""Money and dates in the shop's locale, with Babel rather than hand-rolled formats."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from flask import Flask, current_app

from .money import to_cents


def money(amount: Decimal) -> str:
    return format_currency(amount, current_app.config["CURRENCY"],
                           locale=current_app.config["LOCALE"])


def date(value: dt.date | None, style: str = "medium") -> str:
    if value is None:
        return ""
    return format_date(value, style, locale=current_app.config["LOCALE"])


def datetime(value: dt.datetime | None, style: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, style, locale=current_app.config["LOCALE"])


def html_lang() -> str:
    return current_app.config["LOCALE"].replace("_", "-")


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(date, "date")
    app.add_template_filter(datetime, "datetime")
    app.add_template_filter(to_cents, "cents")
    app.add_template_global(html_lang)
    app.context_processor(lambda: {
        "has_sandbox_mailbox": "sandbox_mail.mailbox" in app.view_functions,
    })
