"""Configuration: defaults, then instance/config.py (or $CPP_CONFIG), then CPP_* variables.

Demo mode is decided here, once: it is on only when neither PIMS_URL nor any Cayan credential
is configured, so a shop that configures either can never end up talking to the sandbox.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from urllib.parse import urlsplit

from flask import Flask

CAYAN_CREDENTIAL_KEYS = ("CAYAN_MERCHANT_NAME", "CAYAN_MERCHANT_SITE_ID", "CAYAN_MERCHANT_KEY")

DEFAULTS: dict[str, object] = {
    "SECRET_KEY": None,
    "PUBLIC_URL": None,
    "DATABASE": None,  # defaults to instance/cpp.sqlite3, see load_config
    "SHOP_NAME": "Our Shop",
    "SHOP_LOGO": None,
    # Shown wherever a customer is asked to call the shop (login page, errors, results,
    # receipts); a location's own phone and email in LOCATIONS come first for its invoices.
    "SHOP_PHONE": None,
    "SHOP_EMAIL": None,
    "SHOP_ADDRESS": None,
    "LOCALE": "en_US",
    # The customer's language when neither the switch nor the browser says: "en" or "es".
    "DEFAULT_LANGUAGE": "en",
    # How money and dates read in each language other than English (Babel locales); English
    # follows LOCALE.
    "LANGUAGE_LOCALES": {"es": "es"},
    "CURRENCY": "USD",
    "TIMEZONE": "UTC",
    "LOCATIONS": {},
    # PIMS Web Services Module
    "PIMS_URL": None,
    "PIMS_USERNAME": None,
    "PIMS_PASSWORD": None,
    "PIMS_TIMEOUT": 10.0,
    # Cayan
    "CAYAN_MERCHANT_NAME": None,
    "CAYAN_MERCHANT_SITE_ID": None,
    "CAYAN_MERCHANT_KEY": None,
    "CAYAN_TRANSPORT_URL": "https://transport.merchantware.net/v4/transportService.asmx",
    "CAYAN_TRANSPORTWEB_URL": "https://transport.merchantware.net/v4/transportweb.aspx",
    "CAYAN_REPORTING_URL": (
        "https://ps1.merchantware.net/Merchantware/ws/TransactionHistory/v4/Reporting.asmx"
    ),
    "CAYAN_CREDIT_URL": (
        "https://ps1.merchantware.net/Merchantware/ws/RetailTransaction/v45/Credit.asmx"
    ),
    "CAYAN_TIMEOUT": 20.0,
    "PAYMENT_TIMEOUT": 30,  # minutes
    # How long an expired or replaced payment is still looked up for a charge made on a card
    # page left open (Cayan does not say how long its card page lives).
    "LATE_CHARGE_HOURS": 24,
    "MAX_ATTEMPTS": 8,
    # seconds; 0 = no background job. On by default: without a pass, a customer who paid and
    # closed the tab before coming back would stay charged and unposted.
    "RECONCILE_EVERY": 300,
    # Mail (Flask-Mail keys)
    "MAIL_SERVER": "localhost",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": None,
    "MAIL_TIMEOUT": 10.0,
    "MAIL_REPLY_TO": None,
    # Flask-Mail suppresses sending when TESTING is on; receipts must really go out in tests.
    "MAIL_SUPPRESS_SEND": False,
    # Sessions
    "SESSION_IDLE_MINUTES": 15,
    "SESSION_MAX_HOURS": 8,
    # Failed logins: per account (then the account is locked for the rest of the window) and
    # per client address. Flask-Limiter's syntax.
    "LOGIN_ACCOUNT_LIMIT": "5 per 15 minutes",
    "LOGIN_ADDRESS_LIMIT": "20 per 15 minutes",
    # Sessions and login counters: the ledger database unless a Redis server is named.
    "REDIS_URL": None,
    # Number of reverse proxies (IIS, nginx) in front of the portal whose X-Forwarded-For and
    # X-Forwarded-Proto headers are trusted, and where they connect from (see cpp.proxy).
    "TRUSTED_PROXIES": 0,
    "TRUSTED_PROXY_ADDRESSES": ["127.0.0.1", "::1"],
    "FORCE_HTTPS": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "EMBED_ALLOWED_ORIGINS": [],
    # Partial payments: customers may pay part of an invoice, at least MIN_PARTIAL_AMOUNT
    # (or the whole balance, when that is less).
    "ALLOW_PARTIAL_PAYMENTS": False,
    "MIN_PARTIAL_AMOUNT": "5.00",
    # The counter kiosk (cpp.kiosk): the whole portal as one, or browsers an owner turns into
    # one from the dashboard; a kiosk starts over after this many seconds without a touch.
    "KIOSK_MODE": False,
    "KIOSK_IDLE_SECONDS": 90,
    # Pay links (/pay/l/<token>, docs/pay-links.md): their own secret (at least 32 characters,
    # not SECRET_KEY), how long a new link works, and the ids of single links taken back.
    "LINK_SECRET": None,
    "LINK_DAYS": 30,
    "LINK_REVOKED": [],
    # The staff dashboard (/staff): its own session, who may open it, who hears of trouble.
    "STAFF_SESSION_IDLE_MINUTES": 30,
    "STAFF_SESSION_MAX_HOURS": 12,
    "STAFF_ALLOWED_IPS": [],  # addresses and CIDR ranges; empty = any address
    "STAFF_ALERT_EMAILS": [],  # told once when a payment needs attention
    "DATABASE_TIMEOUT": 10.0,
    "LOG_LEVEL": "INFO",
    "DEMO_MODE": None,  # computed; setting it True by hand is refused outside tests
}

# Set by the portal itself, not by operators (so not in config.example.py).
INTERNAL_KEYS = ("DEMO_MODE", "MAIL_SUPPRESS_SEND", "SESSION_COOKIE_HTTPONLY",
                 "SESSION_COOKIE_SAMESITE")

# Keys whose environment value must be turned into a number.
NUMERIC_KEYS = ("PIMS_TIMEOUT", "CAYAN_TIMEOUT", "MAIL_TIMEOUT", "DATABASE_TIMEOUT")

# Keys holding lists, which an environment variable may give as "a, b".
LIST_KEYS = ("EMBED_ALLOWED_ORIGINS", "STAFF_ALLOWED_IPS", "STAFF_ALERT_EMAILS", "LINK_REVOKED")


class ConfigError(RuntimeError):
    """The configuration cannot run a portal; the message names the key to fix."""


def load_config(app: Flask, test_config: dict | None) -> None:
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        config_file = os.environ.get("CPP_CONFIG") or os.path.join(app.instance_path, "config.py")
        app.config.from_pyfile(config_file, silent="CPP_CONFIG" not in os.environ)
        app.config.from_prefixed_env("CPP")
    else:
        app.config.from_mapping(test_config)
    for key in NUMERIC_KEYS:
        app.config[key] = float(app.config[key])
    app.config["TRUSTED_PROXIES"] = int(app.config["TRUSTED_PROXIES"] or 0)
    app.config["LINK_DAYS"] = int(app.config["LINK_DAYS"])
    app.config["ALLOW_PARTIAL_PAYMENTS"] = as_bool(app.config["ALLOW_PARTIAL_PAYMENTS"])
    app.config["KIOSK_MODE"] = as_bool(app.config["KIOSK_MODE"])
    app.config["KIOSK_IDLE_SECONDS"] = max(int(app.config["KIOSK_IDLE_SECONDS"]), 15)
    for key in LIST_KEYS:  # "a, b" or "a b" from an environment variable: a list
        if isinstance(app.config[key], str):
            app.config[key] = app.config[key].replace(",", " ").split()
    if not app.config["DATABASE"]:
        app.config["DATABASE"] = os.path.join(app.instance_path, "cpp.sqlite3")
    decide_mode(app)
    check_limits_and_proxies(app)
    check_money_settings(app)
    check_languages(app)
    check_config(app)
    # The session cookie only travels over HTTPS when the portal is served over HTTPS.
    app.config["SESSION_COOKIE_SECURE"] = str(app.config["PUBLIC_URL"]).lower().startswith("https://")
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(hours=app.config["SESSION_MAX_HOURS"])


def as_bool(value) -> bool:
    """True, or an environment variable's "true", "1", "yes", "on"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def check_languages(app: Flask) -> None:
    from babel import Locale, UnknownLocaleError

    from .i18n import LANGUAGES

    if app.config["DEFAULT_LANGUAGE"] not in LANGUAGES:
        raise ConfigError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}: "
                          f"{app.config['DEFAULT_LANGUAGE']!r}")
    for key, locale in [("LOCALE", app.config["LOCALE"]),
                        *(("LANGUAGE_LOCALES", value) for value in
                          (app.config.get("LANGUAGE_LOCALES") or {}).values())]:
        try:
            Locale.parse(locale)
        except (UnknownLocaleError, ValueError, TypeError):
            raise ConfigError(f"{key}: {locale!r} is not a locale Babel knows, like "
                              "\"en_US\" or \"es\"") from None


