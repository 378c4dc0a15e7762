"""Sessions kept on the server: the cookie carries an opaque random id and nothing else.

Logging out, or a timeout noticed on the server, ends the session for every copy of the cookie,
because the data behind the id is gone. The store keeps only a hash of the id, so reading the
store does not hand out live sessions. Where the data lives is cpp.shared_state's choice.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import time

from flask import Flask, Request, Response, g
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from .shared_state import get_shared_state

serializer = TaggedJSONSerializer()
log = logging.getLogger(__name__)

# What makes a session someone's: a logged-in customer (Flask-Login) or an opened pay link.
# Any other session holds a login form's CSRF token, a flash message, ticks kept for after a
# login: nothing that outlives the token itself.
SOMEONES = ("_user_id", "pay_link")


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict | None = None, sid: str | None = None):
        def on_update(session: ServerSession) -> None:
            session.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.modified = False
        self.renew_id = False

    def regenerate(self) -> None:
        """Give this session a new id when it is saved (at login, against session fixation)."""
        self.renew_id = True
        self.modified = True


def store_key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if request.path.startswith(app.static_url_path + "/"):
            return ServerSession()  # a stylesheet or image needs no session: no store read
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) <= 100:
            stored = get_shared_state().load_session(store_key(sid))
            if stored is not None:
                return ServerSession(serializer.loads(stored), sid=sid)
        return ServerSession()

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        try:
            self._save(app, session, response)
        except Exception:  # noqa: BLE001 - the page's own outcome matters more than the session
            # A database that cannot be written must not turn a page (a payment's result,
            # say) into an error: the session simply keeps its previous state.
            log.exception("the session could not be saved")

    def _save(self, app: Flask, session: ServerSession, response: Response) -> None:
        name, domain, path = (self.get_cookie_name(app), self.get_cookie_domain(app),
                              self.get_cookie_path(app))
        # The store forgets a session at the absolute limit at the latest; the idle limit is
        # checked on every request by cpp.auth.session.
        lifetime = app.permanent_session_lifetime.total_seconds()
        token_life = app.config.get("WTF_CSRF_TIME_LIMIT")
        if token_life and nobodys(session):
            # Each visit to the login page without a cookie makes one: kept only as long as the
            # CSRF token last sent with it is good for, not 8 hours, so that fetching the page
            # over and over does not fill the store. A form that went out with a freshly signed
            # token (a login page redisplayed 55 minutes in) renews it.
            lifetime = min(lifetime, float(token_life))
            if g.get("csrf_token"):
                session.modified = True
        done = persist(session, store_key, serializer.dumps, lifetime)
        if done == ENDED:
            response.delete_cookie(name, domain=domain, path=path)
        elif done == NEW:
            # A browser-session cookie: closing the browser forgets it; the server ends it anyway.
            response.set_cookie(name, session.sid, domain=domain, path=path,
                                secure=self.get_cookie_secure(app),
                                httponly=self.get_cookie_httponly(app),
                                samesite=self.get_cookie_samesite(app))
        if done in (NEW, WRITTEN):
            response.vary.add("Cookie")


def nobodys(session: ServerSession) -> bool:
    return not any(key in session for key in SOMEONES)


# What persist() did, so the caller knows what to do with its cookie.
ENDED, NEW, WRITTEN = "ended", "new", "written"


def persist(session, key_of, dumps, lifetime_seconds: float) -> str | None:
    """Write a server-side session to the shared store (the customer's here, the staff's in
    cpp.staff.session): an emptied one ends for every copy of its cookie, a renewed one gets a
    new id (against fixation), a changed one is written. Returns ENDED, NEW (set the cookie),
    WRITTEN or None (nothing to do). `session` has sid, modified and renew_id."""
    state = get_shared_state()
    if not session:
        if session.sid:  # emptied (logged out): gone for every copy of the cookie
            state.delete_session(key_of(session.sid))
            return ENDED
        return None
    if session.renew_id and session.sid:
        state.delete_session(key_of(session.sid))
        session.sid = None
    new_cookie = session.sid is None
    if not (session.modified or new_cookie):
        return None
    if new_cookie:
        session.sid = secrets.token_urlsafe(32)
    state.save_session(key_of(session.sid), dumps(dict(session)), time.time() + lifetime_seconds)
    return NEW if new_cookie else WRITTEN
