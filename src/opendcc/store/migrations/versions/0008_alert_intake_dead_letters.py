"""durable alert intake (committed before a head-end is acknowledged) and dead letters

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)
EUI = sa.String(length=23)
REQUEST_ID = sa.String(length=70)


def upgrade() -> None:
    op.create_table(
        "alert_intake",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("raised_at", AWARE, nullable=False),
        sa.Column("alert_values", sa.Text(), nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("routed_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_intake")),
        sa.UniqueConstraint("cohort", "source_id", name="uq_alert_intake_source"),
    )
    op.create_index("ix_alert_intake_routed_at", "alert_intake", ["routed_at", "id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_key", sa.String(length=96), nullable=False),
        sa.Column("user_id", EUI, nullable=False),
        sa.Column("request_id", REQUEST_ID, nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("dead_at", AWARE, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=512), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("ordering_key", sa.String(length=48), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("bulk", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("message_key", name=op.f("uq_dead_letters_message_key")),
    )
    op.create_index("ix_dead_letters_user_id", "dead_letters", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_user_id", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("ix_alert_intake_routed_at", table_name="alert_intake")
    op.drop_table("alert_intake")
