"""The shop's side: staff accounts, their activity, settings edited on the dashboard (with
their history), the shop's logo, the needs-attention alerts already sent, and the last run of
the reconcile job.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.Text, nullable=False, unique=True),  # stored lower-case
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, sa.CheckConstraint("role IN ('owner', 'staff')"),
                  nullable=False),
        sa.Column("totp_secret", sa.Text),
        # The last two-factor time step accepted: a code is never accepted twice.
        sa.Column("totp_last_step", sa.BigInteger),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        # Moved on by a new password, a two-factor reset or disabling: every session signed in
        # before it ends at its next page.
        sa.Column("session_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("last_sign_in_at", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "staff_activity",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("who", sa.Text),  # a staff email, or None for an unknown or failed sign-in
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("staff_activity_by_time", "staff_activity", ["at"])
    op.create_table(
        "shop_settings",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),  # JSON
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
    )
    op.create_table(
        "shop_settings_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("changed_at", sa.Text, nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "shop_images",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "staff_alerts",
        sa.Column("payment_id", sa.Integer, sa.ForeignKey("payments.id"), primary_key=True),
        sa.Column("sent_at", sa.Text, nullable=False),
    )
    # The last run of a job (the reconcile pass): when, and what it did (JSON counts).
    op.create_table(
        "job_runs",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("finished_at", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("job_runs", "staff_alerts", "shop_images", "shop_settings_history", "shop_settings",
                  "staff_activity", "staff_accounts"):
        op.drop_table(table)
