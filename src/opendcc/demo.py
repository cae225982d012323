"""The demo `make run` shows: opendcc running as a service, used over HTTP by a supplier.

It starts one head-end simulator process per registered SMETS1 cohort, each speaking its
cohort's wire protocol and serving that cohort's installations, and the hub (SQLite in a
temporary directory) as separate processes, and plays a supplier DCC User with its own callback
server. The supplier migrates its SMETS1 fleet with `opendcc migrate`, then sends signed DUIS
(DCC User Interface Specification) requests:

- SRV (Service Reference Variant) 8.2 Read Inventory, answered at once;
- SRV 4.1.1 Read Instantaneous Import Registers to a few meters, acknowledged with I99 and then
  answered at the callback by a DCC-signed SMETS1 response;
- the same requests on a freshly migrated ESME (electricity meter) of every cohort: 4.1.1, 7.4
  Read Supply Status and 11.2 Read Firmware Version, then the critical 7.2 Disable Supply
  through the transform flow (CV (Command Variant) 4 returns a pre-command; the supplier signs
  it and sends it as CV 5), then 7.4 again, which shows the supply disabled;
- requests the hub rightly refuses;
- prepayment top-ups on a prepayment meter of every cohort, each cohort's own UTRN algorithm:
  a one-step top-up through the UTRN service (issued and delivered over the air in one call),
  a two-step one (a UTRN, then DUIS SRV 2.2 Top Up Device carrying it), 4.18 Read Meter Balance
  showing both, and the same UTRN sent again, refused (E11).

Every outcome goes into one table (the SMETS1 responses summarised from their MMC (Market
Message Catalogue) element), every DCC signature is checked, and the demo returns non-zero if
any outcome is not the expected one, so it doubles as a smoke test.

Keys are the ZAZ1 test PKI that DCC Boxed publishes (test use only).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from opendcc.core.eui import Eui64
from opendcc.duis.authenticate import verify_document
from opendcc.duis.response import verify_smets1_signed_response
from opendcc.duis.xml import parse_xml, ra, sr
from opendcc.duis.xmldsig import SignatureInvalid
from opendcc.gbcs import message as gbcs
from opendcc.gbcs.usecases import use_cases
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import CohortProfile, Registry
from opendcc.sim import fleet, scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port
from opendcc.sim.user import CallbackServer, SimulatedUser
from opendcc.smki import SigningCredentials, TrustStore
from opendcc.smki.certificates import CertificateInfo

READ_METERS = scenario.METERS[:3]  # SRV 4.1.1 goes to these
# The non-critical requests every cohort's freshly migrated ESME gets, with their bodies.
READS = (
    ("4.1.1", "<sr:ReadInstantaneousImportRegisters/>"),
    ("7.4", "<sr:ReadSupplyStatus/>"),
    ("11.2", "<sr:ReadFirmwareVersion/>"),
)
CALLBACK_TIMEOUT = 15.0  # seconds to wait for the SMETS1 responses at the callback
CLEAN_EXITS = (0, -signal.SIGTERM)
FLEET_PER_COHORT = 50
UNREACHABLE_EVERY = 25  # every 25th installation's meters are off the WAN: migration retries


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
    cohort: str = ""  # the cohort whose head-end serves the target, when that is the point
    expect_outcome: str = ""  # text the outcome must contain, if any

    @property
    def ok(self) -> bool:
        return (
            self.http == self.expect_http
            and self.code == self.expect_code
            and self.expect_outcome in self.outcome
        )


@dataclass
class _Pending:
    """A device request acknowledged, its SMETS1 response not yet at the callback."""

    row: Outcome
    key: str
    sent: float


@dataclass(frozen=True)
class Scale:
    """Scale mode: the hub on PostgreSQL (a fresh database on this server) and RabbitMQ, as
    ``gateways`` gateway and ``workers`` worker processes."""

    database_url: str
    broker_url: str
    gateways: int = 2
    workers: int = 2


def run(
    say: Callable[[str], None],
    keys: Path | None = None,
    scale: Scale | None = None,
    *,
    stay: bool = False,
) -> int:
    """``stay``: keep the hub running after the demo (for the SSI) until Enter is pressed."""
    keys = keys or reference_keys()
    if not keys.is_dir():
        say(f"ZAZ1 test keys not found at {keys}; set OPENDCC_REFERENCE to the DUIS reference.")
        return 2
    started = time.monotonic()
    try:
        with _estate(keys, scale) as estate:
            for line in estate.where:
                say(line)
            say("")
            migrated = _migrate(estate, say)
            say("")
            with httpx.Client(base_url=f"{estate.hub.url}/api/v1", timeout=30) as http:
                rows = _exchange(http, estate.callback, keys, estate.fleet.records)
                rows += _top_ups(http, estate, _supplier(keys), say)
            say("")
            for line in table(rows):
                say(line)
            say("")
            verified = _verify(rows, keys, say)
            if stay:
                say("")
                for line in estate.where[-3:]:
                    say(line)
                say("The hub keeps running for the SSI: press Enter (or Ctrl-C) to stop it.")
                with contextlib.suppress(KeyboardInterrupt, EOFError):
                    input()
            say(f"Stopping the hub and the {len(estate.headends)} head-end simulators (SIGTERM).")
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is clean.
        exits = {"hub": estate.hub.popen.returncode} | {
            f"{h.cohort} head-end simulator": h.popen.returncode for h in estate.headends
        }
        unclean = {name: code for name, code in exits.items() if code not in CLEAN_EXITS}
        if unclean:
            say(f"Did not stop cleanly (exit codes): {unclean}")
        else:
            say(f"All {len(exits)} processes stopped cleanly.")
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
    cohorts = len(estate.headends)
    say(
        f"Demo complete: {len(rows)} requests, the same ones succeeding on all {cohorts} cohorts,"
        f" every outcome as expected, in {elapsed:.1f} s."
    )
    return 0


# --------------------------------------------------------------------------- the estate


@dataclass
class Estate:
    hub: HubProcess
    headends: list[HeadEndProcess]  # one per cohort, in the registry's order
    callback: CallbackServer
    config: Path
    fleet: fleet.FleetFiles
    where: list[str]


@contextmanager
def _database(directory: Path, scale: Scale | None) -> Iterator[tuple[str, str]]:
    """The hub's database URL and how to describe it: SQLite in ``directory``, or a fresh
    PostgreSQL database, dropped afterwards."""
    if scale is None:
        database = directory / "hub.db"
        yield f"sqlite:///{database}", f"SQLite at {database}"
        return
    from sqlalchemy import text

    from opendcc.store import create_engine_for

    admin = create_engine_for(scale.database_url)
    name = f"opendcc_demo_{os.getpid()}_{int(time.time())}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin.url.set(database=name)
        yield (
            url.render_as_string(hide_password=False),
            f"PostgreSQL {url.render_as_string()}, RabbitMQ; {scale.gateways} gateways,"
            f" {scale.workers} workers",
        )
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _estate(keys: Path, scale: Scale | None = None) -> Iterator[Estate]:
    """Every cohort's head-end simulator and the hub as processes, the supplier's callback
    server in this one."""
    profiles = register_all(Registry()).profiles()
    meters = scenario.headend_meters()  # the first cohort's head-end serves these too
    with (
        tempfile.TemporaryDirectory(prefix="opendcc-demo-") as tmp,
        _database(Path(tmp), scale) as (database_url, described),
        CallbackServer() as callback,
        ExitStack() as processes,
    ):
        directory = Path(tmp)
        migrating = fleet.write_fleet(
            directory,
            profiles,
            FLEET_PER_COHORT,
            str(scenario.SUPPLIER),
            unreachable_every=UNREACHABLE_EVERY,
        )
        headends: list[HeadEndProcess] = []
        for n, profile in enumerate(profiles):
            headend = HeadEndProcess(
                profile.name,
                meters=meters if n == 0 else (),
                fleet=migrating.headends[profile.name],
            )
            processes.callback(headend.stop)
            headends.append(headend)
        first, *others = headends
        xsd = keys.parents[1] / "schema/v5.4/DUIS Schema V5.4.xsd"
        config = scenario.write_config(
            directory / "hub.toml",
            keys=keys,
            cohort=first.cohort,
            headend=first.endpoint,
            callback_url=callback.url,
            database_url=database_url,
            broker_url=scale.broker_url if scale else None,
            xsd=xsd if xsd.is_file() else None,
            cpl=migrating.cpl,
            registrations=migrating.registrations,
            gbcs_certificate=(pair.with_suffix(".pem") if (pair := gbcs_signing(keys)) else None),
            extra="".join(
                f'\n[[s1sp]]\ncohort = "{h.cohort}"\nendpoint = "{h.endpoint}"\n' for h in others
            )
            + (
                f"\n[processes]\ngateways = {scale.gateways}\nworkers = {scale.workers}\n"
                if scale
                else ""
            ),
        )
        log = directory / "hub.log"
        try:
            hub = HubProcess(config, free_port(), log)
        except RuntimeError as exc:  # the log goes with the temporary directory: show it
            tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
            raise RuntimeError("\n".join([str(exc), *tail])) from None
        processes.callback(hub.stop)  # the hub stops first: the stack unwinds in reverse
        where = [
            _where(profile, headend, len(meters) if n == 0 else 0)
            for n, (profile, headend) in enumerate(zip(profiles, headends, strict=True))
        ]
        where += [
            f"Hub ({described}): {hub.url}"
            + ("" if xsd.is_file() else " [no DUIS XSD found: schema checks off]"),
            f"Supplier {scenario.SUPPLIER}'s callback server: {callback.url}",
            *_ssi_sign_in(hub.url, database_url),
        ]
        yield Estate(hub, headends, callback, config, migrating, where)


def _ssi_sign_in(url: str, database_url: str) -> list[str]:
    """Credentials for the Self Service Interface: the demo supplier's and the service desk's."""
    from opendcc.ssi.auth import DESK, USER, Credentials
    from opendcc.store import create_engine_for

    engine = create_engine_for(database_url)
    try:
        credentials, now = Credentials(engine), datetime.now(UTC)
        supplier = credentials.issue(str(scenario.SUPPLIER), USER, now)
        desk = credentials.issue("desk", DESK, now)
    finally:
        engine.dispose()
    return [
        f"Self Service Interface: {url}/ssi/ (the JSON APIs: {url}/docs)",
        f"  sign in as the supplier: User ID {scenario.SUPPLIER}, credential {supplier}",
        f"  sign in as the DCC service desk: User ID desk, credential {desk}",
    ]


def _where(profile: CohortProfile, headend: HeadEndProcess, meters: int) -> str:
    served = f"{meters} SMETS1 meters + " if meters else ""
    return (
        f"Head-end simulator ({profile.name}, {profile.protocol},"
        f" {served}{FLEET_PER_COHORT} installations to migrate): {headend.endpoint}"
    )


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


def gbcs_signing(keys: Path) -> Path | None:
    """The supplier's GBCS digital-signing key pair in DCC's RTDS key store (next to the DUIS
    reference), without suffix; None when the GBCS reference is not there."""
    found = keys.parents[2] / "gbcs/keystore" / f"{scenario.SUPPLIER.to_bytes().hex()}-ds"
    return found if found.with_suffix(".key").is_file() else None


def _supplier(keys: Path) -> SimulatedUser:
    """The supplier, signing GBCS commands with its RTDS key store key when there is one (its
    certificate is registered for it: ``_estate``), else with its XML-signing key."""
    user = _user(keys, scenario.SUPPLIER_KEY)
    if (pair := gbcs_signing(keys)) is not None:
        key = serialization.load_pem_private_key(pair.with_suffix(".key").read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            user.gbcs_key = key
    return user


def _esme(record: dict[str, Any]) -> Eui64:
    return Eui64.parse(next(d["device_id"] for d in record["devices"] if d["type"] == "ESME"))


# --------------------------------------------------------------------------- the requests


class _Supplier:
    """The supplier at the hub's front door: sends, records each answer as a row, and keeps
    the acknowledged requests whose SMETS1 responses are to come at the callback."""

    def __init__(self, http: httpx.Client, user: SimulatedUser) -> None:
        self.http = http
        self.user = user
        self.pending: list[_Pending] = []

    def send(
        self, row: Outcome, body: bytes, endpoint: str = "serviceS"
    ) -> tuple[Outcome, httpx.Response]:
        sent = time.monotonic()
        answer = self.http.post(
            f"/{endpoint}", content=body, headers={"Content-Type": "application/xml"}
        )
        row.http = answer.status_code
        row.code = answer.headers.get("X-DUIS-Response-Code", "")
        row.outcome = answer.headers.get("X-OpenDCC-Reason", "")
        if answer.headers.get("content-type", "").startswith("application/xml"):
            row.signed.append(answer.content)
        if row.code == "I99" and row.expect_code.startswith("I99>"):
            self.pending.append(_Pending(row, _message_key(body), sent))
        return row, answer

    def read(self, srv: str, target: Eui64, body: str, cohort: str, expect: str = "") -> Outcome:
        row = Outcome(srv, str(target), 200, "I99>I0", cohort=cohort, expect_outcome=expect)
        return self.send(row, self.user.request(srv, target, cv=1, body=body))[0]

    def critical(
        self, srv: str, target: Eui64, body: str, cohort: str, expect: str
    ) -> list[Outcome]:
        """A critical SRV through the transform flow: CV 4 to serviceT answers with the
        pre-command; the supplier signs it and sends it as CV 5."""
        transform = Outcome(f"{srv} CV 4", str(target), 200, "I0", cohort=cohort)
        self.send(transform, self.user.request(srv, target, cv=4, body=body), "serviceT")
        signed = Outcome(f"{srv} CV 5", str(target), 200, "I99>I0", cohort=cohort)
        signed.expect_outcome = expect
        payload = _precommand(transform.signed[0]) if transform.signed else None
        if transform.code != "I0" or payload is None:
            transform.expect_outcome = "pre-command"  # flags a transform without one
            signed.outcome = "not sent: the transform returned no pre-command"
        else:
            message = gbcs.decode(payload)
            names = [u.name for u in use_cases(srv) if u.message_code == message.message_code]
            transform.outcome = (
                f"GBCS {'/'.join(names)} 0x{message.message_code:04X} to sign"
                f" ({len(payload)} bytes, 0xDF...)"
            )
            # Signed as a User's system signs a SMETS2 command: + 0x40 and r||s.
            self.send(signed, self.user.signed_precommand(srv, target, payload))
        return [transform, signed]

    def collect(self, callback: CallbackServer) -> None:
        _collect(callback, self.pending)
        self.pending = []


def _exchange(
    http: httpx.Client, callback: CallbackServer, keys: Path, migrated: list[dict[str, Any]]
) -> list[Outcome]:
    supplier = _Supplier(http, _supplier(keys))
    user = supplier.user
    meter = scenario.METERS[0].device_id
    first_cohort = migrated[0]["cohort"]

    # SRV 8.2 Read Inventory: a non-device request (CV 8), answered synchronously.
    row, answer = supplier.send(
        Outcome("8.2", str(meter), 200, "I0"), user.request("8.2", meter, cv=8), "serviceD"
    )
    row.outcome = _inventory(answer.content) if row.code == "I0" else row.outcome
    rows = [row]

    # SRV 4.1.1 to a few meters: I99 now, the SMETS1 response at the callback later.
    first_read = user.request("4.1.1", READ_METERS[0].device_id)
    for n, target in enumerate(m.device_id for m in READ_METERS):
        body = first_read if n == 0 else user.request("4.1.1", target)
        rows.append(supplier.send(Outcome("4.1.1", str(target), 200, "I99>I0"), body)[0])
        rows[-1].cohort = first_cohort

    # The same requests on a freshly migrated ESME of every cohort, in three rounds so that
    # each round's SMETS1 responses are in before the next: the reads, the critical 7.2
    # Disable Supply, and 7.4 again, which must show the supply disabled.
    fresh: dict[str, Eui64] = {}  # each cohort's first installation's, in the registry's order
    for record in migrated:
        fresh.setdefault(record["cohort"], _esme(record))
    blocks: dict[str, list[Outcome]] = {cohort: [] for cohort in fresh}
    for cohort, esme in fresh.items():
        expect = {"7.4": "Enabled"}
        blocks[cohort] += [supplier.read(s, esme, b, cohort, expect.get(s, "")) for s, b in READS]
    supplier.collect(callback)
    for cohort, esme in fresh.items():
        blocks[cohort] += supplier.critical(
            "7.2", esme, "<sr:DisableSupply/>", cohort, "supply disabled"
        )
    supplier.collect(callback)
    for cohort, esme in fresh.items():
        blocks[cohort].append(supplier.read("7.4", esme, dict(READS)["7.4"], cohort, "Disabled"))
    supplier.collect(callback)
    rows += [row for block in blocks.values() for row in block]

    # Requests the hub rightly refuses.
    def refused(target: Eui64, body: bytes, expect: tuple[int, str], note: str = "") -> None:
        row = supplier.send(Outcome("4.1.1", str(target), *expect), body)[0]
        row.target += note
        rows.append(row)

    unknown = scenario.UNKNOWN_DEVICE
    refused(unknown, user.request("4.1.1", unknown), (200, "E19"))
    hub_id = scenario.COMMS_HUB.device_id
    refused(hub_id, user.request("4.1.1", hub_id), (200, "E11"))
    others = scenario.OTHERS_METER.device_id
    refused(others, user.request("4.1.1", others), (200, "E4"))
    refused(READ_METERS[0].device_id, first_read, (200, "E1"), " replayed")
    last = scenario.METERS[-1].device_id
    tampered = user.request("4.1.1", meter).replace(str(meter).encode(), str(last).encode(), 1)
    refused(last, tampered, (401, "E1"), " tampered")
    stranger = _user(keys, scenario.UNREGISTERED_KEY)
    refused(meter, stranger.request("4.1.1", meter), (200, "E1"), " by non-User")
    return rows


def _top_ups(
    http: httpx.Client, estate: Estate, user: SimulatedUser, say: Callable[[str], None]
) -> list[Outcome]:
    """One-step and two-step top-ups on a prepayment ESME of every cohort, then 4.18."""
    made = subprocess.run(
        [
            *(sys.executable, "-m", "opendcc", "prepayment", "key"),
            *(str(scenario.SUPPLIER), "-c", str(estate.config)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if made.returncode != 0:
        say(made.stderr[-2000:])
        return [Outcome("UTRN key", str(scenario.SUPPLIER), 0, "key", outcome="not made")]
    say(f"Prepayment: opendcc prepayment key {scenario.SUPPLIER} (a UTRN service key)")
    service = f"{estate.hub.url}/utrn/v1/utrns"
    bearer = {"Authorization": f"Bearer {made.stdout.strip()}"}
    supplier = _Supplier(http, user)
    meters: dict[str, Eui64] = {}
    for n, record in enumerate(estate.fleet.records):
        esme = _esme(record)
        if n % UNREACHABLE_EVERY != UNREACHABLE_EVERY - 1 and fleet.prepayment(esme):
            meters.setdefault(record["cohort"], esme)
    rows: list[Outcome] = []
    tokens: dict[str, str] = {}
    for cohort, esme in meters.items():
        sent = time.monotonic()
        body = {"device": str(esme), "amount_p": 1000, "route": "one-step"}
        answer = http.post(service, json=body, headers=bearer)
        token = answer.json()
        row = Outcome("UTRN 1-step", str(esme), 201, "applied", cohort=cohort)
        row.http, row.code = answer.status_code, str(token.get("state", token.get("error")))
        row.latency_ms = (time.monotonic() - sent) * 1000
        row.outcome = f"£10.00 credited over the air: UTRN {token.get('utrn', '?')}"
        rows.append(row)
        answer = http.post(service, json={"device": str(esme), "amount_p": 500}, headers=bearer)
        tokens[cohort] = answer.json().get("utrn", "0" * 20)
        utrn = f"<sr:TopUpDevice><sr:UTRN>{tokens[cohort]}</sr:UTRN></sr:TopUpDevice>"
        rows.append(supplier.read("2.2", esme, utrn, cohort, "credit added"))
    supplier.collect(estate.callback)
    for cohort, esme in meters.items():
        rows.append(supplier.read("4.18", esme, "<sr:ReadMeterBalance/>", cohort, "balance £"))
    supplier.collect(estate.callback)
    for cohort, esme in meters.items():
        utrn = f"<sr:TopUpDevice><sr:UTRN>{tokens[cohort]}</sr:UTRN></sr:TopUpDevice>"
        row = Outcome("2.2 again", str(esme), 200, "E11", cohort=cohort)
        rows.append(supplier.send(row, user.request("2.2", esme, body=utrn))[0])
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
        smets_data = document.find(f".//{ra('SMETSData')}")
        if smets_data is not None and len(smets_data):
            p.row.outcome = summary(smets_data[0])
        else:
            p.row.outcome = "answered without SMETS data"


def _text(element: etree._Element, *path: str) -> str:
    """The text at ``path`` (local names in the response namespace) anywhere under ``element``."""
    return (element.findtext(".//" + "/".join(ra(local) for local in path)) or "?").strip()


def _import_register(element: etree._Element) -> str:
    if (value := _text(element, "ActiveImportRegister", "Value")) != "?":
        if _text(element, "ActiveImportRegister", "ActiveEnergyUnit") == "Wh":
            return f"import register {Decimal(value) / 1000:,.3f} kWh"
    elif (value := _text(element, "ConsumptionRegister", "Value")) != "?":  # a gas meter's
        return f"import register {value} {_text(element, 'ConsumptionRegister', 'Unit')}"
    return "answered without an import register"


# What each MMC response element says, in a few words (by local name).
_SUMMARIES: dict[str, Callable[[etree._Element], str]] = {
    "ReadInstantaneousImportRegistersRsp": _import_register,
    "ReadSupplyStatusRsp": lambda e: f"supply {_text(e, 'SupplyState')}",
    "ReadFirmwareVersionRsp": lambda e: f"firmware version {_text(e, 'FirmwareVersion')}",
    "DisableSupplyRsp": lambda e: "supply disabled",
    "EnableSupplyRsp": lambda e: "supply enabled",
    "ArmSupplyRsp": lambda e: "supply armed",
    "TopUpDeviceRsp": lambda e: "UTRN accepted: credit added",
    "ReadMeterBalanceRsp": lambda e: f"balance £{Decimal(_text(e, 'MeterBalance')) / 100_000:,.2f}",
}


def summary(element: etree._Element) -> str:
    """A SMETS1 response's MMC element in a few words."""
    local = etree.QName(element).localname
    found = _SUMMARIES.get(local)
    return found(element) if found else f"{local} ({len(element)} elements)"


