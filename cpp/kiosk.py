"""The counter kiosk (the Customer Service Portal article): a tablet at the shop's counter that
customers take turns on. One customer must never see anything of the one before.

A browser is a kiosk when KIOSK_MODE is on for the whole portal, or when an owner turned it
into one from the staff dashboard (Manage Settings > Counter kiosk), which leaves a signed
cookie on it. On a kiosk:

* every page has "Start over", which ends the session on the server and returns to the start;
* the session also ends after KIOSK_IDLE_SECONDS without a touch (a countdown shows it), on the
  server as well as in the page, and soon after the result of a payment;
* nothing is kept by the browser (no-store), so Back cannot bring a page of the customer before;
* receipts go by email only: no printable receipt is left open on the screen.
"""
from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from .auth.session import end_session
from .csrf import posted_from_this_portal

COOKIE = "cpp_kiosk"
# The result page starts over sooner than the idle limit: the customer has their answer.
RESULT_SECONDS = 30

bp = Blueprint("kiosk", __name__)


def signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cpp-kiosk")


def is_kiosk() -> bool:
    if current_app.config.get("KIOSK_MODE"):
        return True
    # Asked several times a page (the layout, the idle limit, the headers): checked once.
    if "cpp_kiosk" not in g:
        g.cpp_kiosk = kiosk_cookie_is_valid()
    return g.cpp_kiosk


def kiosk_cookie_is_valid() -> bool:
    value = request.cookies.get(COOKIE)
    if not value:
        return False
    try:
        return signer().loads(value) == "kiosk"
    except BadSignature:
        return False


def turn_on(response) -> None:
    """Make the browser of this response a kiosk (until turned off)."""
    response.set_cookie(COOKIE, signer().dumps("kiosk"), max_age=400 * 86400, httponly=True,
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
                        samesite="Lax")


def turn_off(response) -> None:
    response.delete_cookie(COOKIE)


def idle_seconds() -> int:
    return int(current_app.config["KIOSK_IDLE_SECONDS"])


@bp.get("/kiosk")
def set_up():
    """The address to remember on the tablet: the owner's page that turns it into a kiosk."""
    return redirect(url_for("staff.kiosk_page"))


@bp.post("/kiosk/start-over")
def start_over():
    if not is_kiosk():
        abort(404)
    if not posted_from_this_portal():
        abort(400)
    from .i18n import COOKIE as LANGUAGE_COOKIE  # cpp.i18n loads the auth pages: imported here

    end_session()
    response = redirect(url_for("auth.login"), 303)
    response.delete_cookie(LANGUAGE_COOKIE)  # the next customer starts in the usual language
    return response


def register(app: Flask) -> None:
    from .extensions import csrf

    # Start over only ends a session: the countdown must work even when the session (and its
    # CSRF token) has already timed out on the server.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.add_template_global(is_kiosk)
    app.add_template_global(idle_seconds, "kiosk_idle_seconds")
    app.add_template_global(RESULT_SECONDS, "kiosk_result_seconds")

    @app.after_request
    def nothing_kept_on_a_kiosk(response):
        if not request.path.startswith(app.static_url_path + "/") and is_kiosk():
            response.headers["Cache-Control"] = "no-store"
            setting = " ".join(response.headers.getlist("Set-Cookie"))
            if request.cookies.get(COOKIE) and COOKIE + "=" not in setting:
                turn_on(response)  # renewed with every page: a kiosk in use stays one
        return response
