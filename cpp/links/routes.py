"""A pay link opens a narrow session: that customer's open invoices (only the link's, if it
names some), Pay Bill, and the result of that payment. No history, no other page of the account:
those still need a normal login. PIMS is asked on every use, so a paid invoice simply is not
shown, and a disabled account cannot pay.

The token is only in the first request's address: the browser is sent on to /pay/l at once.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..auth.session import PortalCustomer, end_session, idle_limit_seconds
from ..errors import render_error
from ..invoices import render_page
from ..payments import checkout
from ..payments.routes import keep_for_another_try, partial_amounts, to_the_card_page
from ..pims.client import get_pims
from ..pims.models import AccountDisabled, Customer, UnknownCustomer
from ..selection import read_tick
from .tokens import LinkRefused, read_token

bp = Blueprint("links", __name__)
audit = logging.getLogger("cpp.audit")

EXPIRED = (_l("This payment link has expired"),
           _l("Payment links work for a limited time. Ask the shop for a new one, or log in "
              "with your account number and password to pay."))
REFUSED = (_l("This payment link can't be used"),
           _l("It may have been mistyped or replaced by a newer one. Ask the shop for a new "
              "link, or log in with your account number and password to pay."))
NOT_SET_UP = (_l("Payment links are not set up"),
              _l("Please log in with your account number and password to pay, or call the "
                 "shop."))
SESSION_GONE = (_l("Please open your payment link again"),
                _l("For your security the page timed out. Open the link from your email or "
                   "text again, or log in to pay."))


@bp.get("/pay/l/<path:token>")
def open_link(token: str):
    link, customer, refusal = checked_link(token)
    if refusal is not None:
        return refusal
    if current_user.is_authenticated and current_user.code == customer.code:
        return redirect(url_for("invoices.index"))  # already logged in: the whole account
    if current_user.is_authenticated:
        # Someone else is logged in here: a link (perhaps from another site) never logs them
        # out unasked. The choice is a form, with its CSRF token.
        return render_template("links/switch.html", token=token, now=current_user.name,
                               then=customer.name)
    return start_link_session(link, customer)


@bp.post("/pay/l/<path:token>")
def switch_to_link(token: str):
    link, customer, refusal = checked_link(token)
    if refusal is not None:
        return refusal
    return start_link_session(link, customer)


def checked_link(token: str):
    """(link, customer, None), or (None, None, the page that says why it cannot be used)."""
    secret = current_app.config.get("LINK_SECRET")
    if not secret:
        audit.warning("pay link refused: LINK_SECRET is not set")
        return None, None, render_error(404, *NOT_SET_UP)
    try:
        link = read_token(secret, token, time.time(), current_app.config.get("LINK_REVOKED"))
    except LinkRefused as refused:
        audit.warning("pay link refused (%s) from %s", refused.why, request.remote_addr)
        return None, None, render_error(410 if refused.why == "expired" else 404,
                                        *(EXPIRED if refused.why == "expired" else REFUSED))
    try:
        customer = get_pims().get_customer(link.customer_code)
    except (UnknownCustomer, AccountDisabled) as exc:
        audit.warning("pay link %s refused: customer %s %s", link.link_id, link.customer_code,
                      type(exc).__name__)
        return None, None, render_error(404, *REFUSED)
    return link, customer, None


def start_link_session(link, customer: Customer):
    # Whoever was using this browser before, their session ends here.
    end_session()
    session.regenerate()
    session["pay_link"] = {"customer": asdict(customer), "invoices": list(link.invoice_numbers),
                           "link_id": link.link_id, "expires_at": link.expires_at,
                           "secret": secret_id(), "seen_at": int(time.time())}
    audit.info("pay link %s opened for %s from %s", link.link_id, customer.code,
               request.remote_addr)
    return redirect(url_for("links.invoices"), 303)


def secret_id() -> str:
    """Which LINK_SECRET a link session was opened with: changing the secret ends them all."""
    return hashlib.sha256(str(current_app.config.get("LINK_SECRET")).encode()).hexdigest()[:16]


def current_link() -> dict | None:
    """The link this browser opened, while it is fresh (its own expiry, the idle timeout)."""
    link = session.get("pay_link")
    if not link:
        return None
    now = int(time.time())
    if not in_force(link, now):
        session.pop("pay_link", None)
        return None
    if now - link.get("seen_at", 0) >= min(30, idle_limit_seconds() // 3):
        link["seen_at"] = now
        session["pay_link"] = link
    return link


def in_force(link: dict, now: int) -> bool:
    """Not expired, not idle too long, not revoked, opened with today's LINK_SECRET."""
    taken_back = link.get("link_id") in set(current_app.config.get("LINK_REVOKED") or ()) \
        or link.get("secret") != secret_id() or not current_app.config.get("LINK_SECRET")
    return not taken_back and now < link["expires_at"] \
        and now - link.get("seen_at", 0) <= idle_limit_seconds()


def link_customer_code() -> str | None:
    """For templates: the customer a pay link in this browser is for, while it is in force
    (a revoked link's customer is not named in the header of any page after)."""
    link = opened_link()
    return link["customer"]["code"] if link and in_force(link, int(time.time())) else None


def link_opened_for() -> str | None:
    """For templates: the customer a pay link was opened for in this browser, in force or not:
    where a result page's buttons lead. The link's own pages say when it must be opened again
    (SESSION_GONE); the login page would ask a link's customer for a password they may not
    have."""
    link = opened_link()
    return link["customer"]["code"] if link else None


def opened_link() -> dict | None:
    """The link session of a browser nobody is logged in on (a login outranks a link)."""
    return session.get("pay_link") if not current_user.is_authenticated else None


def linked_invoices(link: dict):
    wanted = set(link["invoices"])
    invoices = get_pims().get_open_invoices(link["customer"]["code"])
    return [invoice for invoice in invoices if not wanted or invoice.number in wanted]


@bp.get("/pay/l")
def invoices():
    link = current_link()
    if link is None:
        return render_error(401, *SESSION_GONE)
    return render_page(linked_invoices(link), Customer(**link["customer"]), url_for("links.pay"),
                       via_link=True, link_names_invoices=bool(link["invoices"]))


@bp.post("/pay/l")
def pay():
    link = current_link()
    if link is None:
        return render_error(401, *SESSION_GONE)
    ticks = request.form.getlist("invoice")
    allowed = set(link["invoices"])
    if allowed:
        for tick in ticks:
            parsed = read_tick(tick)
            if parsed is None or parsed[0] not in allowed:
                flash(_("That invoice is not part of this payment link. Log in to pay other "
                        "invoices."), "error")
                return redirect(url_for("links.invoices"), 303)
    # PIMS is asked again: an account disabled since the link was opened cannot pay, and the
    # receipt goes to the address PIMS has now.
    try:
        found = get_pims().get_customer(link["customer"]["code"])
    except (UnknownCustomer, AccountDisabled) as exc:
        audit.warning("pay link %s: Pay Bill refused, customer %s %s", link["link_id"],
                      link["customer"]["code"], type(exc).__name__)
        session.pop("pay_link", None)
        return render_error(404, *REFUSED)
    customer = PortalCustomer(found)
    try:
        card_page = checkout.start_payment(customer, ticks, partial_amounts())
    except checkout.PayBillRefused as refusal:
        keep_for_another_try(refusal)
        return redirect(url_for("links.invoices"), 303)
    return to_the_card_page(card_page)


def register(app) -> None:
    app.register_blueprint(bp)
    app.add_template_global(link_customer_code)
    app.add_template_global(link_opened_for)
