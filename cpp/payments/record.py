"""The only code that writes a payment: each change a compare-and-set in one write transaction,
recorded in payment_events with who did it and why. Exactly as safe on PostgreSQL as on SQLite:
the row read before a change is locked (FOR UPDATE), and creating a payment, which checks that
no other holds its invoices, runs one at a time (an advisory lock).

What may change into what is declared in cpp.payments.states; this module enforces it.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import has_request_context, request

from .ledger import Ledger, Payment, utcnow
from .retry import next_attempt
from .states import (
    ALLOWED,
    HOLDS_INVOICES,
    NEW,
    POSTED,
    RECEIPT_ALLOWED,
    RECEIPT_SENDING,
    UPDATABLE,
)

log = logging.getLogger("cpp.audit")


# PostgreSQL advisory lock id for creating payments (any constant; "CPP" in ASCII).
CREATE_PAYMENT_LOCK = 0x435050


class IllegalTransition(RuntimeError):
    """A change the state machine does not allow: a bug, never a customer's doing."""


def actor() -> str:
    if has_request_context():
        return f"web {request.method} {request.path} from {request.remote_addr}"
    return "job"


def transition(ledger: Ledger, payment_id: int, expected: str | tuple[str, ...], to: str,
               reason: str, who: str | None = None, **fields) -> bool:
    """Move from one of `expected` to `to`. Returns False if another request got there first."""
    expected = (expected,) if isinstance(expected, str) else expected
    for state in expected:
        if to not in ALLOWED.get(state, ()):
            raise IllegalTransition(f"{state} -> {to} is not allowed")
    with ledger.transaction() as db:
        row = db.row_to_change("SELECT state FROM payments WHERE id = ?", (payment_id,))
        if row is None or row["state"] not in expected:
            return False
        _update(db, payment_id, {"state": to, **fields})
        _event(db, payment_id, row["state"], to, reason, who or actor())
    log.info("payment %s: %s -> %s (%s)", payment_id, row["state"], to, reason)
    return True


def note(ledger: Ledger, payment_id: int, reason: str, who: str | None = None,
         only_in: tuple[str, ...] | None = None, **fields) -> bool:
    """Record something that is not a state change (a retry scheduled, a lookup that failed)."""
    if "receipt_status" in fields:
        raise IllegalTransition("a receipt's status changes only through claim_receipt and "
                                "receipt_outcome")
    with ledger.transaction() as db:
        row = db.row_to_change("SELECT state FROM payments WHERE id = ?", (payment_id,))
        if row is None or (only_in is not None and row["state"] not in only_in):
            return False
        if fields:
            _update(db, payment_id, fields)
        _event(db, payment_id, row["state"], row["state"], reason, who or actor())
    return True


def create(ledger: Ledger, reason: str, **payment) -> tuple[str | None, list[Payment]]:
    """Write a new payment in state NEW, unless another payment holds one of its invoices.

    The check and the insert share one write transaction, so two tabs (or a double click)
    cannot both get through. Returns (reference, []) or (None, the payments in the way).
    """
    numbers = [invoice.number for invoice in payment["invoices"]]
    with ledger.transaction() as db:
        db.serialize(CREATE_PAYMENT_LOCK)  # no row to lock yet: one creation at a time
        holders = ledger.find(states=HOLDS_INVOICES, invoice_numbers=numbers, db=db)
        if holders:
            return None, holders
        payment_id, reference, _ = ledger.create(db, state=NEW, **payment)
        _event(db, payment_id, None, NEW, reason, actor())
    log.info("payment %s (%s) created: %s", payment_id, reference, reason)
    return reference, []


def take_lease(ledger: Ledger, payment_id: int, state: str, seconds: float) -> bool:
    """The right to act on a payment in `state` for a while (resolve it by hand; see
    take_lease_to_try for posting and voiding).

    Two requests that both find a payment approved must not both post it: the one that gets
    the lease does, the other waits for the outcome. A crashed holder's lease simply runs out.

    Not waiting for the disk (durable=False): the lease keeps live processes apart, and they
    all see it at once. A power cut loses a lease nobody acted on: whoever calls out writes
    its attempt, and so the lease, durably first (take_lease_to_try).
    """
    with ledger.transaction(durable=False) as db:
        return _lease(db, payment_id, state, seconds)


def take_lease_to_try(ledger: Ledger, payment_id: int, state: str, seconds: float,
                      what: str) -> int | None:
    """The lease (take_lease) and the attempt it is taken for (attempts, the next try's time,
    an event), written down in one durable transaction before the call goes out. Returns the
    attempt's number, counted from the row as it is now: another process may have tried since
    the caller read it, and a second attempt must know it is one (cpp.payments.posting asks
    PIMS whether the first landed). None if someone else holds the lease, or the payment has
    left `state`."""
    with ledger.transaction() as db:
        if not _lease(db, payment_id, state, seconds):
            return None
        attempt = db.execute("SELECT attempts FROM payments WHERE id = ?",
                             (payment_id,)).fetchone()["attempts"] + 1
        _update(db, payment_id, {"attempts": attempt, "next_attempt_at": next_attempt(attempt)})
        _event(db, payment_id, state, state, f"attempt {attempt}: {what}", actor())
    return attempt


