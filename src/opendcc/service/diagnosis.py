"""Inventory search and self-diagnosis of one device, as the SSI shows them (IEPFR Q32: the same
self-diagnosis tools for SMETS1 as for SMETS2, within technical limits).

Who sees a device: the service desk sees every device; a DCC User sees the devices on metering
points (MPxN) it holds a role for now (``inventory.extract.is_responsible``, registration data,
the admin API's rule), and a comms hub (CHF) whose HAN carries one of those. A device a User may
not see is answered as not found, the same as an unknown one.

The connectivity check asks the device's head-end for a harmless read through the S1SP adapter
contract (DCO-sealed like every instruction) and reports what came back and how fast.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select

from opendcc.alerts.store import AlertRecord, RecordedAlert
from opendcc.catalogue import UserRole
from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.inventory import extract as estate
from opendcc.inventory.cpl import CplEntry, CplStore
from opendcc.inventory.devices import Device, InventoryStore, StatusChange
from opendcc.inventory.registration import Registration
from opendcc.inventory.restriction import Change, Restriction, Restrictions
from opendcc.s1sp.contract import Instruction, OutcomeStatus, S1spAdapter, Sealed
from opendcc.service.incidents import Actor
from opendcc.store.tables import devices, request_transitions, service_requests

SEARCH_LIMIT = 50
RECENT = 10
# Reads every cohort answers without changing the meter, in order of preference.
DIAGNOSTIC_SRVS = ("11.2", "7.4", "4.1.1")


class DeviceNotFound(LookupError):
    """No such device, or not one the actor may see."""


@dataclass(frozen=True, slots=True)
class Step:
    state: str
    at: datetime
    room: str  # DSP, DCO or S1SP: who took the step


@dataclass(frozen=True, slots=True)
class RequestLife:
    request_id: str
    originator: str
    srv: str
    state: str
    response_code: str | None
    received_at: datetime
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class DeviceView:
    device: Device
    history: tuple[StatusChange, ...]
    holders: Mapping[UserRole, Sequence[Registration]]
    restriction: Restriction | None
    restriction_history: tuple[Change, ...]
    cpl: CplEntry | None
    han: tuple[Device, ...]  # the comms hub's other devices (or the comms hub itself)
    last_contact: datetime | None
    requests: tuple[RequestLife, ...]
    alerts: tuple[RecordedAlert, ...]


@dataclass(frozen=True, slots=True)
class Connectivity:
    device_id: Eui64
    cohort: str
    srv: str
    status: str
    ok: bool
    detail: str
    millis: float


ROOM_OF = {
    "received": "DSP",
    "accepted": "DSP",
    "rejected": "DSP",
    "quarantined": "DSP",
    "dispatched": "DSP",
    "instructed": "DCO",
    "sent_to_s1sp": "S1SP",
    "held": "S1SP",
    "responded": "S1SP",
    "failed": "DSP",
    "expired": "DSP",
    "cancelled": "DSP",
    "delivered": "DSP",
}


class Diagnosis:
    def __init__(
        self,
        engine: Engine,
        inventory: InventoryStore,
        restrictions: Restrictions,
        cpl: CplStore,
        alerts: AlertRecord,
    ) -> None:
        self.engine = engine
        self.inventory = inventory
        self.restrictions = restrictions
        self.cpl = cpl
        self.alerts = alerts

    # ------------------------------------------------------------------ who sees what

    def may_see(self, actor: Actor, device: Device, now: datetime) -> bool:
        if actor.desk:
            return True
        user = actor.user_id
        if user is None:
            return False
        if estate.is_responsible(self.inventory, device, user, now):
            return True
        if device.device_type.value == "CHF":
            return any(
                estate.is_responsible(self.inventory, d, user, now)
                for d in self.inventory.on_comms_hub(device.device_id)
            )
        return False

    def device(self, actor: Actor, device_id: Eui64, now: datetime) -> Device:
        found = self.inventory.device(device_id)
        if found is None or not self.may_see(actor, found, now):
            raise DeviceNotFound(f"no device {device_id} of yours")
        return found

    # ------------------------------------------------------------------ search

    def search(self, actor: Actor, text: str, now: datetime) -> list[Device]:
        """By Device ID, MPxN, serial number or installation (the migration file's id, which
        carries the premises where an S1SP knows it)."""
        text = text.strip()
        if not text:
            return []
        found: list[Device] = []
        try:
            one = self.inventory.device(Eui64.parse(text))
            found = [one] if one is not None else []
        except InvalidIdentifier:
            with self.engine.connect() as conn:
                ids = conn.execute(
                    select(devices.c.device_id)
                    .where(
                        or_(
                            devices.c.mpxn == text,
                            devices.c.serial_number == text,
                            devices.c.installation_id == text,
                        )
                    )
                    .order_by(devices.c.device_id)
                    .limit(SEARCH_LIMIT * 4)
                ).scalars()
                wanted = [Eui64.parse(i) for i in ids]
            found = list(self.inventory.devices(wanted).values())
        visible = [d for d in found if self.may_see(actor, d, now)]
        return sorted(visible, key=lambda d: str(d.device_id))[:SEARCH_LIMIT]

    # ------------------------------------------------------------------ the device page

    def view(self, actor: Actor, device_id: Eui64, now: datetime) -> DeviceView:
        device = self.device(actor, device_id, now)
        holders = self.inventory.registrations.holders(device.mpxn) if device.mpxn else {}
        if not actor.desk:  # a User sees its own registrations, not its rivals'
            holders = {
                role: [r for r in regs if r.user_id == actor.user_id]
                for role, regs in holders.items()
            }
            holders = {role: regs for role, regs in holders.items() if regs}
        if device.comms_hub_id is not None:
            hub = self.inventory.device(device.comms_hub_id)
            han = [d for d in self.inventory.on_comms_hub(device.comms_hub_id) if d != device]
            han = ([hub] if hub is not None else []) + han
        else:
            han = self.inventory.on_comms_hub(device.device_id)
        cpl_entry = None
        if device.firmware_version:
            cpl_entry = self.cpl.snapshot().firmware(
                device.manufacturer, device.model, device.firmware_version
            )
        requests = self._requests(device_id, None if actor.desk else actor.user_id)
        alerts = tuple(self.alerts.alerts(device_id, limit=RECENT))
        return DeviceView(
            device=device,
            history=tuple(self.inventory.history(device_id)),
            holders=holders,
            restriction=self.restrictions.of(device_id),
            restriction_history=tuple(self.restrictions.history(device_id)),
            cpl=cpl_entry,
            han=tuple(han),
            last_contact=self._last_contact(device_id, alerts),
            requests=requests,
            alerts=alerts,
        )

    def _requests(self, device_id: Eui64, originator: Eui64 | None) -> tuple[RequestLife, ...]:
        s, t = service_requests, request_transitions
        query = (
            select(s.c.request_id, s.c.originator, s.c.srv, s.c.state, s.c.response_code)
            .add_columns(s.c.received_at)
            .where(s.c.target == str(device_id))
            .order_by(s.c.received_at.desc())
            .limit(RECENT)
        )
        if originator is not None:  # a User sees its own requests only
            query = query.where(s.c.originator == str(originator))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
            ids = [r.request_id for r in rows]
            steps: dict[str, list[Step]] = {i: [] for i in ids}
            if ids:
                for row in conn.execute(
                    select(t.c.request_id, t.c.target, t.c.at)
                    .where(t.c.request_id.in_(ids))
                    .order_by(t.c.id)
                ):
                    steps[row.request_id].append(
                        Step(row.target, row.at, ROOM_OF.get(row.target, "DSP"))
                    )
        return tuple(
            RequestLife(
                r.request_id,
                r.originator,
                r.srv,
                r.state,
                r.response_code,
                r.received_at,
                tuple(steps[r.request_id]),
            )
            for r in rows
        )

    def _last_contact(self, device_id: Eui64, alerts: Sequence[RecordedAlert]) -> datetime | None:
        """When the device was last heard from: its latest answered request or alert."""
        s, t = service_requests, request_transitions
        with self.engine.connect() as conn:
            answered = conn.execute(
                select(func.max(t.c.at))
                .select_from(t.join(s, s.c.request_id == t.c.request_id))
                .where(s.c.target == str(device_id))
                .where(t.c.target == "responded")
            ).scalar_one_or_none()
        times = [a.received_at for a in alerts] + ([answered] if answered else [])
        return max(times) if times else None


async def check_connectivity(
    device: Device,
    adapters: Mapping[str, S1spAdapter],
    supported: Mapping[str, frozenset[str]],
    seal: Any,
) -> Connectivity:
    """Ask the device's head-end for a harmless read, DCO-sealed (``seal``: Instruction ->
    Sealed) like every instruction the hub gives, and say what came back."""
    cohort = device.cohort or ""
    adapter = adapters.get(cohort)
    if adapter is None:
        return Connectivity(device.device_id, cohort, "-", "no head-end", False, "", 0.0)
    offered = supported.get(cohort, frozenset())
    srv = next((s for s in DIAGNOSTIC_SRVS if s in offered), None)
    if srv is None:
        return Connectivity(device.device_id, cohort, "-", "no diagnostic", False, "", 0.0)
    instruction = Instruction(f"SSI-DIAG-{uuid.uuid4().hex}", srv, device.device_id)
    sealed: Sealed = seal(instruction)
    started = time.monotonic()
    outcome = await adapter.submit(sealed)
    millis = (time.monotonic() - started) * 1000
    ok = outcome.status is OutcomeStatus.SUCCESS
    return Connectivity(
        device.device_id, cohort, srv, outcome.status.value, ok, outcome.detail[:200], millis
    )
