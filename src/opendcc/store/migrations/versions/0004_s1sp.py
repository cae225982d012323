"""s1sp: late head-end replies and received device alerts

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "s1sp_late_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=70), nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_s1sp_late_replies")),
    )
    op.create_index(
        "ix_s1sp_late_replies_request_id", "s1sp_late_replies", ["request_id"], unique=False
    )
    op.create_table(
        "device_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=23), nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_values", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_alerts")),
    )
    op.create_index("ix_device_alerts_device_id", "device_alerts", ["device_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_device_alerts_device_id", table_name="device_alerts")
    op.drop_table("device_alerts")
    op.drop_index("ix_s1sp_late_replies_request_id", table_name="s1sp_late_replies")
    op.drop_table("s1sp_late_replies")