def _precommand(answer: bytes) -> bytes | None:
    """The GBCS payload of the pre-command in a transform's synchronous answer."""
    payload = parse_xml(answer).findtext(f".//{sr('PreCommand')}/{sr('GBCSPayload')}")
    return base64.b64decode(payload) if payload else None


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


HEADINGS = ("#", "cohort", "SRV", "target", "HTTP", "code", "outcome", "latency")


def table(rows: list[Outcome]) -> list[str]:
    """The outcomes as a plain-text table, one line per request."""
    cells = [
        (
            str(n),
            row.cohort,
            row.srv,
            row.target,
            str(row.http),
            row.code,
            _cut(row.outcome) if row.ok else _unexpected(row),
            "" if row.latency_ms is None else f"{row.latency_ms:.0f} ms",
        )
        for n, row in enumerate(rows, 1)
    ]
    widths = [max(len(line[i]) for line in (HEADINGS, *cells)) for i in range(len(HEADINGS))]

    def line(values: tuple[str, ...]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [line(HEADINGS), "-+-".join("-" * w for w in widths), *(line(c) for c in cells)]


def _unexpected(row: Outcome) -> str:
    wanted = f"HTTP {row.expect_http} {row.expect_code}"
    if row.expect_outcome:
        wanted += f", {row.expect_outcome!r}"
    return f"UNEXPECTED (wanted {wanted}): {row.outcome}"


def _cut(text: str, width: int = 64) -> str:
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
