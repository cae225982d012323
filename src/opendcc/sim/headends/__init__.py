"""Simulated cohort head-ends: a protocol-neutral core and one server per wire protocol.

``start_headend`` builds the server a cohort's profile names (``profile.protocol``) around a
``HeadEndCore`` and starts it. ``read_fleet`` reads a fleet file (JSON Lines: one meter per
line, with its type, firmware version, payment mode and opening balance, the comms hub and gas
proxy ids it answers for, and injected faults). Run one head-end as a process with
``python -m opendcc.sim.headends``.

``core_for_fleet`` provisions every meter it builds with a ``TokenReader``: the UTRN (Unique
Transaction Reference Number) algorithm the cohort's profile names and the cohort's
``CohortKeys`` from ``key_seed``, the seed the S1SP issues the cohort's tokens with; so the
meters accept the S1SP's tokens and no other cohort's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from opendcc.core.clock import Clock
from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import DEFAULT_SEED, CohortKeys
from opendcc.prepayment.utrn import algorithm
from opendcc.s1sp.contract import CohortProfile
from opendcc.sim.headends.core import Faults, HeadEndCore, PushedAlert, Reply
from opendcc.sim.state import Esme, Gsme, MeterState, PaymentMode, TokenReader

FLEET_FAULTS = ("unreachable", "keys_missing", "han_error", "corrupt")


class HeadEndServer(Protocol):
    core: HeadEndCore

    @property
    def endpoint(self) -> str: ...

    async def start(self) -> None: ...

    async def go_down(self) -> None: ...

    async def come_up(self) -> None: ...

    async def aclose(self) -> None: ...


def server_for(core: HeadEndCore, host: str = "127.0.0.1", port: int = 0) -> HeadEndServer:
    """The server of the protocol the core's profile names (not yet started)."""
    protocol = core.profile.protocol
    if protocol == "apdu":
        from opendcc.sim.headends.apdu import ApduHeadEnd

        return ApduHeadEnd(core, host, port)
    if protocol == "restjson":
        from opendcc.sim.headends.restjson import RestJsonHeadEnd

        return RestJsonHeadEnd(core, host, port)
    if protocol == "soapxml":
        from opendcc.sim.headends.soapxml import SoapHeadEnd

        return SoapHeadEnd(core, host, port)
    raise ValueError(f"no simulated head-end speaks {protocol!r}")


async def start_headend(core: HeadEndCore, host: str = "127.0.0.1", port: int = 0) -> HeadEndServer:
    server = server_for(core, host, port)
    await server.start()
    return server


@dataclass(frozen=True, slots=True)
class FleetMeter:
    """One meter line of a fleet file."""

    device_id: Eui64
    gas: bool = False
    firmware_version: str = ""
    aliases: tuple[Eui64, ...] = ()  # the comms hub (CHF) and gas proxy (GPF) it answers for
    faults: Mapping[str, bool] | None = None
    payment_mode: PaymentMode = PaymentMode.CREDIT
    balance_p: int = 0  # the opening meter balance, at commissioning

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "device_id": str(self.device_id),
            "type": "GSME" if self.gas else "ESME",
        }
        if self.firmware_version:
            entry["firmware_version"] = self.firmware_version
        if self.aliases:
            entry["aliases"] = [str(a) for a in self.aliases]
        if self.payment_mode is not PaymentMode.CREDIT:
            entry["payment_mode"] = self.payment_mode.value
        if self.balance_p:
            entry["balance_p"] = self.balance_p
        entry.update({name: True for name, on in (self.faults or {}).items() if on})
        return entry

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FleetMeter:
        return cls(
            Eui64.parse(raw["device_id"]),
            raw.get("type", "ESME") == "GSME",
            str(raw.get("firmware_version", "")),
            tuple(Eui64.parse(a) for a in raw.get("aliases", ())),
            {name: bool(raw.get(name)) for name in FLEET_FAULTS if raw.get(name)},
            PaymentMode(raw.get("payment_mode", PaymentMode.CREDIT.value)),
            int(raw.get("balance_p", 0)),
        )

    def meter(self, commissioned: datetime, drift_ppm: float = 0.0) -> MeterState:
        kind = Gsme if self.gas else Esme
        meter: MeterState = kind.for_device(
            self.device_id,
            commissioned=commissioned,
            clock_drift_ppm=drift_ppm,
            payment_mode=self.payment_mode,
            balance_p=self.balance_p,
        )
        if self.firmware_version and self.firmware_version != meter.firmware.version:
            image = f"opendcc simulated firmware {self.firmware_version}".encode()
            meter.update_firmware(commissioned, version=self.firmware_version, image=image)
        return meter


def read_fleet(path: Path) -> list[FleetMeter]:
    with path.open(encoding="utf-8") as lines:
        return [FleetMeter.from_json(json.loads(line)) for line in lines if line.strip()]


def core_for_fleet(
    profile: CohortProfile,
    fleet: Iterable[FleetMeter],
    *,
    commissioned: datetime,
    clock: Clock | None = None,
    faults: Faults | None = None,
    realistic_wan: bool = False,
    key_seed: bytes = DEFAULT_SEED,
) -> HeadEndCore:
    """A head-end core serving ``fleet`` (meters commissioned at ``commissioned``), each meter
    taking the UTRNs made for it with the cohort's keys from ``key_seed``."""
    base = faults or Faults()
    utrns = algorithm(profile.utrn_algorithm)
    keys = CohortKeys(profile.name, key_seed)
    meters: list[MeterState] = []
    aliases: dict[Eui64, Eui64] = {}
    meter_faults: dict[Eui64, Faults] = {}
    for entry in fleet:
        meter = entry.meter(commissioned, profile.clock.drift_ppm)
        meter.install_token_reader(TokenReader(utrns, keys))
        meters.append(meter)
        aliases.update(dict.fromkeys(entry.aliases, entry.device_id))
        if entry.faults:
            meter_faults[entry.device_id] = replace(base, **entry.faults)
    return HeadEndCore(
        profile,
        meters,
        clock=clock,
        faults=base,
        meter_faults=meter_faults,
        aliases=aliases,
        realistic_wan=realistic_wan,
    )


__all__ = [
    "FLEET_FAULTS",
    "Faults",
    "FleetMeter",
    "HeadEndCore",
    "HeadEndServer",
    "PushedAlert",
    "Reply",
    "core_for_fleet",
    "read_fleet",
    "server_for",
    "start_headend",
]
