"""The staff session: its own cookie (path /staff, so customer pages never receive it), its own
idle timeout, kept on the server like the customer's (cpp.server_session), so signing out ends
it for every copy of the cookie.

It also carries the staff pages' CSRF token: staff forms are checked against the staff session,
never the customer's.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from flask import current_app, g, request

from ..server_session import ENDED, NEW, persist
from ..shared_state import get_shared_state

COOKIE = "cpp_staff"
COOKIE_PATH = "/staff"
# The idle clock moves on at most this often (seconds), so browsing does not write the store on
# every page.
SEEN_AT_PRECISION = 30


class StaffSession(dict):
    def __init__(self, data: dict | None = None, sid: str | None = None):
        super().__init__(data or {})
        self.sid = sid
        self.modified = False
        self.renew_id = False

    def set(self, **values) -> None:
        self.update(values)
        self.modified = True

    def clear_all(self) -> None:
        self.clear()
        self.modified = True


def store_key(sid: str) -> str:
    return "staff:" + hashlib.sha256(sid.encode()).hexdigest()


def open_staff_session() -> StaffSession:
    sid = request.cookies.get(COOKIE)
    if sid and len(sid) <= 100:
        stored = get_shared_state().load_session(store_key(sid))
        if stored is not None:
            session = StaffSession(json.loads(stored), sid)
            if not timed_out(session):
                return session
            get_shared_state().delete_session(store_key(sid))
            fresh = StaffSession({"timed_out": True})
            fresh.modified = True
            return fresh
    return StaffSession()


def timed_out(session: StaffSession) -> bool:
    if not session.get("account_id"):
        return False
    now = time.time()
    idle = float(current_app.config["STAFF_SESSION_IDLE_MINUTES"]) * 60
    longest = float(current_app.config["STAFF_SESSION_MAX_HOURS"]) * 3600
    if now - session.get("seen_at", 0) > idle or now - session.get("signed_in_at", 0) > longest:
        return True
    if now - session.get("seen_at", 0) >= SEEN_AT_PRECISION:
        session.set(seen_at=now)
    return False


def current() -> StaffSession:
    if "staff_session" not in g:
        g.staff_session = open_staff_session()
    return g.staff_session


def csrf_token() -> str:
    session = current()
    if "csrf" not in session:
        session.set(csrf=secrets.token_urlsafe(32))
    return session["csrf"]


def csrf_token_matches(sent: str | None) -> bool:
    expected = current().get("csrf")
    return bool(expected and sent) and hmac.compare_digest(expected, sent)


def start(account_id: int, stage: str, version: int) -> None:
    """A new session id at each step of signing in, against session fixation. `version` is
    the account's session_version: when it moves on (a new password...), this session ends."""
    session = current()
    session.clear()
    now = time.time()
    session.set(account_id=account_id, stage=stage, signed_in_at=now, seen_at=now,
                version=version, csrf=secrets.token_urlsafe(32))
    session.renew_id = True


def end() -> None:
    current().clear_all()


def save(response) -> None:
    session = g.get("staff_session")
    if session is None:
        return
    secure = bool(current_app.config.get("SESSION_COOKIE_SECURE"))
    longest = float(current_app.config["STAFF_SESSION_MAX_HOURS"]) * 3600
    done = persist(session, store_key, json.dumps, longest)
    if done == ENDED:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=secure, httponly=True,
                               samesite="Strict")
    elif done == NEW:
        # Strict: a link from another site to a staff page arrives without the session.
        response.set_cookie(COOKIE, session.sid, path=COOKIE_PATH, secure=secure, httponly=True,
                            samesite="Strict")
