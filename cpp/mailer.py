"""Flask-Mail with a timeout: its own SMTP connection waits forever on a dead mail server."""
from __future__ import annotations

import smtplib

from flask import current_app
from flask_mail import Connection, Message


class TimeoutConnection(Connection):
    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT"]
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def send(message: Message) -> None:
    """Send one message; raises smtplib.SMTPException or OSError when the server fails."""
    state = current_app.extensions["mail"]
    with TimeoutConnection(state) as connection:
        connection.send(message)

