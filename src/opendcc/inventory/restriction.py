"""Restricted mode (MP169): a consumer refused smart functionality, and the supplier says so.

A meter (ESME or GSME) is *restricted* when the supplier responsible for it at that moment sets
the flag; only that supplier may clear it. Setting it on a GSME also restricts the GSME's GPF
(Gas Proxy Function), which carries the gas meter's data. The flag belongs to the device, not
to the supplier: it survives a change of supplier, and the gaining supplier sees it (8.2,
device extracts) and decides whether to keep it.

Every change is kept with who, when and why (``restriction_history``), and in the same
transaction a notice is queued for the cohort's S1SP (``s1sp_notices``): the S1SP is told each
time the flag changes, carried by ``dsp.notices``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.inventory.devices import Device, InventoryStore
from opendcc.inventory.status import InventoryError
from opendcc.store.cache import TtlCache
from opendcc.store.tables import restriction_history, restrictions, s1sp_notices

# The DCC-to-S1SP message that carries a change (``opendcc.s1sp.services.RESTRICTION_NOTICE``).
NOTICE_SRV = "99.1"
MAX_REASON = 256
_CHUNK = 500

# Who may set or clear the flag on each kind of meter: the supplier of its fuel.
SUPPLIER_OF: dict[DeviceType, UserRole] = {
    DeviceType.ESME: UserRole.IS,
    DeviceType.GSME: UserRole.GS,
}


@dataclass(frozen=True, slots=True)
class Restriction:
    device_id: Eui64
    meter_id: Eui64  # the meter the supplier named (a GPF's is its GSME)
    restricted: bool
    since: datetime
    changed_by: Eui64
    reason: str


@dataclass(frozen=True, slots=True)
class Change:
    device_id: Eui64
    restricted: bool
    at: datetime
    changed_by: Eui64
    reason: str


class RestrictionRefused(InventoryError):
    """A set or clear the hub will not make; ``code`` says why in DUIS terms."""

    def __init__(self, code: ResponseCode, message: str) -> None:
        super().__init__(message, code=code, http_status=_HTTP.get(code, 400))


_HTTP = {
    ResponseCode.UNKNOWN_DEVICE: 404,
    ResponseCode.NOT_RESPONSIBLE_PARTY: 403,
    ResponseCode.SRV_NOT_FOR_DEVICE_TYPE: 422,
    ResponseCode.DEVICE_STATUS_INCOMPATIBLE: 409,
}


class Restrictions:
    def __init__(
        self, engine: Engine, inventory: InventoryStore, cache_seconds: float = 0.0
    ) -> None:
        self.engine = engine
        self.inventory = inventory
        self._flags: TtlCache[Eui64, bool] = TtlCache(cache_seconds)

    # ------------------------------------------------------------------ changing

    def change(
        self, meter_id: Eui64, *, restricted: bool, by: Eui64, reason: str, now: datetime
    ) -> list[Restriction]:
        """Set (``restricted``) or clear the flag on a meter, as supplier ``by``, now.

        Returns the devices' restrictions as they now stand (the meter, and a GSME's GPF). The
        same state again changes nothing: no history row, no notice.
        """
        meter = self._meter(meter_id)
        self._check_responsible(meter, by, now)
        devices = [meter.device_id]
        if meter.device_type is DeviceType.GSME and meter.gas_proxy_id is not None:
            devices.append(meter.gas_proxy_id)
        reason = reason.strip()[:MAX_REASON]
        with self.engine.begin() as conn:
            current = self._current_in(conn, devices)
            changed = [d for d in devices if current.get(d, False) != restricted]
            for device_id in changed:
                _write_in(conn, meter.device_id, Change(device_id, restricted, now, by, reason))
            if meter.device_id in changed and meter.cohort is not None:
                _notice_in(conn, meter, Change(meter.device_id, restricted, now, by, reason))
            states = self._rows_in(conn, devices)
        self._flags.clear()
        self.inventory.facts.clear()
        return [states[d] for d in devices if d in states]

    # ------------------------------------------------------------------ reading

    def is_restricted(self, device_id: Eui64) -> bool:
        return self._flags.get(device_id, lambda: self._flag(device_id))

    def prefetch(self, device_ids: Collection[Eui64]) -> None:
        """Cache whether each of ``device_ids`` is restricted, in a few queries."""
        with self.engine.connect() as conn:
            flags = self._current_in(conn, list(device_ids))
        self._flags.put_many((d, flags.get(d, False)) for d in device_ids)

    def restricted_among(self, device_ids: Collection[Eui64]) -> set[Eui64]:
        """Which of ``device_ids`` are restricted now (a few queries)."""
        with self.engine.connect() as conn:
            return {d for d, on in self._current_in(conn, list(device_ids)).items() if on}

    def of(self, device_id: Eui64) -> Restriction | None:
        with self.engine.connect() as conn:
            return self._rows_in(conn, [device_id]).get(device_id)

    def of_many(self, device_ids: Collection[Eui64]) -> dict[Eui64, Restriction]:
        with self.engine.connect() as conn:
            return self._rows_in(conn, list(device_ids))

    def all_restricted(self) -> list[Restriction]:
        query = select(restrictions).where(restrictions.c.restricted.is_(True))
        with self.engine.connect() as conn:
            return [_restriction(r) for r in conn.execute(query.order_by(restrictions.c.since))]

    def history(self, device_id: Eui64) -> list[Change]:
        query = (
            select(restriction_history)
            .where(restriction_history.c.device_id == str(device_id))
            .order_by(restriction_history.c.id)
        )
        with self.engine.connect() as conn:
            return [
                Change(
                    Eui64.parse(r.device_id),
                    r.restricted,
                    r.at,
                    Eui64.parse(r.changed_by),
                    r.reason,
                )
                for r in conn.execute(query)
            ]

    # ------------------------------------------------------------------ helpers

    def _meter(self, meter_id: Eui64) -> Device:
        meter = self.inventory.device(meter_id)
        if meter is None:
            raise RestrictionRefused(
                ResponseCode.UNKNOWN_DEVICE, f"device {meter_id} is not in the inventory"
            )
        if meter.device_type not in SUPPLIER_OF:
            raise RestrictionRefused(
                ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                f"restricted mode applies to ESME and GSME (a GPF follows its GSME), "
                f"not to a {meter.device_type.value}",
            )
        return meter

    def _check_responsible(self, meter: Device, by: Eui64, now: datetime) -> None:
        role = SUPPLIER_OF[meter.device_type]
        holder = self.inventory.responsible(meter.mpxn, role, now) if meter.mpxn else None
        if holder != by:
            raise RestrictionRefused(
                ResponseCode.NOT_RESPONSIBLE_PARTY,
                f"only the {role.description} responsible for {meter.device_id} now may set or"
                f" clear its restriction; {by} is not",
            )

    def _flag(self, device_id: Eui64) -> bool:
        with self.engine.connect() as conn:
            return self._current_in(conn, [device_id]).get(device_id, False)

    @staticmethod
    def _current_in(conn: Connection, device_ids: list[Eui64]) -> dict[Eui64, bool]:
        found: dict[Eui64, bool] = {}
        ids = [str(d) for d in device_ids]
        for start in range(0, len(ids), _CHUNK):
            query = select(restrictions.c.device_id, restrictions.c.restricted).where(
                restrictions.c.device_id.in_(ids[start : start + _CHUNK])
            )
            found.update({Eui64.parse(d): bool(on) for d, on in conn.execute(query)})
        return found

    @staticmethod
    def _rows_in(conn: Connection, device_ids: list[Eui64]) -> dict[Eui64, Restriction]:
        found: dict[Eui64, Restriction] = {}
        ids = [str(d) for d in device_ids]
        for start in range(0, len(ids), _CHUNK):
            query = select(restrictions).where(
                restrictions.c.device_id.in_(ids[start : start + _CHUNK])
            )
            for row in conn.execute(query):
                restriction = _restriction(row)
                found[restriction.device_id] = restriction
        return found


def _write_in(conn: Connection, meter_id: Eui64, change: Change) -> None:
    values = {
        "meter_id": str(meter_id),
        "restricted": change.restricted,
        "since": change.at,
        "changed_by": str(change.changed_by),
        "reason": change.reason,
    }
    device_id = str(change.device_id)
    done = conn.execute(
        update(restrictions).where(restrictions.c.device_id == device_id).values(**values)
    )
    if done.rowcount == 0:
        conn.execute(insert(restrictions).values(device_id=device_id, **values))
    del values["meter_id"]
    values["at"] = values.pop("since")
    conn.execute(insert(restriction_history).values(device_id=device_id, **values))


def _notice_in(conn: Connection, meter: Device, change: Change) -> None:
    parameters = {
        "restricted": "true" if change.restricted else "false",
        "since": change.at.isoformat(),
        "set_by": str(change.changed_by),
        "reason": change.reason,
    }
    conn.execute(
        insert(s1sp_notices).values(
            device_id=str(meter.device_id),
            cohort=meter.cohort,
            srv=NOTICE_SRV,
            parameters=json.dumps(parameters, sort_keys=True),
            created_at=change.at,
            next_attempt_at=change.at,
            attempts=0,
        )
    )


def _restriction(r: Any) -> Restriction:
    return Restriction(
        Eui64.parse(r.device_id),
        Eui64.parse(r.meter_id),
        bool(r.restricted),
        r.since,
        Eui64.parse(r.changed_by),
        r.reason,
    )
