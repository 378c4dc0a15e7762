"""Who the client really is, behind IIS or nginx: the one place that reads TRUSTED_PROXIES.

A proxy that terminates TLS tells the portal the customer's address and scheme in
X-Forwarded-For and X-Forwarded-Proto. Those headers are believed only from the proxies the
shop named: TRUSTED_PROXIES of them in a row, connecting from TRUSTED_PROXY_ADDRESSES (by
default this machine). From anyone else they are ignored, so a visitor cannot claim another
address or a secure connection.

Both production servers pass the headers through untouched to this middleware: gunicorn does
so by default, and `python -m cpp.serve` starts waitress that way (waitress on its own strips
them, which is how a redirect loop behind a proxy starts).
"""
from __future__ import annotations

import ipaddress
import logging

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import is_loopback

log = logging.getLogger(__name__)

# Set in the WSGI environ when a proxy on this machine forwarded the request but the portal was
# not told to trust it: the client's address and scheme are then unknown.
UNTRUSTED_LOCAL_PROXY = "cpp.untrusted_local_proxy"
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED")


def parse_networks(values) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    return [ipaddress.ip_network(str(value).strip(), strict=False) for value in values or ()]


def address_in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in networks)


def without_port(wsgi_app):
    """IIS's ARR adds the client's port to X-Forwarded-For ("203.0.113.7:51234") unless told
    not to; the address alone is the client (and what the login limit counts)."""
    def app(environ, start_response):
        address = environ.get("REMOTE_ADDR", "")
        if address.count(":") == 1 and "." in address:  # IPv4 with a port
            environ["REMOTE_ADDR"] = address.split(":")[0]
        elif address.startswith("[") and "]" in address:  # [IPv6]:port
            environ["REMOTE_ADDR"] = address[1:address.index("]")]
        return wsgi_app(environ, start_response)
    return app


class TrustedProxyMiddleware:
    def __init__(self, wsgi_app, proxies: int, addresses):
        self.wsgi_app = wsgi_app
        self.proxies = proxies
        self.networks = parse_networks(addresses)
        self.proxy_fix = (ProxyFix(without_port(wsgi_app), x_for=proxies, x_proto=proxies)
                          if proxies else None)
        self.warned = False

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        if self.proxy_fix is not None and address_in(peer, self.networks):
            return self.proxy_fix(environ, start_response)
        if is_loopback(peer) and any(environ.get(h) for h in FORWARDED_HEADERS):
            environ[UNTRUSTED_LOCAL_PROXY] = True
            if not self.warned:
                self.warned = True
                log.error("Requests arrive through a proxy on this machine, but TRUSTED_PROXIES "
                          "is %d%s: the portal cannot see customers' addresses or whether they "
                          "used HTTPS. Set TRUSTED_PROXIES (see docs/deploy/).", self.proxies,
                          "" if not self.proxies else " and the proxy is not in "
                          "TRUSTED_PROXY_ADDRESSES")
        return self.wsgi_app(environ, start_response)


def register_proxy_support(app: Flask) -> None:
    app.wsgi_app = TrustedProxyMiddleware(app.wsgi_app, int(app.config["TRUSTED_PROXIES"] or 0),
                                          app.config["TRUSTED_PROXY_ADDRESSES"])


def client_address_is_known() -> bool:
    """False when every customer would appear to come from one unconfigured local proxy."""
    return not request.environ.get(UNTRUSTED_LOCAL_PROXY)


def forwarded_as_https_by_untrusted_proxy() -> bool:
    return bool(request.environ.get(UNTRUSTED_LOCAL_PROXY)) and \
        request.headers.get("X-Forwarded-Proto", "").lower() == "https"