def check_money_settings(app: Flask) -> None:
    from decimal import Decimal, InvalidOperation

    try:
        minimum = Decimal(str(app.config["MIN_PARTIAL_AMOUNT"]))
    except InvalidOperation:
        minimum = Decimal(-1)
    if not (minimum >= Decimal("0.01") and minimum == minimum.quantize(Decimal("0.01"))):
        raise ConfigError(f"MIN_PARTIAL_AMOUNT must be an amount like \"5.00\": "
                          f"{app.config['MIN_PARTIAL_AMOUNT']!r}")


def is_demo_configuration(config) -> bool:
    return not config.get("PIMS_URL") and not any(config.get(k) for k in CAYAN_CREDENTIAL_KEYS)


def decide_mode(app: Flask) -> None:
    demo = is_demo_configuration(app.config)
    if app.config.get("DEMO_MODE") and not demo:
        raise ConfigError(
            "DEMO_MODE cannot be turned on while PIMS_URL or Cayan credentials are configured."
        )
    app.config["DEMO_MODE"] = demo
    if not demo:
        return
    if not app.config.get("SECRET_KEY"):
        # A fresh key per process: demo sessions simply end when the demo restarts.
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["PUBLIC_URL"] = app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000"
    # The demo shop and the sandbox's addresses are the sandbox's to set (cpp.sandbox.plug_in):
    # this module knows only that demo mode is on.


