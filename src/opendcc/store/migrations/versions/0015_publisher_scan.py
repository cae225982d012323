"""scale mode: partial indexes for the broker publisher's scan of due jobs

The publisher (every gateway and worker process in scale mode) looks for jobs to publish every
sweep: jobs never leased (``lease_until IS NULL``), highest priority then oldest first, and jobs
whose lease ran out. Under a backlog almost every row is leased to the broker or a worker, so a
scan of the whole table (or of ``run_after``) walks past all of them each time; these indexes
hold only the rows the scan wants.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UNLEASED = "lease_until IS NULL AND waits_for IS NULL"
LEASED = "lease_until IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_unleased",
        "jobs",
        [sa.text("priority DESC"), "run_after"],
        sqlite_where=sa.text(UNLEASED),
        postgresql_where=sa.text(UNLEASED),
    )
    op.create_index(
        "ix_jobs_lease_until",
        "jobs",
        ["lease_until"],
        sqlite_where=sa.text(LEASED),
        postgresql_where=sa.text(LEASED),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_lease_until", table_name="jobs")
    op.drop_index("ix_jobs_unleased", table_name="jobs")
