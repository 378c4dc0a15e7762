"""Flask-Mail with a timeout and encoded bodies.

* Flask-Mail's own SMTP connection waits forever on a dead mail server: ours has a timeout,
  and a whole send has a deadline (send_limit).
* Flask-Mail sends UTF-8 bodies unencoded, so a long line (an invoice description of a
  thousand characters) breaks SMTP's 998-character limit ("500 Line too long"). Bodies here go
  out quoted-printable: no line over 76 characters, whatever the text.
* This machine's name (EHLO) is asked of DNS once per process, not on every connection: a
  shop server whose reverse lookup is slow spent it inside every send's deadline. Messages
  are named after the sender's domain, not after the machine that wrote them (Flask-Mail
  still asks DNS for that name while building a message, outside the deadline).
"""
from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.charset import QP, Charset
from email.headerregistry import Address
from email.mime.text import MIMEText
from email.policy import SMTP
from email.utils import make_msgid, parseaddr, quote
from functools import cache

from flask import current_app
from flask_mail import Connection, Message

from .deadlines import WATCHDOG
from .email_address import ENCODED_WORD_START

# A send (connecting, TLS, login, up to the last byte of the message) gets this many
# MAIL_TIMEOUTs at most. Each exchange is bounded by MAIL_TIMEOUT on its own, but a server
# answering every one just in time could stretch a send far beyond, and reconcile takes a
# receipt left 'sending' over as abandoned after longest_send() (cpp.payments.reconcile): a send
# still going then would email the customer twice.
SEND_TIMEOUTS = 3


def send_limit() -> float:
    return SEND_TIMEOUTS * current_app.config["MAIL_TIMEOUT"]


def longest_send() -> float:
    """The longest a send can take: its deadline, then one wait (MAIL_TIMEOUT at most) for the
    server's answer to the message. That wait is not cut short: by then the server may have
    taken the message, and a send recorded as failed would be sent again."""
    return send_limit() + current_app.config["MAIL_TIMEOUT"]


class MessageWatch(smtplib.SMTP):
    """smtplib's client, telling `message_written` when the message's last byte is out."""

    message_written = None
    _in_data = False

    def data(self, msg):
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False

    def send(self, s):
        super().send(s)
        # Within DATA, the command goes as text and the message (ending "\r\n.\r\n") as bytes.
        if self._in_data and isinstance(s, bytes) and self.message_written is not None:
            self.message_written()


class MessageWatchSSL(smtplib.SMTP_SSL, MessageWatch):
    """The same over TLS from the first byte (MAIL_USE_SSL)."""


