"""The language a payment was made in, so its receipt goes out in it (also when the reconcile
job sends it later). Empty for earlier payments: the portal's DEFAULT_LANGUAGE.

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("payments", sa.Column("language", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("payments") as table:
        table.drop_column("language")
