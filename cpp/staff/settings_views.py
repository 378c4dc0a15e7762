"""Manage Settings (owners): the shop's name, logo and contacts, who may open the dashboard
(STAFF_ALLOWED_IPS), where the portal may be embedded, per-location email settings with a test
receipt, and the PIMS and Cayan connection details, shown but never editable here."""
from __future__ import annotations

import datetime as dt
import logging
import os
from decimal import Decimal

from flask import current_app, flash, g, redirect, render_template, request, url_for

from .. import email_address, kiosk, mailer, shop_settings
from ..headers import checked_origin
from ..payments.ledger import Payment, PaymentInvoice, utcnow
from ..payments.receipts import build_receipt
from ..proxy import parse_networks
from . import access, activity, logo
from . import session as staff_session
from .access import owner_only
from .blueprint import bp
from .forms import LocationEmailForm, LogoForm, ShopForm

log = logging.getLogger(__name__)


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


def checked_origins(lines_: list[str]) -> list[str]:
    """Each embedding site as a plain https origin (ValueError names the first bad one)."""
    return list(dict.fromkeys(checked_origin(line) for line in lines_))


def connection_details() -> list[tuple[str, str, str]]:
    """(what, value shown, where it comes from) for PIMS and Cayan: never a secret in full."""
    config = current_app.config

    def source(key: str) -> str:
        if config["DEMO_MODE"]:
            return "built-in sandbox (demo)"
        return "environment (CPP_" + key + ")" if os.environ.get("CPP_" + key) else "config file"

    key = config.get("CAYAN_MERCHANT_KEY") or ""
    return [
        ("Cayan merchant name", config.get("CAYAN_MERCHANT_NAME") or "not set",
         source("CAYAN_MERCHANT_NAME")),
        ("Cayan site ID", config.get("CAYAN_MERCHANT_SITE_ID") or "not set",
         source("CAYAN_MERCHANT_SITE_ID")),
        ("Cayan key", ("•••••-" + key[-5:]) if len(key) > 5 else ("set" if key else "not set"),
         source("CAYAN_MERCHANT_KEY")),
        ("PIMS address", config.get("PIMS_URL") or "not set", source("PIMS_URL")),
        ("PIMS user name", config.get("PIMS_USERNAME") or "not set", source("PIMS_USERNAME")),
    ]


def known_locations() -> list[str]:
    return sorted(current_app.config["LOCATIONS"])


def render(shop_form=None, status: int = 200, lockout_warning: bool = False,
           refused_location: tuple[str, LocationEmailForm] | None = None):
    config = current_app.config
    shop_form = shop_form or ShopForm(data={
        "shop_name": config["SHOP_NAME"], "shop_phone": config.get("SHOP_PHONE") or "",
        "shop_email": config.get("SHOP_EMAIL") or "",
        "allowed_ips": "\n".join(config.get("STAFF_ALLOWED_IPS") or []),
        "alert_emails": "\n".join(config.get("STAFF_ALERT_EMAILS") or []),
        "embed_origins": "\n".join(config.get("EMBED_ALLOWED_ORIGINS") or [])})
    location_forms = {code: LocationEmailForm(prefix=code, data=config["LOCATIONS"][code])
                      for code in known_locations()}
    if refused_location:  # shown as typed, each complaint beside its field
        code, form = refused_location
        location_forms[code] = form
    return render_template("staff/settings.html", shop_form=shop_form, logo_form=LogoForm(),
                           location_forms=location_forms, connections=connection_details(),
                           history=shop_settings.history(20), lockout_warning=lockout_warning,
                           your_address=request.remote_addr,
                           public_url=config["PUBLIC_URL"].rstrip("/")), status


@bp.get("/settings")
@owner_only
def settings():
    return render()


@bp.post("/settings")
@owner_only
def save_settings():
    form = ShopForm()
    if not form.validate_on_submit():
        return render(form, 400)
    allowed, origins = lines(form.allowed_ips.data), lines(form.embed_origins.data)
    try:
        networks = parse_networks(allowed)
    except ValueError as exc:
        form.allowed_ips.errors = [f"Not an address or range: {exc}"]
        return render(form, 400)
    try:
        origins = checked_origins(origins)
    except ValueError as exc:
        form.embed_origins.errors = [str(exc)]
        return render(form, 400)
    alert_to = []
    for line in lines(form.alert_emails.data):
        address, problem = email_address.normalise(line)
        if problem:
            form.alert_emails.errors = [f"{line}: not an email address we can send to."]
            return render(form, 400)
        alert_to.append(address)
    if networks and not access.address_allowed(request.remote_addr, networks) \
            and not form.confirm_lockout.data:
        return render(form, 409, lockout_warning=True)
    changed = shop_settings.save({
        "SHOP_NAME": form.shop_name.data.strip(),
        "SHOP_PHONE": form.shop_phone.data.strip(),
        "SHOP_EMAIL": form.shop_email.data.strip(),
        "STAFF_ALLOWED_IPS": allowed, "EMBED_ALLOWED_ORIGINS": origins,
        "STAFF_ALERT_EMAILS": list(dict.fromkeys(alert_to))}, g.staff.email)
    if changed:
        activity.record("changed settings", ", ".join(changed), who=g.staff.email)
    flash("Saved. Every page shows the new settings now." if changed else "Nothing changed.",
          "success")
    return redirect(url_for("staff.settings"), 303)


