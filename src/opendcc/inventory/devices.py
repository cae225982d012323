"""Devices and registration data in the store (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.eui import Eui64
from opendcc.store.cache import TtlCache
from opendcc.store.tables import devices, registrations


class SmiStatus(StrEnum):
    """A device's Smart Metering Inventory status."""

    PENDING = "pending"
    WHITELISTED = "whitelisted"
    INSTALLED_NOT_COMMISSIONED = "installed_not_commissioned"
    COMMISSIONED = "commissioned"
    DECOMMISSIONED = "decommissioned"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"
    RECOVERY = "recovery"
    RECOVERED = "recovered"


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


@dataclass(frozen=True, slots=True)
class Registration:
    """``user_id`` holds ``role`` for metering point ``mpxn`` from ``effective_from`` on."""

    mpxn: str
    role: UserRole
    user_id: Eui64
    effective_from: datetime


class InventoryStore:
    def __init__(self, engine: Engine, cache_seconds: float = 0.0) -> None:
        self.engine = engine
        self._devices: TtlCache[Eui64, Device | None] = TtlCache(cache_seconds)
        # Registration data is cached per (MPxN, role): the current holder and when it began.
        self._holders: TtlCache[tuple[str, UserRole], list[tuple[datetime, Eui64]]] = TtlCache(
            cache_seconds
        )

    def put_devices(self, items: Iterable[Device], now: datetime) -> None:
        rows = [
            {
                "device_id": str(d.device_id),
                "device_type": d.device_type.value,
                "smi_status": d.smi_status.value,
                "cohort": d.cohort,
                "mpxn": d.mpxn,
                "manufacturer": d.manufacturer,
                "model": d.model,
                "firmware_version": d.firmware_version,
                "created_at": now,
            }
            for d in items
        ]
        if not rows:
            return
        self._devices.clear()
        with self.engine.begin() as conn:
            conn.execute(
                delete(devices).where(devices.c.device_id.in_([r["device_id"] for r in rows]))
            )
            conn.execute(insert(devices), rows)

    def register(self, items: Iterable[Registration]) -> None:
        rows = [
            {
                "mpxn": r.mpxn,
                "role": r.role.value,
                "user_id": str(r.user_id),
                "effective_from": r.effective_from,
            }
            for r in items
        ]
        if rows:
            self._holders.clear()
            with self.engine.begin() as conn:
                conn.execute(insert(registrations), rows)

    def device(self, device_id: Eui64) -> Device | None:
        return self._devices.get(device_id, lambda: self._device(device_id))

    def _device(self, device_id: Eui64) -> Device | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(devices).where(devices.c.device_id == str(device_id))).first()
        return None if row is None else _device_of(row)

    def by_mpxn(self, mpxn: str) -> list[Device]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(devices).where(devices.c.mpxn == mpxn)).all()
        return [_device_of(row) for row in rows]

    def responsible(self, mpxn: str, role: UserRole, at: datetime) -> Eui64 | None:
        """Who holds ``role`` for ``mpxn`` at ``at``: the latest registration in force."""
        history = self._holders.get((mpxn, role), lambda: self._history(mpxn, role))
        return next((user for since, user in history if since <= at), None)

    def _history(self, mpxn: str, role: UserRole) -> list[tuple[datetime, Eui64]]:
        """Every registration of ``role`` for ``mpxn``, latest first."""
        query = (
            select(registrations.c.effective_from, registrations.c.user_id)
            .where(registrations.c.mpxn == mpxn)
            .where(registrations.c.role == role.value)
            .order_by(registrations.c.effective_from.desc(), registrations.c.id.desc())
        )
        with self.engine.connect() as conn:
            return [(since, Eui64.parse(user)) for since, user in conn.execute(query)]


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
    )
