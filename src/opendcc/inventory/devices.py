"""Devices in the Smart Metering Inventory (SMI), their status history and HAN associations.

A device is keyed by its EUI-64 Device ID; the meter serial number is recorded but is not
unique, so it is never a key. Each device carries its model (manufacturer, model, hardware and
firmware version), SMETS generation, SMI status with the instant it took effect, the cohort
whose S1SP (SMETS1 Service Provider) serves it, its MPxN (metering point: MPAN or MPRN) and
its HAN (Home Area Network) associations: the CHF (Communications Hub Function) it is joined to
and, for a GSME (gas meter), its GPF (Gas Proxy Function).

Every status change goes through ``transition_in``, which checks the one lifecycle table in
``inventory.status`` and records the change in ``device_status_history``; the history is never
rewritten.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.eui import Eui64
from opendcc.inventory.registration import Registration, RegistrationStore
from opendcc.inventory.status import InventoryError, SmiStatus, check
from opendcc.store.cache import TtlCache
from opendcc.store.tables import device_status_history, devices

_CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True, slots=True)
class Device:
    device_id: Eui64
    device_type: DeviceType
    smi_status: SmiStatus
    manufacturer: str
    model: str
    cohort: str | None = None
    mpxn: str | None = None
    firmware_version: str | None = None
    smets_generation: str = "SMETS1"
    hardware_version: str | None = None
    serial_number: str | None = None
    comms_hub_id: Eui64 | None = None
    gas_proxy_id: Eui64 | None = None
    installation_id: str | None = None
    status_since: datetime | None = None
    commissioned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    device_id: Eui64
    source: SmiStatus | None  # None when the device entered the inventory
    target: SmiStatus
    at: datetime
    reason: str


class UnknownDevice(InventoryError):
    """No device with that Device ID is in the inventory."""


class InventoryStore:
    def __init__(self, engine: Engine, cache_seconds: float = 0.0) -> None:
        self.engine = engine
        self._devices: TtlCache[Eui64, Device | None] = TtlCache(cache_seconds)
        # What this process caches of a device's facts (``inventory.facts``) goes with any change
        # made through this store, its registrations' or its restrictions'.
        from opendcc.inventory.facts import FactsReader  # it reads rows as ``Device``s: after

        self.facts = FactsReader(engine, cache_seconds)
        self.registrations = RegistrationStore(engine, cache_seconds, on_change=self.facts.clear)

    def _changed(self) -> None:
        self._devices.clear()
        self.facts.clear()

    # ------------------------------------------------------------------ writing

    def put_devices(self, items: Iterable[Device], now: datetime) -> int:
        """Add the devices not yet in the inventory (seeding from configuration); a device
        already there keeps its status and history. Returns how many were added."""
        listed = list(items)
        with self.engine.begin() as conn:
            present = self._statuses_in(conn, [str(d.device_id) for d in listed])
            new = [d for d in listed if str(d.device_id) not in present]
            self.add_in(conn, new, now, "loaded from configuration")
        self._changed()
        return len(new)

    def add_in(self, conn: Connection, items: Sequence[Device], at: datetime, reason: str) -> None:
        """Insert new devices with their current status and a first history row each."""
        if not items:
            return
        conn.execute(insert(devices), [_row_of(d, at) for d in items])
        conn.execute(
            insert(device_status_history),
            [
                {
                    "device_id": str(d.device_id),
                    "source": None,
                    "target": d.smi_status.value,
                    "at": d.status_since or at,
                    "reason": reason,
                }
                for d in items
            ],
        )

    def reenrol_in(
        self, conn: Connection, items: Sequence[Device], at: datetime, reason: str
    ) -> None:
        """Bring withdrawn devices back with new details (a SMETS1 device migrated again):
        Withdrawn -> the items' status, with the row updated and the history kept."""
        for status in {d.smi_status for d in items}:
            chosen = [d for d in items if d.smi_status is status]
            self.transition_in(conn, [d.device_id for d in chosen], status, at, reason)
            for device in chosen:
                row = _row_of(device, at)
                del row["device_id"], row["created_at"]
                conn.execute(
                    update(devices)
                    .where(devices.c.device_id == str(device.device_id))
                    .values(**row)
                )

    def transition(
        self, device_ids: Collection[Eui64], target: SmiStatus, at: datetime, reason: str
    ) -> None:
        with self.engine.begin() as conn:
            self.transition_in(conn, device_ids, target, at, reason)

    def transition_in(
        self,
        conn: Connection,
        device_ids: Collection[Eui64],
        target: SmiStatus,
        at: datetime,
        reason: str,
    ) -> None:
        """Move every device to ``target``, or none (raises ``IllegalStatusTransition`` or
        ``UnknownDevice`` and the caller's transaction rolls back)."""
        ids = [str(d) for d in device_ids]
        if not ids:
            return
        current = self._statuses_in(conn, ids)
        for device_id in ids:
            if device_id not in current:
                raise UnknownDevice(f"no device {device_id} in the inventory")
            check(current[device_id], target, device_id)
        values: dict[str, Any] = {"smi_status": target.value, "status_since": at}
        if target is SmiStatus.COMMISSIONED:
            values["commissioned_at"] = at
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            conn.execute(update(devices).where(devices.c.device_id.in_(chunk)).values(**values))
        conn.execute(
            insert(device_status_history),
            [
                {
                    "device_id": device_id,
                    "source": current[device_id].value,
                    "target": target.value,
                    "at": at,
                    "reason": reason[:256],
                }
                for device_id in ids
            ],
        )
        self._changed()

    def update_in(self, conn: Connection, device: Device) -> None:
        """Rewrite a device's details (manufacturer, model, cohort, firmware version, MPxN) as
        ``device`` holds them; its status and history are untouched (8.4 Update Inventory)."""
        conn.execute(
            update(devices)
            .where(devices.c.device_id == str(device.device_id))
            .values(
                manufacturer=device.manufacturer,
                model=device.model,
                cohort=device.cohort,
                firmware_version=device.firmware_version,
                mpxn=device.mpxn,
            )
        )
        self._changed()

    def set_firmware_in(self, conn: Connection, versions: Mapping[Eui64, str]) -> None:
        """Record each device's firmware version as read from it."""
        if not versions:
            return
        conn.execute(
            update(devices)
            .where(devices.c.device_id == bindparam("target"))
            .values(firmware_version=bindparam("version")),
            [{"target": str(d), "version": v} for d, v in versions.items()],
        )
        self._changed()

    # ------------------------------------------------------------------ reading

    def device(self, device_id: Eui64) -> Device | None:
        return self._devices.get(device_id, lambda: self._device(device_id))

    def _device(self, device_id: Eui64) -> Device | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(devices).where(devices.c.device_id == str(device_id))).first()
        return None if row is None else _device_of(row)

    def devices(self, device_ids: Collection[Eui64]) -> dict[Eui64, Device]:
        """Many devices by Device ID in a few queries (alert routing takes them by the batch)."""
        ids = sorted({str(d) for d in device_ids})
        found: dict[Eui64, Device] = {}
        for start in range(0, len(ids), _CHUNK):
            for device in self._where(devices.c.device_id.in_(ids[start : start + _CHUNK])):
                found[device.device_id] = device
        return found

    def prefetch(self, device_ids: Collection[Eui64]) -> dict[Eui64, Device]:
        """Load many devices, and the registrations of their metering points, into the
        caches in a few queries, ahead of a batch of work that looks each one up."""
        found = self.devices(device_ids)
        self._devices.put_many((d, found.get(d)) for d in device_ids)
        self.registrations.prefetch({d.mpxn for d in found.values() if d.mpxn})
        return found

    def by_mpxn(self, mpxn: str) -> list[Device]:
        return self._where(devices.c.mpxn == mpxn)

    def by_serial(self, serial_number: str) -> list[Device]:
        return self._where(devices.c.serial_number == serial_number)

    def on_comms_hub(self, comms_hub_id: Eui64) -> list[Device]:
        """The devices joined to this CHF's HAN (the CHF itself not included)."""
        return self._where(devices.c.comms_hub_id == str(comms_hub_id))

    def of_installation(self, installation_id: str) -> list[Device]:
        return self._where(devices.c.installation_id == installation_id)

    def statuses(self, device_ids: Collection[Eui64]) -> dict[Eui64, SmiStatus]:
        """The SMI status of each of these devices that is in the inventory."""
        with self.engine.connect() as conn:
            found = self._statuses_in(conn, [str(d) for d in device_ids])
        return {Eui64.parse(device_id): status for device_id, status in found.items()}

    def history(self, device_id: Eui64) -> list[StatusChange]:
        """Every status change of the device, oldest first."""
        query = (
            select(device_status_history)
            .where(device_status_history.c.device_id == str(device_id))
            .order_by(device_status_history.c.id)
        )
        with self.engine.connect() as conn:
            return [
                StatusChange(
                    device_id,
                    None if row.source is None else SmiStatus(row.source),
                    SmiStatus(row.target),
                    row.at,
                    row.reason,
                )
                for row in conn.execute(query)
            ]

    # ------------------------------------------------------------------ registration data

    def register(self, items: Iterable[Registration]) -> None:
        self.registrations.register(items)

    def responsible(self, mpxn: str, role: UserRole, at: datetime) -> Eui64 | None:
        return self.registrations.responsible(mpxn, role, at)

    def clear_cache(self) -> None:
        self._changed()
        self.registrations.clear_cache()

    # ------------------------------------------------------------------ helpers

    def _where(self, condition: Any) -> list[Device]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(devices).where(condition).order_by(devices.c.device_id))
            return [_device_of(row) for row in rows]

    @staticmethod
    def _statuses_in(conn: Connection, ids: Sequence[str]) -> dict[str, SmiStatus]:
        found: dict[str, SmiStatus] = {}
        for start in range(0, len(ids), _CHUNK):
            query = select(devices.c.device_id, devices.c.smi_status).where(
                devices.c.device_id.in_(ids[start : start + _CHUNK])
            )
            found.update(
                (device_id, SmiStatus(status)) for device_id, status in conn.execute(query)
            )
        return found


