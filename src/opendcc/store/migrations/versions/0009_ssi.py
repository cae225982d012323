"""the Self Service Interface and service management: SSI credentials and sessions, incidents
(events, attachments, interested parties, category targets), maintenance windows, outages

Revision ID: 0009
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)
EUI = sa.String(length=23)


def upgrade() -> None:
    op.create_table(
        "ssi_credentials",
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("revoked_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("secret_hash", name=op.f("pk_ssi_credentials")),
    )
    op.create_index("ix_ssi_credentials_principal", "ssi_credentials", ["principal"])
    op.create_table(
        "ssi_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("expires_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_ssi_sessions")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("raised_by", sa.String(length=64), nullable=False),
        sa.Column("raised_at", AWARE, nullable=False),
        sa.Column("owner", EUI, nullable=True),
        sa.Column("assignee_kind", sa.String(length=8), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=False),
        sa.Column("device_id", EUI, nullable=True),
        sa.Column("signal", sa.String(length=96), nullable=True),
        sa.Column("evidence", sa.String(length=512), nullable=True),
        sa.Column("repeat_of", sa.Integer(), nullable=True),
        sa.Column("responded_at", AWARE, nullable=True),
        sa.Column("resolved_at", AWARE, nullable=True),
        sa.Column("closed_at", AWARE, nullable=True),
        sa.Column("paused_since", AWARE, nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index("ix_incidents_owner", "incidents", ["owner"])
    op.create_index("ix_incidents_signal", "incidents", ["signal"])
    op.create_index("ix_incidents_device_id", "incidents", ["device_id"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", AWARE, nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id"])
    op.create_table(
        "incident_attachments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("at", AWARE, nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_attachments")),
    )
    op.create_index("ix_incident_attachments_incident_id", "incident_attachments", ["incident_id"])
    op.create_table(
        "incident_parties",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("user_id", EUI, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "user_id", name=op.f("pk_incident_parties")),
    )
    op.create_table(
        "incident_targets",
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_incident_targets")),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("starts_at", AWARE, nullable=False),
        sa.Column("ends_at", AWARE, nullable=False),
        sa.Column("description", sa.String(length=512), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("cancelled_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_table(
        "component_outages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("down_at", AWARE, nullable=False),
        sa.Column("up_at", AWARE, nullable=True),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component_outages")),
    )
    op.create_index("ix_component_outages_component", "component_outages", ["component", "down_at"])


def downgrade() -> None:
    for table in (
        "component_outages",
        "maintenance_windows",
        "incident_targets",
        "incident_parties",
        "incident_attachments",
        "incident_events",
        "incidents",
        "ssi_sessions",
        "ssi_credentials",
    ):
        op.drop_table(table)