@bp.post("/settings/logo")
@owner_only
def upload_logo():
    form = LogoForm()
    if request.form.get("remove"):
        shop_settings.save({"SHOP_LOGO": ""}, g.staff.email)
        activity.record("changed settings", "SHOP_LOGO removed", who=g.staff.email)
        flash("The logo is removed.", "success")
        return redirect(url_for("staff.settings"), 303)
    upload = form.logo.data
    try:
        png = logo.checked_png(upload.read(logo.MAX_BYTES + 1) if upload else b"")
    except logo.LogoRefused as exc:
        activity.record("logo refused", str(exc), who=g.staff.email)
        flash(str(exc), "error")
        return redirect(url_for("staff.settings"), 303)
    shop_settings.save({"SHOP_LOGO": logo.store(png)}, g.staff.email)
    activity.record("changed settings", "SHOP_LOGO uploaded", who=g.staff.email)
    flash("The new logo is in place.", "success")
    return redirect(url_for("staff.settings"), 303)


@bp.post("/settings/locations/<code>")
@owner_only
def save_location(code: str):
    if code not in current_app.config["LOCATIONS"]:
        flash("No such location.", "error")
        return redirect(url_for("staff.settings"), 303)
    form = LocationEmailForm(prefix=code)
    if not form.validate_on_submit():
        # The page again with what was typed (the form's action ends in #location-CODE, so the
        # browser shows that form): a message at the top of a redirect was out of sight, and
        # the typing lost.
        return render(status=400, refused_location=(code, form))
    values = {field: (getattr(form, field).data or "").strip()
              for field in shop_settings.LOCATION_EMAIL_FIELDS}
    key = shop_settings.LOCATION_EMAIL_PREFIX + code
    if shop_settings.save({key: values}, g.staff.email):
        activity.record("changed settings", f"email settings of {code}", who=g.staff.email)
    if request.form.get("send_test"):
        return send_test_receipt(code)
    flash(f"Email settings for {code} saved.", "success")
    return redirect(url_for("staff.settings", _anchor=f"location-{code}"), 303)


def send_test_receipt(code: str):
    """A receipt of a made-up payment at this location, to the staff member's own address."""
    now = utcnow()
    sample = Payment(
        id=0, reference="TEST0000", transaction_id="TEST", customer_code="TEST",
        customer_name="Test Customer", customer_email=g.staff.email, amount=Decimal("1.00"),
        state="posted", transport_key=None, validation_key=None, cayan_token="TEST",  # noqa: S106 - a made-up receipt
        authorization_code="TEST", card_type="Visa", card_last4="0000",
        approved_amount=Decimal("1.00"), pims_payment_id=None, failure_reason=None,
        receipt_status="none", receipt_attempts=0, receipt_next_at=None, attempts=0,
        next_attempt_at=None, lease_until=None, created_at=now, updated_at=now,
        approved_at=now, posted_at=now,
        invoices=(PaymentInvoice("TEST-1", Decimal("1.00"), code, "Test receipt: not a real "
                                 "payment", dt.date.today()),))
    message = build_receipt(sample)
    message.subject = "[TEST] " + message.subject
    try:
        mailer.send(message)
    except Exception as exc:  # noqa: BLE001 - told to the owner in plain words, and logged
        from .health import plain_reason

        log.warning("test receipt of %s to %s not sent: %s", code, g.staff.email,
                    mailer.failure(exc))
        flash(f"The test receipt could not be sent: {plain_reason(exc)}.", "error")
    else:
        activity.record("sent test receipt", f"{code} to {g.staff.email}", who=g.staff.email)
        flash(f"Test receipt sent to {g.staff.email}.", "success")
    return redirect(url_for("staff.settings", _anchor=f"location-{code}"), 303)


@bp.route("/kiosk", methods=["GET", "POST"])
@owner_only
def kiosk_page():
    """Turn the browser in use (a tablet at the counter) into a kiosk, or back."""
    if request.method == "GET":
        return render_template("staff/kiosk.html", on=kiosk.is_kiosk())
    if request.form.get("turn") == "off":
        response = redirect(url_for("staff.kiosk_page"), 303)
        kiosk.turn_off(response)
        activity.record("kiosk turned off", "this browser", who=g.staff.email)
        flash("This browser is no longer a kiosk.", "success")
        return response
    # The owner's own dashboard session ends here: the tablet is the customers' from now on.
    activity.record("kiosk turned on", "this browser", who=g.staff.email)
    staff_session.end()
    response = redirect(url_for("auth.login"), 303)
    kiosk.turn_on(response)
    return response
