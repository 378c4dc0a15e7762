"""Sessions, login counters and job locks in the portal's database (the ledger's SQLite file, or
PostgreSQL): shared by every process that uses the same database. Tables: cpp/migrations/."""
from __future__ import annotations

import time

from ..database import Database

# Expired rows are swept at most this often (seconds), by whichever request comes along.
SWEEP_EVERY = 300


class DatabaseSharedState:
    """Sessions and login counters are written without waiting for the disk (a power cut may
    lose those written since the last durable commit: a customer logs in again, an attacker
    gets back the guesses counted since); ending a session (logout, a new id at login) and
    job locks wait for it, as the ledger does (docs/deploy.md)."""

    def __init__(self, database: Database):
        self.database = database
        self.connect, self.transaction = database.connect, database.transaction
        self._swept_at = 0.0

    # -- sessions ------------------------------------------------------------------------------

    def load_session(self, key: str) -> str | None:
        row = self.database.fetch_one(
            "SELECT data FROM web_sessions WHERE key = ? AND expires_at > ?", (key, time.time()))
        return row[0] if row else None

    def save_session(self, key: str, data: str, expires_at: float) -> None:
        with self.transaction(durable=False) as db:
            db.execute("INSERT INTO web_sessions (key, data, expires_at) VALUES (?, ?, ?)"
                       " ON CONFLICT(key) DO UPDATE SET data = excluded.data,"
                       " expires_at = excluded.expires_at",
                       (key, data, expires_at))
            self._sweep(db)

    def delete_session(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM web_sessions WHERE key = ?", (key,))

    # -- login counters ------------------------------------------------------------------------

    def count_attempt(self, key: str, window_seconds: float) -> int:
        """Count one attempt, atomically; returns the attempts in the current window.

        A window opens at the first attempt and lasts `window_seconds`; the next attempt after
        it starts a new one. Two processes counting at once each get their own number.
        """
        now = time.time()
        with self.transaction(durable=False) as db:
            return db.execute(
                "INSERT INTO login_attempts (key, hits, window_start) VALUES (?, 1, ?)"
                " ON CONFLICT(key) DO UPDATE SET"
                "  hits = CASE WHEN login_attempts.window_start <= ? THEN 1"
                "         ELSE login_attempts.hits + 1 END,"
                "  window_start = CASE WHEN login_attempts.window_start <= ?"
                "                 THEN excluded.window_start ELSE login_attempts.window_start END"
                " RETURNING hits",
                (key, now, now - window_seconds, now - window_seconds),
            ).fetchone()[0]

    def uncount_attempt(self, key: str) -> None:
        """Take back one counted attempt (it turned out not to be a failure)."""
        with self.transaction(durable=False) as db:
            db.execute("UPDATE login_attempts SET hits = hits - 1 WHERE key = ? AND hits > 0",
                       (key,))

    # -- one job at a time, across processes -------------------------------------------------

    def take_lock(self, name: str, holder: str, seconds: float) -> bool:
        """Hold `name` for `seconds` unless someone else holds it; a dead holder's runs out."""
        now = time.time()
        with self.transaction() as db:
            return db.execute(
                "INSERT INTO job_locks (name, holder, held_until) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                " held_until = excluded.held_until WHERE job_locks.held_until <= ?",
                (name, holder, now + seconds, now),
            ).rowcount == 1

    def release_lock(self, name: str, holder: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM job_locks WHERE name = ? AND holder = ?", (name, holder))

    def _sweep(self, db) -> None:
        now = time.time()
        if now - self._swept_at < SWEEP_EVERY:
            return
        self._swept_at = now
        db.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
        # A day is longer than any login window anyone configures.
        db.execute("DELETE FROM login_attempts WHERE window_start <= ?", (now - 86400,))
