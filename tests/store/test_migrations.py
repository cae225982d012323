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
    from alembic.script import ScriptDirectory

    from opendcc.store.engine import alembic_config

    upgrade(engine)
    command.downgrade(alembic_config(engine), "0009")  # 0016, 0015, 0014 and 0010 down
    command.downgrade(alembic_config(engine), "0007")
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert context.get_current_revision() == head
