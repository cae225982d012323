"""The RTDS sweep: every DCC RTDS request template, re-addressed to each cohort's migrated
installation, signed with the ZAZ1 keys and sent through the running hub.

A template keeps its body; only who sends it and which device it names change:

- the target is the installation's device of the type the SRV takes (the template's name says
  GSME or GPF where it matters; else the RTDS device id's usual type, else the first type of
  the SRV's in the order ESME, GSME, CHF, GPF, IHD, PPMID, HCALCS the installation has);
- RTDS device ids in the body (8.2's, 8.3's DeviceID ...) name the installation's devices;
- 12.2 Device Pre-Notification names a replacement meter of the installation's cohort (a new
  device id, the cohort's manufacturer and model) and 8.4's DeleteDevice names that device,
  now Pending in the SMI: DUIS deletes only a device not yet installed;
- a CurrentDateTime (6.11's, 8.1.1's: the time the User sent it, checked by the meter within
  its TolerancePeriod) is the meters' time now, not 2014's;
- the sender is the supplier (IS, GS, ES, OU) where the SRV allows one of its roles, else the
  network operator (ED, GT);
- critical SRVs go through the transform flow (CV 4, then the signed pre-command as CV 5);
- 5.2 Read and 5.3 Delete Schedule follow 5.1 Create Schedule and name the DSPScheduleID it
  answered for the same installation (the RTDS's 123 is a placeholder, like its device ids).

Each answer is kept with its HTTP status, DUIS code, XSD validity and DCC signature; device
requests' Responses are taken from the supplier's callback. Requests that change an
installation for good (8.3 Decommission, 8.4 Update Inventory) go last, after every other
answer arrived. ``python -m tests.s1sp.contract.sweep`` prints the tally.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from tests.reference import KEYS, TEMPLATES, XSD_V54
from tests.s1sp.contract.estate import (
    OPERATOR_ROLES,
    PROFILES,
    SUPPLIER_ROLES,
    Estate,
    Installation,
)

from opendcc.catalogue import default_catalogue
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.offering import smets1_catalogue
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml, ra, sr
from opendcc.duis.xmldsig import DCC_SIGNED, SignatureInvalid, SignerPolicy, verify
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from opendcc.smki import TrustStore

CATALOGUE = default_catalogue()
DCC = Eui64.parse("90-B3-D5-1F-30-00-00-02")
# The device types the RTDS templates' device ids usually stand for.
RTDS_TYPES = {
    "00-DB-12-34-56-78-90-A0": "ESME",
    "00-DB-12-34-56-78-90-A1": "GSME",
    "00-DB-12-34-56-78-90-A2": "CHF",
    "00-DB-12-34-56-78-90-A3": "GPF",
    "00-DB-12-34-56-78-90-A4": "IHD",
    "00-DB-12-34-56-78-90-A5": "IHD",
}
PREFERENCE = ("ESME", "GSME", "CHF", "GPF", "IHD", "PPMID", "HCALCS")
LAST = frozenset({"8.3", "8.4"})  # they take a device out of service
# 5.2 Read and 5.3 Delete Schedule name the DSPScheduleID of a schedule 5.1 created: they go
# after 5.1 and name the one it created on the same installation.
CREATE_SCHEDULE, ON_SCHEDULE = "5.1", frozenset({"5.2", "5.3"})
_SCHEDULE_ID = re.compile(r"(<(?:\w+:)?DSPScheduleID>)[^<]*(</)")
_RTDS_ID = re.compile(r"00-DB-12-34-56-78-90-A[0-9A-F]")
_NOW = re.compile(r"(<(?:\w+:)?CurrentDateTime>)[^<]*(</)")
# 12.2 pre-notifies a replacement meter of the installation's cohort; 8.4 deletes it again.
PRENOTIFY, DELETE = "12.2", "8.4"
_MANUFACTURER = re.compile(r"(<(?:\w+:)?DeviceManufacturer>)[^<]*(</)")
_MODEL = re.compile(r"(<(?:\w+:)?DeviceModel>)[^<]*(</)")


@dataclass(frozen=True)
class Template:
    path: Path
    srv: str
    cv: int
    target: str  # the RTDS RequestID's target
    body: etree._Element  # the child of sr:Body


def templates(directory: Path = TEMPLATES) -> list[Template]:
    found = []
    for path in sorted(directory.iterdir()):
        root = parse_xml(path.read_bytes()).getroot()
        header = root.find(sr("Header"))
        assert header is not None, path
        body = root.find(sr("Body"))
        assert body is not None and len(body) == 1, path
        found.append(
            Template(
                path,
                header.findtext(sr("ServiceReferenceVariant")) or "",
                int(header.findtext(sr("CommandVariant")) or "0"),
                (header.findtext(sr("RequestID")) or "").split(":")[1],
                body[0],
            )
        )
    return found


@dataclass
class Answer:
    template: str
    srv: str
    cohort: str
    target_type: str
    status: int = 0  # the last HTTP status
    code: str = ""  # the final DUIS code, "held" when a future-dated request is still waiting
    reason: str = ""
    invalid: list[str] = field(default_factory=list)  # XSD or signature failures
    key: str = ""  # the callback key awaited, if any


def target_type(template: Template, install: Installation) -> str:
    types = {t.value for t in CATALOGUE.get(template.srv).device_types}
    name = template.path.name
    for hint in ("GPF", "GSME"):
        if f"_{hint}_" in name and hint in types:
            return hint
    usual = RTDS_TYPES.get(template.target)
    if usual in types and usual in install.devices:
        return usual
    for kind in PREFERENCE:
        if kind in types and kind in install.devices:
            return kind
    return next((k for k in PREFERENCE if k in types), usual or "ESME")


def _device(install: Installation, kind: str) -> Eui64:
    found = install.devices.get(kind)
    if found is not None:
        return found
    # No such device in the installation: an id the hub does not know (answered E...).
    return Eui64.parse(f"00-DB-12-34-56-78-9F-{PREFERENCE.index(kind):02X}")


def _replacement(install: Installation) -> Eui64:
    """The id of the replacement meter 12.2 pre-notifies on ``install`` (not yet in the SMI)."""
    esme = install.devices["ESME"].value
    return Eui64((esme & ~0xFFFF) | 0xFE01)


def _readdress(body: etree._Element, srv: str, install: Installation, now: datetime) -> str:
    text = etree.tostring(body, encoding="unicode")
    text = _NOW.sub(lambda m: m.group(1) + now.strftime("%Y-%m-%dT%H:%M:%S.00Z") + m.group(2), text)
    if srv in (PRENOTIFY, DELETE):
        profile = install.profile
        text = _MANUFACTURER.sub(lambda m: m.group(1) + profile.manufacturer + m.group(2), text)
        text = _MODEL.sub(lambda m: m.group(1) + profile.device_models[0] + m.group(2), text)
        return _RTDS_ID.sub(lambda m: str(_replacement(install)), text)
    return _RTDS_ID.sub(lambda m: str(_device(install, RTDS_TYPES.get(m.group(0), "ESME"))), text)


def _sender(estate: Estate, srv: str) -> SimulatedUser:
    """The supplier where one of its roles may send the SRV, else the network operator where
    one of its may; else the supplier (refused E2: no User role may send it)."""
    roles = {r.value for r in CATALOGUE.get(srv).eligible_roles}
    if roles & set(SUPPLIER_ROLES) or not roles & set(OPERATOR_ROLES):
        return estate.supplier
    return estate.operator


class Checker:
    """Every answer XSD-valid and DCC-signed."""

    def __init__(self) -> None:
        self.schema = DuisSchema(XSD_V54)
        self.trust = TrustStore.from_directory(KEYS)
        self.policy = SignerPolicy(DCC_SIGNED, DCC)

    def problems(self, body: bytes) -> list[str]:
        try:
            root = parse_xml(body).getroot()
        except Exception as exc:  # not XML at all
            return [f"not XML: {exc}"]
        found = []
        if not self.schema.is_valid(root):
            found.append("XSD-invalid")
        try:
            verify(root, self.trust, self.policy, datetime.now(UTC))
        except SignatureInvalid as exc:
            found.append(f"signature: {exc}")
        return found


def _code(body: bytes) -> str:
    try:
        root = parse_xml(body).getroot()
    except Exception:
        return ""
    return root.findtext(f"{sr('Header')}/{sr('ResponseCode')}") or ""


def _why(body: bytes) -> str:
    """The S1SP's explanation in a delivered Response (its SMETS1Debug entries), if any."""
    try:
        root = parse_xml(body).getroot()
    except Exception:
        return ""
    return "; ".join(e.text or "" for e in root.iter(ra("Error")))


