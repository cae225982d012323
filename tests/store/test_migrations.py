"""The Alembic migrations build exactly the schema ``store.tables`` declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from opendcc.store.engine import upgrade
from opendcc.store.tables import metadata


def test_migrations_match_the_declared_tables(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_downgrade_to_the_previous_revision_and_back(engine: Engine) -> None:
    from alembic import command

    from opendcc.store.engine import alembic_config

    upgrade(engine)
    command.downgrade(alembic_config(engine), "0009")  # the newest's downgrade (0014's)
    command.downgrade(alembic_config(engine), "0007")
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0014"