def _row_of(d: Device, at: datetime) -> dict[str, Any]:
    return {
        "device_id": str(d.device_id),
        "device_type": d.device_type.value,
        "smi_status": d.smi_status.value,
        "cohort": d.cohort,
        "mpxn": d.mpxn,
        "manufacturer": d.manufacturer,
        "model": d.model,
        "firmware_version": d.firmware_version,
        "created_at": at,
        "smets_generation": d.smets_generation,
        "hardware_version": d.hardware_version,
        "serial_number": d.serial_number,
        "comms_hub_id": None if d.comms_hub_id is None else str(d.comms_hub_id),
        "gas_proxy_id": None if d.gas_proxy_id is None else str(d.gas_proxy_id),
        "installation_id": d.installation_id,
        "status_since": d.status_since or at,
        "commissioned_at": d.commissioned_at
        or (at if d.smi_status is SmiStatus.COMMISSIONED else None),
    }


def _device_of(row: Row[Any]) -> Device:
    return Device(
        Eui64.parse(row.device_id),
        DeviceType(row.device_type),
        SmiStatus(row.smi_status),
        row.manufacturer,
        row.model,
        row.cohort,
        row.mpxn,
        row.firmware_version,
        smets_generation=row.smets_generation or "SMETS1",
        hardware_version=row.hardware_version,
        serial_number=row.serial_number,
        comms_hub_id=None if row.comms_hub_id is None else Eui64.parse(row.comms_hub_id),
        gas_proxy_id=None if row.gas_proxy_id is None else Eui64.parse(row.gas_proxy_id),
        installation_id=row.installation_id,
        status_since=row.status_since,
        commissioned_at=row.commissioned_at,
    )
