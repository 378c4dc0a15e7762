"""Security headers on every response, and no caching of anything personal."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from flask_login import current_user


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        embedders = " ".join(app.config.get("EMBED_ALLOWED_ORIGINS") or ()) or "'none'"
        # Card data is typed on Cayan's page, never here: forms post only to ourselves.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; "
            # Pay Bill's POST ends in a redirect to Cayan's page; browsers check that hop too.
            f"form-action 'self' {origin(app.config['CAYAN_TRANSPORTWEB_URL'])}; "
            f"frame-ancestors {embedders}",
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Return URLs carry transaction data; never leak them to another site.
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if current_user.is_authenticated or request.endpoint in NO_STORE_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response


NO_STORE_ENDPOINTS = {"payments.returned", "payments.result", "auth.login"}


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
