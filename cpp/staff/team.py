"""The team (owners): everyone who can sign in to the dashboard; add and disable people."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for

from . import accounts, activity
from .access import owner_only
from .blueprint import bp
from .forms import AddStaffForm, SetPasswordForm


@bp.route("/team", methods=["GET", "POST"])
@owner_only
def team():
    form = AddStaffForm()
    status = 200
    if form.validate_on_submit():
        try:
            added = accounts.add(form.email.data, form.password.data, form.role.data)
        except accounts.AccountError as exc:
            form.password.errors = [*form.password.errors, str(exc)]
            status = 400
        else:
            activity.record("added staff", f"{added.email} as {added.role}", who=g.staff.email)
            flash(f"{added.email} can now sign in as {added.role}. Give them the password in "
                  "person or by phone, never by email.", "success")
            return redirect(url_for("staff.team"), 303)
    elif form.errors:
        status = 400
    return render_template("staff/team.html", form=form, people=accounts.all_accounts(),
                           password_form=SetPasswordForm), status


@bp.post("/team/<int:account_id>/disable")
@owner_only
def disable(account_id: int):
    return set_disabled(account_id, True)


@bp.post("/team/<int:account_id>/enable")
@owner_only
def enable(account_id: int):
    return set_disabled(account_id, False)


@bp.post("/team/<int:account_id>/reset-2fa")
@owner_only
def reset_two_factor(account_id: int):
    person = accounts.get_by_id(account_id)
    if person is None:
        flash("No such account.", "error")
    else:
        accounts.reset_two_factor(person.email)
        activity.record("reset two-factor", person.email, who=g.staff.email)
        flash(f"{person.email}'s two-factor is reset: they set it up again at their next "
              "sign-in. Their open sessions have ended.", "success")
    return redirect(url_for("staff.team"), 303)


@bp.post("/team/<int:account_id>/password")
@owner_only
def set_password(account_id: int):
    person = accounts.get_by_id(account_id)
    form = SetPasswordForm(prefix=f"person{account_id}")
    if person is None:
        flash("No such account.", "error")
    elif not form.validate_on_submit():
        flash(form.problems(), "error")
    else:
        try:
            accounts.set_password(person.email, form.password.data)
        except accounts.AccountError as exc:
            flash(str(exc), "error")
        else:
            activity.record("reset password", person.email, who=g.staff.email)
            flash(f"{person.email} has a new password; their open sessions have ended. Give "
                  "it to them in person or by phone, never by email.", "success")
    return redirect(url_for("staff.team"), 303)


def set_disabled(account_id: int, disabled: bool):
    person = accounts.get_by_id(account_id)
    if person is None:
        flash("No such account.", "error")
    elif person.id == g.staff.id and disabled:
        flash("You can't disable your own account.", "error")
    else:
        try:
            accounts.set_disabled(person.email, disabled)
        except accounts.AccountError as exc:
            flash(str(exc), "error")
        else:
            activity.record("disabled staff" if disabled else "enabled staff", person.email,
                            who=g.staff.email)
            flash(f"{person.email} is {'disabled' if disabled else 'enabled'}.", "success")
    return redirect(url_for("staff.team"), 303)
