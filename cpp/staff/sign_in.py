"""Signing in and out of the staff dashboard: password, then a two-factor code (required for
owners in production, optional for staff), with the customer login's throttling and its one
message whether or not the account exists."""
from __future__ import annotations

from flask import current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup

from ..auth import throttle
from ..auth.routes import safe_next
from ..shared_state import get_shared_state
from . import accounts, activity
from . import session as staff_session
from .blueprint import bp
from .forms import ChangePasswordForm, CodeForm, SignInForm

WRONG = "The email or password is incorrect."
WRONG_CODE = "That code is not right, or was already used. Wait for the next one."
CHANGE_PAUSED = ("Too many wrong passwords: changing it is paused for 15 minutes, and so is "
                   "signing in to this account.")
LOCKED = ("Signing in is paused after several unsuccessful tries. Wait 15 minutes and try "
          "again.")
TIMED_OUT = "You were signed out after a period of inactivity. Please sign in again."


def two_factor_required(account: accounts.StaffAccount) -> bool:
    return account.is_owner and not current_app.config["DEMO_MODE"]


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    session = staff_session.current()
    if session.get("stage") == "signed_in":
        return redirect(url_for("staff.home"))
    form = SignInForm()
    error = TIMED_OUT if session.pop("timed_out", False) else None
    status = 200
    if form.validate_on_submit():
        email = accounts.normal_email(form.email.data)
        attempt = throttle.count_attempt("staff:" + email)
        if not attempt.allowed:
            note_lockout(email)
            return render_template("staff/sign_in.html", form=form, error=LOCKED), 429
        account = accounts.check_password(email, form.password.data)
        if account is None:
            activity.record("failed sign-in", "wrong email or password", who=email)
            error, status = WRONG, 400
        else:
            attempt.not_a_failure()
            if account.two_factor:
                staff_session.start(account.id, "code", account.session_version)
                return redirect(url_for("staff.two_factor", next=request.args.get("next")), 303)
            if two_factor_required(account):
                staff_session.start(account.id, "enrol", account.session_version)
                return redirect(url_for("staff.enrol_two_factor"), 303)
            return finish_sign_in(account)
    elif form.errors:
        status = 400
    return render_template("staff/sign_in.html", form=form, error=error), status


def note_lockout(email: str, detail: str = "") -> None:
    """On the Activity page once per account per 15 minutes: a guesser cannot flood it."""
    if get_shared_state().count_attempt(f"staff-lockout-noted:{email}:{detail}", 900) == 1:
        activity.record("sign-in locked out", detail, who=email)


def finish_sign_in(account: accounts.StaffAccount):
    staff_session.start(account.id, "signed_in", account.session_version)
    accounts.signed_in(account)
    activity.record("signed in", who=account.email)
    return redirect(safe_next(request.args.get("next")) or url_for("staff.home"), 303)


@bp.route("/two-factor", methods=["GET", "POST"])
def two_factor():
    account = g.staff
    session = staff_session.current()
    if session.get("stage") == "signed_in":
        return redirect(url_for("staff.home"))
    if session.get("stage") == "enrol":
        return redirect(url_for("staff.enrol_two_factor"))
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        attempt = throttle.count_attempt("staff-code:" + account.email)
        if not attempt.allowed:
            note_lockout(account.email, "two-factor code")
            return render_template("staff/two_factor.html", form=form, error=LOCKED), 429
        if accounts.check_code(account, form.code.data):
            attempt.not_a_failure()
            return finish_sign_in(account)
        activity.record("failed sign-in", "wrong two-factor code", who=account.email)
        error, status = WRONG_CODE, 400
    elif form.errors:
        status = 400
    return render_template("staff/two_factor.html", form=form, error=error), status


@bp.route("/two-factor/set-up", methods=["GET", "POST"])
def enrol_two_factor():
    """Set up the authenticator app: forced for an owner's first sign-in in production, or
    chosen by a staff member from Your account."""
    account = g.staff
    session = staff_session.current()
    stage = session.get("stage")
    # Only two ways in: an owner made to enrol at sign-in, or someone signed in without it.
    # Anyone with a code to give (stage "code") must give it: re-enrolling would bypass it.
    if stage == "code" or (stage == "enrol" and account.two_factor):
        return redirect(url_for("staff.two_factor"))
    if stage == "signed_in" and account.two_factor:
        return redirect(url_for("staff.your_account"))
    if "new_totp_secret" not in session:
        session.set(new_totp_secret=accounts.new_totp_secret())
    secret = session["new_totp_secret"]
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        if accounts.enable_two_factor(account, secret, form.code.data):
            session.pop("new_totp_secret", None)
            activity.record("two-factor turned on", who=account.email)
            return finish_sign_in(accounts.get_by_id(account.id))
        error, status = WRONG_CODE, 400
    elif form.errors:
        status = 400
    import segno

    uri = accounts.provisioning_uri(secret, account.email)
    # segno draws the QR code as SVG here: no outside image service ever sees the secret.
    svg = segno.make(uri, error="m").svg_inline(scale=5, title="QR code of the secret",
                                                dark="#000", light="#fff")
    qr = Markup(svg)  # noqa: S704 - segno's own SVG, built from a URI the server made
    return render_template("staff/enrol.html", form=form, error=error, qr=qr,
                           secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                           forced=session.get("stage") == "enrol"), status


@bp.post("/sign-out")
def sign_out():
    activity.record("signed out", who=g.staff.email)
    staff_session.end()
    return redirect(url_for("staff.sign_in"), 303)


@bp.route("/account", methods=["GET", "POST"])
def your_account():
    account = g.staff
    form = ChangePasswordForm()
    error, status, done = None, 200, False
    if form.validate_on_submit():
        # Guesses at the current password count with the sign-in's: a session left open on a
        # counter PC must not be a way round the sign-in's limit. Not against the address's
        # limit, which the shop's own customer logins (a kiosk) share, and which would not
        # pause this account's sign-in, as the message says.
        attempt = throttle.count_attempt("staff:" + account.email, by_address=False)
        if not attempt.allowed:
            note_lockout(account.email, "changing own password")
            return render_template("staff/account.html", form=form, error=CHANGE_PAUSED,
                                   done=False), 429
        try:
            if accounts.check_password(account.email, form.current.data) is None:
                activity.record("failed password check", "changing own password",
                                who=account.email)
                raise accounts.AccountError("Your current password is not right.")
            attempt.not_a_failure()
            accounts.set_password(account.email, form.password.data)
        except accounts.AccountError as exc:
            error, status = str(exc), 400
        else:
            activity.record("changed own password", who=account.email)
            # Every other session of this account has ended; this one carries on.
            staff_session.current().set(version=accounts.get(account.email).session_version)
            done = True
    elif form.errors:
        status = 400
    return render_template("staff/account.html", form=form, error=error, done=done), status
