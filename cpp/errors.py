"""One renderer for every error page: friendly words, the right status, never a traceback."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .pims.models import PimsError, PimsUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = ("Payments are temporarily unavailable",
               "We can't reach our billing system right now. Please try again later; "
               "nothing has been charged.")

PAGES = {
    400: ("That request didn't look right", "Please go back and try again."),
    403: ("You can't open this page", "This page belongs to another account."),
    404: ("Page not found", "We couldn't find that page. It may have moved, or the link may be "
                            "mistyped."),
    405: ("That didn't work", "Please use the buttons on the page."),
    413: ("That was too much to send", "Please go back and try again."),
    429: ("Too many attempts", "Please wait a few minutes before trying again."),
    500: ("Something went wrong on our side", "We've noted the problem. Please try again in a "
                                              "few minutes."),
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
        return render_error(400, "This page has expired",
                            "For your security the form timed out. Please go back, reload the "
                            "page and try again.")

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
