"""Pay links on the dashboard (staff and owners): a link for a customer, or some of their
invoices, to send by email or text (docs/pay-links.md). The token is shown once, here, and
never written to the Activity page (its link id is)."""
from __future__ import annotations

import datetime as dt

from flask import current_app, g, render_template

from ..links.make import LinkProblem, make_link
from . import activity
from .blueprint import bp
from .forms import PayLinkForm


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
                           until=until, ready=bool(current_app.config.get("LINK_SECRET"))), status
