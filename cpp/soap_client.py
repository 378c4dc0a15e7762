"""One way to build a zeep client: WSDL from the package, endpoint and timeouts from config.

Both the PIMS and the Cayan wrappers use this, so every SOAP call the portal makes has a
connect and read timeout (zeep's default is to wait forever) and tolerates elements a service
adds beyond its WSDL (Cayan adds a random one to every response since 2019).
"""
from __future__ import annotations

import logging
from pathlib import Path

import urllib3.exceptions
import zeep.exceptions
from zeep import Client, Settings

from .soap_transport import PooledTransport


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
log = logging.getLogger(__name__)


def build_service(wsdl: Path, binding: str, endpoint: str, timeout: float, wsse=None):
    # A dead host fails fast; a slow one gets `timeout` to answer.
    transport = PooledTransport(min(CONNECT_TIMEOUT, timeout), timeout)
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


def call(service, operation: str, arguments: dict, *, label: str, unavailable: type[Exception]):
    """Call one SOAP operation. A SOAP fault is raised as it is, for the caller to interpret;
    anything else that keeps us from a usable answer (refused, timed out, a non-SOAP error page,
    malformed XML: zeep raises many types) becomes `unavailable`, meaning "try again later"."""
    try:
        return getattr(service, operation)(**arguments)
    except zeep.exceptions.Fault:
        raise
    except urllib3.exceptions.HTTPError as exc:  # refused, timed out, TLS, a broken answer
        log.warning("%s %s failed: %s", label, operation, type(exc).__name__)
        raise unavailable(f"{label} {operation}: {type(exc).__name__}") from None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("%s %s answered something unusable: %s", label, operation, type(exc).__name__)
        raise unavailable(f"{label} {operation}: unusable answer") from None
