"""Six cohorts behind one running hub: the estate of the cohort contract test.

The hub runs as its own process and is reached over HTTP with requests signed by the ZAZ1
supplier key. Every registered cohort's simulated head-end runs in this process, on its own
event loop thread and real sockets, speaking its cohort's wire protocol, so the test can look
at the very meters the hub operated. Each cohort serves one dual-fuel installation: an ESME
answering also for its comms hub (CHF), a GSME answering also for its gas proxy (GPF). The
head-ends' clock is fixed (moved by the test), so a read's expected answer is computable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from tests.reference import GBCS_KEYSTORE, KEYS, XSD_V54

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.duis.xml import parse_xml, ra, sr
from opendcc.gbcs import message as gbcs
from opendcc.gbcs.usecases import use_cases
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import CohortProfile, Registry
from opendcc.sim import fleet, scenario
from opendcc.sim.headends import HeadEndServer, core_for_fleet, start_headend
from opendcc.sim.headends.core import HeadEndCore
from opendcc.sim.processes import HubProcess, free_port
from opendcc.sim.user import CallbackServer, SimulatedUser
from opendcc.smki import SigningCredentials

T = TypeVar("T")
# As in DCC's RTDS, one supplier User sends the import, gas and export supplier's SRVs and an
# Other User's; the network operator the electricity distributor's and the gas transporter's.
SUPPLIER_ROLES = ("IS", "GS", "ES", "OU")
OPERATOR_ROLES = ("ED", "GT")
PROFILES = register_all(Registry()).profiles()
COMMISSIONED = timedelta(days=35)  # meters' age: logs and profiles hold data


@dataclass
class Installation:
    profile: CohortProfile
    devices: dict[str, Eui64]  # by type: CHF, ESME, IHD, GSME, GPF
    mpan: str
    mprn: str


def installations() -> list[Installation]:
    found = []
    for index, profile in enumerate(PROFILES):
        record = fleet.installation(
            profile.name, index, 0, fleet.Models.of(profile), dual_fuel=True
        )
        devices = {d["type"]: Eui64.parse(d["device_id"]) for d in record["devices"]}
        found.append(Installation(profile, devices, record["mpan"], record["mprn"]))
    return found


class HeadEnds:
    """Every cohort's head-end on one event loop in a background thread."""

    def __init__(self, installs: list[Installation], clock: FixedClock) -> None:
        self.clock = clock
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.servers: dict[str, HeadEndServer] = {}
        for install in installs:
            record = {
                "devices": [{"type": t, "device_id": str(d)} for t, d in install.devices.items()]
            }
            core = core_for_fleet(
                install.profile,
                list(fleet.headend_meters(record)),
                commissioned=clock.now() - COMMISSIONED,
                clock=clock,
            )
            self.servers[install.profile.name] = self.call(start_headend(core))

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def core(self, cohort: str) -> HeadEndCore:
        return self.servers[cohort].core

    def close(self) -> None:
        for server in self.servers.values():
            self.call(server.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def _devices_toml(installs: list[Installation]) -> str:
    def q(value: object) -> str:
        return json.dumps(str(value))

    lines: list[str] = []
    for install in installs:
        models = fleet.Models.of(install.profile)
        for kind, device in install.devices.items():
            lines += [
                "[[devices]]",
                f"id = {q(device)}",
                f"type = {q(kind)}",
                'status = "commissioned"',
                f"manufacturer = {q(models.manufacturer)}",
                f"model = {q(models.model(kind))}",
                f"firmware_version = {q(fleet.FIRMWARE)}",
                f"cohort = {q(install.profile.name)}",
            ]
            mpxn = install.mprn if kind in ("GSME", "GPF") else install.mpan
            lines += [f"mpxn = {q(mpxn)}", ""]
    return "\n".join(lines)


@dataclass
class Estate:
    hub: HubProcess
    headends: HeadEnds
    callback: CallbackServer
    supplier: SimulatedUser
    operator: SimulatedUser  # the electricity distributor (ED)
    installs: dict[str, Installation]
    http: httpx.Client
    hub_directory: Path

    def post(self, endpoint: str, body: bytes) -> httpx.Response:
        return self.http.post(
            f"{self.hub.url}/api/v1/{endpoint}",
            content=body,
            headers={"Content-Type": "application/xml"},
        )

    def response_to(self, request: bytes, timeout: float = 30.0) -> etree._Element:
        """The signed Response delivered to the supplier's callback for ``request``."""
        rid = RequestId.parse(
            parse_xml(request).getroot().findtext(f"{sr('Header')}/{sr('RequestID')}") or ""
        )
        key = f"R:{rid.response_id()}"
        assert self.callback.wait_for({key}, timeout), f"no response to {rid}"
        return parse_xml(self.callback.body_of(key)).getroot()

    def database(self) -> str:
        return f"sqlite:///{self.hub_directory / 'hub.db'}"

    def send(
        self,
        srv: str,
        target: Eui64,
        body: str,
        *,
        critical: bool,
        user: SimulatedUser | None = None,
    ) -> etree._Element:
        """Send ``srv`` to ``target`` as ``user`` (the supplier by default; through the
        transform flow when critical) and return the delivered Response."""
        if not critical:
            request = (user or self.supplier).request(srv, target, cv=1, body=body)
            answer = self.post("serviceS", request)
            assert answer.status_code == 200, answer.headers.get("X-OpenDCC-Reason")
            return self.response_to(request)
        transform = self.supplier.request(srv, target, cv=4, body=body)
        answer = self.post("serviceT", transform)
        assert answer.status_code == 200, answer.headers.get("X-OpenDCC-Reason")
        root = parse_xml(answer.content).getroot()
        payload = root.findtext(f".//{sr('PreCommand')}/{sr('GBCSPayload')}")
        assert payload, f"no pre-command in {answer.content[:400]!r}"
        message = gbcs.decode(base64.b64decode(payload))  # a GBCS General Signing message
        codes = {u.message_code for u in use_cases(srv)}
        assert message.message_code in codes, f"{srv}: 0x{message.message_code:04X}"
        assert (message.originator, message.recipient) == (self.supplier.user_id, target)
        signed = self.supplier.signed_precommand(srv, target, base64.b64decode(payload))
        answer = self.post("serviceS", signed)
        assert answer.status_code == 200, answer.headers.get("X-OpenDCC-Reason")
        return self.response_to(signed)


def response_code(root: etree._Element) -> str:
    return root.findtext(f".//{sr('ResponseCode')}") or ""


def smets_data(root: etree._Element) -> etree._Element | None:
    found = root.find(f".//{ra('SMETSData')}")
    return found[0] if found is not None and len(found) else None


def hub_config(
    directory: Path,
    installs: list[Installation],
    headends: HeadEnds,
    callback_url: str,
    *,
    extra_config: str = "",
    response_time_scale: float = 1.0,
) -> Path:
    """The hub's configuration for the estate: every cohort's head-end, the supplier (IS, GS,
    ES; and OU) and network operator (ED, GT) registered for every installation, the devices,
    the XSD."""
    first = installs[0].profile.name
    extra = "".join(
        f'\n[[s1sp]]\ncohort = "{name}"\nendpoint = "{server.endpoint}"\n'
        for name, server in headends.servers.items()
        if name != first
    )
    return scenario.write_config(
        directory / "hub.toml",
        keys=KEYS,
        cohort=first,
        headend=headends.servers[first].endpoint,
        callback_url=callback_url,
        database_url=f"sqlite:///{directory / 'hub.db'}",
        xsd=XSD_V54,
        registrations=[(i.mpan, "IS", str(scenario.SUPPLIER)) for i in installs]
        + [(i.mprn, "GS", str(scenario.SUPPLIER)) for i in installs]
        + [(i.mpan, "ES", str(scenario.SUPPLIER)) for i in installs]
        + [(i.mpan, "ED", str(scenario.NETWORK_OPERATOR)) for i in installs]
        + [(i.mprn, "GT", str(scenario.NETWORK_OPERATOR)) for i in installs],
        extra=extra + "\n" + _devices_toml(installs) + "\n" + extra_config,
        response_time_scale=response_time_scale,
        gbcs_certificate=SUPPLIER_GBCS.with_suffix(".pem"),
        supplier_roles=SUPPLIER_ROLES,
        operator_roles=OPERATOR_ROLES,
    )


# The supplier's GBCS digital-signing key pair in DCC's RTDS key store: registered for it, and
# what it signs critical commands with, as a User's system does for SMETS2.
SUPPLIER_GBCS = GBCS_KEYSTORE / f"{scenario.SUPPLIER.to_bytes().hex()}-ds"


def supplier_gbcs_key() -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(SUPPLIER_GBCS.with_suffix(".key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@contextmanager
def estate(
    directory: Path, response_time_scale: float = 1.0, extra_config: str = ""
) -> Iterator[Estate]:
    directory.mkdir(parents=True, exist_ok=True)
    installs = installations()
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    headends = HeadEnds(installs, clock)
    try:
        with CallbackServer() as callback:
            config = hub_config(
                directory,
                installs,
                headends,
                callback.url,
                extra_config=extra_config,
                response_time_scale=response_time_scale,
            )
            hub = HubProcess(config, free_port(), directory / "hub.log")
            supplier, operator = (
                SimulatedUser(SigningCredentials.from_files(KEYS / f"{k}.key", KEYS / f"{k}.pem"))
                for k in (scenario.SUPPLIER_KEY, scenario.NETWORK_OPERATOR_KEY)
            )
            supplier.gbcs_key = supplier_gbcs_key()
            running: Estate | None = None
            try:
                with httpx.Client(timeout=60) as http:
                    running = Estate(
                        hub,
                        headends,
                        callback,
                        supplier,
                        operator,
                        {i.profile.name: i for i in installs},
                        http,
                        directory,
                    )
                    yield running
            finally:
                hub.stop()
                if running is not None:
                    running.hub.stop()  # a restarted hub is another process
    finally:
        headends.close()
        time.sleep(0)
