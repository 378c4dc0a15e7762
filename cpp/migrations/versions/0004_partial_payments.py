"""Partial payments: each invoice's balance due when it was paid, so receipts can show what is
left to pay. Empty for payments made before (they always paid the whole balance).

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (SQLite needs no table rebuild for it).
    op.add_column("payment_invoices", sa.Column("balance_cents", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("payment_invoices") as table:
        table.drop_column("balance_cents")
