"""Store tests run on every configured database: SQLite always, PostgreSQL when
``OPENDCC_TEST_POSTGRES_URL`` is set (``make test`` starts a server and sets it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from opendcc.store import create_engine_for, upgrade

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("OPENDCC_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    # A fresh database per test on the shared server, dropped afterwards.
    admin = create_engine_for(os.environ["OPENDCC_TEST_POSTGRES_URL"])
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine_for(admin.url.set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{name}"'))
    admin.dispose()
