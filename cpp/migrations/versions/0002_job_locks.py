"""One job at a time across processes: the reconcile pass's lock.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # A development build created this table without migrations (with a column `until`); it
    # only ever holds locks that expire within minutes, so it is simply made again.
    if "job_locks" in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table("job_locks")
    op.create_table(
        "job_locks",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("held_until", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_locks")
