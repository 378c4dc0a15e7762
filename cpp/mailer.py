"""Flask-Mail with a timeout and encoded bodies.

* Flask-Mail's own SMTP connection waits forever on a dead mail server: ours has a timeout,
  and a whole send has a deadline (send_limit).
* Flask-Mail sends UTF-8 bodies unencoded, so a long line (an invoice description of a
  thousand characters) breaks SMTP's 998-character limit ("500 Line too long"). Bodies here go
  out quoted-printable: no line over 76 characters, whatever the text.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.charset import QP, Charset
from email.mime.text import MIMEText

from flask import current_app
from flask_mail import Connection, Message

from .deadlines import WATCHDOG

# A whole send (connecting, TLS, login, the message) gets this many MAIL_TIMEOUTs at most.
# Each exchange is bounded by MAIL_TIMEOUT on its own, but a server answering every one just in
# time could stretch a send far beyond, and reconcile takes a receipt left 'sending' over as
# abandoned after send_limit() (cpp.payments.reconcile): a send still going then would email
# the customer twice.
SEND_TIMEOUTS = 3


def send_limit() -> float:
    return SEND_TIMEOUTS * current_app.config["MAIL_TIMEOUT"]


class TimeoutConnection(Connection):
    smtp: smtplib.SMTP | None = None  # known before it connects, for interrupt()
    cut = False  # the send's deadline passed (interrupt)

    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT"]
        # The server's certificate is checked (smtplib's own default does not): receipts carry
        # customers' names and amounts, and the login the mail password.
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
        else:
            host = smtplib.SMTP(timeout=timeout)
        # Made without a host so that interrupt() can reach it while it connects. smtplib takes
        # the name to check the certificate against (SMTP_SSL, STARTTLS) from _host, which only
        # its constructor sets: without it, every TLS mail server would be refused.
        host._host = self.mail.server
        self.smtp = host
        host.connect(self.mail.server, self.mail.port)
        self.stop_if_cut()
        if self.mail.use_tls:
            host.starttls(context=ssl.create_default_context())
            self.stop_if_cut()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        self.stop_if_cut()
        return host

    def interrupt(self) -> None:
        """Cut the send off (cpp.deadlines): wakes the read or write it is waiting in. A step
        with no socket to shut (looking the server's name up, a TLS handshake, each read of it
        bounded by MAIL_TIMEOUT) is stopped as soon as it ends, by stop_if_cut()."""
        self.cut = True
        sock = getattr(self.smtp, "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)

    def stop_if_cut(self) -> None:
        if self.cut:
            raise TimeoutError(f"mail server: no message sent within {send_limit()} s")


class EncodedMessage(Message):
    """A Flask-Mail message whose text and HTML parts are quoted-printable."""

    def _mimetext(self, text, subtype="plain"):
        charset = Charset("utf-8")
        charset.body_encoding = QP  # Flask-Mail sets UTF-8 bodies to go out raw; not here
        return MIMEText(text or "", _subtype=subtype, _charset=charset)


@contextmanager
def connected() -> Iterator[TimeoutConnection]:
    """A connection to the shop's mail server, logged in, for one send (or the staff health
    check's NOOP) that raises if not done within send_limit()."""
    connection = TimeoutConnection(current_app.extensions["mail"])
    deadline = WATCHDOG.watch(send_limit(), connection.interrupt)
    try:
        with connection:
            try:
                yield connection
            finally:
                # The message is in (or failed): QUIT is not under the deadline, so one passing
                # just after the server took the message cannot make it look unsent.
                WATCHDOG.end(deadline)
    finally:
        WATCHDOG.end(deadline)


def send(message: Message) -> None:
    """Send one message; raises when the server (or the message) fails, or when the whole
    send takes longer than send_limit()."""
    with connected() as connection:
        connection.send(message)
