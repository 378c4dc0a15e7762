"""The demo shop: what `python app.py` with no configuration shows, on the sandbox services.

Only ever applied in demo mode (cpp.config decides: no PIMS_URL and no Cayan credentials), by
cpp.sandbox.plug_in. A production configuration never reaches this module.
"""
from __future__ import annotations

from flask import Flask

# Built-in sandbox credentials: only ever used in demo mode, against the in-process sandbox.
DEMO_SETTINGS: dict[str, object] = {
    "PIMS_USERNAME": "cpp-portal",
    "PIMS_PASSWORD": "sandbox-pims-password",
    "CAYAN_MERCHANT_NAME": "TEST MERCHANT",
    "CAYAN_MERCHANT_SITE_ID": "SANDBOX1",
    "CAYAN_MERCHANT_KEY": "FAKE1-FAKE2-FAKE3-FAKE4-FAKE5",
    # Fixed, so `flask --app app cpp link` makes links the running demo accepts.
    "LINK_SECRET": "demo-link-secret-not-for-production-use",
    "SHOP_NAME": "Northside Device Repair (demo)",
    "SHOP_LOGO": "/static/img/demo-logo.png",
    "SHOP_PHONE": "(217) 555-0142",
    "SHOP_EMAIL": "billing@northside.example",
    "SHOP_ADDRESS": "120 Main Street, Springfield, IL 62701",
    "TIMEZONE": "America/Chicago",
    "MAIL_DEFAULT_SENDER": ("Northside Device Repair", "billing@northside.example"),
    "LOCATIONS": {
        "MAIN": {
            "name": "Northside Device Repair - Main Street",
            "address": "120 Main Street, Springfield, IL 62701",
            "phone": "(217) 555-0142",
            "mail_sender": "main@northside.example",
            "mail_sender_name": "Northside Repair - Main Street",
            "mail_reply_to": "frontdesk-main@northside.example",
        },
        "WEST": {
            "name": "Northside Device Repair - West Side",
            "address": "88 Lakeview Avenue, Springfield, IL 62704",
            "phone": "(217) 555-0187",
        },
    },
}


# Settings a shop may have set itself even in demo mode; its own value wins over the demo's.
SHOP_KEYS = ("SHOP_NAME", "SHOP_LOGO", "SHOP_PHONE", "SHOP_EMAIL", "SHOP_ADDRESS", "TIMEZONE",
             "MAIL_DEFAULT_SENDER", "LOCATIONS")

# The sandbox accepts exactly the credentials the demo portal is configured with.
SANDBOX_DEFAULTS = {
    "SANDBOX_PIMS_USERNAME": DEMO_SETTINGS["PIMS_USERNAME"],
    "SANDBOX_PIMS_PASSWORD": DEMO_SETTINGS["PIMS_PASSWORD"],
    "SANDBOX_CAYAN_MERCHANT_NAME": DEMO_SETTINGS["CAYAN_MERCHANT_NAME"],
    "SANDBOX_CAYAN_MERCHANT_SITE_ID": DEMO_SETTINGS["CAYAN_MERCHANT_SITE_ID"],
    "SANDBOX_CAYAN_MERCHANT_KEY": DEMO_SETTINGS["CAYAN_MERCHANT_KEY"],
}


def apply_demo_settings(app: Flask, defaults: dict) -> None:
    """The demo shop's settings, and the portal pointed at the sandbox mounted on itself."""
    for key, value in DEMO_SETTINGS.items():
        if key not in SHOP_KEYS or app.config.get(key) in (None, "", {}, defaults.get(key)):
            app.config[key] = value
    sandbox = app.config["PUBLIC_URL"].rstrip("/") + "/sandbox"
    app.config["PIMS_URL"] = sandbox + "/pims"
    app.config["CAYAN_TRANSPORT_URL"] = sandbox + "/cayan/transport"
    app.config["CAYAN_TRANSPORTWEB_URL"] = sandbox + "/cayan/transportweb.aspx"
    app.config["CAYAN_REPORTING_URL"] = sandbox + "/cayan/reporting"
    app.config["CAYAN_CREDIT_URL"] = sandbox + "/cayan/credit"
