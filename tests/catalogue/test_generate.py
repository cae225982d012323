"""scripts/generate_catalogue.py: the rules that build the SRV table, and its --check mode."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from opendcc.catalogue import default_catalogue, srv_sort_key

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_catalogue.py"
TABLE = ROOT / "src" / "opendcc" / "catalogue" / "srv_table.json"
# The GPL reference data lives beside the repository, never inside it.
SHARED = ROOT.parent / "shared"
DUIS = SHARED / "reference" / "duis"
needs_reference = pytest.mark.skipif(
    not DUIS.is_dir(), reason=f"DUIS reference data not found at {DUIS}"
)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_catalogue", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


gen = _load_script()


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


@needs_reference
def test_committed_table_matches_a_fresh_generation() -> None:
    result = run("--reference", DUIS, "--check")
    assert result.returncode == 0, result.stderr


@needs_reference
def test_check_reports_a_stale_table(tmp_path: Path) -> None:
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    table["srvs"][0]["critical"] = not table["srvs"][0]["critical"]
    del table["srvs"][-1]
    stale = tmp_path / "srv_table.json"
    stale.write_text(json.dumps(table), encoding="utf-8")

    result = run("--reference", DUIS, "--output", stale, "--check")

    assert result.returncode == 1
    assert "1.1.1: critical differ" in result.stderr
    assert "14.1: missing from the committed table" in result.stderr


@needs_reference
def test_generation_writes_the_committed_bytes(tmp_path: Path) -> None:
    out = tmp_path / "srv_table.json"
    assert run("--reference", DUIS, "--output", out).returncode == 0
    assert out.read_bytes() == TABLE.read_bytes()


def test_missing_reference_fails_loudly(tmp_path: Path) -> None:
    result = run("--reference", tmp_path / "absent", "--output", tmp_path / "t.json")
    assert result.returncode == 2
    assert "generate_catalogue:" in result.stderr
    assert not (tmp_path / "t.json").exists()


def test_table_header_documents_every_column() -> None:
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    assert set(table) == {"generated_from", "columns", "resolutions", "srvs"}
    assert all(list(row) == list(table["columns"]) for row in table["srvs"])


@pytest.mark.parametrize(
    ("raw", "code"),
    [("IS", "IS"), (" rsa ", "RSA"), ("Gas Transporter", "GT"), ("other  user", "OU")],
)
def test_roles_are_normalised(raw: str, code: str) -> None:
    assert gen.normalise_role(raw) == code


@pytest.mark.parametrize("raw", ["RDP", "Supplier", "", "I S"])
def test_unknown_roles_fail_loudly(raw: str) -> None:
    with pytest.raises(gen.GenerationError, match="unknown User Role"):
        gen.normalise_role(raw)


def test_role_lists_may_be_strings() -> None:
    assert gen.normalise_roles("IS GS") == ["GS", "IS"]
    assert gen.normalise_roles("Import Supplier, Gas Supplier") == ["GS", "IS"]
    assert gen.normalise_roles(["GS", "IS", "IS"]) == ["GS", "IS"]
    assert gen.normalise_roles("") == []


def test_natural_order_agrees_with_the_package() -> None:
    srvs = ["10.1", "2.1", "1.2.1", "1.1.2", "1.1.1", "6.2.10", "6.2.9"]
    expected = ["1.1.1", "1.1.2", "1.2.1", "2.1", "6.2.9", "6.2.10", "10.1"]
    assert sorted(srvs, key=gen.srv_key) == expected
    assert sorted(srvs, key=srv_sort_key) == expected
    assert [s.srv for s in default_catalogue()] == sorted(
        (s.srv for s in default_catalogue()), key=gen.srv_key
    )


def test_parse_cvs() -> None:
    assert gen.parse_cvs("    CV = 4, 5, 6, 7 ") == (4, 5, 6, 7)
    assert gen.parse_cvs("2,1") == (1, 2)
    assert gen.parse_cvs("") is None


# build_record on synthetic sources: the rules, without the reference data.

XSD_FACTS = gen.XsdFacts(
    srv_cvs={"9.9": (1, 2, 3)},
    service_references=frozenset({"9.9", "4.7"}),
    body_elements=frozenset({"DoThing", "ReadThingRegisters"}),
    dsp_scheduled=frozenset(),
)


def _entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "Service Request Name": "Do  Thing\n",
        "Service Reference": "9.9",
        "Service Reference Variant": "9.9",
        "Critical": "No",
        "On Demand": "Yes",
        "Future Dated Response Pattern": "No",
        "DCC Scheduled": "No",
        "Non-Device Request": "No",
        "Eligible User Roles": ["IS"],
    }
    return entry | overrides


def _row(**overrides: str) -> dict[str, str]:
    row = {
        "SRV": "9.9",
        "SR": "9.9",
        "Name": "Do Thing",
        "BodyElement": "DoThing",
        "XSD_CV_comment": "1, 2, 3",
        "Template_CVs": "1",
        "Critical": "No",
        "NonDevice": "No",
        "EligibleUserRoles": "IS",
    }
    return row | overrides


def test_consistent_sources_give_a_row_without_notes() -> None:
    record, notes = gen.build_record("9.9", _entry(), _row(), XSD_FACTS)
    assert notes == []
    assert record["name"] == "Do Thing"
    assert record["command_variants"] == [1, 2, 3]
    assert record["future_dated_pattern"] is None
    assert record["smets1_supported"] is True
    assert record["restricted_allowed"] is True


def test_criticality_overrides_a_contradicting_cv_comment() -> None:
    record, notes = gen.build_record(
        "9.9", _entry(Critical="Yes"), _row(Critical="Yes", Template_CVs="4"), XSD_FACTS
    )
    assert record["command_variants"] == [4, 5, 6, 7]
    assert any("contradicts Critical = Yes" in note for note in notes)


def test_template_cv_outside_the_resolved_set_fails() -> None:
    with pytest.raises(gen.GenerationError, match="templates use CV 4"):
        gen.build_record("9.9", _entry(), _row(Template_CVs="4"), XSD_FACTS)


def test_missing_xsd_comment_falls_back_to_the_tsv() -> None:
    facts = gen.XsdFacts(
        srv_cvs={"9.9": None},
        service_references=XSD_FACTS.service_references,
        body_elements=XSD_FACTS.body_elements,
        dsp_scheduled=frozenset({"9.9"}),
    )
    record, notes = gen.build_record("9.9", _entry(), _row(XSD_CV_comment="1, 2"), facts)
    assert record["command_variants"] == [1, 2]
    assert record["dcc_scheduled"] is True
    assert any("TSV" in note for note in notes)
    assert any("DSPScheduledServiceReferenceVariant" in note for note in notes)


def test_unknown_body_element_fails_and_a_missing_one_is_noted() -> None:
    with pytest.raises(gen.GenerationError, match="Body element"):
        gen.build_record("9.9", _entry(), _row(BodyElement="Nope"), XSD_FACTS)
    record, notes = gen.build_record("9.9", _entry(), _row(BodyElement=""), XSD_FACTS)
    assert record["body_element"] is None
    assert any("no DUIS Body element" in note for note in notes)


def test_unknown_role_in_the_matrix_fails() -> None:
    with pytest.raises(gen.GenerationError, match="unknown User Role"):
        gen.build_record("9.9", _entry(**{"Eligible User Roles": ["XX"]}), _row(), XSD_FACTS)


def test_role_disagreement_is_noted_and_the_matrix_wins() -> None:
    record, notes = gen.build_record("9.9", _entry(), _row(EligibleUserRoles="IS GS"), XSD_FACTS)
    assert record["eligible_roles"] == ["IS"]
    assert notes == ["9.9: eligible_roles is ['GS', 'IS'] in data/srv-element-map.tsv; used ['IS']"]


@pytest.mark.parametrize(
    ("srv", "name", "allowed"),
    [
        ("4.7", "Read Thing Registers", False),
        ("4.7", "Read Thing Profile Data", False),
        ("4.7", "Retrieve Thing Daily Read Log", False),
        ("4.7", "Read Thing Configuration", True),
        ("9.9", "Reset Thing Registers", True),  # outside 4.x: not a consumption read
    ],
)
def test_restricted_mode_rule(srv: str, name: str, allowed: bool) -> None:
    facts = gen.XsdFacts(
        srv_cvs={srv: (1, 2, 3)},
        service_references=XSD_FACTS.service_references,
        body_elements=XSD_FACTS.body_elements,
        dsp_scheduled=frozenset(),
    )
    entry = _entry(**{"Service Request Name": name, "Service Reference Variant": srv})
    entry["Service Reference"] = srv
    record, _ = gen.build_record(srv, entry, _row(Name=name, SR=srv, SRV=srv), facts)
    assert record["restricted_allowed"] is allowed


@pytest.mark.parametrize(
    ("name", "supported"),
    [
        ("Read CHF Sub GHz Channel", False),
        ("Communications Hub Status Update – Fault Return", False),
        ("Set Auxiliary Controller State", False),
        ("Limit APC Level", False),
        ("Read Supply Status", True),
    ],
)
def test_smets1_rule(name: str, supported: bool) -> None:
    entry = _entry(**{"Service Request Name": name})
    record, _ = gen.build_record("9.9", entry, _row(Name=name), XSD_FACTS)
    assert record["smets1_supported"] is supported


def test_diff_summary_on_formatting_only() -> None:
    text = TABLE.read_text(encoding="utf-8")
    assert gen.diff_summary(json.dumps(json.loads(text)), text) == [
        "same content, different formatting"
    ]
    assert gen.diff_summary("not json", text)[0].startswith("committed table is not JSON")
