"""SMETS1 device pre-notifications (DUIS 12.2): who pre-notified each Pending device

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prenotifications",
        sa.Column("device_id", sa.String(length=23), nullable=False),
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("notified_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_prenotifications")),
    )


def downgrade() -> None:
    op.drop_table("prenotifications")
