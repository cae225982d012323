"""time and firmware: sequencing (a request's predecessor, a job waiting for it), DCC schedules,
the firmware library and firmware distributions

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)
EUI = sa.String(length=23)
REQUEST_ID = sa.String(length=70)


def upgrade() -> None:
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preceding_request_id", REQUEST_ID, nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waits_for", REQUEST_ID, nullable=True))
        batch_op.create_index("ix_jobs_waits_for", ["waits_for"])
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bulk", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index("ix_outbox_bulk", ["delivered_at", "bulk", "id"])
    op.create_table(
        "schedules",
        sa.Column("schedule_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", EUI, nullable=False),
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("frequency", sa.String(length=12), nullable=False),
        sa.Column("start_date", sa.String(length=10), nullable=False),
        sa.Column("end_date", sa.String(length=10), nullable=True),
        sa.Column("execution_time", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", REQUEST_ID, nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("next_run_at", AWARE, nullable=True),
        sa.Column("due_at", AWARE, nullable=True),
        sa.Column("lease_until", AWARE, nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_run_at", AWARE, nullable=True),
        sa.Column("last_outcome", sa.String(length=8), nullable=True),
        sa.Column("stopped_reason", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_schedules")),
    )
    op.create_index("ix_schedules_due", "schedules", ["state", "due_at"], unique=False)
    op.create_index("ix_schedules_device_id", "schedules", ["device_id"], unique=False)
    op.create_index("ix_schedules_user_id", "schedules", ["user_id"], unique=False)
    op.create_table(
        "firmware_images",
        sa.Column("image_hash", sa.String(length=64), nullable=False),
        sa.Column("manufacturer", sa.String(length=30), nullable=False),
        sa.Column("model", sa.String(length=30), nullable=False),
        sa.Column("version", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("added_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("image_hash", name=op.f("pk_firmware_images")),
        sa.UniqueConstraint(
            "manufacturer", "model", "version", name=op.f("uq_firmware_images_manufacturer")
        ),
    )
    op.create_table(
        "firmware_distributions",
        sa.Column("request_id", REQUEST_ID, nullable=False),
        sa.Column("device_id", EUI, nullable=False),
        sa.Column("user_id", EUI, nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=30), nullable=False),
        sa.Column("version", sa.String(length=8), nullable=False),
        sa.Column("image_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", AWARE, nullable=True),
        sa.Column("lease_until", AWARE, nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("request_id", "device_id", name=op.f("pk_firmware_distributions")),
    )
    op.create_index(
        "ix_firmware_distributions_state",
        "firmware_distributions",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_firmware_distributions_device_id",
        "firmware_distributions",
        ["device_id"],
        unique=False,
    )
    op.create_index(
        "ix_firmware_distributions_model",
        "firmware_distributions",
        ["model", "version"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_firmware_distributions_model", table_name="firmware_distributions")
    op.drop_index("ix_firmware_distributions_device_id", table_name="firmware_distributions")
    op.drop_index("ix_firmware_distributions_state", table_name="firmware_distributions")
    op.drop_table("firmware_distributions")
    op.drop_table("firmware_images")
    op.drop_index("ix_schedules_user_id", table_name="schedules")
    op.drop_index("ix_schedules_device_id", table_name="schedules")
    op.drop_index("ix_schedules_due", table_name="schedules")
    op.drop_table("schedules")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_bulk")
        batch_op.drop_column("bulk")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_waits_for")
        batch_op.drop_column("waits_for")
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_column("preceding_request_id")
