"""Generate the catalogue's SRV table from the public DUIS reference data.

DUIS is the DCC User Interface Specification (SEC Appendix AD). A Service Reference Variant (SRV)
names one request a DCC User may send; its Command Variants (CVs) say how it is delivered (1-3
non-critical device requests, 4-7 critical ones, 8 non-device requests answered by the DSP, the
DCC's Data Service Provider).

The reference files are GPL-3.0 and stay outside the project. This script reads them and writes
our own derived table, ``src/opendcc/catalogue/srv_table.json``:

* ``data/duis-request-matrix.json``: names, criticality, future dating, roles (primary source);
* ``data/srv-element-map.tsv``: the DUIS Body element of each SRV, CVs used by RTDS templates;
* ``schema/v5.4/DUIS Schema V5.4.xsd``: the SRV enumeration with its ``CV = ...`` comments, the
  Service Reference enumeration, the request Body choice and the DSP-schedulable SRVs.

Facts that disagree between sources are resolved by explicit rules and listed in the table's
``resolutions``; facts that cannot be resolved (an unknown role, an SRV missing from a source, a
Body element absent from the schema) stop the run.

Usage::

    python scripts/generate_catalogue.py [--reference DIR] [--output FILE] [--check]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "duis"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "opendcc" / "catalogue" / "srv_table.json"

MATRIX = "data/duis-request-matrix.json"
ELEMENT_MAP = "data/srv-element-map.tsv"
XSD = "schema/v5.4/DUIS Schema V5.4.xsd"

XS = "{http://www.w3.org/2001/XMLSchema}"

ROLES = ("ED", "ES", "GS", "GT", "IS", "OU", "RSA")
# The matrix uses the codes; the long names are accepted so a re-spelt source still loads.
ROLE_ALIASES = {
    "IMPORT SUPPLIER": "IS",
    "EXPORT SUPPLIER": "ES",
    "GAS SUPPLIER": "GS",
    "ELECTRICITY DISTRIBUTOR": "ED",
    "GAS TRANSPORTER": "GT",
    "OTHER USER": "OU",
    "REGISTERED SUPPLIER AGENT": "RSA",
}

FUTURE_DATED = {"No": None, "DSP": "DSP", "Device": "Device", "DSP & Device": "DSP & Device"}

CRITICAL_CVS = (4, 5, 6, 7)
NON_CRITICAL_CVS = (1, 2, 3)
NON_DEVICE_CVS = (8,)

# smets1_supported is False only where the SRV drives something a SMETS1 installation lacks:
# the sub-GHz radio of a dual-band SMETS2 Communications Hub Function (CHF), the logistics of
# DCC-supplied SMETS2 Communications Hubs, and Auxiliary (Proportional) Controller devices.
SMETS2_ONLY = re.compile(
    r"CHF Sub GHz|^Communications Hub Status Update|Auxiliary Controller|\bAPC\b"
)

# restricted_allowed is False for the 4.x reads that retrieve consumption data.
CONSUMPTION_READS = re.compile(
    r"Registers|TOU .*Matrices|Block Counters|Billing Data|Daily Read Log"
    r"|Consumption Log|Profile Data|Active Power Import"
)

COLUMNS = {
    "srv": "Service Reference Variant, e.g. '4.1.1'; rows are in natural numeric order.",
    "service_reference": "Service Reference: the SRV's first two numbers (an XSD enumeration).",
    "name": "Service Request name from the DUIS request matrix, whitespace collapsed.",
    "body_element": "Child element of sr:Request/sr:Body carrying this SRV (null if none).",
    "command_variants": (
        "Allowed Command Variants, from the XSD comment (TSV fallback); where it contradicts the "
        "matrix's criticality, the class set: 8 non-device, 4-7 critical, else 1-3."
    ),
    "critical": "Critical Service Request (signed pre-command flow, CV 4-7).",
    "on_demand": "May be sent on demand.",
    "future_dated_pattern": "Who holds a future-dated request: 'DSP', 'Device', 'DSP & Device'.",
    "dcc_scheduled": (
        "May be run by a DSP schedule: matrix 'DCC Scheduled' = Yes or listed in the XSD's "
        "DSPScheduledServiceReferenceVariant."
    ),
    "non_device": "Non-Device Service Request, answered by the DSP without a device (CV 8).",
    "eligible_roles": "User Roles that may send it, sorted codes among ED ES GS GT IS OU RSA.",
    "smets1_supported": (
        "Default True; False when the name names something SMETS1 lacks: 'CHF Sub GHz', "
        "'Communications Hub Status Update', 'Auxiliary Controller' or 'APC'."
    ),
    "restricted_allowed": (
        "May be used on a meter in restricted mode (consumer opted out, MP169). False for "
        "Service Reference 4.x reads whose name matches Registers, TOU .. Matrices, Block "
        "Counters, Billing Data, Daily Read Log, Consumption Log, Profile Data or Active Power "
        "Import; True otherwise."
    ),
}


class GenerationError(Exception):
    """The sources disagree in a way no rule resolves."""


@dataclass(frozen=True)
class XsdFacts:
    """What the DUIS XSD says about SRVs."""

    srv_cvs: Mapping[str, tuple[int, ...] | None]  # SRV -> CVs from its comment, in XSD order
    service_references: frozenset[str]
    body_elements: frozenset[str]
    dsp_scheduled: frozenset[str]


def srv_key(srv: str) -> tuple[int, ...]:
    """Natural numeric order: 1.1.1 < 1.2.1 < 2.1 < 10.1."""
    return tuple(int(part) for part in srv.split("."))


def collapse(text: str) -> str:
    return " ".join(text.split())


def normalise_role(raw: str) -> str:
    """Return the role code for a spelling of a DCC User Role; raise on anything unknown."""
    spelt = collapse(raw).upper()
    if spelt in ROLES:
        return spelt
    if spelt in ROLE_ALIASES:
        return ROLE_ALIASES[spelt]
    raise GenerationError(f"unknown User Role {raw!r}")


def normalise_roles(raw: str | Iterable[str]) -> list[str]:
    """Return sorted role codes from a list, or a string separated by commas or spaces."""
    if isinstance(raw, str):
        raw = re.split(r"[,;]" if re.search(r"[,;]", raw) else r"\s+", raw)
    return sorted({normalise_role(role) for role in raw if role.strip()})


def parse_yes_no(value: object, column: str, srv: str) -> bool:
    if value in ("Yes", "No"):
        return value == "Yes"
    raise GenerationError(f"{srv}: {column} is {value!r}, expected 'Yes' or 'No'")


def parse_cvs(text: str) -> tuple[int, ...] | None:
    numbers = re.findall(r"\d+", text)
    return tuple(sorted({int(n) for n in numbers})) if numbers else None


def show(cvs: Iterable[int]) -> str:
    return ", ".join(str(cv) for cv in cvs)


def read_matrix(path: Path) -> dict[str, dict[str, Any]]:
    entries = json.loads(path.read_text(encoding="utf-8"))
    counts = Counter(entry["Service Reference Variant"] for entry in entries)
    if duplicates := sorted(srv for srv, n in counts.items() if n > 1):
        raise GenerationError(f"{MATRIX}: duplicate SRVs {duplicates}")
    return {entry["Service Reference Variant"]: entry for entry in entries}


def read_element_map(path: Path) -> dict[str, dict[str, str]]:
    lines = [
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    ]
    return {row["SRV"]: row for row in csv.DictReader(lines, delimiter="\t")}


def _simple_type(root: etree._Element, name: str) -> etree._Element:
    found = root.find(f"{XS}simpleType[@name='{name}']/{XS}restriction")
    if found is None:
        raise GenerationError(f"{XSD}: no simpleType {name}")
    return found


def read_xsd(path: Path) -> XsdFacts:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(str(path), parser).getroot()
    srv_cvs: dict[str, tuple[int, ...] | None] = {}
    current: str | None = None
    for node in _simple_type(root, "ServiceReferenceVariant"):
        if isinstance(node, etree._Comment):
            match = re.match(r"\s*CV\s*=(.*)", node.text or "")
            if current is not None and match:
                srv_cvs[current] = parse_cvs(match.group(1))
            current = None
        elif node.tag == f"{XS}enumeration":
            current = node.get("value", "")
            srv_cvs[current] = None
    request = root.find(f"{XS}complexType[@name='Request']")
    choice = None if request is None else request.find(f".//{XS}element[@name='Body']//{XS}choice")
    if choice is None:
        raise GenerationError(f"{XSD}: no choice under sr:Request/sr:Body")
    return XsdFacts(
        srv_cvs=srv_cvs,
        service_references=frozenset(
            e.get("value", "") for e in _simple_type(root, "ServiceReference")
        ),
        body_elements=frozenset(e.get("name", "") for e in choice.findall(f"{XS}element")),
        dsp_scheduled=frozenset(
            e.get("value", "") for e in _simple_type(root, "DSPScheduledServiceReferenceVariant")
        ),
    )


def _command_variants(
    srv: str,
    xsd_cvs: tuple[int, ...] | None,
    row: Mapping[str, str],
    critical: bool,
    non_device: bool,
) -> tuple[tuple[int, ...], list[str]]:
    """Return the allowed CVs: the XSD comment, unless it contradicts the SRV's class."""
    notes: list[str] = []
    tsv_cvs = parse_cvs(row["XSD_CV_comment"])
    cvs = xsd_cvs
    if cvs is None:
        if tsv_cvs is None:
            raise GenerationError(f"{srv}: no CV comment in the XSD or the TSV")
        cvs = tsv_cvs
        notes.append(f"{srv}: no CV comment in the XSD; used the TSV's {show(cvs)}")
    elif tsv_cvs is not None and tsv_cvs != cvs:
        notes.append(
            f"{srv}: TSV CV comment {show(tsv_cvs)} differs from XSD {show(cvs)}; used XSD"
        )
    allowed: tuple[int, ...]
    if non_device:
        allowed, label = NON_DEVICE_CVS, "Non-Device Request = Yes"
    elif critical:
        allowed, label = CRITICAL_CVS, "Critical = Yes"
    else:
        allowed, label = NON_CRITICAL_CVS, "Critical = No"
    if not set(cvs) <= set(allowed):
        notes.append(
            f"{srv}: XSD comment CV = {show(cvs)} contradicts {label} in the matrix and the "
            f"RTDS templates (CV {row['Template_CVs']}); used {show(allowed)}"
        )
        cvs = allowed
    template_cvs = parse_cvs(row["Template_CVs"]) or ()
    if not set(template_cvs) <= set(cvs):
        raise GenerationError(f"{srv}: RTDS templates use CV {show(template_cvs)} not in {cvs}")
    return cvs, notes


