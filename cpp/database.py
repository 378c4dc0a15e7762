"""The portal's own database (the ledger, sessions, login counters, job locks): a SQLite file
by default (nothing to install), or PostgreSQL when `DATABASE` is a postgresql:// URL, so that
several machines can share one ledger. SQLAlchemy's engine connects, pools and names the
errors; Alembic migrates (cpp.migrate); statements run on the driver's cursors (Connection).

The code above this module writes plain SQL with `?` placeholders and reads rows by column
name; `Database.transaction()` is a write transaction that serialises with every other writer
the way the compare-and-set ledger needs: BEGIN IMMEDIATE on SQLite, and on PostgreSQL row
locks taken by the callers (`for_update`) or an advisory lock (`serialize`).
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, PendingRollbackError, SQLAlchemyError

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

    __slots__ = ("_values", "_columns")

    def __init__(self, values: Sequence, columns: dict[str, int]):
        self._values, self._columns = values, columns

    def __getitem__(self, key):
        return self._values[key] if isinstance(key, int) else self._values[self._columns[key]]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self):
        return self._columns.keys()


class Result:
    """A statement's outcome: its rows read at once (the cursor is closed before the next
    statement, so none is left half-read in a transaction) and how many rows it changed."""

    def __init__(self, cursor):
        self._rows: list[Row] = []
        if cursor.description is not None:  # a query, or RETURNING
            columns = {column[0]: position for position, column in enumerate(cursor.description)}
            if len(columns) != len(cursor.description):  # row["id"] would be either one
                raise ValueError(f"a query names a column twice: {cursor.description}")
            self._rows = [Row(values, columns) for values in cursor.fetchall()]
        self.rowcount = cursor.rowcount  # after the rows: SQLite counts RETURNING's as read

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return self._rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)


class Connection:
    """One pooled connection, in a transaction, speaking `?` placeholders on either database.

    Statements go to the driver's own cursor, not through a SQLAlchemy Connection: its
    per-statement work (execution contexts, result metadata, events) cost five to eight
    times what SQLite itself spends on the ledger's short statements, about a fifth of a
    payment's return (CHANGES.md, the sixth speed pass). The engine (its pool, URL and
    dialect) stays SQLAlchemy's, and every driver error is raised as SQLAlchemy's own
    (IntegrityError, OperationalError, all DatabaseError), so callers see what they always
    did.
    """

    def __init__(self, connection, database: Database):
        self._connection = connection  # SQLAlchemy's pooled DBAPI connection
        self._database = database
        self.postgresql = database.postgresql
        self._savepoints = 0

    def execute(self, sql: str, params: Sequence = ()) -> Result:
        sql, params = self._sql(sql), tuple(params)
        cursor = self._cursor()
        try:
            if params:
                cursor.execute(sql, params)
            else:  # psycopg reads a `%` in SQL with no parameters as itself
                cursor.execute(sql)
            return Result(cursor)
        except self._database.driver_error as exc:
            raise self._database.wrapped(exc, sql, params, self._connection) from exc
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: list[Sequence]) -> None:
        if not rows:
            return
        sql, rows = self._sql(sql), [tuple(row) for row in rows]
        cursor = self._cursor()
        try:
            cursor.executemany(sql, rows)
        except self._database.driver_error as exc:
            raise self._database.wrapped(exc, sql, rows, self._connection) from exc
        finally:
            cursor.close()

    def row_to_change(self, sql: str, params: Sequence = ()) -> Row | None:
        """SELECT the row about to be changed, locked until commit on PostgreSQL (SQLite's
        BEGIN IMMEDIATE already keeps every other writer out): no read-then-write race."""
        suffix = " FOR UPDATE" if self.postgresql else ""
        return self.execute(sql + suffix, params).fetchone()  # noqa: S608 - a fixed suffix

    def clock(self) -> dt.datetime:
        """Now, in UTC. On PostgreSQL by the server's clock, the one clock every portal machine
        sharing the ledger agrees on: a lease taken on one machine must not look run out on
        another whose clock is ahead. On SQLite by this machine's, which is the only one."""
        if self.postgresql:
            return self.execute("SELECT CURRENT_TIMESTAMP").fetchone()[0].astimezone(dt.UTC)
        return dt.datetime.now(dt.UTC)

    def serialize(self, lock_id: int) -> None:
        """One such transaction at a time (check-then-insert with no row to lock yet)."""
        if self.postgresql:
            self.execute("SELECT pg_advisory_xact_lock(?)", (lock_id,))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A failed statement inside undoes only itself (PostgreSQL aborts the whole
        transaction otherwise)."""
        self._savepoints += 1
        name = f"cpp_savepoint_{self._savepoints}"
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self._connection.is_valid:  # a lost connection took the transaction with it
                self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        self.execute(f"RELEASE SAVEPOINT {name}")

    def _cursor(self):
        self.ensure_connected()
        return self._connection.cursor()

    def ensure_connected(self) -> None:
        """A connection the server dropped (and the pool let go) ended its transaction."""
        if not self._connection.is_valid:
            raise PendingRollbackError("the database connection was lost: this transaction "
                                       "is over, nothing in it was committed")

    def _sql(self, sql: str) -> str:
        return placeholders(sql, self.postgresql)


def set_synchronous(pooled, setting: str) -> None:
    """SQLite's flush at commit (FULL or NORMAL) for a pooled connection. A setting of the
    connection, which goes back to the pool: set for every write, so that a ledger write after
    a session's never inherits NORMAL. Forgotten first, so that an interruption between the
    PRAGMA and the note cannot leave a note that is wrong."""
    if pooled.info.get("cpp_synchronous") != setting:
        pooled.info.pop("cpp_synchronous", None)
        cursor = pooled.cursor()
        try:
            cursor.execute(f"PRAGMA synchronous={setting}")
        finally:
            cursor.close()
        pooled.info["cpp_synchronous"] = setting


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
            self._sqlite_transactions(timeout)

    def _sqlite_transactions(self, timeout: float) -> None:
        """Let SQLite's own transactions through: pysqlite's implicit BEGIN off (transaction()
        says BEGIN IMMEDIATE, so that check-then-write is atomic), WAL on. Every write is
        flushed to disk at commit (synchronous=FULL) unless it asked not to be."""
        @event.listens_for(self.engine, "connect")
        def on_connect(dbapi_connection, record):
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            use_wal(cursor, timeout)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()
            record.info["cpp_synchronous"] = "FULL"

    # -- connections --------------------------------------------------------------------------

    @property
    def driver_error(self) -> type[Exception]:
        return self.engine.dialect.loaded_dbapi.Error

    def wrapped(self, error: Exception, sql: str | None, params, connection=None) -> Exception:
        """A driver's error as SQLAlchemy would raise it. A connection the server dropped
        (PostgreSQL restarted, say) is thrown away rather than handed out again."""
        invalidated = connection is not None and self.engine.dialect.is_disconnect(
            error, connection, None)
        if invalidated:
            connection.invalidate(error)
        return DBAPIError.instance(sql, params, error, self.driver_error,
                                   connection_invalidated=invalidated,
                                   dialect=self.engine.dialect)

    @contextmanager
    def _pooled(self) -> Iterator[Connection]:
        """A connection from the pool, back to it at the end (the pool rolls back whatever
        was left open)."""
        try:
            pooled = self.engine.raw_connection()
        except self.driver_error as exc:
            raise self.wrapped(exc, None, None) from exc
        try:
            yield Connection(pooled, self)
        finally:
            pooled.close()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read: a consistent snapshot, nothing written."""
        with self._pooled() as connection:
            if not self.postgresql:  # PostgreSQL opens its transaction at the first statement
                connection.execute("BEGIN")
            yield connection

    def fetch_one(self, sql: str, params: Sequence = ()) -> Row | None:
        """The first row of one SELECT, without a BEGIN and ROLLBACK around it: for the read
        every request makes (its session); one statement reads one consistent row."""
        with self._pooled() as connection:
            return connection.execute(sql, params).fetchone()

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
        with self._pooled() as connection:
            pooled = connection._connection
            if self.postgresql:
                if not durable:
                    connection.execute("SET LOCAL synchronous_commit = off")
            else:
                set_synchronous(pooled, "FULL" if durable else "NORMAL")
                connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                self._roll_back(pooled)
                raise
            self._commit(connection)

    def _roll_back(self, pooled) -> None:
        if pooled.is_valid:  # not dropped by the server, which rolled it back itself
            try:
                pooled.rollback()
            except self.driver_error as exc:  # the error that brought us here is the one to tell
                pooled.invalidate(exc)

    def _commit(self, connection: Connection) -> None:
        connection.ensure_connected()
        pooled = connection._connection
        if self.postgresql and pooled.dbapi_connection.info.transaction_status.name == "INERROR":
            # A statement failed and its error was caught: PostgreSQL would take COMMIT as
            # ROLLBACK without a word, and the caller would believe its writes made.
            self._roll_back(pooled)
            raise PendingRollbackError("a statement of this transaction failed; nothing in it "
                                       "was committed")
        try:
            pooled.commit()
        except self.driver_error as exc:
            raise self.wrapped(exc, "COMMIT", None, pooled) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def use_wal(cursor, timeout: float) -> None:
    """Switch a SQLite file to WAL, which it keeps: only a new ledger is switched. The switch
    needs the file to itself, and SQLite refuses it at once ("database is locked"), without
    waiting as it does for a write, while another process has the file open: gunicorn's
    workers opening one new ledger together failed that way. Tried again until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.05)