def check_limits_and_proxies(app: Flask) -> None:
    from .auth.throttle import parse_limit
    from .proxy import parse_networks

    for key in ("LOGIN_ACCOUNT_LIMIT", "LOGIN_ADDRESS_LIMIT"):
        try:
            parse_limit(app.config[key])
        except ValueError:
            raise ConfigError(f"{key} must read like '5 per 15 minutes': {app.config[key]!r}") from None
    from .headers import checked_origin

    for origin in app.config["EMBED_ALLOWED_ORIGINS"] or ():
        try:
            checked_origin(origin)
        except ValueError as exc:
            raise ConfigError(f"EMBED_ALLOWED_ORIGINS: {exc}") from None
    for key in ("TRUSTED_PROXY_ADDRESSES", "STAFF_ALLOWED_IPS"):
        try:
            parse_networks(app.config[key])
        except ValueError as exc:
            raise ConfigError(f"{key} has something that is not an address: {exc}") from None


def check_config(app: Flask) -> None:
    """Refuse to start a production portal that is missing something it needs."""
    config = app.config
    if config["DEMO_MODE"]:
        return
    required = ("SECRET_KEY", "PUBLIC_URL", "PIMS_URL", "PIMS_USERNAME", "PIMS_PASSWORD",
                *CAYAN_CREDENTIAL_KEYS)
    missing = [key for key in required if not config.get(key)]
    if missing:
        raise ConfigError(
            "The portal cannot start: set " + ", ".join(missing)
            + " in instance/config.py or as CPP_<KEY> environment variables."
        )
    check_service_url("PIMS_URL", config["PIMS_URL"])
    for key in ("CAYAN_TRANSPORT_URL", "CAYAN_TRANSPORTWEB_URL", "CAYAN_REPORTING_URL",
                "CAYAN_CREDIT_URL"):
        check_service_url(key, config[key])
    secret = config.get("LINK_SECRET")
    if secret and (len(str(secret)) < 32 or secret == config["SECRET_KEY"]):
        raise ConfigError("LINK_SECRET must be at least 32 characters and not the same as "
                          "SECRET_KEY (python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
    if urlsplit(config["PUBLIC_URL"]).scheme not in ("http", "https"):
        raise ConfigError("PUBLIC_URL must be an absolute http(s) URL, e.g. https://pay.example.com")


def check_service_url(key: str, url: str) -> None:
    """HTTPS everywhere; plain HTTP only to this machine (a PIMS server on the same host).
    No user:password@ in it: the portal's SOAP transport does not send it, and it would be a
    password in a URL (credentials have settings of their own)."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{key} must not carry a user name or password (user:password@): "
                          "put them in their own settings")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    raise ConfigError(f"{key} must use https:// (plain http is accepted only to localhost): {url}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
