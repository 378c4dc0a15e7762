"""SQLite connections for the sandbox stores (the portal uses cpp.database): the settings."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def connect(path: str, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
    """Autocommit connection with rows by name. WAL lets readers go on while one request writes.

    `timeout` is how long a write waits for another writer before failing.
    """
    db = open_connection(path, timeout)
    try:
        yield db
    finally:
        db.close()


def open_connection(path: str, timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


class Store:
    """A SQLite file with a schema of its own; subclasses set `schema` and add their queries.

    Each thread keeps one connection to it: opening one (and setting its pragmas) cost more
    than the session lookup or ledger read it was opened for, on every request.
    """

    schema = ""

    def __init__(self, path: str, timeout: float = 30.0):
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        with connect(path, timeout) as db:
            db.executescript(self.schema)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_connection(self.path, self.timeout)
        yield db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE on this thread's connection: the write lock is taken up front, so
        check-then-write is atomic."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