# One User's counters must arrive in order (replay protection): each request is made and
# posted under this lock; checking the answers goes on beside it.
_IN_ORDER = threading.Lock()


def _post(
    estate: Estate, endpoint: str, make: Callable[[], bytes], answer: Answer, check: Checker
) -> tuple[bytes, bytes]:
    """Make a request and post it, in counter order; the request and the answer's body."""
    with _IN_ORDER:
        request = make()
        response = estate.post(endpoint, request)
    answer.status = response.status_code
    answer.reason = response.headers.get("X-OpenDCC-Reason", "")
    answer.code = _code(response.content) or f"HTTP {response.status_code}"
    if response.content:
        answer.invalid += check.problems(response.content)
    return request, response.content


def _endpoint(cv: int) -> str:
    return {4: "serviceT", 8: "serviceD"}.get(cv, "serviceS")


def send(
    estate: Estate,
    template: Template,
    install: Installation,
    check: Checker,
    schedules: list[str] | None = None,
) -> Answer:
    """Send one template to one installation; ``schedules``: the DSPScheduleIDs 5.1 created
    there, for 5.2 and 5.3 to name."""
    kind = "" if template.cv == 8 else target_type(template, install)
    target = DCC if template.cv == 8 else _device(install, kind)
    answer = Answer(template.path.name, template.srv, install.profile.name, kind)
    user = _sender(estate, template.srv)
    body = _readdress(
        template.body, template.srv, install, estate.headends.clock.now().astimezone(UTC)
    )
    if template.srv in ON_SCHEDULE and schedules:
        body = _SCHEDULE_ID.sub(lambda m: m.group(1) + schedules[-1] + m.group(2), body)
    request, content = _post(
        estate,
        _endpoint(template.cv),
        lambda: user.request(template.srv, target, cv=template.cv, body=body),
        answer,
        check,
    )
    if template.cv == 4 and answer.code == "I0":
        root = parse_xml(content).getroot()
        payload = root.findtext(f".//{sr('PreCommand')}/{sr('GBCSPayload')}")
        if not payload:
            answer.code = "no pre-command"
            return answer
        signed = base64.b64decode(payload)
        request, _ = _post(
            estate,
            "serviceS",
            lambda: user.signed_precommand(template.srv, target, signed),
            answer,
            check,
        )
    if template.srv == CREATE_SCHEDULE and answer.code == "I0" and schedules is not None:
        created = parse_xml(content).getroot().findtext(f".//{sr('DSPScheduleID')}")
        if created:
            schedules.append(created)
    if answer.code == "I99":
        rid = RequestId.parse(
            parse_xml(request).getroot().findtext(f"{sr('Header')}/{sr('RequestID')}") or ""
        )
        answer.key = f"R:{rid.response_id()}"
    return answer


