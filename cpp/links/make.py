"""Making a pay link: for the `cpp link` command and the staff dashboard's Pay links page."""
from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app

from ..pims.client import get_pims
from ..pims.models import AccountDisabled, Customer, UnknownCustomer
from .tokens import PayLink, make_token, new_link_id


class LinkProblem(ValueError):
    """Why a link cannot be made, in plain words."""


@dataclass(frozen=True)
class MadeLink:
    url: str
    link: PayLink
    customer: Customer
    not_open: tuple[str, ...]  # named invoices that are not open now (the link won't show them)


def make_link(customer_code: str, invoice_numbers=(), days: int | None = None) -> MadeLink:
    config = current_app.config
    if not config.get("LINK_SECRET"):
        raise LinkProblem("Set LINK_SECRET first (at least 32 random characters, in "
                          "instance/config.py or CPP_LINK_SECRET): docs/pay-links.md.")
    code = customer_code.strip().upper()
    try:
        customer = get_pims().get_customer(code)
    except UnknownCustomer:
        raise LinkProblem(f"PIMS has no customer {code}.") from None
    except AccountDisabled:
        raise LinkProblem(f"{code}'s account can't pay online (disabled in PIMS).") from None
    numbers = tuple(dict.fromkeys(number.strip() for number in invoice_numbers if number.strip()))
    open_numbers = {invoice.number for invoice in get_pims().get_open_invoices(customer.code)}
    link = PayLink(customer.code, numbers,
                   int(time.time()) + (days or config["LINK_DAYS"]) * 86400, new_link_id())
    try:
        token = make_token(config["LINK_SECRET"], link)
    except ValueError as exc:
        raise LinkProblem(str(exc)) from None
    return MadeLink(f"{config['PUBLIC_URL'].rstrip('/')}/pay/l/{token}", link, customer,
                    tuple(number for number in numbers if number not in open_numbers))
