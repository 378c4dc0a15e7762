"""The portal's own database (the ledger, sessions, login counters, job locks), through
SQLAlchemy Core: a SQLite file by default (nothing to install), or PostgreSQL when `DATABASE`
is a postgresql:// URL, so that several machines can share one ledger.

The code above this module writes plain SQL with `?` placeholders and reads rows by column
name; `Database.transaction()` is a write transaction that serialises with every other writer
the way the compare-and-set ledger needs: BEGIN IMMEDIATE on SQLite, and on PostgreSQL row
locks taken by the callers (`for_update`) or an advisory lock (`serialize`).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

__all__ = ["Database", "DatabaseError", "IntegrityError", "database_url"]

DatabaseError = SQLAlchemyError


def database_url(setting: str) -> str:
    """DATABASE as a SQLAlchemy URL: a file path means SQLite; postgresql:// uses psycopg 3."""
    if "://" not in setting:
        return "sqlite:///" + os.path.abspath(setting)
    url = make_url(setting)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


class Row:
    """A result row read by column name (row["state"]) or position (row[0])."""

    __slots__ = ("_row",)

    def __init__(self, row):
        self._row = row

    def __getitem__(self, key):
        return self._row[key] if isinstance(key, int) else self._row._mapping[key]

    def __iter__(self):
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def keys(self):
        return self._row._mapping.keys()


class Result:
    def __init__(self, result):
        self._result = result
        self.rowcount = result.rowcount

    def fetchone(self) -> Row | None:
        row = self._result.fetchone()
        return Row(row) if row is not None else None

    def fetchall(self) -> list[Row]:
        return [Row(row) for row in self._result.fetchall()]

    def __iter__(self) -> Iterator[Row]:
        return (Row(row) for row in self._result)


class Connection:
    """One connection, in a transaction, speaking `?` placeholders on either database."""

    def __init__(self, connection: SAConnection, postgresql: bool):
        self._connection = connection
        self.postgresql = postgresql

    def execute(self, sql: str, params: Sequence = ()) -> Result:
        return Result(self._connection.exec_driver_sql(self._sql(sql), tuple(params)))

    def executemany(self, sql: str, rows: list[Sequence]) -> None:
        if rows:
            self._connection.exec_driver_sql(self._sql(sql), [tuple(row) for row in rows])

    def row_to_change(self, sql: str, params: Sequence = ()) -> Row | None:
        """SELECT the row about to be changed, locked until commit on PostgreSQL (SQLite's
        BEGIN IMMEDIATE already keeps every other writer out): no read-then-write race."""
        suffix = " FOR UPDATE" if self.postgresql else ""
        return self.execute(sql + suffix, params).fetchone()  # noqa: S608 - a fixed suffix

    def serialize(self, lock_id: int) -> None:
        """One such transaction at a time (check-then-insert with no row to lock yet)."""
        if self.postgresql:
            self._connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (lock_id,))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A failed statement inside undoes only itself (PostgreSQL aborts the whole
        transaction otherwise)."""
        with self._connection.begin_nested():
            yield

    def _sql(self, sql: str) -> str:
        return placeholders(sql, self.postgresql)


def placeholders(sql: str, postgresql: bool) -> str:
    """The portal writes `?`; psycopg takes `%s`."""
    return sql.replace("?", "%s") if postgresql else sql


class Database:
    def __init__(self, setting: str, timeout: float = 30.0):
        self.url = database_url(setting)
        self.postgresql = self.url.startswith("postgresql")
        if self.postgresql:
            # A write waiting for another's row lock gives up as SQLite's would; any options
            # the URL carries (a search_path, say) are kept.
            options = " ".join(filter(None, (make_url(self.url).query.get("options"),
                                             f"-c lock_timeout={int(timeout * 1000)}")))
            self.engine = create_engine(self.url, pool_pre_ping=True, connect_args={
                "connect_timeout": max(1, int(timeout)), "options": options})
        else:
            self.engine = create_engine(self.url, connect_args={"timeout": timeout})
            self._sqlite_transactions()

    def _sqlite_transactions(self) -> None:
        """Let SQLite's own transactions through: pysqlite's implicit BEGIN off, WAL on, and
        BEGIN IMMEDIATE for writes so that check-then-write is atomic. Every write is flushed
        to disk at commit (synchronous=FULL) unless it asked not to be (see transaction())."""
        @event.listens_for(self.engine, "connect")
        def on_connect(dbapi_connection, record):
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()
            record.info["cpp_synchronous"] = "FULL"

        @event.listens_for(self.engine, "begin")
        def on_begin(connection):
            options = connection.get_execution_options()
            if options.get("cpp_write"):
                # A setting of the connection, which goes back to the pool: set for every
                # write, so a ledger write after a session's never inherits NORMAL.
                synchronous = "FULL" if options.get("cpp_durable", True) else "NORMAL"
                if connection.info.get("cpp_synchronous") != synchronous:
                    connection.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
                    connection.info["cpp_synchronous"] = synchronous
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("BEGIN")

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read: a consistent snapshot, nothing written."""
        with self.engine.connect() as connection:
            yield Connection(connection, self.postgresql)

    def fetch_one(self, sql: str, params: Sequence = ()) -> tuple | None:
        """The first row of one SELECT, straight on a pooled connection: no SQLAlchemy
        Connection, no BEGIN and ROLLBACK around it. For the read every request makes (its
        session), where that machinery cost more than the query; one statement reads one
        consistent row on either database."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(placeholders(sql, self.postgresql), tuple(params))
                return cursor.fetchone()
            finally:
                cursor.close()
        finally:
            connection.close()  # back to the pool, which ends any transaction it opened

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Connection]:
        """A write transaction: committed at the end, rolled back on any exception.

        Durable (the default, and always for the ledger): on disk when the commit returns.
        `durable=False` is for state a power cut may cost without harm (a session's idle
        clock, a login counter): the commit is atomic and never corrupts anything, but is
        flushed to disk with the next durable commit or checkpoint instead of waiting for
        its own flush (SQLite: synchronous=NORMAL under WAL; PostgreSQL:
        synchronous_commit off). A customer's visit makes about twenty commits; each flush
        is a wait on the disk.
        """
        with self.engine.connect() as connection:
            connection.execution_options(cpp_write=True, cpp_durable=durable)
            with connection.begin():
                if self.postgresql and not durable:
                    connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield Connection(connection, self.postgresql)

    def dispose(self) -> None:
        self.engine.dispose()
