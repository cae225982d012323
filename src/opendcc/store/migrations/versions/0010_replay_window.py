"""replay window: the seen-set of accepted originator counters

Revision ID: 0010
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accepted_counters",
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("counter", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "counter", name=op.f("pk_accepted_counters")),
    )
    # Every counter accepted so far is in service_requests (the old rule accepted each counter
    # once, in increasing order), so the seen-set starts complete.
    op.execute(
        "INSERT INTO accepted_counters (user_id, counter)"
        " SELECT DISTINCT originator, counter FROM service_requests"
    )


def downgrade() -> None:
    op.drop_table("accepted_counters")
