"""The Payments list's filters and search, as one SQL query over the ledger (newest first)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask import current_app

from ..payments.ledger import Payment, get_ledger

PAGE_SIZE = 25
LAST_PAGE = 100_000  # a page number beyond any ledger (and within the database's integers)
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

    def where(self, postgresql: bool = False) -> tuple[str, list]:
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
            # Names: LIKE ignores case for ASCII letters on SQLite (an accented letter must be
            # typed as it is); ILIKE ignores it for every letter on PostgreSQL.
            like = "ILIKE" if postgresql else "LIKE"
            clauses.append("(reference = ? OR customer_code = ? OR authorization_code = ?"  # noqa: S608
                           f" OR card_last4 = ? OR customer_name {like} ? ESCAPE '\\'"
                           " OR id IN (SELECT payment_id FROM payment_invoices"
                           " WHERE UPPER(invoice_number) = ?))")
            params.extend([term, term, self.search, last4(self.search),
                           "%" + like_escaped(self.search) + "%", term])
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# Dates outside these years are typing mistakes (and 9999-12-31 + 1 day does not exist).
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2200, 12, 31)


def read_date(value: str | None) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return min(max(day, EARLIEST), LATEST) if day else None


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
    ledger = get_ledger()
    where, params = filters.where(ledger.database.postgresql)
    with ledger.connect() as db:
        total = db.execute(f"SELECT COUNT(*) FROM payments{where}", params).fetchone()[0]  # noqa: S608
        sql = f"SELECT * FROM payments{where} ORDER BY id DESC"  # noqa: S608 - only ? bound values
        if page_size is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, page_size, (min(max(page, 1), LAST_PAGE) - 1) * page_size]
        return ledger.load_rows(db, db.execute(sql, params).fetchall()), total


def locations_in_ledger() -> list[str]:
    with get_ledger().connect() as db:
        rows = db.execute("SELECT DISTINCT location FROM payment_invoices"
                          " WHERE location IS NOT NULL ORDER BY location").fetchall()
    return [row[0] for row in rows]
