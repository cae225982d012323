"""The tables, as SQLAlchemy Core metadata (Core, not the ORM, for the hot paths).

RequestID counters are unsigned 64-bit: beyond a signed BIGINT, and SQLite turns integers above
2^63 into lossy REALs. So they are stored as 20-digit zero-padded text (``u64_text``), whose
text order is their numeric order on every database.
EUI-64s are stored in their canonical text form (``90-B3-D5-1F-30-01-00-00``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

EUI = String(23)
U64 = String(20)
REQUEST_ID = String(70)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store takes timezone-aware datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


AWARE = UtcDateTime()


def u64_text(value: int) -> str:
    if not 0 <= value < 1 << 64:
        raise ValueError(f"not an unsigned 64-bit value: {value}")
    return f"{value:020d}"


users = Table(
    "users",
    metadata,
    Column("user_id", EUI, primary_key=True),
    Column("status", String(16), nullable=False),  # active | suspended
    Column("callback_url", String(2048), nullable=False),
    Column("created_at", AWARE, nullable=False),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", EUI, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(3), primary_key=True),  # IS ES GS ED GT OU RSA
)

# Replay protection: the highest originator counter accepted from each User.
originator_counters = Table(
    "originator_counters",
    metadata,
    Column("user_id", EUI, primary_key=True),
    Column("last_counter", U64, nullable=False),
)

service_requests = Table(
    "service_requests",
    metadata,
    Column("request_id", REQUEST_ID, primary_key=True),
    Column("originator", EUI, nullable=False),
    Column("target", EUI, nullable=False),
    Column("counter", U64, nullable=False),
    Column("srv", String(10), nullable=False),
    Column("command_variant", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("received_at", AWARE, nullable=False),
    Column("updated_at", AWARE, nullable=False),
    Column("execute_at", AWARE, nullable=True),
    Column("document", LargeBinary, nullable=False),  # the signed request as received
    Index("ix_service_requests_state", "state"),
)

request_transitions = Table(
    "request_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        REQUEST_ID,
        ForeignKey("service_requests.request_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("source", String(16), nullable=True),  # None for the first row
    Column("target", String(16), nullable=False),
    Column("at", AWARE, nullable=False),
)
