"""Logging configured once. `cpp.audit` records logins, payments and receipts."""
from __future__ import annotations

import logging

from flask import Flask


def configure_logging(app: Flask) -> None:
    root = logging.getLogger("cpp")
    if not root.handlers and not app.testing:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # zeep logs whole SOAP envelopes (passwords, merchant keys) at DEBUG: never let that through.
    for name in ("zeep", "zeep.transports", "zeep.wsdl", "zeep.xsd"):
        logging.getLogger(name).setLevel(logging.WARNING)
