from __future__ import annotations

import re
from pathlib import Path

from opendcc.demo import Outcome, run, table
from tests.reference import KEYS

# (SRV, HTTP status, DUIS code, what the outcome column says), in the order the demo sends.
EXPECTED = [
    ("8.2", "200", "I0", r"ESME, Commissioned, MPAN \d{13}"),
    ("4.1.1", "200", "I99>I0", r"import register [\d,]+\.\d{3} kWh"),
    ("4.1.1", "200", "I99>I0", r"import register [\d,]+\.\d{3} kWh"),
    ("4.1.1", "200", "I99>I0", r"import register [\d,]+\.\d{3} kWh"),
    ("4.1.1", "200", "I99>I0", r"import register [\d,]+\.\d{3} kWh"),  # a migrated meter
    ("4.1.1", "200", "E19", r"no device .* in the inventory"),
    ("4.1.1", "200", "E11", r"does not apply to a CHF"),
    ("4.1.1", "200", "E4", r"is not responsible for device"),
    ("4.1.1", "409", "E1", r"^replay: "),
    ("4.1.1", "401", "E1", r"^digest-mismatch"),
    ("4.1.1", "200", "E1", r"is not a DCC User"),
]


def test_demo_runs_the_service_and_every_outcome_is_the_expected_one(reference: Path) -> None:
    lines: list[str] = []
    assert run(lines.append, KEYS) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert re.search(
        r"Head-end simulator \(.*, \d+ SMETS1 meters \+ \d+ installations to migrate\):"
        r" tcp://127\.0\.0\.1:\d+",
        text,
    )
    assert re.search(r"batch MB-[0-9A-F]{16}: 50 records, 50 accepted, 0 rejected", text)
    assert re.search(r"commissioned\s+.\s+48", text)
    assert re.search(r"Hub \(SQLite at .*hub\.db\): http://127\.0\.0\.1:\d+", text)

    start = next(n for n, line in enumerate(lines) if line.startswith("#"))
    assert [c.strip() for c in lines[start].split("|")] == [
        "#",
        "SRV",
        "target",
        "HTTP",
        "code",
        "outcome",
        "latency",
    ]
    rows = [[c.strip() for c in line.split("|")] for line in lines[start + 2 :][: len(EXPECTED)]]
    for n, (row, (srv, http, code, outcome)) in enumerate(zip(rows, EXPECTED, strict=True), 1):
        assert row[:2] == [str(n), srv], row
        assert row[3:5] == [http, code], row
        assert re.search(outcome, row[5]), row
        if code == "I99>I0":
            assert re.fullmatch(r"\d+ ms", row[6]), row
    assert "UNEXPECTED" not in text
    assert "DCC's signature on all 15 signed answers and callbacks" in text
    assert "signed by 90-B3-D5-1F-30-00-00-02 (DSP_XML_SIGN)" in text
    assert "Both stopped cleanly." in text
    assert lines[-1].startswith("Demo complete: 11 requests, every outcome as expected")


def test_an_unexpected_outcome_is_flagged() -> None:
    right = Outcome("4.1.1", "A", 200, "E19", http=200, code="E19", outcome="no device")
    wrong = Outcome("4.1.1", "B", 409, "E1", http=200, code="I99", outcome="accepted")
    assert right.ok and not wrong.ok
    lines = table([right, wrong])
    assert "UNEXPECTED" not in lines[2]
    assert "UNEXPECTED (wanted HTTP 409 E1): accepted" in lines[3]


def test_demo_explains_missing_keys(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run(lines.append, tmp_path / "nowhere") == 2
    assert "OPENDCC_REFERENCE" in lines[0]
