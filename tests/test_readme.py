"""README.md says what is true of the code: how to start, and what scale it runs at today."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _sources(root: Path) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(root.rglob("*.py")))


def test_readme_opens_with_make_run_and_make_test() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in first_block[:2]] == [["make", "run"], ["make", "test"]]


def test_the_broker_claim_matches_the_code() -> None:
    broker_code = re.search(r"^\s*(import|from) (aio_pika|pika)\b", _sources(REPO / "src"), re.M)
    says_none = "there is no broker code yet" in README
    # Without broker code the README must say so (it once claimed national scale "on
    # PostgreSQL and a message broker"); once there is some, it must stop saying so.
    assert says_none is (broker_code is None)


def test_the_postgresql_benchmark_claim_matches_the_benchmarks() -> None:
    on_postgres = "postgresql" in _sources(REPO / "benchmarks").lower()
    assert ("none on PostgreSQL" in README) is (not on_postgres)
