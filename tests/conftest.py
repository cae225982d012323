"""Shared fixtures: the reference data in ../shared (GPL, never copied into this tree)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendcc.smki import SigningCredentials, TrustStore
from tests.reference import KEYS, REFERENCE


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
