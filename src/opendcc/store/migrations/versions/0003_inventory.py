"""inventory: status history, CPL, eligible combinations, migration

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cpl_entries",
        sa.Column("manufacturer", sa.String(length=30), nullable=False),
        sa.Column("model", sa.String(length=30), nullable=False),
        sa.Column("hardware_version", sa.String(length=30), nullable=False),
        sa.Column("firmware_version", sa.String(length=8), nullable=False),
        sa.Column("device_type", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("added_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "manufacturer",
            "model",
            "hardware_version",
            "firmware_version",
            name=op.f("pk_cpl_entries"),
        ),
    )
    op.create_table(
        "device_status_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=23), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_status_history")),
    )
    with op.batch_alter_table("device_status_history", schema=None) as batch_op:
        batch_op.create_index("ix_device_status_history_device_id", ["device_id"], unique=False)

    op.create_table(
        "eligible_combinations",
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("chf_model", sa.String(length=64), nullable=False),
        sa.Column("esme_model", sa.String(length=64), nullable=False),
        sa.Column("gsme_model", sa.String(length=64), nullable=False),
        sa.Column("gpf_model", sa.String(length=64), nullable=False),
        sa.Column("added_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "cohort",
            "chf_model",
            "esme_model",
            "gsme_model",
            "gpf_model",
            name=op.f("pk_eligible_combinations"),
        ),
    )
    op.create_table(
        "migration_batches",
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("submitter", sa.String(length=23), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=False),
        sa.Column("file_digest", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_records", sa.Integer(), nullable=False),
        sa.Column("loaded", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_migration_batches")),
    )
    with op.batch_alter_table("migration_batches", schema=None) as batch_op:
        batch_op.create_index("ix_migration_batches_file_digest", ["file_digest"], unique=False)

    op.create_table(
        "migration_installations",
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("record", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.String(length=64), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=True),
        sa.Column("cohort", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("devices", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "record", name=op.f("pk_migration_installations")),
    )
    with op.batch_alter_table("migration_installations", schema=None) as batch_op:
        batch_op.create_index("ix_migration_installations_due", ["state", "due_at"], unique=False)
        batch_op.create_index(
            "ix_migration_installations_installation_id", ["installation_id"], unique=False
        )

    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("smets_generation", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("hardware_version", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("serial_number", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("comms_hub_id", sa.String(length=23), nullable=True))
        batch_op.add_column(sa.Column("gas_proxy_id", sa.String(length=23), nullable=True))
        batch_op.add_column(sa.Column("installation_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("status_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("commissioned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_devices_comms_hub_id", ["comms_hub_id"], unique=False)
        batch_op.create_index("ix_devices_installation_id", ["installation_id"], unique=False)
        batch_op.create_index("ix_devices_mpxn", ["mpxn"], unique=False)
        batch_op.create_index("ix_devices_serial_number", ["serial_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_serial_number")
        batch_op.drop_index("ix_devices_mpxn")
        batch_op.drop_index("ix_devices_installation_id")
        batch_op.drop_index("ix_devices_comms_hub_id")
        batch_op.drop_column("commissioned_at")
        batch_op.drop_column("status_since")
        batch_op.drop_column("installation_id")
        batch_op.drop_column("gas_proxy_id")
        batch_op.drop_column("comms_hub_id")
        batch_op.drop_column("serial_number")
        batch_op.drop_column("hardware_version")
        batch_op.drop_column("smets_generation")

    with op.batch_alter_table("migration_installations", schema=None) as batch_op:
        batch_op.drop_index("ix_migration_installations_installation_id")
        batch_op.drop_index("ix_migration_installations_due")

    op.drop_table("migration_installations")
    with op.batch_alter_table("migration_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_migration_batches_file_digest")

    op.drop_table("migration_batches")
    op.drop_table("eligible_combinations")
    with op.batch_alter_table("device_status_history", schema=None) as batch_op:
        batch_op.drop_index("ix_device_status_history_device_id")

    op.drop_table("device_status_history")
    op.drop_table("cpl_entries")
