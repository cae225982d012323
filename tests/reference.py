"""Where the reference data lives (../shared: GPL, never copied here), and test identities."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("OPENDCC_REFERENCE", REPO.parent / "shared/reference/duis"))
KEYS = REFERENCE / "keys/dccboxed-signing-tool"
TEMPLATES = REFERENCE / "templates"
SAMPLES = REFERENCE / "samples"
XSD_V54 = REFERENCE / "schema/v5.4/DUIS Schema V5.4.xsd"
# GBCS reference data: DCC's RTDS pre-commands and the RTDS key store (test keys).
GBCS = REFERENCE.parent / "gbcs"
GBCS_KEYSTORE = GBCS / "keystore"
RTDS = GBCS / "rtds"


def under_ci() -> bool:
    """True when the suite runs as CI (``CI`` set, as every CI service sets it)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def missing(what: str) -> NoReturn:
    """A prerequisite (reference data, a tool, a database) is absent: a visible skip on a
    laptop, a failure under CI, where a skipped check would pass without checking anything."""
    if under_ci():
        pytest.fail(f"{what} (CI is set: a missing prerequisite fails the run)", pytrace=False)
    pytest.skip(what)


def require_reference() -> Path:
    """The DUIS reference directory, or :func:`missing` if it is not there."""
    if not REFERENCE.is_dir():
        missing(f"reference data not found at {REFERENCE} (set OPENDCC_REFERENCE)")
    return REFERENCE


def reference_params(paths: list[Path]) -> list[Any]:
    """``paths`` to parametrize over; when the reference data is absent, one stand-in rather
    than an empty parameter set (which pytest passes over). The test must use the
    ``reference`` fixture, which then skips the stand-in, or fails it under CI."""
    return paths or [pytest.param(None, id="no-reference-data")]


# ZAZ1 test identities (DCC Boxed): a supplier User, a network operator User, and the DCC.
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
NETWORK_OPERATOR = "90-B3-D5-1F-30-02-00-00"
DCC = "90-B3-D5-1F-30-00-00-02"

# Inside every ZAZ1 certificate's validity, so tests never depend on today's date.
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
