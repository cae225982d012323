"""The demo `make run` shows: opendcc running as a service, used over HTTP by a supplier.

It starts the head-end simulator (one cohort's SMETS1 meters) and the hub (SQLite in a
temporary directory) as separate processes, and plays a supplier DCC User with its own
callback server. The supplier sends signed DUIS requests: a Read Inventory (answered at once),
Read Instantaneous Import Registers to a few meters (acknowledged with I99, then answered at
the callback by a DCC-signed SMETS1 response), and requests the hub rightly refuses. Every
outcome goes into one table, every DCC signature is checked, and the demo returns non-zero
if any outcome is not the expected one, so it doubles as a smoke test.

Keys are the ZAZ1 test PKI that DCC Boxed publishes (test use only).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from opendcc.core.eui import Eui64
from opendcc.duis.authenticate import verify_document
from opendcc.duis.response import verify_smets1_signed_response
from opendcc.duis.xml import parse_xml, ra, sr
from opendcc.duis.xmldsig import SignatureInvalid
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import fleet, scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port
from opendcc.sim.user import CallbackServer, SimulatedUser
from opendcc.smki import SigningCredentials, TrustStore
from opendcc.smki.certificates import CertificateInfo

READ_METERS = scenario.METERS[:3]  # SRV 4.1.1 goes to these
CALLBACK_TIMEOUT = 15.0  # seconds to wait for the SMETS1 responses at the callback
CLEAN_EXITS = (0, -signal.SIGTERM)
FLEET_PER_COHORT = 50


def reference_keys() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared/reference/duis"
    return Path(os.environ.get("OPENDCC_REFERENCE", default)) / "keys/dccboxed-signing-tool"


@dataclass
class Outcome:
    """One request of the demo: what was sent, what came back, and what should have."""

    srv: str
    target: str
    expect_http: int
    expect_code: str  # "I99>I0": acknowledged, then answered at the callback with I0
    http: int = 0
    code: str = ""
    outcome: str = ""
    latency_ms: float | None = None
    signed: list[bytes] = field(default_factory=list)  # DCC-signed documents received

    @property
    def ok(self) -> bool:
        return self.http == self.expect_http and self.code == self.expect_code


@dataclass
class _Pending:
    """A device request acknowledged, its SMETS1 response not yet at the callback."""

    row: Outcome
    key: str
    sent: float


def run(say: Callable[[str], None], keys: Path | None = None) -> int:
    keys = keys or reference_keys()
    if not keys.is_dir():
        say(f"ZAZ1 test keys not found at {keys}; set OPENDCC_REFERENCE to the DUIS reference.")
        return 2
    started = time.monotonic()
    try:
        with _estate(keys) as estate:
            hub, headend = estate.hub, estate.headend
            for line in estate.where:
                say(line)
            say("")
            migrated = _migrate(estate, say)
            say("")
            with httpx.Client(base_url=f"{hub.url}/api/v1", timeout=30) as http:
                rows = _exchange(http, estate.callback, keys, estate.fleet.records)
            say("")
            for line in table(rows):
                say(line)
            say("")
            verified = _verify(rows, keys, say)
            say("Stopping the hub and the head-end simulator (SIGTERM).")
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is clean.
        exits = {"hub": hub.popen.returncode, "head-end simulator": headend.popen.returncode}
        unclean = {name: code for name, code in exits.items() if code not in CLEAN_EXITS}
        if unclean:
            say(f"Did not stop cleanly (exit codes): {unclean}")
        else:
            say("Both stopped cleanly.")
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        say(f"Demo FAILED: {type(exc).__name__}: {exc}")
        return 1
    unexpected = [n for n, row in enumerate(rows, 1) if not row.ok]
    elapsed = time.monotonic() - started
    if unexpected or not verified or unclean or not migrated:
        if unexpected:
            say(f"UNEXPECTED outcome in request(s) {', '.join(map(str, unexpected))}.")
        say(f"Demo FAILED in {elapsed:.1f} s.")
        return 1
    say(f"Demo complete: {len(rows)} requests, every outcome as expected, in {elapsed:.1f} s.")
    return 0


# --------------------------------------------------------------------------- the estate


@dataclass
class Estate:
    hub: HubProcess
    headend: HeadEndProcess
    callback: CallbackServer
    config: Path
    fleet: fleet.FleetFiles
    where: list[str]


@contextmanager
def _estate(keys: Path) -> Iterator[Estate]:
    """Head-end simulator and hub as processes, the supplier's callback server in this one."""
    cohorts = register_all(Registry()).profiles()
    cohort = cohorts[0].name
    meters = scenario.headend_meters()
    with (
        tempfile.TemporaryDirectory(prefix="opendcc-demo-") as tmp,
        CallbackServer() as callback,
    ):
        directory = Path(tmp)
        migrating = fleet.write_fleet(
            directory, cohorts, FLEET_PER_COHORT, str(scenario.SUPPLIER), unreachable_every=25
        )
        headend = HeadEndProcess(meters, fleet=migrating.headend)
        try:
            database = directory / "hub.db"
            xsd = keys.parents[1] / "schema/v5.4/DUIS Schema V5.4.xsd"
            config = scenario.write_config(
                directory / "hub.toml",
                keys=keys,
                cohort=cohort,
                headend=headend.endpoint,
                callback_url=callback.url,
                database_url=f"sqlite:///{database}",
                xsd=xsd if xsd.is_file() else None,
                cpl=migrating.cpl,
                registrations=migrating.registrations,
            )
            log = directory / "hub.log"
            try:
                hub = HubProcess(config, free_port(), log)
            except RuntimeError as exc:  # the log goes with the temporary directory: show it
                tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
                raise RuntimeError("\n".join([str(exc), *tail])) from None
            try:
                where = [
                    f"Head-end simulator ({cohort}, {len(meters)} SMETS1 meters"
                    f" + {FLEET_PER_COHORT} installations to migrate): {headend.endpoint}",
                    f"Hub (SQLite at {database}): {hub.url}"
                    + ("" if xsd.is_file() else " [no DUIS XSD found: schema checks off]"),
                    f"Supplier {scenario.SUPPLIER}'s callback server: {callback.url}",
                ]
                yield Estate(hub, headend, callback, config, migrating, where)
            finally:
                hub.stop()
        finally:
            headend.stop()


