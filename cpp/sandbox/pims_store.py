"""The sandbox PIMS's data: SQLite, so payments applied in the demo survive a restart."""
from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

from werkzeug.security import check_password_hash, generate_password_hash

from .. import sqlite
from ..money import from_cents, to_cents

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    code TEXT PRIMARY KEY, password_hash TEXT NOT NULL, name TEXT NOT NULL, email TEXT,
    location TEXT, disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS invoices (
    number TEXT PRIMARY KEY, customer_code TEXT NOT NULL REFERENCES customers(code),
    date TEXT NOT NULL, due_date TEXT, location TEXT NOT NULL, reference_number TEXT,
    description TEXT, total_cents INTEGER NOT NULL, balance_cents INTEGER NOT NULL
        CHECK (balance_cents >= 0)
);
CREATE INDEX IF NOT EXISTS invoices_by_customer ON invoices(customer_code, balance_cents);
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, reference TEXT NOT NULL UNIQUE,
    customer_code TEXT NOT NULL, amount_cents INTEGER NOT NULL, card_type TEXT, card_last4 TEXT,
    authorization_code TEXT, cayan_token TEXT, paid_at TEXT NOT NULL, recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS allocations (
    payment_id INTEGER NOT NULL REFERENCES payments(id), invoice_number TEXT NOT NULL,
    amount_cents INTEGER NOT NULL
);
"""

# The sandbox holds only demo passwords; a light hash keeps seeding and tests quick.
HASH_METHOD = "pbkdf2:sha256:20000"

# A fixed cost for a failed password check on an unknown account, so response time does not
# reveal whether an account exists.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=HASH_METHOD)


class PimsFault(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class PimsStore(sqlite.Store):
    schema = SCHEMA

    def is_empty(self) -> bool:
        with self.connect() as db:
            return db.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 0

    # -- data used by the seeders -------------------------------------------------------------
    def add_customer(self, db, code, password, name, email, location, disabled=False):
        db.execute(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
            (code, generate_password_hash(password, method=HASH_METHOD), name, email, location,
             int(disabled)),
        )

    def add_invoice(self, db, number, customer_code, date, due_date, location, reference,
                    description, total: Decimal, balance: Decimal | None = None):
        balance = total if balance is None else balance
        db.execute(
            "INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (number, customer_code, date.isoformat(), due_date.isoformat() if due_date else None,
             location, reference, description, to_cents(total), to_cents(balance)),
        )

    # -- the contract ---------------------------------------------------------------------------
    def authenticate(self, code: str, password: str) -> sqlite3.Row:
        with self.connect() as db:
            row = db.execute("SELECT * FROM customers WHERE code = ?", (code,)).fetchone()
        if row is None:
            check_password_hash(_DUMMY_HASH, password)
            raise PimsFault("InvalidCredentials", "The customer code or password is incorrect.")
        if not check_password_hash(row["password_hash"], password):
            raise PimsFault("InvalidCredentials", "The customer code or password is incorrect.")
        if row["disabled"]:
            raise PimsFault("AccountDisabled", "This customer account is disabled.")
        return row

    def customer(self, code: str) -> sqlite3.Row:
        """GetCustomer: no password; the web-services user's credentials authorise it."""
        with self.connect() as db:
            row = db.execute("SELECT * FROM customers WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise PimsFault("UnknownCustomer", "There is no customer with this code.")
        if row["disabled"]:
            raise PimsFault("AccountDisabled", "This customer account is disabled.")
        return row

    def open_invoices(self, customer_code: str) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute(
                "SELECT * FROM invoices WHERE customer_code = ? AND balance_cents > 0"
                " ORDER BY date, number",
                (customer_code,),
            ).fetchall()

    def apply_payment(self, reference, customer_code, allocations, card_type, card_last4,
                      authorization_code, cayan_token, paid_at: dt.datetime):
        """Returns (payment id, already applied). The same reference twice changes nothing."""
        with self.transaction() as db:
            existing = db.execute(
                "SELECT id, customer_code FROM payments WHERE reference = ?", (reference,)
            ).fetchone()
            if existing is not None:
                if existing["customer_code"] != customer_code:
                    raise PimsFault("DuplicateReference",
                                  "This payment reference belongs to another customer.")
                return payment_id(existing["id"]), True
            seen = set()
            for number, amount in allocations:
                if number in seen:
                    raise PimsFault("DuplicateAllocation", f"Invoice {number} is allocated twice.")
                seen.add(number)
                invoice = db.execute(
                    "SELECT customer_code, balance_cents FROM invoices WHERE number = ?",
                    (number,),
                ).fetchone()
                if invoice is None or invoice["customer_code"] != customer_code:
                    raise PimsFault("InvoiceNotFound",
                                  f"Invoice {number} does not exist for this customer.")
                if amount <= 0:
                    raise PimsFault("InvalidAmount", f"The amount for invoice {number} must be positive.")
                if to_cents(amount) > invoice["balance_cents"]:
                    raise PimsFault("AllocationExceedsBalance",
                                  f"The amount for invoice {number} is more than its balance due.")
            total = sum(to_cents(amount) for _, amount in allocations)
            cursor = db.execute(
                "INSERT INTO payments (reference, customer_code, amount_cents, card_type,"
                " card_last4, authorization_code, cayan_token, paid_at, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (reference, customer_code, total, card_type, card_last4, authorization_code,
                 cayan_token, paid_at.isoformat(),
                 dt.datetime.now(dt.UTC).isoformat()),
            )
            new_id = cursor.lastrowid
            for number, amount in allocations:
                db.execute("INSERT INTO allocations VALUES (?, ?, ?)",
                           (new_id, number, to_cents(amount)))
                db.execute("UPDATE invoices SET balance_cents = balance_cents - ? WHERE number = ?",
                           (to_cents(amount), number))
            return payment_id(new_id), False

    def get_payment(self, reference: str):
        with self.connect() as db:
            payment = db.execute("SELECT * FROM payments WHERE reference = ?",
                                 (reference,)).fetchone()
            if payment is None:
                return None, []
            allocations = db.execute(
                "SELECT invoice_number, amount_cents FROM allocations WHERE payment_id = ?",
                (payment["id"],),
            ).fetchall()
        return payment, allocations

    # -- for tests and the soak's invariants ---------------------------------------------------
    def all_payments(self) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute("SELECT * FROM payments ORDER BY id").fetchall()

    def balance(self, invoice_number: str) -> Decimal:
        with self.connect() as db:
            row = db.execute("SELECT balance_cents FROM invoices WHERE number = ?",
                             (invoice_number,)).fetchone()
        return from_cents(row["balance_cents"])


def payment_id(number: int) -> str:
    return f"PAY-{number:06d}"
