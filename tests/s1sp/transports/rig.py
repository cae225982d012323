"""What the three transport tests share: identities, sealing, a fake meter, what the hub saw."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.eui import Eui64
from opendcc.s1sp.contract import DeviceAlert, Instruction, Outcome, Sealed
from opendcc.sim.state import MeterError, MeterState, Reason

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
STRANGER = Eui64.parse("00-DB-12-34-56-78-90-FF")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
OWN_OUTAGE_CODE, GBCS_OUTAGE_CODE = 0x1234, 0x8F34
KEY = ec.generate_private_key(ec.SECP256R1())  # stands in for the DCO's key


def read(request_id: str = "R1", device: Eui64 = METER, **parameters: str) -> Instruction:
    return Instruction(request_id, "4.1.1", device, parameters)


def seal(instruction: Instruction, key: ec.EllipticCurvePrivateKey = KEY) -> Sealed:
    return Sealed(instruction, key.sign(instruction.canonical(), ec.ECDSA(hashes.SHA256())))


@dataclass
class Executions:
    """A fake ``opendcc.sim.services.execute``: what reached the meter, and what it answers."""

    result: Mapping[str, Any]
    calls: list[tuple[Eui64, str, dict[str, str]]] = field(default_factory=list)
    refuse: bool = False

    def __call__(
        self, meter: MeterState, srv: str, parameters: Mapping[str, str], now: datetime
    ) -> tuple[Mapping[str, Any], tuple[Any, ...]]:
        self.calls.append((meter.device_id, srv, dict(parameters)))
        if self.refuse:
            raise MeterError(Reason.INVALID_VALUE, "x")
        return self.result, ()


@dataclass
class Seen:
    """What the adapter handed to the hub: alerts and late replies."""

    alerts: list[DeviceAlert] = field(default_factory=list)
    late: list[tuple[Instruction, Outcome]] = field(default_factory=list)
    alerted: asyncio.Event = field(default_factory=asyncio.Event)
    was_late: asyncio.Event = field(default_factory=asyncio.Event)

    def on_alert(self, alert: DeviceAlert) -> None:
        self.alerts.append(alert)
        self.alerted.set()

    def on_late(self, instruction: Instruction, outcome: Outcome) -> None:
        self.late.append((instruction, outcome))
        self.was_late.set()
