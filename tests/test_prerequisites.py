"""A missing prerequisite (reference data, PostgreSQL) is a visible skip on a laptop and a
failure under CI: the suite never passes by checking nothing. Runs pytest on a few tests of
the suite itself, in a subprocess, with the environment changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.reference import REFERENCE, REPO

TEMPLATES_FOUND = "tests/catalogue/test_srv.py::test_templates_were_found"
RACE = "tests/store/test_requests.py::test_racing_workers_cannot_both_move_a_request"


def pytest(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in env}
    environment |= {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_under_ci_missing_reference_data_and_postgresql_fail() -> None:
    ran = pytest(
        TEMPLATES_FOUND,
        f"{RACE}[postgresql]",
        CI="true",
        OPENDCC_REFERENCE="/nonexistent/duis",
        OPENDCC_TEST_POSTGRES_URL=None,
    )
    assert ran.returncode == 1, ran.stdout
    assert "reference data not found at /nonexistent/duis" in ran.stdout
    assert "OPENDCC_TEST_POSTGRES_URL is not set" in ran.stdout
    assert "2 errors" in ran.stdout


def test_elsewhere_they_are_visible_skips() -> None:
    ran = pytest(
        TEMPLATES_FOUND,
        RACE,
        CI=None,
        OPENDCC_REFERENCE="/nonexistent/duis",
        OPENDCC_TEST_POSTGRES_URL=None,
    )
    assert ran.returncode == 0, ran.stdout
    assert "1 passed, 2 skipped" in ran.stdout
    assert "reference data not found at /nonexistent/duis" in ran.stdout
    assert "PostgreSQL variant: OPENDCC_TEST_POSTGRES_URL is not set" in ran.stdout


def test_the_reference_is_found_wherever_opendcc_reference_points(
    reference: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere" / "duis"
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(REFERENCE)
    ran = pytest(TEMPLATES_FOUND, CI="true", OPENDCC_REFERENCE=str(elsewhere))
    assert ran.returncode == 0, ran.stdout
    assert "1 passed" in ran.stdout
