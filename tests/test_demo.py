from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from opendcc.demo import (
    FLEET_PER_COHORT,
    READ_METERS,
    UNREACHABLE_EVERY,
    Outcome,
    run,
    summary,
    table,
)
from opendcc.duis.xml import ra
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from tests.reference import KEYS

PROFILES = register_all(Registry()).profiles()
KWH = r"^import register [\d,]+\.\d{3} kWh$"

# What a freshly migrated ESME of every cohort is asked, and answers: (SRV, HTTP status, DUIS
# code, what the outcome column says).
PER_COHORT = [
    ("4.1.1", "200", "I99>I0", KWH),
    ("7.4", "200", "I99>I0", r"^supply Enabled$"),
    ("11.2", "200", "I99>I0", r"^firmware version \S+$"),
    (
        "7.2 CV 4",
        "200",
        "I0",
        r"^GBCS ECS43 0x0050 to sign \(\d+ bytes, 0xDF\.\.\.\)$",
    ),
    ("7.2 CV 5", "200", "I99>I0", r"^supply disabled$"),
    ("7.4", "200", "I99>I0", r"^supply Disabled$"),
]

# (cohort, SRV, HTTP status, DUIS code, outcome), in the order of the table.
EXPECTED = [
    ("", "8.2", "200", "I0", r"ESME, Commissioned, MPAN \d{13}"),
    *[(PROFILES[0].name, "4.1.1", "200", "I99>I0", KWH) for _ in READ_METERS],
    *[(p.name, *row) for p in PROFILES for row in PER_COHORT],
    ("", "4.1.1", "200", "E19", r"no device .* in the inventory"),
    ("", "4.1.1", "200", "E11", r"does not apply to a CHF"),
    ("", "4.1.1", "200", "E4", r"is not responsible for device"),
    ("", "4.1.1", "200", "E1", r"^replay: "),
    ("", "4.1.1", "401", "E1", r"^digest-mismatch"),
    ("", "4.1.1", "200", "E1", r"is not a DCC User"),
    # Top-ups on a prepayment meter of every cohort: one-step and two-step, the balance, and
    # the same UTRN again, refused by the ledger.
    *[
        row
        for p in PROFILES
        for row in (
            (
                p.name,
                "UTRN 1-step",
                "201",
                "applied",
                r"^£10\.00 credited over the air: UTRN \d{20}$",
            ),
            (p.name, "2.2", "200", "I99>I0", r"^UTRN accepted: credit added$"),
        )
    ],
    *[(p.name, "4.18", "200", "I99>I0", r"^balance £[\d,]+\.\d\d$") for p in PROFILES],
    *[(p.name, "2.2 again", "200", "E11", r"UTRN \d{20} is applied") for p in PROFILES],
]
CALLBACKS = sum(1 for row in EXPECTED if row[3] == "I99>I0")  # SMETS1 responses


