"""Demo customers and invoices for the sandbox PIMS. Every password is `demo`.

Dates are relative to the day the data is seeded, so one invoice is always overdue.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .pims_store import PimsStore

DEMO_PASSWORD = "demo"

DEMO_LOGINS = (
    ("M-1000", "7 unpaid invoices at two locations, one overdue"),
    ("M-1001", "2 unpaid invoices"),
    ("M-2000", "no unpaid invoices"),
    ("M-3000", "300 unpaid invoices"),
    ("M-4000", "a disabled account"),
)

# (number, location, days ago, due in days, SRO, description, total, balance or None)
M1000_INVOICES = (
    ("INV-10190", "MAIN", 80, -50, "SRO-58710", "iPhone 12 battery replacement", "89.00", "0"),
    ("INV-10231", "MAIN", 52, -22, "SRO-58812", "iPhone 14 Pro screen replacement", "289.99", None),
    ("INV-10244", "MAIN", 20, 10, "SRO-58840", "MacBook Air battery replacement", "199.00", None),
    ("INV-10252", "WEST", 15, 15, "SRO-58861", "iPad Pro logic board repair", "347.50", None),
    ("INV-10260", "WEST", 9, 21, "SRO-58890", "AppleCare+ service fee - iPhone 15", "99.00", None),
    ("INV-10266", "MAIN", 6, 24, "SRO-58902", "Data recovery, 256 GB SSD", "425.75", None),
    ("INV-10271", "WEST", 3, 27, None, "Apple Watch band and screen protector", "64.18", None),
    ("INV-10275", "MAIN", 1, 29, "SRO-58931", "Charging port repair (deposit paid)", "79.95", "39.95"),
)

M1001_INVOICES = (
    ("INV-20011", "WEST", 12, 18, "SRO-60012", "Pixel 8 screen replacement", "129.00", None),
    ("INV-20015", "WEST", 4, 26, None, "USB-C cables and case", "54.25", None),
)


def seed(store: PimsStore, today: dt.date | None = None) -> None:
    today = today or dt.date.today()
    with store.transaction() as db:
        store.add_customer(db, "M-1000", DEMO_PASSWORD, "Jordan Rivera",
                           "jordan.rivera@example.com", "MAIN")
        store.add_customer(db, "M-1001", DEMO_PASSWORD, "Alex Chen", "alex.chen@example.com", "WEST")
        store.add_customer(db, "M-2000", DEMO_PASSWORD, "Sam Okafor", "sam.okafor@example.com", "MAIN")
        store.add_customer(db, "M-3000", DEMO_PASSWORD, "Brightline Property Management",
                           "ap@brightline.example", "MAIN")
        store.add_customer(db, "M-4000", DEMO_PASSWORD, "Casey Morgan", "casey.morgan@example.com",
                           "MAIN", disabled=True)
        for customer, invoices in (("M-1000", M1000_INVOICES), ("M-1001", M1001_INVOICES)):
            for number, location, ago, due_in, sro, text, total, balance in invoices:
                date = today - dt.timedelta(days=ago)
                store.add_invoice(db, number, customer, date, today + dt.timedelta(days=due_in),
                                  location, sro, text, Decimal(total),
                                  None if balance is None else Decimal(balance))
        store.add_invoice(db, "INV-30001", "M-2000", today - dt.timedelta(days=40), None, "MAIN",
                          "SRO-57001", "iPhone SE battery replacement", Decimal("79.00"),
                          Decimal("0"))
        for i in range(300):
            # Deterministic spread of amounts from $12.34 to about $990, all with cents.
            cents = 1234 + (i * 7919) % 97_700
            store.add_invoice(
                db, f"INV-{40000 + i}", "M-3000", today - dt.timedelta(days=300 - i),
                today - dt.timedelta(days=270 - i), "MAIN" if i % 3 else "WEST",
                f"SRO-{70000 + i}", f"Unit {100 + i % 60} device repair",
                Decimal(cents) / 100,
            )
