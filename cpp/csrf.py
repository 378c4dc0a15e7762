"""CSRF protection: Flask-WTF's token, plus a check that the form was posted from this portal.

Flask-WTF's own HTTPS check wants a same-origin Referer. Browsers also send Origin on every
POST, which survives privacy settings that strip Referer, so the origin check here accepts
either: Origin when the browser sent one, otherwise Referer. Over HTTPS one of them must be
present and name the portal (PUBLIC_URL, or the host the request came to).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from flask_wtf.csrf import CSRFProtect


def origin_of(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


class OriginCheckingCSRFProtect(CSRFProtect):
    def init_app(self, app):
        super().init_app(app)
        # Replaced by the Origin-or-Referer check below.
        app.config["WTF_CSRF_SSL_STRICT"] = False

    def protect(self, apply_exemptions=False):
        super().protect(apply_exemptions)
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return
        if not posted_from_this_portal():
            self._error_response(
                "Neither Origin nor Referer was sent." if request.is_secure and not
                (request.headers.get("Origin") or request.referrer)
                else "The form was posted from another site.")


def posted_from_this_portal() -> bool:
    """The POST names this portal in Origin (or, failing that, Referer). Over plain HTTP (the
    demo) a browser that sent neither is let through: the token alone decides there."""
    claimed = request.headers.get("Origin")
    if not claimed or claimed == "null":
        claimed = request.referrer
    if not claimed:
        return not request.is_secure
    allowed = {origin_of(current_app.config["PUBLIC_URL"]), origin_of(request.host_url)}
    return origin_of(claimed) in allowed
