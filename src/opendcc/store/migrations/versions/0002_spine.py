"""the spine: certificates, thresholds, minimal inventory, registration data, audit, jobs, outbox

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=False),
        sa.Column("request_id", sa.String(length=70), nullable=True),
        sa.Column("originator", sa.String(length=23), nullable=True),
        sa.Column("srv", sa.String(length=10), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_request_id", ["request_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(length=23), nullable=False),
        sa.Column("device_type", sa.String(length=8), nullable=False),
        sa.Column("smi_status", sa.String(length=32), nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=True),
        sa.Column("mpxn", sa.String(length=13), nullable=True),
        sa.Column("manufacturer", sa.String(length=30), nullable=False),
        sa.Column("model", sa.String(length=30), nullable=False),
        sa.Column("firmware_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_devices")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_key", sa.String(length=96), nullable=False),
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("request_id", sa.String(length=70), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_key", name=op.f("uq_outbox_message_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending", ["delivered_at", "next_attempt_at"], unique=False
        )

    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mpxn", sa.String(length=13), nullable=False),
        sa.Column("role", sa.String(length=3), nullable=False),
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index("ix_registrations_mpxn", ["mpxn"], unique=False)

    op.create_table(
        "anomaly_thresholds",
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("max_requests", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_anomaly_thresholds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "srv", name=op.f("pk_anomaly_thresholds")),
    )
    op.create_table(
        "jobs",
        sa.Column("request_id", sa.String(length=70), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.request_id"],
            name=op.f("fk_jobs_request_id_service_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_run_after", ["run_after"], unique=False)

    op.create_table(
        "user_certificates",
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_user_certificates_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issuer", "serial", name=op.f("pk_user_certificates")),
    )
    with op.batch_alter_table("user_certificates", schema=None) as batch_op:
        batch_op.create_index("ix_user_certificates_user_id", ["user_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("user_certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_user_certificates_user_id")

    op.drop_table("user_certificates")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_run_after")

    op.drop_table("jobs")
    op.drop_table("anomaly_thresholds")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_registrations_mpxn")

    op.drop_table("registrations")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    op.drop_table("devices")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_request_id")

    op.drop_table("audit_log")
