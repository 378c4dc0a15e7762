"""The logged-in customer lives in the server-side session (cpp.server_session); PIMS is asked
only at login.

Idle and absolute timeouts are checked on the server, not left to the cookie's expiry, and
ending a session empties it on the server, so every copy of the cookie ends with it.
"""
from __future__ import annotations

import time
from dataclasses import asdict

from flask import current_app, session
from flask_login import UserMixin, login_user, logout_user

from ..pims.models import Customer

# The idle clock is moved on at most this often (seconds), so browsing does not write the
# session store on every request; the idle limit is accurate to within it.
SEEN_AT_PRECISION = 30


class PortalCustomer(UserMixin):
    def __init__(self, customer: Customer):
        self.customer = customer

    def get_id(self) -> str:
        return self.customer.code

    @property
    def code(self) -> str:
        return self.customer.code

    @property
    def name(self) -> str:
        return self.customer.name


def start_session(customer: Customer) -> None:
    # A fresh session, under a new id, at login: nothing planted before login survives it,
    # except the ticks of a Pay Bill that found the session timed out (invoice numbers, which
    # only tick boxes again: see cpp.auth.routes.must_log_in).
    pending_selection = session.get("pending_selection")
    session.clear()
    if pending_selection:
        session["pending_selection"] = pending_selection
    session.regenerate()
    session.permanent = True
    now = int(time.time())
    session["customer"] = asdict(customer)
    session["login_at"] = now
    session["seen_at"] = now
    login_user(PortalCustomer(customer))


def end_session() -> None:
    logout_user()
    session.clear()
    # What follows (a flash, say) goes under a new id: the old one is deleted, which is a
    # durable write, rather than overwritten by a session save, which is not (a power cut
    # could bring the logged-in data back under the old cookie).
    session.regenerate()


def load_customer(code: str) -> PortalCustomer | None:
    data = session.get("customer")
    if not data or data.get("code") != code:
        return None
    now = int(time.time())
    idle_limit = idle_limit_seconds()
    max_age = int(current_app.config["SESSION_MAX_HOURS"]) * 3600
    if now - session.get("seen_at", 0) > idle_limit or now - session.get("login_at", 0) > max_age:
        session.clear()
        session["expired"] = True
        return None
    if now - session.get("seen_at", 0) >= min(SEEN_AT_PRECISION, idle_limit // 3):
        session["seen_at"] = now  # a write to the session store: not on every page load
    return PortalCustomer(Customer(**data))


def idle_limit_seconds() -> int:
    """SESSION_IDLE_MINUTES, or on a counter kiosk KIOSK_IDLE_SECONDS (cpp.kiosk)."""
    from ..kiosk import is_kiosk

    if is_kiosk():
        # The page's countdown (which any touch resets) starts over at KIOSK_IDLE_SECONDS; the
        # server is the backstop for a page left without its script, or on Cayan's.
        return 2 * int(current_app.config["KIOSK_IDLE_SECONDS"])
    return int(current_app.config["SESSION_IDLE_MINUTES"]) * 60
