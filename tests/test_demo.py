from __future__ import annotations

from pathlib import Path

from opendcc.demo import run
from tests.reference import KEYS


def test_demo_round_trip(reference: Path) -> None:
    lines: list[str] = []
    assert run(lines.append, KEYS) == 0
    text = "\n".join(lines)
    assert "signed by 90-B3-D5-1F-30-01-00-00 XML_SIGN" in text
    assert "S1SP's own signature inside it: 00-DB-12-34-56-78-00-04" in text
    assert "refused: digest-mismatch (HTTP 401)" in text


def test_demo_explains_missing_keys(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run(lines.append, tmp_path / "nowhere") == 2
    assert "OPENDCC_REFERENCE" in lines[0]
