"""Money and dates in the shop's locale, with Babel rather than hand-rolled formats."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache

from babel.dates import format_date, format_datetime, get_timezone
from babel.numbers import format_currency, get_decimal_symbol, get_group_symbol
from flask import Flask, current_app
from markupsafe import Markup

from . import shop
from .i18n import formatting_locale
from .money import to_cents
from .selection import tick_value

# Babel re-reads its locale data on every call; a 300-invoice page formats 900 amounts and
# dates. The same amount or day in the same locale always reads the same, so each is formatted
# once per process (bounded: the least recently used are forgotten).
FORMAT_CACHE_SIZE = 8192


def format_money(amount: Decimal) -> str:
    return formatted_money(amount, current_app.config["CURRENCY"], formatting_locale())


def date(value: dt.date | None, style: str = "medium") -> str:
    if value is None:
        return ""
    return formatted_date(value, style, formatting_locale())


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def formatted_money(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=locale)


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def formatted_date(value: dt.date, style: str, locale: str) -> str:
    return format_date(value, style, locale=locale)


@lru_cache(maxsize=16)
def number_symbols(locale: str) -> tuple[str, str]:
    """(decimal point, thousands separator) as a locale writes amounts: "." and "," in English,
    "," and "." in Spanish. cpp.selection reads typed amounts with a point of "." or ","."""
    point = get_decimal_symbol(locale)
    return (point if point in ".," else "."), get_group_symbol(locale)


def amount_as_typed(amount: Decimal, locale: str) -> str:
    """An amount as a customer types it on this page, in an amount field or an example:
    "1234.50", or "1234,50" on a Spanish page."""
    return f"{amount:.2f}".replace(".", number_symbols(locale)[0])


def datetime(value: dt.datetime | None, style: str = "medium") -> str:
    """A moment in the shop's time zone; 'long' and 'full' name the zone."""
    if value is None:
        return ""
    return format_datetime(value, style, tzinfo=get_timezone(current_app.config["TIMEZONE"]),
                           locale=formatting_locale())


def absolute_url(path_or_url: str | None) -> str | None:
    """For email: a path of the portal made absolute with PUBLIC_URL."""
    if not path_or_url or path_or_url.startswith(("http://", "https://")):
        return path_or_url
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/" + path_or_url.lstrip("/")


def portal_url(endpoint: str, **values) -> str:
    """An absolute link to a page of the portal, also outside a request (a receipt sent by the
    reconcile job): built from the URL map and PUBLIC_URL, never from a request's Host header."""
    path = current_app.url_map.bind("portal").build(endpoint, values)
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


# A run of digit groups joined by single separators ("+1 (217) 555-0142"). A group touching a
# letter ("9am", "800-FLOWERS") is not part of a number, and nor is anything after it.
DIGIT_GROUP = r"(?:\([0-9]+\)|[0-9]+(?![0-9A-Za-z]))"
PHONE_NUMBER = re.compile(rf"\+?{DIGIT_GROUP}(?:[ .-]?{DIGIT_GROUP})*", re.ASCII)
PHONE_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x)\s*([0-9]+)", re.ASCII | re.IGNORECASE)
# Fewer digits is an hour or a short code, not a number to call; more is not a phone number
# (E.164 allows 15).
PHONE_DIGITS = range(7, 16)


def phone_link(phone: str) -> str | None:
    """A tel: link (RFC 3966) for the first phone number in what the shop wrote: "(217)
    555-0142 ext. 12" is tel:2175550142;ext=12. None when there is no number to call ("Ask at
    the counter", "1-800-FLOWERS"): the phone is then shown as text, never as a link that
    calls nothing, or the wrong number."""
    for number in PHONE_NUMBER.finditer(phone or ""):
        digits = "".join(ch for ch in number.group() if ch.isdigit())
        if len(digits) in PHONE_DIGITS:
            plus = "+" if number.group().startswith("+") else ""
            extension = PHONE_EXTENSION.match(phone, number.end())
            return f"tel:{plus}{digits}" + (f";ext={extension.group(1)}" if extension else "")
    return None


def phone(text: str) -> Markup:
    """A shop's phone as a page shows it: a link that calls it, or only the words when they
    hold no number to call (phone_link)."""
    link = phone_link(text)
    if link is None:
        return Markup("<span>%s</span>") % text
    return Markup('<a href="%s">%s</a>') % (link, text)


def html_lang() -> str:
    return formatting_locale().replace("_", "-")


def min_partial_amount() -> Decimal:
    return Decimal(str(current_app.config["MIN_PARTIAL_AMOUNT"]))


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(format_money, "money")
    app.add_template_filter(date, "date")
    app.add_template_filter(datetime, "datetime")
    app.add_template_filter(to_cents, "cents")
    app.add_template_global(html_lang)
    app.add_template_global(absolute_url)
    app.add_template_global(shop.contacts, "shop_contacts")
    app.add_template_global(shop.location, "shop_location")
    app.add_template_global(tick_value)
    app.add_template_global(min_partial_amount)
    app.add_template_filter(phone)
