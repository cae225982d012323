"""Shared fixtures: the reference data in ../shared (GPL, never copied into this tree)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from opendcc.duis.schema import DuisSchema, load_schema
from opendcc.smki import SigningCredentials, TrustStore
from opendcc.store import create_engine_for, upgrade
from tests.reference import KEYS, XSD_V54, missing, require_reference


@pytest.fixture(scope="session")
def reference() -> Path:
    # Skips each test that needs the reference data on a laptop without it; fails under CI.
    return require_reference()


@pytest.fixture(scope="session")
def trust_store(reference: Path) -> TrustStore:
    return TrustStore.from_directory(KEYS)


def credentials(name: str) -> SigningCredentials:
    """ZAZ1 signing credentials by file stem, e.g. ``xml-sign-90B3D51F30010000-ds``."""
    return SigningCredentials.from_files(KEYS / f"{name}.key", KEYS / f"{name}.pem")


@pytest.fixture(scope="session")
def supplier_credentials(reference: Path) -> SigningCredentials:
    return credentials("xml-sign-90B3D51F30010000-ds")


@pytest.fixture(scope="session")
def dcc_credentials(reference: Path) -> SigningCredentials:
    return credentials("dsp-xml-sign-90B3D51F30000002-ds")


@pytest.fixture(scope="session")
def s1sp_credentials(reference: Path) -> SigningCredentials:
    # The S1SP (SMETS1 Service Provider) signs with xml-sign-00DB123456780004-ds, a ZAZ1
    # XML-signing key of neither a User nor the DCC, so an inner signature can never be
    # mistaken for the outer one.
    return credentials("xml-sign-00DB123456780004-ds")


@pytest.fixture(scope="session")
def schema(reference: Path) -> DuisSchema:
    return load_schema(XSD_V54)


# Store, queue and lifecycle tests run on both databases: SQLite always, PostgreSQL on the
# server OPENDCC_TEST_POSTGRES_URL names (`make test` starts one and sets it). Without it the
# PostgreSQL variants stay in the run as visible skips, and fail under CI.
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str:
    url = os.environ.get("OPENDCC_TEST_POSTGRES_URL")
    if not url:
        missing("PostgreSQL variant: OPENDCC_TEST_POSTGRES_URL is not set (run `make test`)")
    return url


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    # A fresh database per test on the shared server, dropped afterwards.
    admin = create_engine_for(postgres_url())
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine_for(admin.url.set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()
    # FORCE: a group commit's writer keeps its connection until it has idled a moment
    # (store.writer), and a test's hub that is never stopped does not close it first.
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
