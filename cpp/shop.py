"""The shop's own details as customers see them: name, address, phone and email, per location.

Every "call the shop" on a page or a receipt shows a number through here, so a customer is never
told to call without being told where.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class Contact:
    name: str
    address: str | None
    phone: str | None
    email: str | None


def location(code: str | None) -> Contact:
    """A PIMS location as configured in LOCATIONS; the shop itself for an unknown one."""
    config = current_app.config
    details = config["LOCATIONS"].get(code or "") or {}
    if not details:
        return shop()
    return Contact(name=details.get("name") or code or config["SHOP_NAME"],
                   address=details.get("address"),
                   phone=details.get("phone") or config["SHOP_PHONE"],
                   email=details.get("email") or config["SHOP_EMAIL"])


def shop() -> Contact:
    config = current_app.config
    return Contact(name=config["SHOP_NAME"], address=config["SHOP_ADDRESS"],
                   phone=config["SHOP_PHONE"], email=config["SHOP_EMAIL"])


def contacts(location_codes: list[str | None] | None = None) -> list[Contact]:
    """Whom to call about these locations' invoices (in order, each once), or about anything.

    Without locations: the shop's own phone and email if set, else every configured location's.
    """
    if location_codes:
        found = [location(code) for code in dict.fromkeys(location_codes)]
    elif current_app.config["SHOP_PHONE"] or current_app.config["SHOP_EMAIL"]:
        found = [shop()]
    else:
        found = [location(code) for code in current_app.config["LOCATIONS"]]
    unique = list(dict.fromkeys(found))
    return [contact for contact in unique if contact.phone or contact.email]
