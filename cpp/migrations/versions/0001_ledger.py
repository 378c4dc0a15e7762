"""The ledger and shared state as the first releases created them (CREATE TABLE IF NOT EXISTS).

A SQLite ledger written by those releases has these tables already and no alembic_version:
cpp.migrate stamps it at this revision instead of creating them again.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.Text, nullable=False, unique=True),
        sa.Column("transaction_id", sa.Text, nullable=False, unique=True),
        sa.Column("customer_code", sa.Text, nullable=False),
        sa.Column("customer_name", sa.Text, nullable=False),
        sa.Column("customer_email", sa.Text),
        sa.Column("amount_cents", sa.BigInteger, sa.CheckConstraint("amount_cents > 0"),
                  nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("transport_key", sa.Text, unique=True),
        sa.Column("validation_key", sa.Text),
        sa.Column("cayan_token", sa.Text),
        sa.Column("authorization_code", sa.Text),
        sa.Column("card_type", sa.Text),
        sa.Column("card_last4", sa.Text),
        sa.Column("approved_cents", sa.BigInteger),
        sa.Column("pims_payment_id", sa.Text),
        sa.Column("failure_reason", sa.Text),
        sa.Column("receipt_status", sa.Text, nullable=False, server_default="none"),
        sa.Column("receipt_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("receipt_next_at", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Text),
        sa.Column("lease_until", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("approved_at", sa.Text),
        sa.Column("posted_at", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("payments_by_customer", "payments", ["customer_code", "state"])
    op.create_index("payments_by_state", "payments", ["state", "next_attempt_at"])
    op.create_table(
        "payment_invoices",
        sa.Column("payment_id", sa.Integer, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("invoice_number", sa.Text, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("invoice_date", sa.Text),
        sa.PrimaryKeyConstraint("payment_id", "invoice_number"),
    )
    op.create_index("payment_invoices_by_number", "payment_invoices", ["invoice_number"])
    op.create_table(
        "payment_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("payment_id", sa.Integer, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "web_sessions",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("web_sessions_by_expiry", "web_sessions", ["expires_at"])
    op.create_table(
        "login_attempts",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("login_attempts", "web_sessions", "payment_events", "payment_invoices",
                  "payments"):
        op.drop_table(table)
