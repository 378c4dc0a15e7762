"""The demo's mailbox: a real SMTP server (aiosmtpd) that keeps every message, and a page to read them.

Tests use the same SMTP handler, so receipts travel over real SMTP there too.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import socket
import sqlite3
from contextlib import closing

from aiosmtpd.controller import Controller
from flask import Blueprint, current_app, render_template

from .. import sqlite
from .faults import FaultInjector

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, mail_from TEXT,
    rcpt_to TEXT, sender TEXT, reply_to TEXT, subject TEXT, text TEXT, html TEXT
);
"""

bp = Blueprint("sandbox_mail", __name__)


class MailboxStore(sqlite.Store):
    schema = SCHEMA

    def add(self, mail_from: str, rcpt_to: list[str], raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        with self.connect() as db:
            db.execute(
                "INSERT INTO messages (received_at, mail_from, rcpt_to, sender, reply_to, subject,"
                " text, html) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (dt.datetime.now(dt.UTC).isoformat(), mail_from, ", ".join(rcpt_to),
                 str(message.get("From", "")), str(message.get("Reply-To", "")),
                 str(message.get("Subject", "")),
                 text_part.get_content() if text_part else "",
                 html_part.get_content() if html_part else ""),
            )

    def messages(self) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute("SELECT * FROM messages ORDER BY id DESC").fetchall()


class MailboxHandler:
    """aiosmtpd handler: every message accepted goes into the store.

    Tests can make it fail like a real mail server (see sandbox.faults, service "smtp",
    operation "DATA"; "MAIL", "RCPT" and "QUIT" only "slow"): refuse the message ("fault":
    451), stall past the sender's timeout ("hang"), or cut the connection ("drop"); with
    when="after" the message is kept first.
    "slow" takes `seconds` and then accepts the message, as a hosted mail service can.
    """

    def __init__(self, store: MailboxStore, faults: FaultInjector):
        self.store = store
        self.faults = faults

    # "slow" also answers MAIL, RCPT and QUIT late (each within the sender's timeout, a whole
    # send well beyond it), as a loaded mail server may.
    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        await self.answer_late("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        await self.answer_late("RCPT")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        await self.answer_late("QUIT")
        return "221 Bye"

    async def answer_late(self, operation: str) -> None:
        fault = self.faults.take("smtp", operation)
        if fault is not None and fault.mode == "slow":
            await asyncio.sleep(fault.seconds)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        fault = self.faults.take("smtp", "DATA")
        if fault is not None and fault.mode == "slow":
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault is None or fault.when == "after":
            self.store.add(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        if fault is None:
            return "250 Message accepted for delivery"
        if fault.mode == "hang":
            await asyncio.sleep(fault.seconds)
        elif fault.mode == "drop":
            server.transport.close()
        return "451 Requested action aborted: try again later"


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_smtp(store: MailboxStore, faults: FaultInjector, port: int | None = None) -> Controller:
    controller = Controller(MailboxHandler(store, faults), hostname="127.0.0.1",
                            port=port or free_port())
    controller.start()
    return controller


@bp.get("/sandbox/mail")
def mailbox():
    return render_template("sandbox/mailbox.html",
                           messages=current_app.extensions["sandbox_mailbox"].messages())
