"""restricted mode and alerts: restrictions, S1SP notices, the alert record, diagnostics log,
subscriptions, firmware watch; outbox ordering; each request's answer code; indexes for
reports and extracts

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)
EUI = sa.String(length=23)


def upgrade() -> None:
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_code", sa.String(length=8), nullable=True))
    op.create_index("ix_audit_log_endpoint", "audit_log", ["endpoint", "at"], unique=False)
    op.create_index("ix_registrations_user_id", "registrations", ["user_id"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ordering_key", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("alert_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_outbox_ordering_key", ["ordering_key", "delivered_at"])
        batch_op.create_index("ix_outbox_user_id", ["user_id", "id"])
    op.drop_index("ix_device_alerts_device_id", table_name="device_alerts")
    op.drop_table("device_alerts")
    op.create_table(
        "restrictions",
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("meter_id", EUI, nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("since", AWARE, nullable=False),
        sa.Column("changed_by", EUI, nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_restrictions")),
    )
    op.create_table(
        "restriction_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("at", AWARE, nullable=False),
        sa.Column("changed_by", EUI, nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restriction_history")),
    )
    op.create_index(
        "ix_restriction_history_device_id", "restriction_history", ["device_id"], unique=False
    )
    op.create_table(
        "s1sp_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("next_attempt_at", AWARE, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", AWARE, nullable=True),
        sa.Column("last_error", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_s1sp_notices")),
    )
    op.create_index(
        "ix_s1sp_notices_pending", "s1sp_notices", ["sent_at", "next_attempt_at"], unique=False
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("device_id", EUI, nullable=True),
        sa.Column("cohort", sa.String(length=32), nullable=True),
        sa.Column("raised_at", AWARE, nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("alert_values", sa.Text(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_device_id", "alerts", ["device_id"], unique=False)
    op.create_table(
        "alert_diagnostics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("raised_at", AWARE, nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("alert_values", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_diagnostics")),
    )
    op.create_index(
        "ix_alert_diagnostics_device_id", "alert_diagnostics", ["device_id"], unique=False
    )
    op.create_table(
        "alert_subscriptions",
        sa.Column("user_id", EUI, nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("choice", sa.String(length=4), nullable=False),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "code", name=op.f("pk_alert_subscriptions")),
    )
    op.create_table(
        "firmware_watch",
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", AWARE, nullable=True),
        sa.Column("last_detail", sa.String(length=256), nullable=False),
        sa.Column("flagged_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_firmware_watch")),
    )


def downgrade() -> None:
    op.drop_table("firmware_watch")
    op.drop_table("alert_subscriptions")
    op.drop_index("ix_alert_diagnostics_device_id", table_name="alert_diagnostics")
    op.drop_table("alert_diagnostics")
    op.drop_index("ix_alerts_device_id", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_s1sp_notices_pending", table_name="s1sp_notices")
    op.drop_table("s1sp_notices")
    op.drop_index("ix_restriction_history_device_id", table_name="restriction_history")
    op.drop_table("restriction_history")
    op.drop_table("restrictions")
    op.create_table(
        "device_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("raised_at", AWARE, nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("alert_values", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_alerts")),
    )
    op.create_index("ix_device_alerts_device_id", "device_alerts", ["device_id"], unique=False)
    op.drop_index("ix_registrations_user_id", table_name="registrations")
    op.drop_index("ix_audit_log_endpoint", table_name="audit_log")
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_column("response_code")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_user_id")
        batch_op.drop_index("ix_outbox_ordering_key")
        batch_op.drop_column("alert_id")
        batch_op.drop_column("ordering_key")
