"""Pay links on the dashboard (staff and owners): a link for a customer, or some of their
invoices, to send by email or text (docs/pay-links.md). The token is shown once, here, and
never written to the Activity page (its link id is)."""
from __future__ import annotations

import datetime as dt

from flask import current_app, flash, g, redirect, render_template, url_for

from .. import shop_settings
from ..links.make import LinkProblem, make_link
from ..links.tokens import LINK_ID
from . import activity
from .blueprint import bp
from .forms import PayLinkForm, RevokeLinkForm


@bp.route("/pay-links", methods=["GET", "POST"])
def pay_links():
    form = PayLinkForm(data={"days": current_app.config["LINK_DAYS"]})  # a post's values win
    made, error, status = None, None, 200
    if form.validate_on_submit():
        numbers = (form.invoices.data or "").replace(",", " ").split()
        try:
            made = make_link(form.customer.data, numbers, form.days.data)
        except LinkProblem as exc:
            error, status = str(exc), 400
        else:
            activity.record("made pay link", f"{made.customer.code} "
                            f"{' '.join(made.link.invoice_numbers) or '(all open invoices)'}"
                            f", link id {made.link.link_id}", who=g.staff.email)
    elif form.errors:
        status = 400
    until = (dt.datetime.fromtimestamp(made.link.expires_at, dt.UTC) if made else None)
    return render_template("staff/pay_links.html", form=form, made=made, error=error,
                           until=until, ready=bool(current_app.config.get("LINK_SECRET")),
                           revoke_form=RevokeLinkForm(formdata=None),
                           revoked=current_app.config.get("LINK_REVOKED") or []), status


@bp.post("/pay-links/revoke")
def revoke_pay_link():
    """Take one link back at once, in every portal process (a setting with its history)."""
    form = RevokeLinkForm()
    link_id = (form.link_id.data or "").strip()
    if not form.validate_on_submit() or not LINK_ID.match(link_id):
        flash("Give the link id the Activity page or the link's page showed (letters, digits, "
              "- and _).", "error")
        return redirect(url_for("staff.pay_links"), 303)
    revoked = list(current_app.config.get("LINK_REVOKED") or [])
    if link_id not in revoked:
        shop_settings.save({"LINK_REVOKED": [*revoked, link_id]}, g.staff.email)
        activity.record("took pay link back", link_id, who=g.staff.email)
    flash(f"Link {link_id} no longer works, and any page opened with it has closed.",
          "success")
    return redirect(url_for("staff.pay_links"), 303)