def collect(estate: Estate, answers: Iterable[Answer], check: Checker, timeout: float) -> None:
    """Take the delivered Response of each acknowledged request (``held`` if none came)."""
    waiting = [a for a in answers if a.key]
    estate.callback.wait_for({a.key for a in waiting}, timeout)
    arrived = estate.callback.keys()
    for answer in waiting:
        if answer.key not in arrived:
            answer.code = "held"
            continue
        body = estate.callback.body_of(answer.key)
        answer.code = _code(body)
        if answer.code != "I0":
            answer.reason = _why(body)
        answer.invalid += check.problems(body)


def sweep(
    estate: Estate, *, timeout: float = 60.0, only: frozenset[str] | None = None
) -> list[Answer]:
    """Send every template (or those of the SRVs ``only`` names) to every installation."""
    check = Checker()
    found = [t for t in templates() if only is None or t.srv in only]
    ordered = [t for t in found if t.srv not in LAST] + [t for t in found if t.srv in LAST]
    creates = [i for i, t in enumerate(ordered) if t.srv == CREATE_SCHEDULE]
    if creates:
        after = ordered[creates[-1]]
        reads = [t for t in ordered if t.srv in ON_SCHEDULE]
        ordered = [t for t in ordered if t.srv not in ON_SCHEDULE]
        at = ordered.index(after) + 1
        ordered[at:at] = reads
    answers: list[Answer] = []
    for phase in (False, True):
        chosen = [t for t in ordered if (t.srv in LAST) == phase]

        def cohort_run(install: Installation, chosen: list[Template] = chosen) -> list[Answer]:
            mine = Checker()  # an XSD validator is not shared between threads
            schedules: list[str] = []  # the DSPScheduleIDs 5.1 created on this installation
            return [send(estate, t, install, mine, schedules) for t in chosen]

        # One sender per cohort, as six Users' systems would send: each in template order.
        with ThreadPoolExecutor(len(estate.installs)) as pool:
            batch = [a for run in pool.map(cohort_run, estate.installs.values()) for a in run]
        collect(estate, batch, check, timeout)
        answers += batch
    return answers


