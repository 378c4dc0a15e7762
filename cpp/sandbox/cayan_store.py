"""The sandbox Cayan's records: staged transports and the transactions made on its card page.

Only the last four digits of a card are ever kept.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from decimal import Decimal

from .. import sqlite
from ..cayan.models import SALE, VOID  # MerchantWare's TransactionType numbers
from ..money import from_cents, to_cents

SCHEMA = """
CREATE TABLE IF NOT EXISTS transports (
    transport_key TEXT PRIMARY KEY, validation_key TEXT NOT NULL, amount_cents INTEGER NOT NULL,
    order_number TEXT, transaction_id TEXT, redirect_location TEXT, customer_code TEXT, dba TEXT,
    created_at TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS transactions (
    token INTEGER PRIMARY KEY AUTOINCREMENT, transport_key TEXT, merchant_transaction_id TEXT,
    transaction_type INTEGER NOT NULL, amount_cents INTEGER NOT NULL, approval_status TEXT NOT NULL,
    authorization_code TEXT, card_type INTEGER NOT NULL, card_last4 TEXT, cardholder TEXT,
    error_message TEXT, order_number TEXT, created_at TEXT NOT NULL, voided INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS transactions_by_id ON transactions(merchant_transaction_id);
"""


class CayanStore(sqlite.Store):
    schema = SCHEMA

    def __init__(self, path: str):
        super().__init__(path)
        with self.connect() as db:
            # Tokens look like Cayan's six-digit ones.
            db.execute("INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('transactions', 600000)")

    def stage(self, amount: Decimal, order_number, transaction_id, redirect_location,
              customer_code, dba) -> tuple[str, str]:
        transport_key, validation_key = str(uuid.uuid4()), str(uuid.uuid4())
        with self.connect() as db:
            db.execute(
                "INSERT INTO transports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (transport_key, validation_key, to_cents(amount), order_number, transaction_id,
                 redirect_location, customer_code, dba, now()),
            )
        return transport_key, validation_key

    def transport(self, transport_key: str):
        with self.connect() as db:
            return db.execute("SELECT * FROM transports WHERE transport_key = ?",
                              (transport_key,)).fetchone()

    def use_transport(self, transport_key: str) -> bool:
        """A transport key pays once; the second use is refused."""
        with self.connect() as db:
            return db.execute("UPDATE transports SET used = 1 WHERE transport_key = ? AND used = 0",
                              (transport_key,)).rowcount == 1

    def record(self, transport, transaction_type: int, amount: Decimal, status: str,
               authorization_code: str | None, card_type: int, card_last4: str | None,
               cardholder: str | None, error_message: str | None) -> str:
        with self.connect() as db:
            cursor = db.execute(
                "INSERT INTO transactions (transport_key, merchant_transaction_id, transaction_type,"
                " amount_cents, approval_status, authorization_code, card_type, card_last4,"
                " cardholder, error_message, order_number, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (transport["transport_key"], transport["transaction_id"], transaction_type,
                 to_cents(amount), status, authorization_code, card_type, card_last4, cardholder,
                 error_message, transport["order_number"], now()),
            )
            return str(cursor.lastrowid)

    def by_transaction_id(self, transaction_id: str) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute("SELECT * FROM transactions WHERE merchant_transaction_id = ?"
                              " ORDER BY token", (transaction_id,)).fetchall()

    def by_token(self, token: str) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute("SELECT * FROM transactions WHERE token = ?", (token,)).fetchall()

    def void(self, token: str):
        """Void an approved, unvoided sale. Returns the void's own row, or None if refused."""
        with self.transaction() as db:
            sale = db.execute("SELECT * FROM transactions WHERE token = ? AND transaction_type = ?",
                              (token, SALE)).fetchone()
            if sale is None or sale["voided"] or not sale["approval_status"].startswith("APPROVED"):
                return None
            db.execute("UPDATE transactions SET voided = 1 WHERE token = ?", (token,))
            cursor = db.execute(
                "INSERT INTO transactions (transport_key, merchant_transaction_id, transaction_type,"
                " amount_cents, approval_status, authorization_code, card_type, card_last4,"
                " cardholder, error_message, order_number, created_at)"
                " VALUES (?, ?, ?, ?, 'APPROVED', 'VOID', ?, ?, ?, NULL, ?, ?)",
                (sale["transport_key"], sale["merchant_transaction_id"], VOID, sale["amount_cents"],
                 sale["card_type"], sale["card_last4"], sale["cardholder"], sale["order_number"],
                 now()),
            )
            return {"token": str(cursor.lastrowid), "amount": from_cents(sale["amount_cents"]),
                    "card_last4": sale["card_last4"], "card_type": sale["card_type"]}

    def all_transactions(self) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute("SELECT * FROM transactions ORDER BY token").fetchall()


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
