"""The database's schema, kept by Alembic (cpp/migrations/).

A SQLite ledger (the default) upgrades itself when the portal starts: one file, one portal.
A PostgreSQL database is upgraded only by `flask --app app cpp db upgrade`, run once by
whoever deploys, never by several portals racing at start; until then the portal shows a
"being updated" page (cpp.payments.ledger) and `python -m cpp.serve` refuses to start.

Alembic itself (some 10 MB) is imported only to upgrade: a portal whose schema is current
checks the version with one query against HEAD, and `python -m cpp.serve` upgrades a SQLite
ledger in a short-lived child process (upgrade_in_child), so that the process which then
serves for weeks never holds Alembic at all.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from .database import Database, set_synchronous

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in cpp/migrations/versions (tests/test_database.py checks it against
# Alembic's own reading of the folder: a new migration must move it on).
HEAD = "0005"
# What the releases before Alembic created with CREATE TABLE IF NOT EXISTS.
BASELINE = "0001"
# PostgreSQL advisory lock id held while upgrading (any constant).
UPGRADE_LOCK = 0x43505055


def alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return HEAD


def head_from_alembic() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current(database: Database) -> str | None:
    """The revision the database is at (None: no schema yet)."""
    with database.engine.connect() as connection:
        if "alembic_version" not in inspect(connection).get_table_names():
            return None
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return row[0] if row else None


def upgrade(database: Database) -> str:
    """Bring the schema to the newest revision; returns it. A ledger from before Alembic is
    stamped at the baseline first, so its tables and payments are kept, not created again."""
    from alembic import command

    # A write transaction from the start (BEGIN IMMEDIATE on SQLite): two processes starting
    # at once (gunicorn's workers) upgrade one after the other, the second finding it done.
    with database.engine.connect() as connection, connection.begin():
        if database.postgresql:  # two `cpp db upgrade` at once: the second waits, then finds it done
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
        else:  # SQLite's driver leaves BEGIN to us (cpp.database), and the flush: on disk
            set_synchronous(connection.connection, "FULL")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        tables = set(inspect(connection).get_table_names())
        config = alembic_config(connection)
        if "payments" in tables and "alembic_version" not in tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    return head()


class UpgradeFailed(RuntimeError):
    pass


# A big ledger's table rebuild takes a while; a child stuck for longer is stopped.
UPGRADE_SECONDS = 600.0


def upgrade_in_child(setting: str, timeout: float) -> None:
    """upgrade() a SQLite ledger in a child process (`python -m cpp.migrate`), for the
    production server; raises UpgradeFailed with the child's last words if it failed."""
    package_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                       os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, our own module, our setting
            [sys.executable, "-m", "cpp.migrate", setting, str(timeout)], env=env,
            capture_output=True, text=True, timeout=UPGRADE_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise UpgradeFailed(f"upgrading the ledger {setting} took longer than "
                            f"{UPGRADE_SECONDS:.0f} s; run `flask --app app cpp db upgrade` "
                            "to see it through") from None
    except OSError as exc:
        raise UpgradeFailed(f"could not start {sys.executable} to upgrade the ledger: {exc}"
                            ) from None
    if done.returncode != 0:
        last_words = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise UpgradeFailed(f"upgrading the ledger {setting} failed: {' '.join(last_words)}")


if __name__ == "__main__":
    ledger = Database(sys.argv[1], float(sys.argv[2]))
    try:
        upgrade(ledger)
    finally:
        ledger.dispose()
