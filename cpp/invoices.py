"""The customer's unpaid invoices, read from PIMS on every visit (PIMS is the truth)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, session, url_for
from flask_login import current_user, login_required

from .money import to_cents
from .pims.client import get_pims
from .pims.models import Invoice

bp = Blueprint("invoices", __name__)


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("invoices.index"))
    return redirect(url_for("auth.login"))


@bp.get("/invoices")
@login_required
def index():
    invoices = get_pims().get_open_invoices(current_user.code)
    return render_template("invoices/index.html", invoices=invoices, today=dt.date.today(),
                           selection_value=selection_value,
                           resume_url=session.pop("resume_url", None))


def selection_value(invoice: Invoice) -> str:
    """What a ticked box sends: the invoice number and the balance the customer saw, in cents.

    The balance is only compared with PIMS's on Pay Bill, so a change since the page was shown
    is caught; the amount charged is always PIMS's own.
    """
    return f"{invoice.number}|{to_cents(invoice.balance_due)}"
