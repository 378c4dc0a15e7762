"""Health: can the portal reach PIMS, Cayan and the mail server with the configured credentials
right now? Each check says green or red, how long it took, and when red, why in plain words.
The staff Health page and `flask --app app cpp check` run the same checks."""
from __future__ import annotations

import datetime as dt
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass

import urllib3.exceptions
from flask import current_app

from .. import mailer
from ..cayan.client import get_cayan
from ..pims.client import get_pims
from ..pims.models import PimsCredentialsRejected


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    milliseconds: int
    detail: str


def plain_reason(exc: BaseException) -> str:
    """What went wrong, as a shop owner would say it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).lower()
        if isinstance(exc, (ssl.SSLError, urllib3.exceptions.SSLError)) or "certificate" in text:
            return "certificate problem: the server's HTTPS certificate is not trusted"
        # Before the timeouts: urllib3 counts a refused connection and an unknown host among
        # its connect timeouts (NewConnectionError is a ConnectTimeoutError).
        if isinstance(exc, ConnectionRefusedError) or "refused" in text:
            return "refused: nothing answers at that address (is the service running?)"
        if isinstance(exc, (socket.gaierror, urllib3.exceptions.NameResolutionError)) \
                or "name or service not known" in text or "nodename nor servname" in text \
                or "failed to resolve" in text:
            return "unknown host name: check the address"
        if isinstance(exc, (socket.timeout, TimeoutError, urllib3.exceptions.TimeoutError)) \
                or "timed out" in text:
            return "timed out: the server did not answer in time"
        if isinstance(exc, (PimsCredentialsRejected, smtplib.SMTPAuthenticationError)) \
                or "credential" in text or "not authorized" in text or "authentication" in text:
            return "credentials rejected: check the user name and password or key"
        exc = exc.__cause__ or exc.__context__
    return "failed: the log has the details"


def timed(name: str, check) -> Check:
    started = time.monotonic()
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a red line, never a crash
        current_app.logger.warning("health check %s failed: %r", name, exc)
        return Check(name, False, elapsed_ms(started), plain_reason(exc))
    return Check(name, True, elapsed_ms(started), detail)


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def check_pims() -> str:
    status = get_pims().ping()
    return f"answers: {status.module_version}"


def check_cayan() -> str:
    """A Reporting lookup of a transaction id that cannot exist: proves the credentials without
    touching any card or money."""
    get_cayan().transactions_by_transaction_id("CPPHEALTHCHECK")  # CayanError if refused
    return "answers, and accepts the merchant credentials"


def check_smtp() -> str:
    """Connects, says STARTTLS and logs in as a receipt's send does (cpp.mailer), then NOOP."""
    config = current_app.config
    with mailer.connected() as connection:
        code, _ = connection.host.noop()
        if code != 250:
            raise smtplib.SMTPResponseException(code, b"NOOP refused")
    return f"answers at {config['MAIL_SERVER']}:{config['MAIL_PORT']}"


def run_checks() -> list[Check]:
    return [timed("PIMS", check_pims), timed("Cayan", check_cayan),
            timed("Mail (SMTP)", check_smtp)]


def reconcile_summary() -> tuple[dt.datetime, dict] | None:
    from ..payments.reconcile import last_run

    return last_run()