def _compare(srv: str, column: str, ours: object, theirs: Mapping[str, object]) -> list[str]:
    """Note where a source (``theirs`` maps file name to its value) disagrees with ``ours``."""
    differing = [f"{value!r} in {source}" for source, value in theirs.items() if value != ours]
    return [f"{srv}: {column} is {' and '.join(differing)}; used {ours!r}"] if differing else []


def build_record(
    srv: str, entry: Mapping[str, Any], row: Mapping[str, str], xsd: XsdFacts
) -> tuple[dict[str, Any], list[str]]:
    """Return one table row and the notes on any disagreement it resolved."""
    notes: list[str] = []
    name = collapse(entry["Service Request Name"])
    notes += _compare(srv, "name", name, {ELEMENT_MAP: collapse(row["Name"])})

    service_reference = ".".join(srv.split(".")[:2])
    if service_reference not in xsd.service_references:
        raise GenerationError(f"{srv}: Service Reference {service_reference} not in the XSD")
    notes += _compare(
        srv,
        "service_reference",
        service_reference,
        {MATRIX: entry["Service Reference"], ELEMENT_MAP: row["SR"]},
    )

    critical = parse_yes_no(entry["Critical"], "Critical", srv)
    non_device = parse_yes_no(entry["Non-Device Request"], "Non-Device Request", srv)
    notes += _compare(srv, "critical", critical, {ELEMENT_MAP: row["Critical"] == "Yes"})
    notes += _compare(srv, "non_device", non_device, {ELEMENT_MAP: row["NonDevice"] == "Yes"})

    roles = normalise_roles(entry["Eligible User Roles"])
    notes += _compare(
        srv, "eligible_roles", roles, {ELEMENT_MAP: normalise_roles(row["EligibleUserRoles"])}
    )
    if not roles:
        notes.append(
            f"{srv}: no eligible User Role in any source; kept empty, so no User may send it"
        )

    cvs, cv_notes = _command_variants(srv, xsd.srv_cvs[srv], row, critical, non_device)
    notes += cv_notes

    body_element = row["BodyElement"].strip() or None
    if body_element is None:
        notes.append(f"{srv}: no DUIS Body element known; body_element is null")
    elif body_element not in xsd.body_elements:
        raise GenerationError(f"{srv}: Body element {body_element} is not in sr:Request/sr:Body")

    pattern = entry["Future Dated Response Pattern"]
    if pattern not in FUTURE_DATED:
        raise GenerationError(f"{srv}: unknown Future Dated Response Pattern {pattern!r}")

    matrix_scheduled = parse_yes_no(entry["DCC Scheduled"], "DCC Scheduled", srv)
    dcc_scheduled = matrix_scheduled or srv in xsd.dsp_scheduled
    if dcc_scheduled != matrix_scheduled:
        notes.append(
            f"{srv}: DCC Scheduled is 'No' in {MATRIX} but the XSD's "
            "DSPScheduledServiceReferenceVariant lists it; used True"
        )

    record = {
        "srv": srv,
        "service_reference": service_reference,
        "name": name,
        "body_element": body_element,
        "command_variants": list(cvs),
        "critical": critical,
        "on_demand": parse_yes_no(entry["On Demand"], "On Demand", srv),
        "future_dated_pattern": FUTURE_DATED[pattern],
        "dcc_scheduled": dcc_scheduled,
        "non_device": non_device,
        "eligible_roles": roles,
        "smets1_supported": not SMETS2_ONLY.search(name),
        "restricted_allowed": not (
            service_reference.startswith("4.") and CONSUMPTION_READS.search(name)
        ),
    }
    return record, notes


