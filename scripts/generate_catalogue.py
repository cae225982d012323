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
  Service Reference enumeration, the request Body choice and the DSP-schedulable SRVs;
* ``data/gbcs-mapping-table.json``: the GBCS (Great Britain Companion Specification) use cases
  behind each Service Reference, whose codes and titles say which device they address;
* ``templates/*.XML``: the RTDS (Reference Test Data Set) requests, which tie a use case to one
  SRV and name the device they are sent to; with the two above they give ``device_types``.

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
USE_CASES = "data/gbcs-mapping-table.json"
TEMPLATES = "templates"

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

# smets1_supported is False where the SRV makes no sense for a SMETS1 installation: the
# sub-GHz radio of a dual-band SMETS2 Communications Hub Function (CHF), the logistics of
# DCC-supplied SMETS2 Communications Hubs, and the Auxiliary (Proportional) Controllers of
# SMETS2 v4. Auxiliary Load Control Switches (ALCS) are SMETS1 too (SMETS1 v1.2 makes them
# optional), and security credentials apply: a SMETS1 device's S1SP holds its trust anchors and
# keys on its behalf (docs/cohorts.md).
SMETS2_ONLY = re.compile(
    r"CHF Sub GHz|^Communications Hub Status Update"
    r"|Auxiliary Controller|\bAPC\b"
)

# restricted_allowed is False for the 4.x reads that retrieve consumption data.
CONSUMPTION_READS = re.compile(
    r"Registers|TOU .*Matrices|Block Counters|Billing Data|Daily Read Log"
    r"|Consumption Log|Profile Data|Active Power Import"
)

# Device types a device SRV may target (DUIS E11 otherwise); the table lists them sorted.
# Electricity Smart Meter, Gas Smart Meter, Communications Hub Function, Gas Proxy Function,
# PrePayment Meter Interface Device, In-Home Display, HAN Connected Auxiliary Load Control Switch.
DEVICE_TYPES = ("ESME", "GSME", "CHF", "GPF", "PPMID", "IHD", "HCALCS")

# How a GBCS use-case title names a device. A title may name several ("ESME/SAPC/Comms Hub").
DEVICE_NAMES = {
    "ESME": re.compile(r"\bESME\b"),
    "GSME": re.compile(r"\bGSME\b"),
    "CHF": re.compile(r"\bCHF\b|\bComms Hub\b|\bCommunications Hub\b"),
    "GPF": re.compile(r"\bGPF\b|\bGas Proxy Function\b"),
    "PPMID": re.compile(r"\bPPMID\b"),
    "IHD": re.compile(r"\bIHD\b"),
    "HCALCS": re.compile(r"\bHCALCS\b"),
}

# The device a use-case family addresses when its title names none. The codes that occur are
# ECS (electricity: commands to the ESME), GCS (gas: to the GSME), CCS (Communications Hub: to
# the CHF), DBCH (dual-band Communications Hub: to the CHF's sub-GHz radio), CS (common to
# several device types: no default), and the HAN-only PCS, PECS, HECS (PPMID or HCALCS talking
# to a meter over the HAN; they have no Service Reference and place no SRV).
FAMILY_DEVICE_TYPES = {"ECS": ("ESME",), "GCS": ("GSME",), "CCS": ("CHF",), "DBCH": ("CHF",)}

# The devices the RTDS templates are addressed to (the second part of sr:RequestID). Each
# assignment is checked against the data: some template sent to the device must have a use case
# whose title names that device type and no other (A0: ECS "... on ESME"; A1: GCS "... on
# GSME"; A2: ECS35c "Read CHF Event Log"; A3: GCS09 "... on GPF", GCS59 "Restore GPF Device
# Log"). Templates sent to any other device add only what their use case's title says, and are
# listed in the resolutions: A4, A5 and A6 receive only CS03/CS04 joins, CS08 (PPMID/HCALCS) and
# ECS46d (auxiliary controller), none of which names a single device type.
RTDS_DEVICES = {
    "00-DB-12-34-56-78-90-A0": "ESME",
    "00-DB-12-34-56-78-90-A1": "GSME",
    "00-DB-12-34-56-78-90-A2": "CHF",
    "00-DB-12-34-56-78-90-A3": "GPF",
}

ALL_HAN_TYPE1 = ("ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS")  # devices with certificates
ZIGBEE_DEVICES = ("GSME", "GPF", "PPMID", "HCALCS")  # ZigBee SE application layer, not ESME/CHF

# Use cases whose title names no device and whose family (CS) has no default. Their device types
# come from here, plus the device each of their RTDS templates is sent to.
USE_CASE_DEVICE_TYPES: dict[str, tuple[tuple[str, ...], str]] = {
    # "ZigBee Device": the ESME's logs have their own use cases (ECS15a, ECS35a/b) and so do the
    # CHF's (ECS35c/d); the rest of the HAN speaks ZigBee SE.
    "CS10a": (ZIGBEE_DEVICES, "'ZigBee Device' event log: GSME, GPF, PPMID, HCALCS"),
    "CS10b": (ZIGBEE_DEVICES, "'ZigBee Device' security log: GSME, GPF, PPMID, HCALCS"),
    "CS11": (ZIGBEE_DEVICES, "'ZigBee Device' event log: GSME, GPF, PPMID, HCALCS"),
    # Every HAN device but the CHF (whose log is read by CCS06/CCS07) keeps join details.
    "CS07": (("ESME", "GSME", "GPF", "PPMID", "HCALCS"), "join details of a HAN Device"),
    # CS06 activates what CS05a ("to Communications Hub") and CS05b ("to ESME / GSME")
    # distributed; the PPMID activates its own firmware (CS09 alert).
    "CS06": (("ESME", "GSME", "CHF"), "the devices CS05a/CS05b distribute firmware to"),
}

# Per-SRV additions for the security-credential, join and unjoin services: GBCS use cases CS02x,
# CS03x and CS04x ("See GBCS") are shared by several SRVs and name no device, and the RTDS sends
# each of them to one example device only. These types are added to what the data gives (never
# removed); each addition is listed in the resolutions. They err on the side of allowing: a
# missing type here would wrongly answer E11 to a valid request.
SRV_EXTRA_DEVICE_TYPES: dict[str, tuple[tuple[str, ...], str]] = {
    # Supplier / Network Operator credentials on the devices whose trust anchors they hold; the
    # CHF's and GPF's are DCC-controlled (6.21).
    "6.15.1": (("ESME", "GSME", "PPMID", "HCALCS"), "KRP credentials on a User's devices"),
    "6.15.2": (ALL_HAN_TYPE1, "device certificates: every device that holds certificates"),
    "6.17": (ALL_HAN_TYPE1, "new device key pair: every device that holds certificates"),
    "6.21": (("CHF", "GPF"), "the DCC Controlled Devices are the CHF and the GPF"),
    "6.23": (("ESME", "GSME", "PPMID", "HCALCS"), "Supplier credentials at change of supplier"),
    "6.24.1": (ALL_HAN_TYPE1, "credential details: every device that holds certificates"),
    "6.24.2": (ALL_HAN_TYPE1, "device certificates: every device that holds certificates"),
    # Method A (critical) joins and unjoins are sent to the meter or to the critical-command
    # device joining it; methods B and C (non-critical) to either party but the CHF.
    "8.7.1": (("ESME", "GSME", "HCALCS"), "Method A/C critical join: meter or HCALCS"),
    "8.7.2": (("ESME", "GSME", "GPF", "PPMID", "HCALCS"), "Method A/B/C non-critical join"),
    "8.8.1": (("ESME", "GSME", "HCALCS"), "Method A/C critical unjoin: meter or HCALCS"),
    "8.8.2": (("ESME", "GSME", "GPF", "PPMID", "HCALCS"), "Method A/B/C non-critical unjoin"),
}

# Device SRVs allowed to have no device type (so every device would get E11). None in v5.4.
DEVICE_SRVS_WITHOUT_DEVICE_TYPES: frozenset[str] = frozenset()

# Variant names that fix the fuel: a row contradicting them stops the run.
ELECTRICITY_ONLY = re.compile(
    r"Export|Secondary Element|Voltage|Load Limit|Maximum Demand|Reactive|Active Power"
    r"|Auxiliary|Boost|\bAPC\b|Electricity"
)
GAS_ONLY = re.compile(r"\bGas\b|\bGAS\b")

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
        "Default True; False when the name names something that makes no sense for SMETS1: "
        "'CHF Sub GHz', 'Communications Hub "
        "Status Update', 'Auxiliary Controller' or 'APC'."
    ),
    "restricted_allowed": (
        "May be used on a meter in restricted mode (consumer opted out, MP169). False for "
        "Service Reference 4.x reads whose name matches Registers, TOU .. Matrices, Block "
        "Counters, Billing Data, Daily Read Log, Consumption Log, Profile Data or Active Power "
        "Import; True otherwise."
    ),
    "device_types": (
        "Device types a device request may target (else DUIS E11), sorted codes among CHF "
        "ESME GPF GSME HCALCS IHD PPMID; empty for non-device SRVs. From the GBCS use cases "
        "mapped to the SRV by the RTDS templates (named in their titles, or the use-case "
        "family's device) and the devices those templates are sent to, plus the documented "
        "overrides."
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


@dataclass(frozen=True)
class UseCase:
    """A GBCS use case from the mapping table."""

    code: str  # the title's first word, e.g. "ECS25a1" (the table's Code column may be shorter)
    title: str
    service_references: tuple[str, ...]  # as given; "See GBCS", "N/A" and the like are dropped


@dataclass(frozen=True)
class Template:
    """One RTDS request template: a use case sent as one SRV to one device."""

    name: str  # file name
    code: str  # file name up to the first "_", e.g. "CS02bSupplierBySupplier" or "8.2"
    srv: str
    target: str  # sr:RequestID's second part: the device (or DCC) it is sent to


@dataclass(frozen=True)
class Evidence:
    """Device types one source gives an SRV."""

    source: str
    device_types: tuple[str, ...]


def named_device_types(title: str) -> tuple[str, ...]:
    """Return the device types a use-case title names, e.g. ("CHF",) for "Read CHF Event Log"."""
    return tuple(kind for kind, name in DEVICE_NAMES.items() if name.search(title))


def family(code: str) -> str:
    """A use-case code's family: its leading capitals, e.g. "ECS" for "ECS17b"."""
    match = re.match(r"[A-Z]+", code)
    return match.group() if match else ""


def read_use_cases(path: Path) -> dict[str, UseCase]:
    use_cases: dict[str, UseCase] = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        title = collapse(entry["Use Case Title"])
        code = title.split()[0]
        if code in use_cases:
            raise GenerationError(f"{USE_CASES}: duplicate use case {code}")
        refs = re.split(r"\s*,\s*", (entry["Service Reference"] or "").strip())
        use_cases[code] = UseCase(
            code=code,
            title=title,
            service_references=tuple(r for r in refs if re.fullmatch(r"\d+(\.\d+)+", r)),
        )
    return use_cases


def read_templates(directory: Path) -> list[Template]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    namespaces = {"sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}
    templates = []
    for path in sorted(directory.glob("*.XML")):
        root = etree.parse(str(path), parser).getroot()
        srv = root.findtext("sr:Header/sr:ServiceReferenceVariant", namespaces=namespaces)
        request_id = root.findtext("sr:Header/sr:RequestID", namespaces=namespaces) or ""
        parts = request_id.split(":")
        if srv is None or len(parts) != 3:
            raise GenerationError(f"{TEMPLATES}/{path.name}: no SRV or malformed RequestID")
        templates.append(Template(path.name, path.name.split("_")[0], srv, parts[1].upper()))
    if not templates:
        raise GenerationError(f"{TEMPLATES}: no *.XML templates")
    return templates


def template_use_case(code: str, use_cases: Mapping[str, UseCase]) -> UseCase | None:
    """The use case a template file is named after: the longest known code that, followed by
    nothing or a capitalised qualifier ("MAC", "Critical", "Handover", ...), spells its name."""
    matches = [
        known
        for known in use_cases
        if code == known or (code.startswith(known) and code[len(known)].isupper())
    ]
    return use_cases[max(matches, key=len)] if matches else None


def check_rtds_devices(templates: Iterable[Template], use_cases: Mapping[str, UseCase]) -> None:
    """Each device in RTDS_DEVICES must receive a use case naming its type and no other."""
    for device, kind in RTDS_DEVICES.items():
        named = {
            named_device_types(use_case.title)
            for t in templates
            if t.target == device and (use_case := template_use_case(t.code, use_cases))
        }
        if (kind,) not in named:
            raise GenerationError(
                f"RTDS device {device} is taken for a {kind}, but no template sent to it has a "
                f"use case naming the {kind} alone"
            )


def declared_device_types(use_case: UseCase | None) -> tuple[str, ...]:
    """What a use case itself says about its device: USE_CASE_DEVICE_TYPES, else the devices
    its title names; () if neither says anything."""
    if use_case is None:
        return ()
    if use_case.code in USE_CASE_DEVICE_TYPES:
        return USE_CASE_DEVICE_TYPES[use_case.code][0]
    return named_device_types(use_case.title)


def template_device_types(template: Template, use_case: UseCase | None) -> tuple[str, ...]:
    """The device types one template gives its SRV: what its use case declares plus the device
    it is sent to; if neither is known, its use-case family's device (ECS: ESME, ...)."""
    kinds = set(declared_device_types(use_case))
    if template.target in RTDS_DEVICES:
        kinds.add(RTDS_DEVICES[template.target])
    if not kinds:
        kinds.update(FAMILY_DEVICE_TYPES.get(family(template.code), ()))
    return tuple(sorted(kinds))


def gather_evidence(
    srvs: Iterable[str],
    use_cases: Mapping[str, UseCase],
    templates: Iterable[Template],
    non_device: Iterable[str] = (),
) -> tuple[dict[str, list[Evidence]], list[str]]:
    """Return, per SRV, what the templates and the mapping table say about its device types.

    A template ties its use case to its exact SRV and gives the device it is sent to. The mapping
    table ties a use case to a Service Reference; that is used only when the Service Reference
    has a single variant (or the table names the variant), since e.g. "4.1" covers 4.1.1-4.1.4.
    Templates of ``non_device`` SRVs (sent to the DCC, not a device) are skipped.
    """
    known = list(srvs)
    skipped = set(non_device)
    evidence: dict[str, list[Evidence]] = {srv: [] for srv in known}
    notes: list[str] = []
    placed: set[tuple[str, str]] = set()  # (use case, SRV) pairs a template already covers
    unknown_targets: dict[str, list[str]] = {}
    for t in templates:
        if t.srv not in evidence:
            raise GenerationError(f"{TEMPLATES}/{t.name}: SRV {t.srv} is not in the matrix")
        if t.srv in skipped or re.fullmatch(r"[\d.]+", t.code):
            continue  # a non-device request (e.g. 5.1 running ECS21a), sent to the DCC
        use_case = template_use_case(t.code, use_cases)
        if t.target not in RTDS_DEVICES:
            unknown_targets.setdefault(t.target, []).append(t.code)
        if use_case is not None:
            placed.add((use_case.code, t.srv))
        evidence[t.srv].append(Evidence(f"template {t.name}", template_device_types(t, use_case)))
    for device, codes in sorted(unknown_targets.items()):
        notes.append(
            f"RTDS device {device} is not a known device type; templates sent to it "
            f"({', '.join(sorted(set(codes)))}) add only what their use case names"
        )
    variants: dict[str, list[str]] = {}
    for srv in known:
        variants.setdefault(".".join(srv.split(".")[:2]), []).append(srv)
    for use_case in use_cases.values():
        for ref in use_case.service_references:
            targets = [ref] if ref in evidence else variants.get(ref, [])
            if len(targets) != 1:
                if targets and not any((use_case.code, v) in placed for v in targets):
                    notes.append(
                        f"use case {use_case.code} maps to Service Reference {ref}, which has "
                        f"several variants, and no template places it; not used"
                    )
                continue
            if (use_case.code, targets[0]) in placed:
                continue
            kinds = declared_device_types(use_case) or FAMILY_DEVICE_TYPES.get(
                family(use_case.code), ()
            )
            evidence[targets[0]].append(Evidence(f"use case {use_case.code}", kinds))
    return evidence, notes


def derive_device_types(
    srv: str, name: str, non_device: bool, evidence: Sequence[Evidence]
) -> tuple[list[str], list[str]]:
    """Return the SRV's sorted device types and notes on overrides: the union of the evidence,
    plus SRV_EXTRA_DEVICE_TYPES; empty for a non-device SRV."""
    if non_device:
        if srv in SRV_EXTRA_DEVICE_TYPES:
            raise GenerationError(f"{srv}: non-device SRV in SRV_EXTRA_DEVICE_TYPES")
        return [], []
    notes: list[str] = []
    kinds = {kind for item in evidence for kind in item.device_types}
    if srv in SRV_EXTRA_DEVICE_TYPES:
        extra, reason = SRV_EXTRA_DEVICE_TYPES[srv]
        if added := sorted(set(extra) - kinds):
            notes.append(
                f"{srv}: device_types from the data are {sorted(kinds)}; added "
                f"{', '.join(added)} ({reason})"
            )
        kinds |= set(extra)
    if unknown := kinds - set(DEVICE_TYPES):
        raise GenerationError(f"{srv}: unknown device types {sorted(unknown)}")
    if ELECTRICITY_ONLY.search(name) and kinds & {"GSME", "GPF"}:
        raise GenerationError(f"{srv}: {name!r} is electricity-only but gets {sorted(kinds)}")
    if GAS_ONLY.search(name) and "ESME" in kinds:
        raise GenerationError(f"{srv}: {name!r} is gas-only but gets {sorted(kinds)}")
    return sorted(kinds), notes


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
    srv: str,
    entry: Mapping[str, Any],
    row: Mapping[str, str],
    xsd: XsdFacts,
    evidence: Sequence[Evidence] = (),
) -> tuple[dict[str, Any], list[str]]:
    """Return one table row and the notes on any disagreement it resolved.

    ``evidence`` is what the use cases and templates say about the SRV's device types.
    """
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

    device_types, device_notes = derive_device_types(srv, name, non_device, evidence)
    notes += device_notes

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
        "device_types": device_types,
    }
    return record, notes


def build_table(reference: Path) -> dict[str, Any]:
    """Read the sources under ``reference`` and return the table as a JSON object."""
    matrix = read_matrix(reference / MATRIX)
    element_map = read_element_map(reference / ELEMENT_MAP)
    xsd = read_xsd(reference / XSD)
    use_cases = read_use_cases(reference / USE_CASES)
    templates = read_templates(reference / TEMPLATES)
    check_rtds_devices(templates, use_cases)
    sets = {MATRIX: set(matrix), ELEMENT_MAP: set(element_map), XSD: set(xsd.srv_cvs)}
    if len({frozenset(s) for s in sets.values()}) != 1:
        detail = {name: sorted(s ^ sets[XSD], key=srv_key) for name, s in sets.items()}
        raise GenerationError(f"the sources list different SRVs: {detail}")

    non_device = {srv for srv, e in matrix.items() if e["Non-Device Request"] == "Yes"}
    evidence, notes = gather_evidence(sorted(matrix, key=srv_key), use_cases, templates, non_device)
    records: list[dict[str, Any]] = []
    for srv in sorted(matrix, key=srv_key):
        record, record_notes = build_record(srv, matrix[srv], element_map[srv], xsd, evidence[srv])
        records.append(record)
        notes += record_notes
    for use_case in sorted(USE_CASE_DEVICE_TYPES):
        kinds, reason = USE_CASE_DEVICE_TYPES[use_case]
        notes.append(
            f"use case {use_case}: title names no device; took {', '.join(kinds)} ({reason})"
        )
    missing = {r["srv"] for r in records if not r["non_device"] and not r["device_types"]}
    if missing != DEVICE_SRVS_WITHOUT_DEVICE_TYPES:
        raise GenerationError(
            f"device SRVs without device types are {sorted(missing, key=srv_key)}, but "
            f"DEVICE_SRVS_WITHOUT_DEVICE_TYPES lists {sorted(DEVICE_SRVS_WITHOUT_DEVICE_TYPES)}"
        )
    shared = Counter(r["body_element"] for r in records if r["body_element"] is not None)
    notes += [
        f"Body element {el} is shared by {n} SRVs" for el, n in sorted(shared.items()) if n > 1
    ]
    return {
        "generated_from": [MATRIX, ELEMENT_MAP, XSD, USE_CASES, f"{TEMPLATES}/*.XML"],
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
