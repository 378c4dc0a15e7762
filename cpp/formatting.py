"""Money and dates in the shop's locale, with Babel rather than hand-rolled formats."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date, format_datetime, get_timezone
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
    """A moment in the shop's time zone; 'long' and 'full' name the zone."""
    if value is None:
        return ""
    return format_datetime(value, style, tzinfo=get_timezone(current_app.config["TIMEZONE"]),
                           locale=current_app.config["LOCALE"])


def absolute_url(path_or_url: str | None) -> str | None:
    """For email: a path of the portal made absolute with PUBLIC_URL."""
    if not path_or_url or path_or_url.startswith(("http://", "https://")):
        return path_or_url
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/" + path_or_url.lstrip("/")


def html_lang() -> str:
    return current_app.config["LOCALE"].replace("_", "-")


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(date, "date")
    app.add_template_filter(datetime, "datetime")
    app.add_template_filter(to_cents, "cents")
    app.add_template_global(html_lang)
    app.add_template_global(absolute_url)
    app.context_processor(lambda: {
        "has_sandbox_mailbox": "sandbox_mail.mailbox" in app.view_functions,
    })