def test_demo_runs_the_service_and_every_outcome_is_the_expected_one(reference: Path) -> None:
    lines: list[str] = []
    assert run(lines.append, KEYS) == 0, "\n".join(lines)
    text = "\n".join(lines)
    for n, profile in enumerate(PROFILES):
        meters = r"\d+ SMETS1 meters \+ " if n == 0 else ""
        assert re.search(
            rf"Head-end simulator \({profile.name}, {profile.protocol}, {meters}"
            rf"{FLEET_PER_COHORT} installations to migrate\): (tcp|http)://127\.0\.0\.1:\d+",
            text,
        ), profile.name
    records = FLEET_PER_COHORT * len(PROFILES)
    assert re.search(
        rf"batch MB-[0-9A-F]{{16}}: {records} records, {records} accepted, 0 rejected", text
    )
    unreachable = (FLEET_PER_COHORT // UNREACHABLE_EVERY) * len(PROFILES)
    assert re.search(rf"commissioned\s+.\s+{records - unreachable}\b", text)
    assert re.search(r"Hub \(SQLite at .*hub\.db\): http://127\.0\.0\.1:\d+", text)

    start = next(n for n, line in enumerate(lines) if line.startswith("#"))
    assert [c.strip() for c in lines[start].split("|")] == [
        "#",
        "cohort",
        "SRV",
        "target",
        "HTTP",
        "code",
        "outcome",
        "latency",
    ]
    rows = [[c.strip() for c in line.split("|")] for line in lines[start + 2 :][: len(EXPECTED)]]
    assert lines[start + 2 + len(EXPECTED)] == ""  # nothing more in the table
    for n, (row, (cohort, srv, http, code, outcome)) in enumerate(
        zip(rows, EXPECTED, strict=True), 1
    ):
        assert row[:3] == [str(n), cohort, srv], row
        assert row[4:6] == [http, code], row
        assert re.search(outcome, row[6]), row
        if code == "I99>I0":
            assert re.fullmatch(r"\d+ ms", row[7]), row
    assert "UNEXPECTED" not in text
    # Every DUIS answer is signed, and every callback; the UTRN service answers in JSON.
    signed = len([r for r in EXPECTED if not r[1].startswith("UTRN")]) + CALLBACKS
    assert f"DCC's signature on all {signed} signed answers and callbacks" in text
    assert "signed by 90-B3-D5-1F-30-00-00-02 (DSP_XML_SIGN)" in text
    assert f"the S1SP's inside the {CALLBACKS} SMETS1 responses" in text
    assert f"All {len(PROFILES) + 1} processes stopped cleanly." in text
    assert lines[-1].startswith(
        f"Demo complete: {len(EXPECTED)} requests, the same ones succeeding on all"
        f" {len(PROFILES)} cohorts, every outcome as expected"
    )


def test_an_unexpected_outcome_is_flagged() -> None:
    right = Outcome("4.1.1", "A", 200, "E19", http=200, code="E19", outcome="no device")
    wrong = Outcome("4.1.1", "B", 409, "E1", http=200, code="I99", outcome="accepted")
    still = Outcome("7.4", "C", 200, "I99>I0", http=200, code="I99>I0", outcome="supply Enabled")
    still.expect_outcome = "Disabled"
    assert right.ok and not wrong.ok and not still.ok
    lines = table([right, wrong, still])
    assert "UNEXPECTED" not in lines[2]
    assert "UNEXPECTED (wanted HTTP 409 E1): accepted" in lines[3]
    assert "UNEXPECTED (wanted HTTP 200 I99>I0, 'Disabled'): supply Enabled" in lines[4]


def test_a_smets1_response_is_summarised_from_its_mmc_element() -> None:
    def element(local: str, **leaves: str) -> etree._Element:
        found = etree.Element(ra(local))
        for name, text in leaves.items():
            etree.SubElement(found, ra(name)).text = text
        return found

    registers = element("ReadInstantaneousImportRegistersRsp")
    active = etree.SubElement(
        etree.SubElement(registers, ra("Electricity")), ra("ActiveImportRegister")
    )
    etree.SubElement(active, ra("Value")).text = "1234567"
    etree.SubElement(active, ra("ActiveEnergyUnit")).text = "Wh"
    assert summary(registers) == "import register 1,234.567 kWh"
    assert summary(element("ReadSupplyStatusRsp", SupplyState="Armed")) == "supply Armed"
    assert summary(element("ReadFirmwareVersionRsp", FirmwareVersion="2.1")) == (
        "firmware version 2.1"
    )
    assert summary(element("DisableSupplyRsp")) == "supply disabled"
    assert summary(element("SomethingElseRsp", A="1", B="2")) == "SomethingElseRsp (2 elements)"


def test_demo_explains_missing_keys(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run(lines.append, tmp_path / "nowhere") == 2
    assert "OPENDCC_REFERENCE" in lines[0]
