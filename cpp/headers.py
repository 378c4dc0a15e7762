"""Security headers on every response, and no caching of anything personal."""
from __future__ import annotations

import functools
import logging
import re
from urllib.parse import urlsplit

from flask import Flask, redirect, request
from flask_babel import gettext as _
from flask_login import current_user

from .errors import render_error
from .proxy import forwarded_as_https_by_untrusted_proxy


def register_security_headers(app: Flask) -> None:
    @app.before_request
    def force_https():
        if app.config.get("FORCE_HTTPS") and not request.is_secure:
            if forwarded_as_https_by_untrusted_proxy():
                # Redirecting would loop for ever (ERR_TOO_MANY_REDIRECTS): the customer did use
                # HTTPS, the portal just was not told to believe its proxy. Say so instead.
                return render_error(500, _("This page can't be shown right now"),
                                    _("The payment page is being set up. Please call the shop."))
            public = urlsplit(app.config["PUBLIC_URL"])
            target = f"https://{public.netloc}{request.full_path if request.query_string else request.path}"
            return redirect(target, 308)
        return None

    @app.after_request
    def add_headers(response):
        embedders = frame_ancestors(tuple(app.config.get("EMBED_ALLOWED_ORIGINS") or ()))
        # Card data is typed on Cayan's page, never here: forms post only to ourselves.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data:{logo_origin(app)}; "
            "object-src 'none'; base-uri 'none'; "
            # Pay Bill's POST ends in a redirect to Cayan's page; browsers check that hop too.
            f"form-action 'self' {origin(app.config['CAYAN_TRANSPORTWEB_URL'])}; "
            f"frame-ancestors {embedders}",
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Return URLs carry transaction data: never send them to another site. Same-origin
        # requests keep their Referer (and Origin), which the CSRF origin check relies on.
        response.headers["Referrer-Policy"] = "same-origin"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if current_user.is_authenticated or request.endpoint in NO_STORE_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response


NO_STORE_ENDPOINTS = {"payments.returned", "payments.result", "auth.login", "links.open_link",
                      "links.invoices"}


def logo_origin(app: Flask) -> str:
    """A SHOP_LOGO on the shop's own website is allowed as an image source, nothing more."""
    logo = app.config.get("SHOP_LOGO") or ""
    return " " + origin(logo) if logo.startswith("https://") else ""


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\Z")
log = logging.getLogger(__name__)


def checked_origin(text: str) -> str:
    """An embedding site as `https://host[:port]`, rebuilt from its parts, or ValueError.

    It goes into a response header (frame-ancestors): no wildcard, no user name, no path, and
    an international name as its ASCII (IDNA) form, which a header can carry.
    """
    value = str(text).strip()
    parts = urlsplit(value)
    if parts.scheme != "https" or parts.username is not None or parts.password is not None \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value} is not a web address like https://www.yourshop.com")
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii")
        port = parts.port
    except (UnicodeError, ValueError):
        raise ValueError(f"{value} is not a web address like https://www.yourshop.com") from None
    if not HOST.match(host) or "." not in host:
        raise ValueError(f"{value} is not a web address like https://www.yourshop.com")
    return f"https://{host}" + (f":{port}" if port else "")


@functools.lru_cache(maxsize=32)
def frame_ancestors(origins: tuple[str, ...]) -> str:
    """The frame-ancestors value; anything that is not a plain https origin is left out."""
    kept = []
    for origin in origins:
        try:
            kept.append(checked_origin(origin))
        except ValueError:
            log.error("EMBED_ALLOWED_ORIGINS: %r is not a web address; left out", origin)
    return " ".join(kept) or "'none'"
