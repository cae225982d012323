"""users, counters, service requests and their transitions

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "originator_counters",
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("last_counter", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_originator_counters")),
    )
    op.create_table(
        "service_requests",
        sa.Column("request_id", sa.String(length=70), nullable=False),
        sa.Column("originator", sa.String(length=23), nullable=False),
        sa.Column("target", sa.String(length=23), nullable=False),
        sa.Column("counter", sa.String(length=20), nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("command_variant", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("execute_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_service_requests")),
    )
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.create_index("ix_service_requests_state", ["state"], unique=False)

    op.create_table(
        "users",
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("callback_url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )
    op.create_table(
        "request_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=70), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.request_id"],
            name=op.f("fk_request_transitions_request_id_service_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_transitions")),
    )
    with op.batch_alter_table("request_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_transitions_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.String(length=23), nullable=False),
        sa.Column("role", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_user_roles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_roles")),
    )


def downgrade() -> None:
    op.drop_table("user_roles")
    with op.batch_alter_table("request_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_transitions_request_id"))

    op.drop_table("request_transitions")
    op.drop_table("users")
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_service_requests_state")

    op.drop_table("service_requests")
    op.drop_table("originator_counters")
