"""The portal's own record of every payment: SQLite, written before anything leaves the portal.

Money is stored as integer cents. State changes go through cpp.payments.states only.
"""
from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app

from .. import sqlite
from ..money import from_cents, to_cents

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL UNIQUE,
    customer_code TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    customer_email TEXT,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    state TEXT NOT NULL,
    transport_key TEXT UNIQUE,
    validation_key TEXT,
    cayan_token TEXT,
    authorization_code TEXT,
    card_type TEXT,
    card_last4 TEXT,
    approved_cents INTEGER,
    pims_payment_id TEXT,
    failure_reason TEXT,
    receipt_status TEXT NOT NULL DEFAULT 'none',
    receipt_attempts INTEGER NOT NULL DEFAULT 0,
    receipt_next_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    approved_at TEXT,
    posted_at TEXT
);
CREATE INDEX IF NOT EXISTS payments_by_customer ON payments(customer_code, state);
CREATE INDEX IF NOT EXISTS payments_by_state ON payments(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS payment_invoices (
    payment_id INTEGER NOT NULL REFERENCES payments(id),
    invoice_number TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    location TEXT,
    description TEXT,
    invoice_date TEXT,
    PRIMARY KEY (payment_id, invoice_number)
);
CREATE INDEX IF NOT EXISTS payment_invoices_by_number ON payment_invoices(invoice_number);
CREATE TABLE IF NOT EXISTS payment_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id INTEGER NOT NULL REFERENCES payments(id),
    at TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL
);
"""

# Cayan's OrderNumber: at most 8 characters, letters and digits. No 0/O or 1/I to misread.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8


@dataclass(frozen=True)
class PaymentInvoice:
    number: str
    amount: Decimal
    location: str | None
    description: str | None
    date: dt.date | None


@dataclass(frozen=True)
class Payment:
    id: int
    reference: str
    transaction_id: str
    customer_code: str
    customer_name: str
    customer_email: str | None
    amount: Decimal
    state: str
    transport_key: str | None
    validation_key: str | None
    cayan_token: str | None
    authorization_code: str | None
    card_type: str | None
    card_last4: str | None
    approved_amount: Decimal | None
    pims_payment_id: str | None
    failure_reason: str | None
    receipt_status: str
    receipt_attempts: int
    receipt_next_at: dt.datetime | None
    attempts: int
    next_attempt_at: dt.datetime | None
    lease_until: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    approved_at: dt.datetime | None
    posted_at: dt.datetime | None
    invoices: tuple[PaymentInvoice, ...]

    @property
    def invoice_numbers(self) -> list[str]:
        return [invoice.number for invoice in self.invoices]

    def due(self, now: dt.datetime) -> bool:
        """Whether a retry (of posting or voiding) may run now."""
        return self.next_attempt_at is None or self.next_attempt_at <= now


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_transaction_id() -> str:
    return "CPP" + secrets.token_hex(8).upper()


class Ledger(sqlite.Store):
    schema = SCHEMA

    def create(self, db, *, customer_code: str, customer_name: str, customer_email: str | None,
               invoices: list[PaymentInvoice], state: str) -> tuple[int, str, str]:
        """Insert a payment in `state`; returns (id, reference, transaction id)."""
        now = utcnow().isoformat()
        amount = sum(to_cents(invoice.amount) for invoice in invoices)
        for _ in range(10):
            reference, transaction_id = new_reference(), new_transaction_id()
            try:
                cursor = db.execute(
                    "INSERT INTO payments (reference, transaction_id, customer_code, customer_name,"
                    " customer_email, amount_cents, state, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (reference, transaction_id, customer_code, customer_name, customer_email,
                     amount, state, now, now),
                )
                break
            except sqlite3.IntegrityError:
                continue  # a reference collision: 32^8 makes this vanishingly rare
        else:
            raise RuntimeError("could not allocate a unique payment reference")
        payment_id = cursor.lastrowid
        db.executemany(
            "INSERT INTO payment_invoices VALUES (?, ?, ?, ?, ?, ?)",
            [(payment_id, i.number, to_cents(i.amount), i.location, i.description,
              i.date.isoformat() if i.date else None) for i in invoices],
        )
        return payment_id, reference, transaction_id

    def get(self, reference: str) -> Payment | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM payments WHERE reference = ?", (reference,)).fetchone()
            return self._load(db, row) if row else None

    def find(self, *, states: tuple[str, ...] | None = None, customer_code: str | None = None,
             invoice_numbers: list[str] | None = None,
             receipt_statuses: tuple[str, ...] | None = None,
             created_since: dt.datetime | None = None, limit: int = 100,
             db=None) -> list[Payment]:
        clauses, params = [], []
        if created_since is not None:
            clauses.append("created_at >= ?")
            params.append(created_since.isoformat())
        if states:
            clauses.append(f"state IN ({','.join('?' * len(states))})")
            params.extend(states)
        if receipt_statuses:
            clauses.append(f"receipt_status IN ({','.join('?' * len(receipt_statuses))})")
            params.extend(receipt_statuses)
        if customer_code:
            clauses.append("customer_code = ?")
            params.append(customer_code)
        if invoice_numbers:
            marks = ",".join("?" * len(invoice_numbers))
            subquery = f"SELECT payment_id FROM payment_invoices WHERE invoice_number IN ({marks})"  # noqa: S608
            clauses.append(f"id IN ({subquery})")
            params.extend(invoice_numbers)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        # Only "?" placeholders and fixed column names are formatted in; values are bound.
        sql = f"SELECT * FROM payments {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
        if db is not None:
            return [self._load(db, row) for row in db.execute(sql, (*params, limit)).fetchall()]
        with self.connect() as conn:
            return [self._load(conn, row) for row in conn.execute(sql, (*params, limit)).fetchall()]

    def count_by_state(self) -> dict[str, int]:
        with self.connect() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM payments GROUP BY state").fetchall())

    def events(self, payment_id: int) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute("SELECT * FROM payment_events WHERE payment_id = ? ORDER BY id",
                              (payment_id,)).fetchall()

    @staticmethod
    def _load(db, row: sqlite3.Row) -> Payment:
        invoices = tuple(
            PaymentInvoice(r["invoice_number"], from_cents(r["amount_cents"]), r["location"],
                           r["description"],
                           dt.date.fromisoformat(r["invoice_date"]) if r["invoice_date"] else None)
            for r in db.execute("SELECT * FROM payment_invoices WHERE payment_id = ?"
                                " ORDER BY invoice_number", (row["id"],))
        )
        return Payment(
            id=row["id"], reference=row["reference"], transaction_id=row["transaction_id"],
            customer_code=row["customer_code"], customer_name=row["customer_name"],
            customer_email=row["customer_email"], amount=from_cents(row["amount_cents"]),
            state=row["state"], transport_key=row["transport_key"],
            validation_key=row["validation_key"], cayan_token=row["cayan_token"],
            authorization_code=row["authorization_code"], card_type=row["card_type"],
            card_last4=row["card_last4"],
            approved_amount=from_cents(row["approved_cents"])
            if row["approved_cents"] is not None else None,
            pims_payment_id=row["pims_payment_id"], failure_reason=row["failure_reason"],
            receipt_status=row["receipt_status"], receipt_attempts=row["receipt_attempts"],
            receipt_next_at=parse_time(row["receipt_next_at"]), attempts=row["attempts"],
            next_attempt_at=parse_time(row["next_attempt_at"]),
            lease_until=parse_time(row["lease_until"]),
            created_at=parse_time(row["created_at"]), updated_at=parse_time(row["updated_at"]),
            approved_at=parse_time(row["approved_at"]), posted_at=parse_time(row["posted_at"]),
            invoices=invoices,
        )


def init_app(app) -> None:
    app.extensions["ledger"] = Ledger(app.config["DATABASE"], app.config["DATABASE_TIMEOUT"])


def get_ledger() -> Ledger:
    return current_app.extensions["ledger"]
