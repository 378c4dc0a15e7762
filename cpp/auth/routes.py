"""Log in with Account # and Password, log out."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
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

from ..pims.client import get_pims
from ..pims.models import AccountDisabled, InvalidCredentials
from ..selection import ticked_numbers
from . import throttle
from .forms import LoginForm
from .session import end_session, start_session

bp = Blueprint("auth", __name__)
audit = logging.getLogger("cpp.audit")

WRONG_CREDENTIALS = _l("The account number or password is incorrect.")
DISABLED = _l("This account can't be used to pay online. Please call the shop and we'll sort it "
              "out.")
# The same words whether the account exists or not, and whichever limit was hit.
EXPIRED = _l("For your security you were logged out after a period of inactivity. Please log "
             "in again.")
PAY_BILL_EXPIRED = _l("For your security you were logged out after a period of inactivity, "
                      "before your payment started: nothing was charged. Log in, and the "
                      "invoices you ticked will be ticked again.")
LOG_IN_TO_PAY = _l("Please log in to see your invoices.")
MAX_KEPT_TICKS = 500
LOCKED = _l("For your security, logging in is paused after several unsuccessful tries. Please "
            "wait 15 minutes and try again, or call the shop.")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("invoices.index"))
    form = LoginForm()
    error = None
    notice = None
    if request.method == "GET":
        notice = session.pop("login_notice", None)
        if session.pop("expired", False):
            notice = notice or EXPIRED
    if form.validate_on_submit():
        account = form.account.data.upper()
        # Counted before PIMS is asked, so simultaneous guesses cannot all get through.
        attempt = throttle.count_attempt(account)
        if not attempt.allowed:
            return locked_out_page(account)
        try:
            customer = get_pims().authenticate_customer(account, form.password.data)
        except InvalidCredentials:
            audit.info("login failed for account %s from %s", account, request.remote_addr)
            error = WRONG_CREDENTIALS
        except AccountDisabled:
            attempt.not_a_failure()
            audit.info("login refused: account %s is disabled", account)
            error = DISABLED
        except Exception:
            attempt.not_a_failure()  # PIMS could not say: not the customer's failure
            raise
        else:
            attempt.not_a_failure()
            start_session(customer)
            audit.info("login: %s from %s", customer.code, request.remote_addr)
            return redirect(safe_next(request.args.get("next")) or url_for("invoices.index"), 303)
    status = 200 if error is None and not form.errors else 400
    return render_template("auth/login.html", form=form, error=error, notice=notice), status


def must_log_in():
    """A page that needs a logged-in customer was asked for without one (Flask-Login calls this).

    One calm word on the login page, never two. A Pay Bill whose session ran out is not lost:
    the ticked invoices are kept, ticked again after login, and the customer lands on their
    invoices (a GET of /pay after login would mean nothing).
    """
    expired = session.get("expired", False)
    if request.method == "POST" and request.endpoint == "payments.pay":
        session["pending_selection"] = ticked_numbers(request.form.getlist("invoice"),
                                                      MAX_KEPT_TICKS)
        session["login_notice"] = str(PAY_BILL_EXPIRED if expired else LOG_IN_TO_PAY)
        target = url_for("invoices.index")
    else:
        if not expired:
            session["login_notice"] = str(LOG_IN_TO_PAY)
        target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target), 303 if request.method == "POST" else 302)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        audit.info("logout: %s", current_user.code)
    end_session()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"), 303)


def safe_next(target: str | None) -> str | None:
    """Only ever follow `next` to a path of this portal, never to another site."""
    if not target or len(target) > 512:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    return target


def locked_out_page(account: str):
    audit.warning("login locked out: account %s from %s", account, request.remote_addr)
    return render_template("auth/login.html", form=LoginForm(), error=LOCKED), 429