def build_table(reference: Path) -> dict[str, Any]:
    """Read the three sources under ``reference`` and return the table as a JSON object."""
    matrix = read_matrix(reference / MATRIX)
    element_map = read_element_map(reference / ELEMENT_MAP)
    xsd = read_xsd(reference / XSD)
    sets = {MATRIX: set(matrix), ELEMENT_MAP: set(element_map), XSD: set(xsd.srv_cvs)}
    if len({frozenset(s) for s in sets.values()}) != 1:
        detail = {name: sorted(s ^ sets[XSD], key=srv_key) for name, s in sets.items()}
        raise GenerationError(f"the sources list different SRVs: {detail}")

    records: list[dict[str, Any]] = []
    notes: list[str] = []
    for srv in sorted(matrix, key=srv_key):
        record, record_notes = build_record(srv, matrix[srv], element_map[srv], xsd)
        records.append(record)
        notes += record_notes
    shared = Counter(r["body_element"] for r in records if r["body_element"] is not None)
    notes += [
        f"Body element {el} is shared by {n} SRVs" for el, n in sorted(shared.items()) if n > 1
    ]
    return {
        "generated_from": [MATRIX, ELEMENT_MAP, XSD],
        "columns": COLUMNS,
        "resolutions": notes,
        "srvs": records,
    }


