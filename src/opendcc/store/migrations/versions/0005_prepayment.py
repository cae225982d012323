"""prepayment: the UTRN ledger, PANs, PSP nominations, service keys, job priority

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "utrns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("utrn", sa.String(length=20), nullable=False),
        sa.Column("device_id", sa.String(length=23), nullable=False),
        sa.Column("cohort", sa.String(length=32), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("counter", sa.String(length=20), nullable=False),
        sa.Column("amount_p", sa.Integer(), nullable=False),
        sa.Column("supplier", sa.String(length=23), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("route", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("request_id", sa.String(length=70), nullable=True),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("issued_at", AWARE, nullable=False),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utrns")),
        sa.UniqueConstraint("device_id", "counter", name="uq_utrns_device_counter"),
        sa.UniqueConstraint("requester", "reference", name="uq_utrns_requester_reference"),
    )
    op.create_index("ix_utrns_utrn", "utrns", ["utrn"], unique=False)
    op.create_index("ix_utrns_state", "utrns", ["state"], unique=False)
    op.create_table(
        "utrn_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("utrn_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("at", AWARE, nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["utrn_id"], ["utrns.id"], name=op.f("fk_utrn_events_utrn_id_utrns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utrn_events")),
    )
    op.create_index("ix_utrn_events_utrn_id", "utrn_events", ["utrn_id"], unique=False)
    op.create_table(
        "pans",
        sa.Column("pan", sa.String(length=19), nullable=False),
        sa.Column("mpxn", sa.String(length=13), nullable=False),
        sa.Column("registered_by", sa.String(length=23), nullable=False),
        sa.Column("registered_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("pan", name=op.f("pk_pans")),
    )
    op.create_index("ix_pans_mpxn", "pans", ["mpxn"], unique=False)
    op.create_table(
        "psp_nominations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("supplier", sa.String(length=23), nullable=False),
        sa.Column("psp", sa.String(length=64), nullable=False),
        sa.Column("nominated_at", AWARE, nullable=False),
        sa.Column("revoked_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psp_nominations")),
    )
    op.create_index("ix_psp_nominations_psp", "psp_nominations", ["psp"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("revoked_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_api_keys")),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_psp_nominations_psp", table_name="psp_nominations")
    op.drop_table("psp_nominations")
    op.drop_index("ix_pans_mpxn", table_name="pans")
    op.drop_table("pans")
    op.drop_index("ix_utrn_events_utrn_id", table_name="utrn_events")
    op.drop_table("utrn_events")
    op.drop_index("ix_utrns_state", table_name="utrns")
    op.drop_index("ix_utrns_utrn", table_name="utrns")
    op.drop_table("utrns")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("priority")
