"""scripts/generate_catalogue.py: the rules that build the SRV table, and its --check mode."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.reference import REFERENCE

from opendcc.catalogue import default_catalogue, srv_sort_key

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_catalogue.py"
TABLE = ROOT / "src" / "opendcc" / "catalogue" / "srv_table.json"
# The GPL reference data lives beside the repository, never inside it: found where the rest
# of the suite finds it (OPENDCC_REFERENCE); without it these tests skip, or fail under CI.
DUIS = REFERENCE
needs_reference = pytest.mark.usefixtures("reference")


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
        ("Update Security Credentials (KRP)", True),  # the S1SP holds the anchors
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


# device_types: which device types each SRV may target (DUIS E11 otherwise).


def _use_case(code: str, title: str, *refs: str) -> Any:
    return gen.UseCase(code=code, title=f"{code} {title}", service_references=refs)


def _template(code: str, srv: str, target: str) -> Any:
    return gen.Template(name=f"{code}_{srv}_X.XML", code=code, srv=srv, target=target)


ESME_ID, GSME_ID, CHF_ID, GPF_ID = sorted(gen.RTDS_DEVICES)
USE_CASES = {
    uc.code: uc
    for uc in [
        _use_case("ECS17b", "Read ESME Energy Registers (Import Energy)", "4.1"),
        _use_case("GCS13a", "Read GSME Consumption Register", "4.1"),
        _use_case("ECS35c", "Read CHF Event Log", "6.13"),
        _use_case("ECS52", "Read ESME/SAPC/Comms Hub Firmware Version", "11.2"),
        _use_case("CS08", "Read PPMID/HCALCS Firmware Version"),
        _use_case("CS02b", "Update Security Credentials"),
        _use_case("GCS61", "Read gas Daily Consumption Log", "4.17"),
        _use_case("ECS42", "Remotely Close the Load Switch on the ESME", "7.1"),
    ]
}


@pytest.mark.parametrize(
    ("title", "kinds"),
    [
        ("ECS17b Read ESME Energy Registers (Import Energy)", ("ESME",)),
        ("GCS09 Set Change of Tenancy date on GPF", ("GPF",)),
        ("ECS52 Read ESME/SAPC/Comms Hub Firmware Version", ("ESME", "CHF")),
        ("CS05a Distribute Firmware to Communications Hub", ("CHF",)),
        ("CS08 Read PPMID/HCALCS Firmware Version", ("PPMID", "HCALCS")),
        ("CS10a Read ZigBee Device Event Log", ()),
        ("GCS61 Read gas Daily Consumption Log", ()),
    ],
)
def test_use_case_titles_name_device_types(title: str, kinds: tuple[str, ...]) -> None:
    assert gen.named_device_types(title) == kinds


@pytest.mark.parametrize(
    ("code", "use_case"),
    [
        ("ECS17b", "ECS17b"),
        ("CS02bSupplierBySupplier", "CS02b"),  # a capitalised qualifier
        ("ECS17", None),  # a prefix of a code is not that code
        ("ECS17bb", None),  # nor is a longer lower-case suffix
        ("8.2", None),
    ],
)
def test_template_names_resolve_to_use_cases(code: str, use_case: str | None) -> None:
    found = gen.template_use_case(code, USE_CASES)
    assert (found.code if found else None) == use_case


def test_a_template_gives_its_title_devices_and_its_target() -> None:
    gcs13a = USE_CASES["GCS13a"]
    assert gen.template_device_types(_template("GCS13a", "4.1.1", GPF_ID), gcs13a) == (
        "GPF",
        "GSME",
    )
    # No device in the title: the target alone, not the family's default (GCS: GSME).
    gcs61 = USE_CASES["GCS61"]
    assert gen.template_device_types(_template("GCS61", "4.17", GPF_ID), gcs61) == ("GPF",)
    # Neither title nor a known target: the family's default.
    assert gen.template_device_types(_template("ECS46d", "6.14.3", "X"), None) == ("ESME",)
    assert gen.template_device_types(_template("CS02b", "6.15.1", "X"), USE_CASES["CS02b"]) == ()


def test_evidence_is_per_variant_from_templates_and_per_reference_from_the_table() -> None:
    srvs = ["4.1.1", "4.1.2", "4.17", "7.1", "11.2"]
    templates = [
        _template("ECS17b", "4.1.1", ESME_ID),
        _template("GCS13a", "4.1.1", GSME_ID),
        _template("GCS61", "4.17", GPF_ID),
    ]
    evidence, notes = gen.gather_evidence(srvs, USE_CASES, templates)
    kinds = {
        srv: sorted({k for e in items for k in e.device_types}) for srv, items in evidence.items()
    }
    assert kinds == {
        "4.1.1": ["ESME", "GSME"],
        "4.1.2": [],  # "4.1" has several variants: the table alone places nothing
        "4.17": ["GPF"],  # the template already places GCS61
        "7.1": ["ESME"],  # single-variant Service Reference, from the table
        "11.2": ["CHF", "ESME"],
    }
    assert notes == []


def test_templates_to_unknown_devices_are_noted() -> None:
    templates = [_template("CS08", "11.2", "00-DB-12-34-56-78-90-A4")]
    evidence, notes = gen.gather_evidence(["11.2"], USE_CASES, templates)
    assert {k for e in evidence["11.2"] for k in e.device_types} == {
        "PPMID",
        "HCALCS",
        "ESME",
        "CHF",
    }
    assert any("00-DB-12-34-56-78-90-A4 is not a known device type" in n for n in notes)


def test_non_device_srvs_target_nothing() -> None:
    evidence = [gen.Evidence("template", ("ESME",))]
    assert gen.derive_device_types("8.2", "Read Inventory", True, evidence) == ([], [])


def test_device_types_are_the_sorted_union_plus_documented_extras() -> None:
    evidence = [gen.Evidence("a", ("GSME", "GPF")), gen.Evidence("b", ("ESME",))]
    assert gen.derive_device_types("9.9", "Read Thing", False, evidence) == (
        ["ESME", "GPF", "GSME"],
        [],
    )
    kinds, notes = gen.derive_device_types(
        "6.21", "Request Handover", False, [gen.Evidence("t", ("GPF",))]
    )
    assert kinds == ["CHF", "GPF"]
    assert notes and "added CHF" in notes[0]


@pytest.mark.parametrize(
    ("name", "kinds"),
    [("Read Export Thing", ("GSME",)), ("Read Thing (Gas)", ("ESME",)), ("Read", ("FRIDGE",))],
)
def test_device_types_contradicting_the_name_fail(name: str, kinds: tuple[str, ...]) -> None:
    with pytest.raises(gen.GenerationError):
        gen.derive_device_types("9.9", name, False, [gen.Evidence("t", kinds)])


def test_build_record_takes_the_evidence() -> None:
    record, _ = gen.build_record(
        "9.9", _entry(), _row(), XSD_FACTS, [gen.Evidence("t", ("GSME", "ESME"))]
    )
    assert record["device_types"] == ["ESME", "GSME"]
    record, _ = gen.build_record("9.9", _entry(), _row(), XSD_FACTS)
    assert record["device_types"] == []


def test_override_tables_name_known_device_types() -> None:
    tables = [gen.SRV_EXTRA_DEVICE_TYPES, gen.USE_CASE_DEVICE_TYPES]
    for table in tables:
        for kinds, reason in table.values():
            assert set(kinds) <= set(gen.DEVICE_TYPES) and reason
    catalogue = default_catalogue()
    for srv in gen.SRV_EXTRA_DEVICE_TYPES:
        assert not catalogue.get(srv).non_device, srv
    assert set(gen.RTDS_DEVICES.values()) <= set(gen.DEVICE_TYPES)


@needs_reference
def test_override_use_cases_exist_and_their_titles_name_no_device() -> None:
    use_cases = gen.read_use_cases(DUIS / gen.USE_CASES)
    for code in gen.USE_CASE_DEVICE_TYPES:
        assert gen.named_device_types(use_cases[code].title) == (), code


@needs_reference
def test_rtds_device_ids_are_checked_against_use_case_titles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_cases = gen.read_use_cases(DUIS / gen.USE_CASES)
    templates = gen.read_templates(DUIS / gen.TEMPLATES)
    gen.check_rtds_devices(templates, use_cases)
    swapped = {ESME_ID: "GSME", GSME_ID: "ESME", CHF_ID: "CHF", GPF_ID: "GPF"}
    monkeypatch.setattr(gen, "RTDS_DEVICES", swapped)
    with pytest.raises(gen.GenerationError, match="no template sent to it"):
        gen.check_rtds_devices(templates, use_cases)


@needs_reference
@pytest.mark.parametrize(
    ("srv", "kinds"),
    [
        # GCS13a "Read GSME Consumption Register" is 4.1.1 in the templates, to GSME and GPF.
        ("4.1.1", ["ESME", "GPF", "GSME"]),
        ("4.1.3", ["ESME"]),  # TOU with blocks: electricity only (ECS17e)
        ("4.1.4", ["GPF", "GSME"]),  # block counters: gas only (GCS13b)
        ("4.2", ["ESME"]),  # export
        ("4.17", ["ESME", "GPF"]),  # GCS61 goes to the GPF
        ("6.2.8", ["GSME"]),  # "(Gas)"
        ("3.2", ["ESME", "GPF"]),  # GCS09 "... on GPF"
        ("8.12.2", ["GPF"]),
        ("8.11", ["CHF"]),
        ("6.28", ["CHF"]),
        ("14.1", ["GSME"]),
        ("8.2", []),  # Read Inventory: non-device
    ],
)
def test_derivation_from_the_reference_data(srv: str, kinds: list[str]) -> None:
    assert _fresh_rows()[srv]["device_types"] == kinds


@functools.cache
def _fresh_rows() -> dict[str, dict[str, Any]]:
    return {row["srv"]: row for row in gen.build_table(DUIS)["srvs"]}


def test_every_device_srv_has_a_device_type_unless_excepted() -> None:
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    without = {r["srv"] for r in table["srvs"] if not r["non_device"] and not r["device_types"]}
    assert without == gen.DEVICE_SRVS_WITHOUT_DEVICE_TYPES
    for row in table["srvs"]:
        assert row["device_types"] == sorted(set(row["device_types"])), row["srv"]
        if row["non_device"]:
            assert row["device_types"] == [], row["srv"]
