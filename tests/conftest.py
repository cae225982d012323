"""Shared fixtures: the reference data in ../shared (GPL, never copied into this tree)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendcc.duis.schema import DuisSchema, load_schema
from opendcc.smki import SigningCredentials, TrustStore
from tests.reference import KEYS, REFERENCE, XSD_V54


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not REFERENCE.is_dir():
        skip = pytest.mark.skip(reason=f"reference data not found at {REFERENCE}")
        for item in items:
            if "reference" in item.fixturenames:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def reference() -> Path:
    return REFERENCE


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
