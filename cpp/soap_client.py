"""One way to build a zeep client: WSDL from the package, endpoint and timeouts from config.

Both the PIMS and the Cayan wrappers use this, so every SOAP call the portal makes has a
connect and read timeout (zeep's default is to wait forever) and tolerates elements a service
adds beyond its WSDL (Cayan adds a random one to every response since 2019).
"""
from __future__ import annotations

import logging
from pathlib import Path

import requests
from zeep import Client, Settings
from zeep.transports import Transport


class DropSoapBodies(logging.Filter):
    """zeep's transport logs whole SOAP envelopes (passwords, merchant keys) at DEBUG.

    Pinning its level is not enough: anyone turning on DEBUG logging would undo it. The filter
    sits on the logger itself and drops those records whatever the level is set to.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_transport_log = logging.getLogger("zeep.transports")
_transport_log.setLevel(logging.WARNING)
if not any(isinstance(f, DropSoapBodies) for f in _transport_log.filters):
    _transport_log.addFilter(DropSoapBodies())

CONNECT_TIMEOUT = 5.0


def build_service(wsdl: Path, binding: str, endpoint: str, timeout: float, wsse=None):
    session = requests.Session()
    session.trust_env = False  # a proxy set for the shell must not reroute payment traffic
    # requests takes (connect, read): a dead host fails fast, a slow one gets `timeout` to answer.
    transport = Transport(session=session, operation_timeout=(min(CONNECT_TIMEOUT, timeout), timeout))
    settings = Settings(strict=False, xml_huge_tree=False)
    client = Client(str(wsdl), transport=transport, settings=settings, wsse=wsse)
    return client.create_service(binding, endpoint)


def repeated(value, name: str) -> list:
    """The items of an array-of-X value, however zeep shaped it (object, list or nothing)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [item for item in value if item is not None]
    return [item for item in (getattr(value, name, None) or []) if item is not None]
