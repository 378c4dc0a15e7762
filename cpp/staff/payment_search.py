"""The Payments list's filters and search, as one SQL query over the ledger (newest first)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask import current_app

from ..payments.ledger import Payment, get_ledger

PAGE_SIZE = 25
SEARCH_MAX = 60


@dataclass(frozen=True)
class PaymentFilter:
    state: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    location: str = ""
    customer: str = ""
    search: str = ""

    @classmethod
    def from_args(cls, args) -> PaymentFilter:
        return cls(state=args.get("state", "")[:30], since=read_date(args.get("since")),
                   until=read_date(args.get("until")), location=args.get("location", "")[:40],
                   customer=args.get("customer", "").strip().upper()[:40],
                   search=" ".join(args.get("q", "").split())[:SEARCH_MAX])

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for page links and the CSV export)."""
        values = {"state": self.state, "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else "",
                  "location": self.location, "customer": self.customer, "q": self.search}
        return {key: value for key, value in values.items() if value}

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        if self.state:
            clauses.append("state = ?")
            params.append(self.state)
        if self.since:
            clauses.append("created_at >= ?")
            params.append(start_of_day_utc(self.since))
        if self.until:
            clauses.append("created_at < ?")
            params.append(start_of_day_utc(self.until + dt.timedelta(days=1)))
        if self.location:
            clauses.append("id IN (SELECT payment_id FROM payment_invoices WHERE location = ?)")
            params.append(self.location)
        if self.customer:
            clauses.append("customer_code = ?")
            params.append(self.customer)
        if self.search:
            term = self.search.upper()
            clauses.append("(reference = ? OR customer_code = ? OR authorization_code = ?"
                           " OR card_last4 = ? OR UPPER(customer_name) LIKE ? ESCAPE '\\'"
                           " OR id IN (SELECT payment_id FROM payment_invoices"
                           " WHERE UPPER(invoice_number) = ?))")
            params.extend([term, term, self.search, last4(self.search),
                           "%" + like_escaped(term) + "%", term])
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def read_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def start_of_day_utc(day: dt.date) -> str:
    """Midnight of `day` in the shop's TIMEZONE, as the ledger's UTC text."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC).isoformat()


def last4(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return digits[-4:] if len(digits) == 4 else "-"


def like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(filters: PaymentFilter, page: int = 1,
           page_size: int | None = PAGE_SIZE) -> tuple[list[Payment], int]:
    """One page of matching payments, newest first, and how many match in all."""
    where, params = filters.where()
    ledger = get_ledger()
    with ledger.connect() as db:
        total = db.execute(f"SELECT COUNT(*) FROM payments{where}", params).fetchone()[0]  # noqa: S608
        sql = f"SELECT * FROM payments{where} ORDER BY id DESC"  # noqa: S608 - only ? bound values
        if page_size is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, page_size, (max(page, 1) - 1) * page_size]
        return ledger.load_rows(db, db.execute(sql, params).fetchall()), total


def locations_in_ledger() -> list[str]:
    with get_ledger().connect() as db:
        rows = db.execute("SELECT DISTINCT location FROM payment_invoices"
                          " WHERE location IS NOT NULL ORDER BY location").fetchall()
    return [row[0] for row in rows]