class TimeoutConnection(Connection):
    smtp: smtplib.SMTP | None = None  # known before it connects, for interrupt()
    cut = False  # the send's deadline passed (interrupt)
    message_written = None  # set by connected(): ends the deadline

    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT"]
        # The server's certificate is checked (smtplib's own default does not): receipts carry
        # customers' names and amounts, and the login the mail password.
        if self.mail.use_ssl:
            host = MessageWatchSSL(timeout=timeout, context=ssl.create_default_context(),
                                   local_hostname=local_name())
        else:
            host = MessageWatch(timeout=timeout, local_hostname=local_name())
        # Made without a host so that interrupt() can reach it as soon as it has a socket.
        # smtplib takes the name to check the certificate against (SMTP_SSL, STARTTLS) from
        # _host, which only its constructor sets: without it, every TLS mail server would be
        # refused.
        host._host = self.mail.server
        host.message_written = self.message_written
        self.smtp = host
        try:
            host.connect(self.mail.server, self.mail.port)
            self.stop_if_cut()
            if self.mail.use_tls:
                host.starttls(context=ssl.create_default_context())
                self.stop_if_cut()
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
            self.stop_if_cut()
        except BaseException:
            host.close()  # Flask-Mail closes only a connection it was handed
            raise
        return host

    def interrupt(self) -> None:
        """Cut the send off (cpp.deadlines): wakes the read or write it is waiting in. A step
        with no socket yet (the connection being made, a TLS handshake: each bounded by
        MAIL_TIMEOUT) is stopped as soon as it ends, by stop_if_cut()."""
        self.cut = True
        sock = getattr(self.smtp, "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)

    def stop_if_cut(self) -> None:
        if self.cut:
            raise TimeoutError(f"mail server: not done within {send_limit()} s")

    def __exit__(self, exc_type, exc_value, tb) -> None:
        # QUIT, without waiting for its answer: a server slow to say goodbye would keep the
        # receipt 'sending' past longest_send(), for a forced reconcile to send again.
        if self.host is not None:
            try:
                self.host.putcmd("quit")
            except (OSError, smtplib.SMTPException):
                pass  # cut off, or gone: nothing left to say
            finally:
                self.host.close()


def failure(exc: BaseException) -> str:
    """A send's failure for the log: its kind, then what it says (some say nothing of
    themselves, as Flask-Mail's BadHeaderError)."""
    return f"{type(exc).__name__}: {exc}"


@cache
def local_name() -> str:
    """This machine's name for EHLO, worked out as smtplib does on every connection it makes
    unless given one: its full name, or else its address in brackets (RFC 5321 wants one or
    the other, and mail servers refuse a bare "PIMS-01")."""
    fqdn = socket.getfqdn()
    if "." in fqdn:
        return fqdn
    try:
        return f"[{socket.gethostbyname(socket.gethostname())}]"
    except OSError:
        return "[127.0.0.1]"


def message_id_domain(sender: str) -> str:
    """The right-hand side of a Message-ID: the sender's domain (IDNA-encoded, since the
    header is ASCII), or this machine's name for a sender without one."""
    address = as_address(sender)
    return address.domain if address is not None else local_name()


def inert(text: str) -> str:
    """Text for a header (a name, a subject) on one line, read as it is written: an encoded
    word's start (cpp.email_address.ENCODED_WORD_START) becomes "= ?", so a shop name like
    "=?utf-8?q?…=0D=0A…?=" cannot write headers and text of its own into every receipt."""
    return " ".join(text.split()).replace(ENCODED_WORD_START, "= ?")


# The part before the @ as the email package writes it unquoted (RFC 5322's dot-atom), and
# never an encoded word's start.
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_LOCAL_PART = re.compile(rf"{ATEXT}(\.{ATEXT})*\Z")


def one_address(address: str | tuple[str, str] | list[str] | None) -> str | None:
    """A (name, address) pair as one value, the name quoted and on one line. Flask-Mail joins
    the two as they are, so a comma in a shop's name ("Reparación, S.A.") split it into two
    addresses, neither the shop's; and a line break in a name made every receipt fail."""
    if isinstance(address, (tuple, list)):
        name, address = address
        name = inert(name or "")
        return f'"{quote(name)}" <{address}>' if name else address
    return address


def as_address(value: str | None) -> Address | None:
    """A From or Reply-To value as the email package's own Address, which quotes or encodes
    the name as it needs when the message is written. Flask-Mail writes the name as RFC 2047
    words of its own making, which the email package then takes apart to fold the line: the
    name lost its quotes at its comma, or gained a space inside a word. None for a value that
    cannot be an Address (Flask-Mail's writing stands then)."""
    if not value:
        return None
    name, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (at and domain and PLAIN_LOCAL_PART.match(local)) \
            or ENCODED_WORD_START in local:
        return None
    try:
        return Address(inert(name), local, domain.encode("idna").decode("ascii"))
    except (ValueError, UnicodeError):
        return None


# The email package folds a line longer than 78 characters, and a quoted name too long for a
# line of its own loses its quotes in the folding (a CPython bug): "Northside Device Repair &
# Recycling, Main Street Location" would come apart at its comma. A message naming such a
# sender keeps its header lines whole instead, as RFC 5322 allows (998 characters).
LONGEST_FOLDED_NAME = 70
HEADERS_UNFOLDED = SMTP.clone(max_line_length=998)


class EncodedMessage(Message):
    """A Flask-Mail message whose text and HTML parts are quoted-printable, and whose From
    and Reply-To carry the sender's name as typed."""

    def __init__(self, subject: str = "", recipients: list[str] | None = None, *, sender=None,
                 reply_to=None, **kwargs):
        if any(ENCODED_WORD_START in str(to) for to in recipients or ()):
            # Refused where addresses come in (cpp.email_address); one stored before that was
            # so fails here, and the receipt is recorded as not sent.
            raise ValueError("an address containing '=?' cannot be sent to")
        super().__init__(
            inert(subject), recipients, reply_to=one_address(reply_to), **kwargs,
            sender=one_address(sender or current_app.extensions["mail"].default_sender))
        # Flask-Mail names it after this machine ("<…@PIMS-01.shop.local>"), telling every
        # customer the server's internal name; mail programs use the sender's domain.
        self.msgId = make_msgid(domain=message_id_domain(self.sender))

    def _mimetext(self, text, subtype="plain"):
        charset = Charset("utf-8")
        charset.body_encoding = QP  # Flask-Mail sets UTF-8 bodies to go out raw; not here
        return MIMEText(text or "", _subtype=subtype, _charset=charset)

    def _message(self):
        message = super()._message()  # written under policy.SMTP from here on
        for header, value in (("From", self.sender), ("Reply-To", self.reply_to)):
            address = as_address(value)
            if address is None:
                continue
            message.replace_header(header, address)
            if address.display_name.isascii() and \
                    len(quote(address.display_name)) > LONGEST_FOLDED_NAME:
                message.policy = HEADERS_UNFOLDED
        return message


@contextmanager
def connected() -> Iterator[TimeoutConnection]:
    """A connection to the shop's mail server, logged in, for one send (or the staff health
    check's NOOP) that raises if not done within send_limit(). The deadline ends when the
    message's last byte is out: the server's answer to it is waited for (MAIL_TIMEOUT), never
    cut off (longest_send)."""
    connection = TimeoutConnection(current_app.extensions["mail"])
    deadline = WATCHDOG.watch(send_limit(), connection.interrupt)
    connection.message_written = lambda: WATCHDOG.end(deadline)
    try:
        with connection:
            yield connection
    except Exception as exc:
        if WATCHDOG.end(deadline):  # cut off: say so, not "connection unexpectedly closed"
            raise TimeoutError(f"mail server: not done within {send_limit()} s") from exc
        raise
    finally:
        WATCHDOG.end(deadline)


def send(message: Message) -> None:
    """Send one message; raises when the server (or the message) fails, or when the whole
    send takes longer than send_limit()."""
    with connected() as connection:
        connection.send(message)
