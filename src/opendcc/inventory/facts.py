"""A device's registry facts in one read: what access control needs to decide a request.

A device request is decided on its device (type, SMI status, cohort, MPxN), whether it is in
restricted mode (MP169) and who holds each registered role for its metering point. Read one at a
time that was four to six SELECTs per request (the device, the restriction flag, one per
eligible role), each missed on a real fleet where requests spread over millions of meters. Here
it is one SELECT keyed by the Device ID: the device LEFT JOIN its restriction LEFT JOIN every
registration of its MPxN, latest first. The front door's access control and the worker's
re-checks (the route's, and the DCO's own, independent one) each make this one read.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Engine, bindparam, select

from opendcc.catalogue import UserRole
from opendcc.core.eui import Eui64
from opendcc.inventory.devices import Device, _device_of
from opendcc.store.cache import TtlCache
from opendcc.store.raw import result_processors
from opendcc.store.tables import devices, registrations, restrictions

_CHUNK = 500  # devices per IN (...) query
_FEW = 32  # at most this many devices: one statement compiled for their number, on the DBAPI

# Who held a role, latest registration first: (effective from, User).
History = tuple[tuple[datetime, Eui64], ...]


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    device: Device
    restricted: bool
    holders: Mapping[UserRole, History] = field(default_factory=dict)

    def responsible(self, role: UserRole, at: datetime) -> Eui64 | None:
        """Who holds ``role`` for the device's metering point at ``at``, if anyone."""
        return next((user for since, user in self.holders.get(role, ()) if since <= at), None)


_QUERY = (
    select(
        devices,
        restrictions.c.restricted.label("restricted_flag"),
        registrations.c.role.label("reg_role"),
        registrations.c.effective_from.label("reg_from"),
        registrations.c.user_id.label("reg_user"),
    )
    .select_from(
        devices.outerjoin(restrictions, restrictions.c.device_id == devices.c.device_id).outerjoin(
            registrations, registrations.c.mpxn == devices.c.mpxn
        )
    )
    .order_by(registrations.c.effective_from.desc(), registrations.c.id.desc())
)


_BY_ID = _QUERY.where(devices.c.device_id == bindparam("device_id"))


class _Compiled:
    """``_BY_ID`` (or, for ``count`` devices, the same read of an IN list) compiled once for a
    dialect, with its columns' result processors: run on the DBAPI cursor, it costs a SELECT
    and no SQLAlchemy execute, and on SQLite (autocommit connections) no BEGIN either: one
    statement reads one consistent snapshot by itself."""

    def __init__(self, dialect: Dialect, count: int = 1) -> None:
        statement = (
            _BY_ID
            if count == 1
            else _QUERY.where(devices.c.device_id.in_([bindparam(f"d{i}") for i in range(count)]))
        )
        self.names = ["device_id"] if count == 1 else [f"d{i}" for i in range(count)]
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.order = list(compiled.positiontup or ()) if compiled.positional else None
        columns = list(statement.selected_columns)
        self.processors = result_processors(columns, dialect)
        self.row = _row_type([str(c.key) for c in columns])

    def rows(self, raw: Any, device_ids: Sequence[str]) -> list[Any]:
        values = dict(zip(self.names, device_ids, strict=True))
        params: Any = values if self.order is None else tuple(values[n] for n in self.order)
        cursor = raw.cursor()
        try:
            cursor.execute(self.sql, params)
            found = cursor.fetchall()
        finally:
            cursor.close()
        processors = self.processors
        return [
            self.row(*[v if p is None else p(v) for p, v in zip(processors, row, strict=True)])
            for row in found
        ]


def _row_type(names: list[str]) -> Any:
    """A row class reading its columns by name, as ``_device_of`` does."""
    return namedtuple("_Row", names)  # names known only at run time


@functools.lru_cache(maxsize=64)
def _compiled(dialect: Dialect, count: int) -> _Compiled:
    return _Compiled(dialect, count)


def _read(engine: Engine, device_ids: Sequence[str]) -> list[Any]:
    compiled = _compiled(engine.dialect, len(device_ids))
    raw = engine.raw_connection()
    try:
        return compiled.rows(raw, device_ids)
    finally:
        raw.close()  # back to the pool, which ends any transaction the driver opened


def read_facts(engine: Engine, device_id: Eui64) -> DeviceFacts | None:
    """The device's facts as they stand in the database now (one SELECT), or None when the
    device is not in the inventory."""
    return _facts_of(_read(engine, [str(device_id)]))


def read_many(engine: Engine, device_ids: Collection[Eui64]) -> dict[Eui64, DeviceFacts | None]:
    """Each device's facts as they stand in the database now, absent devices as None: one
    SELECT per ``_CHUNK`` devices, each one consistent snapshot. A claim's few devices (the
    worker's) are read as ``read_facts`` reads one; a long list (a schedule's) through Core."""
    ids = sorted({str(d) for d in device_ids})
    grouped: dict[str, list[Any]] = {d: [] for d in ids}
    if len(ids) <= _FEW:
        for row in _read(engine, ids) if ids else ():
            grouped[row.device_id].append(row)
    else:
        with engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                for row in conn.execute(_QUERY.where(devices.c.device_id.in_(chunk))):
                    grouped[row.device_id].append(row)
    return {Eui64.parse(d): _facts_of(rows) for d, rows in grouped.items()}


def _facts_of(rows: Sequence[Any]) -> DeviceFacts | None:
    if not rows:
        return None
    first = rows[0]
    held: dict[UserRole, list[tuple[datetime, Eui64]]] = {}
    for row in rows:
        if row.reg_role is not None:
            held.setdefault(UserRole(row.reg_role), []).append(
                (row.reg_from, Eui64.parse(row.reg_user))
            )
    return DeviceFacts(
        _device_of(first),
        bool(first.restricted_flag),
        {role: tuple(history) for role, history in held.items()},
    )


class FactsReader:
    """``fresh``: always the database's answer (the worker's re-checks). ``cached``: kept
    ``cache_seconds`` (the front door's first check, which the worker's fresh re-checks back:
    see docs/access-control.md); ``clear()`` drops what this process cached after a change."""

    def __init__(self, engine: Engine, cache_seconds: float = 0.0) -> None:
        self.engine = engine
        self._cache: TtlCache[Eui64, DeviceFacts | None] = TtlCache(cache_seconds)

    def fresh(self, device_id: Eui64) -> DeviceFacts | None:
        return read_facts(self.engine, device_id)

    def fresh_many(self, device_ids: Collection[Eui64]) -> dict[Eui64, DeviceFacts | None]:
        """``fresh`` for many devices, in a few reads (one per ``_CHUNK``)."""
        return read_many(self.engine, device_ids)

    def cached(self, device_id: Eui64) -> DeviceFacts | None:
        return self._cache.get(device_id, lambda: read_facts(self.engine, device_id))

    def prefetch(self, device_ids: Collection[Eui64]) -> None:
        """Cache the facts of many devices in a few queries (a schedule's runs ahead of them),
        absent devices as None."""
        self._cache.put_many(read_many(self.engine, device_ids).items())

    def clear(self) -> None:
        self._cache.clear()
