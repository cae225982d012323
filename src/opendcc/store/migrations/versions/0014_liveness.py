"""cross-process liveness: hub processes' heartbeats, the monitor's latest checks, and at most
one open outage per component

Revision ID: 0014
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hub_processes",
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("roles", sa.String(length=128), nullable=False),
        sa.Column("alive", sa.String(length=256), nullable=False),
        sa.Column("started_at", AWARE, nullable=False),
        sa.Column("last_seen", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("host", "pid", name=op.f("pk_hub_processes")),
    )
    op.create_table(
        "component_checks",
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("checked_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("component", name=op.f("pk_component_checks")),
    )
    # Two monitors (a scheduler restarting over its predecessor) never open two outages.
    op.create_index(
        "uq_component_outages_open",
        "component_outages",
        ["component"],
        unique=True,
        sqlite_where=sa.text("up_at IS NULL"),
        postgresql_where=sa.text("up_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_component_outages_open", table_name="component_outages")
    op.drop_table("component_checks")
    op.drop_table("hub_processes")