# Refusals the catalogue decides (its E11 for a device, E12 for a non-device SRV), and the
# words the hub uses for them.
_CATALOGUE_WORDS = ("does not offer", "not applicable", "is not offered")


def against_catalogue(answers: list[Answer]) -> list[str]:
    """Where an answer disagrees with the published SMETS1 service catalogue: an SRV it offers
    refused as not offered, or one it does not offer answered otherwise than refused, with its
    reason."""
    table = smets1_catalogue(CATALOGUE, PROFILES)
    by_srv = {name: {e.srv: e for e in entries} for name, entries in table.items()}
    found = []
    for answer in answers:
        entry = by_srv[answer.cohort][answer.srv]
        says_not = answer.code in {"E11", "E12"} and any(
            w in answer.reason for w in _CATALOGUE_WORDS
        )
        if entry.offer.offered and says_not:
            found.append(f"{answer.template} {answer.cohort}: offered, refused {answer.reason}")
        elif not entry.offer.offered:
            if answer.code in {"I0", "I99", "held"}:
                found.append(
                    f"{answer.template} {answer.cohort}: not offered, answered {answer.code}"
                )
            elif answer.code in {"E11", "E12"} and entry.reason not in answer.reason:
                found.append(f"{answer.template} {answer.cohort}: why not? {answer.reason}")
    return found


def tally(answers: list[Answer]) -> Counter[str]:
    return Counter(a.code for a in answers)


def report(answers: list[Answer]) -> str:
    counts = tally(answers)
    total = len(answers)
    lines = [f"{total} answers; I0 {counts['I0']} ({100 * counts['I0'] / total:.1f} %)"]
    lines += [f"  {code:>10} {n:5d}" for code, n in counts.most_common()]
    invalid = [a for a in answers if a.invalid]
    lines.append(f"  answers not XSD-valid or not DCC-signed: {len(invalid)}")
    lines += [f"    {a.template} {a.cohort}: {a.invalid}" for a in invalid[:20]]
    lines.append(f"  HTTP 5xx: {sum(a.status >= 500 for a in answers)}")
    by_srv: dict[str, Counter[str]] = {}
    for a in answers:
        if a.code != "I0":
            by_srv.setdefault(a.srv, Counter())[f"{a.code} {a.reason}"[:90]] += 1
    for srv in sorted(by_srv, key=lambda s: tuple(int(p) for p in s.split("."))):
        for what, n in by_srv[srv].most_common():
            lines.append(f"  {srv:>8} x{n:<3} {what}")
    return "\n".join(lines)


def main() -> None:
    import sys
    import tempfile

    from tests.s1sp.contract.estate import estate

    only = frozenset(sys.argv[1:]) or None
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory, estate(Path(directory)) as running:
        answers = sweep(running, only=only)
        if only:
            print((Path(directory) / "hub.log").read_text()[-6000:])
    print(report(answers))
    print(f"{time.monotonic() - started:.0f} s; scenario supplier {scenario.SUPPLIER}")


if __name__ == "__main__":
    main()
