"""One renderer for every error page: friendly words, the right status, never a traceback."""
from __future__ import annotations

import logging

from flask import Flask, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .pims.models import PimsError, PimsUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = (_l("Payments are temporarily unavailable"),
               _l("We can't reach our billing system right now. Please try again later; "
                  "nothing has been charged."))

PAGES = {
    400: (_l("That request didn't look right"), _l("Please go back and try again.")),
    403: (_l("You can't open this page"), _l("This page belongs to another account.")),
    404: (_l("Page not found"), _l("We couldn't find that page. It may have moved, or the link "
                                   "may be mistyped.")),
    405: (_l("That didn't work"), _l("Please use the buttons on the page.")),
    413: (_l("That was too much to send"), _l("Please go back and try again.")),
    429: (_l("Too many attempts"), _l("Please wait a few minutes before trying again.")),
    500: (_l("Something went wrong on our side"), _l("We've noted the problem. Please try "
                                                     "again in a few minutes.")),
    503: UNAVAILABLE,
}


def loggable_path() -> str:
    """The request's path for a log line, with a pay link's token cut off (it pays)."""
    path = request.path
    return "/pay/l/…" if path.startswith("/pay/l/") else path


def render_error(status: int, title: str | None = None, message: str | None = None):
    default_title, default_message = PAGES.get(status, PAGES[500])
    try:
        return render_template("error.html", status=status, title=title or default_title,
                               message=message or default_message), status
    except Exception:  # the error page itself failed: still no traceback for the customer
        log.exception("error page failed to render")
        return f"{title or default_title}. {message or default_message}", status, \
            {"Content-Type": "text/plain; charset=utf-8"}


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render_error(exc.code or 500)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        from flask_login import current_user

        from .auth.routes import must_log_in
        from .csrf import posted_from_this_portal

        # A form of this portal whose session has ended since (Log Out in another tab, or a
        # timeout): Pay Bill keeps its ticks and asks for a login, as it does when the session
        # timed out with a good token; a second Log Out has nothing left to do. A form from
        # another site, or one without a token, still gets the error.
        if (not current_user.is_authenticated and request.form.get("csrf_token")
                and posted_from_this_portal()):
            if request.endpoint == "payments.pay":
                return must_log_in()
            if request.endpoint == "auth.logout":
                return redirect(url_for("auth.login"), 303)
        return render_error(400, _("This page has expired"),
                            _("For your security the form timed out. Please go back, reload "
                              "the page and try again."))

    @app.errorhandler(PimsUnavailable)
    def pims_unavailable(exc: PimsUnavailable):
        log.warning("PIMS unavailable during %s %s: %s", request.method, loggable_path(), exc)
        return render_error(503)

    @app.errorhandler(PimsError)
    def pims_error(exc: PimsError):
        # A fault the page did not expect is a configuration or PIMS problem, not the customer's.
        log.error("PIMS refused during %s %s: %s", request.method, loggable_path(), exc)
        return render_error(503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("Unhandled error during %s %s", request.method, loggable_path())
        return render_error(500)
