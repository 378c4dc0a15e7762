"""Flask-Mail with a timeout and encoded bodies.

* Flask-Mail's own SMTP connection waits forever on a dead mail server: ours has a timeout.
* Flask-Mail sends UTF-8 bodies unencoded, so a long line (an invoice description of a
  thousand characters) breaks SMTP's 998-character limit ("500 Line too long"). Bodies here go
  out quoted-printable: no line over 76 characters, whatever the text.
"""
from __future__ import annotations

import smtplib
import ssl
from email.charset import QP, Charset
from email.mime.text import MIMEText

from flask import current_app
from flask_mail import Connection, Message


class TimeoutConnection(Connection):
    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT"]
        # The server's certificate is checked (smtplib's own default does not): receipts carry
        # customers' names and amounts, and the login the mail password.
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout,
                                    context=ssl.create_default_context())
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls(context=ssl.create_default_context())
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class EncodedMessage(Message):
    """A Flask-Mail message whose text and HTML parts are quoted-printable."""

    def _mimetext(self, text, subtype="plain"):
        charset = Charset("utf-8")
        charset.body_encoding = QP  # Flask-Mail sets UTF-8 bodies to go out raw; not here
        return MIMEText(text or "", _subtype=subtype, _charset=charset)


def send(message: Message) -> None:
    """Send one message; raises when the server (or the message) fails."""
    state = current_app.extensions["mail"]
    with TimeoutConnection(state) as connection:
        connection.send(message)
