"""SQLite connections for the ledger and the sandbox stores: one place for the settings."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def connect(path: str, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
    """Autocommit connection with rows by name. WAL lets readers go on while one request writes.

    `timeout` is how long a write waits for another writer before failing.
    """
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    try:
        yield db
    finally:
        db.close()


@contextmanager
def transaction(path: str, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: the write lock is taken up front, so check-then-write is atomic."""
    with connect(path, timeout) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


class Store:
    """A SQLite file with a schema of its own; subclasses set `schema` and add their queries."""

    schema = ""

    def __init__(self, path: str, timeout: float = 30.0):
        self.path = path
        self.timeout = timeout
        with connect(path, timeout) as db:
            db.executescript(self.schema)

    def connect(self):
        return connect(self.path, self.timeout)

    def transaction(self):
        return transaction(self.path, self.timeout)