def _lease(db, payment_id: int, state: str, seconds: float) -> bool:
    now = db.clock()  # PostgreSQL's own: machines whose clocks differ share the lease
    return db.execute(
        "UPDATE payments SET lease_until = ? WHERE id = ? AND state = ?"
        " AND (lease_until IS NULL OR lease_until < ?)",
        ((now + dt.timedelta(seconds=seconds)).isoformat(), payment_id, state, now.isoformat()),
    ).rowcount == 1


def release_lease(ledger: Ledger, payment_id: int) -> None:
    # Lost to a power cut, the lease just runs out (take_lease's `seconds`).
    with ledger.transaction(durable=False) as db:
        db.execute("UPDATE payments SET lease_until = NULL WHERE id = ?", (payment_id,))


def claim_receipt(ledger: Ledger, payment_id: int, expected: tuple[str, ...],
                  at: str | None = None, seen_at: str | None = None) -> bool:
    """Take the right to send a payment's receipt, so two requests never both send it. `at`
    (the claim's time, which becomes updated_at) lets a later sender prove the claim is still
    the one it was given (take_claimed_receipt). `seen_at`: a receipt left 'sending' is taken
    over only if untouched since (its updated_at then), not if its sender has just taken it
    up (take_claimed_receipt restarts its clock).

    Not waiting for the disk (durable=False): the claim keeps live senders apart, and they
    all see it at once. Lost to a power cut (or, on PostgreSQL, a crash of its server), the
    receipt is back to unsent and reconcile sends it; what sending it came to
    (receipt_outcome) is written durably, and with it every write before."""
    for status in expected:
        if RECEIPT_SENDING not in RECEIPT_ALLOWED.get(status, ()):
            raise IllegalTransition(f"receipt {status} -> {RECEIPT_SENDING} is not allowed")
    marks = ",".join("?" * len(expected))
    sql = (f"UPDATE payments SET receipt_status = ?, updated_at = ?"  # noqa: S608
           f" WHERE id = ? AND receipt_status IN ({marks}) AND state = ?")
    params = [RECEIPT_SENDING, at or utcnow().isoformat(), payment_id, *expected, POSTED]
    if seen_at is not None:
        sql += " AND (receipt_status <> ? OR updated_at = ?)"
        params += [RECEIPT_SENDING, seen_at]
    with ledger.transaction(durable=False) as db:
        claimed = db.execute(sql, tuple(params)).rowcount == 1
        if claimed:
            _event(db, payment_id, POSTED, POSTED, "sending the receipt", actor())
    return claimed


def take_claimed_receipt(ledger: Ledger, payment_id: int, claimed_at: str) -> bool:
    """The background sender's turn (cpp.payments.receipt_sender): True if the receipt is still
    under the claim made at `claimed_at`, not taken over meanwhile by a forced reconcile. Its
    clock restarts now, so a queue that waited on a slow mail server is not mistaken for a
    sender that died (reconcile.STUCK_SENDING). Not waiting for the disk, as claim_receipt."""
    with ledger.transaction(durable=False) as db:
        return db.execute(
            "UPDATE payments SET updated_at = ? WHERE id = ? AND receipt_status = ?"
            " AND updated_at = ?",
            (utcnow().isoformat(), payment_id, RECEIPT_SENDING, claimed_at)).rowcount == 1


def receipt_outcome(ledger: Ledger, payment_id: int, to: str, reason: str,
                    who: str | None = None, **fields) -> bool:
    """Record how sending a claimed receipt ended. False if it was not being sent."""
    if to not in RECEIPT_ALLOWED[RECEIPT_SENDING]:
        raise IllegalTransition(f"receipt {RECEIPT_SENDING} -> {to} is not allowed")
    with ledger.transaction() as db:
        row = db.row_to_change("SELECT state, receipt_status FROM payments WHERE id = ?",
                               (payment_id,))
        if row is None or row["receipt_status"] != RECEIPT_SENDING:
            return False
        _update(db, payment_id, {"receipt_status": to, **fields})
        _event(db, payment_id, row["state"], row["state"], reason, who or actor())
    return True


def _update(db, payment_id: int, fields: dict) -> None:
    unknown = set(fields) - UPDATABLE - {"state"}
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    fields = {**fields, "updated_at": utcnow().isoformat()}
    assignments = ", ".join(f"{name} = ?" for name in fields)
    db.execute(f"UPDATE payments SET {assignments} WHERE id = ?",  # noqa: S608 - names whitelisted
               (*fields.values(), payment_id))


def _event(db, payment_id: int, from_state: str | None, to_state: str, reason: str,
           who: str) -> None:
    db.execute(
        "INSERT INTO payment_events (payment_id, at, from_state, to_state, reason, actor)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (payment_id, utcnow().isoformat(), from_state, to_state, reason[:500], who[:200]),
    )
