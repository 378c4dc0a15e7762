"""Alembic's entry point for the portal's migrations (run by cpp.migrate, never by hand)."""
from alembic import context

connection = context.config.attributes["connection"]
# Batch mode lets later migrations alter SQLite tables (which it does by copying them).
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
