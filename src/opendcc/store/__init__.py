"""The store: the database is the truth (DESIGN decision 1). SQLite in WAL mode by default;
a ``DATABASE_URL`` selects PostgreSQL. Schema changes go through Alembic migrations."""

from opendcc.store.engine import DEFAULT_URL, create_engine_for, upgrade

__all__ = ["DEFAULT_URL", "create_engine_for", "upgrade"]
