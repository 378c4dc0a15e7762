"""Who may open a /staff page: from an allowed address (STAFF_ALLOWED_IPS), with a form that
carries the staff session's CSRF token and comes from this portal, signed in, and for settings
and the team, as an owner."""
from __future__ import annotations

import functools
import logging

from flask import current_app, g, redirect, render_template, request, url_for

from ..csrf import posted_from_this_portal
from ..proxy import address_in, client_address_is_known, parse_networks
from ..shared_state import get_shared_state
from . import accounts, activity
from . import session as staff_session

audit = logging.getLogger("cpp.audit")

# Pages open before signing in (still behind the address allowlist).
OPEN_ENDPOINTS = {"staff.sign_in"}
# Pages for the middle of signing in: the password was right, the code is still to come.
TWO_FACTOR_ENDPOINTS = {"staff.two_factor", "staff.enrol_two_factor", "staff.sign_out"}


def allowed_networks(value=None):
    """STAFF_ALLOWED_IPS: addresses and CIDR ranges, one per line (commas and spaces work too)."""
    value = current_app.config.get("STAFF_ALLOWED_IPS") if value is None else value
    if isinstance(value, str):
        value = value.split()
    return parse_networks([item for item in (value or ()) if str(item).strip()])


def address_allowed(address: str | None, networks=None) -> bool:
    networks = allowed_networks() if networks is None else networks
    if not networks:
        return True
    if not client_address_is_known():
        return False  # behind an untrusted proxy every visitor looks like the proxy
    return address_in(address or "", networks)


# The logo upload may be bigger than any other form (MAX_CONTENT_LENGTH); cpp.staff.logo
# refuses anything over 512 KB with its own message, this only stops a flood.
LOGO_REQUEST_LIMIT = 1024 * 1024


def guard():
    """The staff blueprint's before_request: None lets the request through."""
    if request.endpoint == "staff.upload_logo":
        request.max_content_length = LOGO_REQUEST_LIMIT
    if not address_allowed(request.remote_addr):
        audit.warning("staff page %s refused: address %s is not in STAFF_ALLOWED_IPS",
                      request.path, request.remote_addr)
        # On the Activity page once per address per 10 minutes (a scanner could flood it).
        if get_shared_state().count_attempt("staff-refused:" + str(request.remote_addr),
                                            600) == 1:
            activity.record("refused address", request.path)
        return staff_error(403, "Not available from here",
                            "The shop's dashboard can only be opened from the shop's own "
                            "network.")
    if request.method == "POST":
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not staff_session.csrf_token_matches(sent) or not posted_from_this_portal():
            audit.warning("staff form %s refused: missing or wrong CSRF token or origin",
                          request.path)
            return staff_error(400, "This page has expired",
                                "For your security the form timed out. Go back, reload the "
                                "page and try again.")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    session = staff_session.current()
    account = accounts.get_by_id(session["account_id"]) if session.get("account_id") else None
    if account is None or account.disabled \
            or session.get("version") != account.session_version:
        if session.get("account_id"):
            staff_session.end()
        return redirect(url_for("staff.sign_in", next=request.path
                                if request.method == "GET" else None))
    g.staff = account
    if session.get("stage") != "signed_in" and request.endpoint not in TWO_FACTOR_ENDPOINTS:
        return redirect(url_for("staff.two_factor"))
    return None


def owner_only(view):
    """For settings and the team: an owner's pages."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not g.staff.is_owner:
            audit.warning("staff %s refused owner page %s", g.staff.email, request.path)
            return staff_error(403, "Owners only",
                                "Ask the shop's owner to change this.")
        return view(*args, **kwargs)
    return wrapped


def staff_error(status: int, title: str, message: str):
    """A plain page for a refused staff request (no customer links, no staff navigation)."""
    return render_template("staff/error.html", status=status, title=title,
                           message=message), status
