"""The portal's own record of every payment, written before anything leaves the portal: the
`payments`, `payment_invoices` and `payment_events` tables (cpp/migrations/), in SQLite or
PostgreSQL (cpp.database).

Money is stored as integer cents. Changes go through cpp.payments.record only.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app, request
from flask_babel import gettext as _

from .. import migrate
from ..database import Connection, Database, IntegrityError, Row
from ..errors import render_error
from ..money import from_cents, to_cents

# Cayan's OrderNumber: at most 8 characters, letters and digits. No 0/O or 1/I to misread.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8


@dataclass(frozen=True)
class PaymentInvoice:
    number: str
    amount: Decimal  # what this payment pays on it
    location: str | None
    description: str | None
    date: dt.date | None
    balance: Decimal | None = None  # its balance due before this payment (None: not kept)

    @property
    def remaining(self) -> Decimal | None:
        """What is left to pay on it after this payment, when that is something."""
        if self.balance is None or self.amount >= self.balance:
            return None
        return self.balance - self.amount


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
    language: str | None = None  # the customer's language when paying ("en", "es")

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


class Ledger:
    def __init__(self, database: Database):
        self.database = database

    def connect(self):
        return self.database.connect()

    def transaction(self, durable: bool = True):
        return self.database.transaction(durable)

    def create(self, db: Connection, *, customer_code: str, customer_name: str,
               customer_email: str | None, invoices: list[PaymentInvoice],
               state: str, language: str | None = None) -> tuple[int, str, str]:
        """Insert a payment in `state`; returns (id, reference, transaction id)."""
        now = utcnow().isoformat()
        amount = sum(to_cents(invoice.amount) for invoice in invoices)
        if amount <= 0 or any(invoice.amount <= 0 for invoice in invoices):
            # The table refuses it too, but as an IntegrityError, which the loop below would
            # take for a reference collision.
            raise ValueError("a payment must pay something on every invoice")
        for _attempt in range(10):
            reference, transaction_id = new_reference(), new_transaction_id()
            try:
                with db.savepoint():
                    payment_id = db.execute(
                        "INSERT INTO payments (reference, transaction_id, customer_code,"
                        " customer_name, customer_email, amount_cents, state, created_at,"
                        " updated_at, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " RETURNING id",
                        (reference, transaction_id, customer_code, customer_name, customer_email,
                         amount, state, now, now, language),
                    ).fetchone()[0]
                break
            except IntegrityError:
                continue  # a reference collision: 32^8 makes this vanishingly rare
        else:
            raise RuntimeError("could not allocate a unique payment reference")
        db.executemany(
            "INSERT INTO payment_invoices (payment_id, invoice_number, amount_cents, location,"
            " description, invoice_date, balance_cents) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(payment_id, i.number, to_cents(i.amount), i.location, i.description,
              i.date.isoformat() if i.date else None,
              to_cents(i.balance) if i.balance is not None else None) for i in invoices],
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

    def events(self, payment_id: int) -> list[Row]:
        with self.connect() as db:
            return db.execute("SELECT * FROM payment_events WHERE payment_id = ? ORDER BY id",
                              (payment_id,)).fetchall()

    def load_rows(self, db, rows: list[Row]) -> list[Payment]:
        """Payments from rows of `SELECT * FROM payments` read on connection `db`."""
        return [self._load(db, row) for row in rows]

    @staticmethod
    def _load(db, row: Row) -> Payment:
        invoices = tuple(
            PaymentInvoice(r["invoice_number"], from_cents(r["amount_cents"]), r["location"],
                           r["description"],
                           dt.date.fromisoformat(r["invoice_date"]) if r["invoice_date"] else None,
                           from_cents(r["balance_cents"]) if r["balance_cents"] is not None
                           else None)
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
            invoices=invoices, language=row["language"],
        )


def init_app(app) -> None:
    """One database per app, shared by the ledger and cpp.shared_state, its schema brought up
    to date (SQLite) or checked (PostgreSQL: `flask --app app cpp db upgrade`)."""
    setting = app.config["DATABASE"]
    if "://" not in setting and not os.path.isdir(os.path.dirname(os.path.abspath(setting))):
        from ..config import ConfigError

        raise ConfigError(f"DATABASE is in a folder that does not exist: {setting}. Create "
                          "the folder, or leave DATABASE unset for instance/cpp.sqlite3.")
    database = Database(setting, app.config["DATABASE_TIMEOUT"])
    app.extensions["database"] = database
    app.extensions["ledger"] = Ledger(database)
    if not database.postgresql:
        if migrate.current(database) != migrate.head():
            migrate.upgrade(database)
    elif migrate.current(database) != migrate.head():
        app.extensions["database_behind"] = True
        app.logger.error(DATABASE_BEHIND)

        @app.before_request
        def database_behind():
            # Nothing can be recorded safely until the schema is right: say so, charge nothing.
            if app.extensions.get("database_behind") and not request.path.startswith("/static/"):
                return render_error(503, _("The payment page is being updated"),
                                    _("Please try again in a few minutes. Nothing has been "
                                      "charged."))
            return None


DATABASE_BEHIND = ("The PostgreSQL database is not up to date: run `flask --app app cpp db "
                   "upgrade` once, then restart the portal.")


def get_ledger() -> Ledger:
    return current_app.extensions["ledger"]