def render(table: Mapping[str, Any]) -> str:
    """Serialise deterministically: an indented header, then one line per SRV."""
    header = {key: value for key, value in table.items() if key != "srvs"}
    head = json.dumps(header, indent=2, ensure_ascii=False)
    rows = ",\n".join("    " + json.dumps(r, ensure_ascii=False) for r in table["srvs"])
    return head[: -len("\n}")] + ',\n  "srvs": [\n' + rows + "\n  ]\n}\n"


def diff_summary(committed: str, fresh: str, limit: int = 20) -> list[str]:
    """Say briefly how the committed table differs from a fresh generation."""
    try:
        old = json.loads(committed)
    except json.JSONDecodeError as exc:
        return [f"committed table is not JSON: {exc}"]
    new = json.loads(fresh)
    lines = [f"header '{k}' differs" for k in new if k != "srvs" and old.get(k) != new[k]]
    old_rows = {r["srv"]: r for r in old.get("srvs", [])}
    new_rows = {r["srv"]: r for r in new["srvs"]}
    for srv in sorted(old_rows.keys() | new_rows.keys(), key=srv_key):
        if srv not in new_rows:
            lines.append(f"{srv}: not in a fresh generation")
        elif srv not in old_rows:
            lines.append(f"{srv}: missing from the committed table")
        elif changed := [k for k in new_rows[srv] if old_rows[srv].get(k) != new_rows[srv][k]]:
            lines.append(f"{srv}: {', '.join(changed)} differ")
    if not lines:
        lines.append("same content, different formatting")
    return lines[:limit] + ([f"... and {len(lines) - limit} more"] if len(lines) > limit else [])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed table is stale"
    )
    args = parser.parse_args(argv)
    try:
        fresh = render(build_table(args.reference))
    except (GenerationError, OSError) as exc:
        print(f"generate_catalogue: {exc}", file=sys.stderr)
        return 2
    if args.check:
        committed = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if committed == fresh:
            print(f"{args.output.name} is up to date")
            return 0
        print(f"{args.output} differs from a fresh generation:", file=sys.stderr)
        for line in diff_summary(committed, fresh):
            print(f"  {line}", file=sys.stderr)
        return 1
    args.output.write_text(fresh, encoding="utf-8")
    table = json.loads(fresh)
    print(f"wrote {len(table['srvs'])} SRVs to {args.output}")
    for note in table["resolutions"]:
        print(f"  resolved: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