def _migrate(estate: Estate, say: Callable[[str], None]) -> bool:
    """The supplier's migration file through `opendcc migrate`, as the service desk runs it."""
    cohorts = len({r["cohort"] for r in estate.fleet.records})
    say(
        f"Migrating {len(estate.fleet.records)} SMETS1 installations from {cohorts} cohort(s):"
        f" opendcc migrate {estate.fleet.migration.name} --as {scenario.SUPPLIER}"
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "opendcc", "migrate", str(estate.fleet.migration)),
            *("-c", str(estate.config), "--as", str(scenario.SUPPLIER)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    for line in result.stdout.splitlines():
        if line.strip() and "work remains" not in line and "resume" not in line:
            say("  " + line)
    if result.returncode != 0:
        say(result.stderr[-2000:])
    return result.returncode == 0


def _user(keys: Path, name: str) -> SimulatedUser:
    return SimulatedUser(SigningCredentials.from_files(keys / f"{name}.key", keys / f"{name}.pem"))


def _post(http: httpx.Client, endpoint: str, body: bytes) -> httpx.Response:
    return http.post(f"/{endpoint}", content=body, headers={"Content-Type": "application/xml"})


# --------------------------------------------------------------------------- the requests


def _exchange(
    http: httpx.Client, callback: CallbackServer, keys: Path, migrated: list[dict[str, Any]]
) -> list[Outcome]:
    supplier = _user(keys, scenario.SUPPLIER_KEY)
    meter = scenario.METERS[0].device_id
    rows: list[Outcome] = []

    def send(
        srv: str,
        target: Eui64 | str,
        body: bytes,
        expect: tuple[int, str],
        endpoint: str = "serviceS",
    ) -> tuple[Outcome, httpx.Response]:
        row = Outcome(srv, str(target), *expect)
        answer = _post(http, endpoint, body)
        row.http = answer.status_code
        row.code = answer.headers.get("X-DUIS-Response-Code", "")
        row.outcome = answer.headers.get("X-OpenDCC-Reason", "")
        if answer.headers.get("content-type", "").startswith("application/xml"):
            row.signed.append(answer.content)
        rows.append(row)
        return row, answer

    # SRV 8.2 Read Inventory: a non-device request (CV 8), answered synchronously.
    row, answer = send(
        "8.2", meter, supplier.request("8.2", meter, cv=8), (200, "I0"), endpoint="serviceD"
    )
    row.outcome = _inventory(answer.content) if row.code == "I0" else row.outcome

    # SRV 4.1.1 to a few meters, one per migrated cohort among them: I99 now, the SMETS1
    # response at the callback later.
    pending: list[_Pending] = []
    first_read = b""
    fresh = {r["cohort"]: Eui64.parse(next(fleet.meters_of(r))) for r in reversed(migrated)}
    for target in [m.device_id for m in READ_METERS] + list(fresh.values()):
        body = supplier.request("4.1.1", target)
        first_read = first_read or body
        sent = time.monotonic()
        row, _ = send("4.1.1", target, body, (200, "I99>I0"))
        if row.code == "I99":
            pending.append(_Pending(row, _message_key(body), sent))

    # Requests the hub rightly refuses.
    unknown = scenario.UNKNOWN_DEVICE
    send("4.1.1", unknown, supplier.request("4.1.1", unknown), (200, "E19"))
    hub_id = scenario.COMMS_HUB.device_id
    send("4.1.1", hub_id, supplier.request("4.1.1", hub_id), (200, "E11"))
    others = scenario.OTHERS_METER.device_id
    send("4.1.1", others, supplier.request("4.1.1", others), (200, "E4"))
    row, _ = send("4.1.1", READ_METERS[0].device_id, first_read, (409, "E1"))
    row.target += " replayed"
    tampered = supplier.request("4.1.1", meter).replace(
        str(meter).encode(), str(scenario.METERS[-1].device_id).encode(), 1
    )
    row, _ = send("4.1.1", scenario.METERS[-1].device_id, tampered, (401, "E1"))
    row.target += " tampered"
    stranger = _user(keys, scenario.UNREGISTERED_KEY)
    row, _ = send("4.1.1", meter, stranger.request("4.1.1", meter), (200, "E1"))
    row.target += " by non-User"

    _collect(callback, pending)
    return rows


def _collect(callback: CallbackServer, pending: list[_Pending]) -> None:
    """Wait for the SMETS1 responses at the callback and complete their rows."""
    callback.wait_for({p.key for p in pending}, CALLBACK_TIMEOUT)
    arrived = {d.key: d for d in callback.deliveries}
    for p in pending:
        delivery = arrived.get(p.key)
        if delivery is None:
            p.row.outcome = f"acknowledged; no response at the callback in {CALLBACK_TIMEOUT} s"
            continue
        p.row.latency_ms = (delivery.at - p.sent) * 1000
        p.row.signed.append(delivery.body)
        document = parse_xml(delivery.body)
        code = (document.findtext(f"{sr('Header')}/{sr('ResponseCode')}") or "").strip()
        p.row.code = f"I99>{code}"
        value = document.findtext(f".//{ra('ActiveImportRegister')}/{ra('Value')}")
        unit = document.findtext(f".//{ra('ActiveImportRegister')}/{ra('ActiveEnergyUnit')}")
        if value is not None and unit == "Wh":
            p.row.outcome = f"import register {Decimal(value.strip()) / 1000:,.3f} kWh"
        else:
            p.row.outcome = "answered without an import register"


def _message_key(request: bytes) -> str:
    """The X-DCC-Message-ID the hub gives the response to ``request``."""
    request_id = (parse_xml(request).findtext(f"{sr('Header')}/{sr('RequestID')}") or "").strip()
    originator, target, counter = request_id.split(":")
    return f"R:{target}:{originator}:{counter}"


def _inventory(answer: bytes) -> str:
    device = parse_xml(answer).find(f".//{sr('DSPInventory')}/{sr('Device')}")
    if device is None:
        return "no device in the DSPInventory"
    kind = (device.findtext(sr("DeviceType")) or "?").strip()
    status = (device.findtext(sr("DeviceStatus")) or "?").strip()
    mpxn = (device.findtext(sr("ImportMPxN")) or "").strip()
    return f"{kind}, {status}" + (f", MPAN {mpxn}" if mpxn else "")


# --------------------------------------------------------------------------- the report


HEADINGS = ("#", "SRV", "target", "HTTP", "code", "outcome", "latency")


def table(rows: list[Outcome]) -> list[str]:
    """The outcomes as a plain-text table, one line per request."""
    cells = [
        (
            str(n),
            row.srv,
            row.target,
            str(row.http),
            row.code,
            _cut(row.outcome)
            if row.ok
            else f"UNEXPECTED (wanted HTTP {row.expect_http} {row.expect_code}): {row.outcome}",
            "" if row.latency_ms is None else f"{row.latency_ms:.0f} ms",
        )
        for n, row in enumerate(rows, 1)
    ]
    widths = [max(len(line[i]) for line in (HEADINGS, *cells)) for i in range(len(HEADINGS))]

    def line(values: tuple[str, ...]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [line(HEADINGS), "-+-".join("-" * w for w in widths), *(line(c) for c in cells)]


def _cut(text: str, width: int = 76) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _signer(info: CertificateInfo) -> str:
    role = info.role.name if info.role is not None else "unknown role"
    return f"{info.eui} ({role})"


def _verify(rows: list[Outcome], keys: Path, say: Callable[[str], None]) -> bool:
    """Check the DCC's signature on every answer and callback, and the S1SP's inside them."""
    trust = TrustStore.from_directory(keys)
    now = datetime.now(UTC)
    outer: set[str] = set()
    inner: set[str] = set()
    count = inner_count = 0
    try:
        for row in rows:
            for body in row.signed:
                document = parse_xml(body)
                outer.add(_signer(verify_document(document, trust, now)))
                count += 1
                if document.find(f".//{sr('SMETS1SignedResponse')}") is not None:
                    inner.add(_signer(verify_smets1_signed_response(document, trust, now)))
                    inner_count += 1
    except SignatureInvalid as exc:
        say(f"A signature from the hub does NOT verify: {exc.reason}")
        return False
    if count == 0:
        say("The hub sent nothing signed to verify.")
        return False
    say(f"Verified the DCC's signature on all {count} signed answers and callbacks from the hub,")
    say(f"  signed by {', '.join(sorted(outer))},")
    say(f"  and the S1SP's inside the {inner_count} SMETS1 responses: {', '.join(sorted(inner))}.")
    return True
