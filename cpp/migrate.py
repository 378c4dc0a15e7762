"""The database's schema, kept by Alembic (cpp/migrations/).

A SQLite ledger (the default) upgrades itself when the portal starts: one file, one portal.
A PostgreSQL database is upgraded only by `flask --app app cpp db upgrade`, run once by
whoever deploys, never by several portals racing at start; until then the portal shows a
"being updated" page (cpp.payments.ledger) and `python -m cpp.serve` refuses to start.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from .database import Database

MIGRATIONS = Path(__file__).with_name("migrations")
# What the releases before Alembic created with CREATE TABLE IF NOT EXISTS.
BASELINE = "0001"
# PostgreSQL advisory lock id held while upgrading (any constant).
UPGRADE_LOCK = 0x43505055


def alembic_config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database) -> str:
    """Bring the schema to the newest revision; returns it. A ledger from before Alembic is
    stamped at the baseline first, so its tables and payments are kept, not created again."""
    # A write transaction from the start (BEGIN IMMEDIATE on SQLite): two processes starting
    # at once (gunicorn's workers) upgrade one after the other, the second finding it done.
    with database.engine.connect() as connection, \
            connection.execution_options(cpp_write=True).begin():
        if database.postgresql:  # two `cpp db upgrade` at once: the second waits, then finds it done
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
        tables = set(inspect(connection).get_table_names())
        config = alembic_config(connection)
        if "payments" in tables and "alembic_version" not in tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    return head()
