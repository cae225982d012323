"""Device extracts and searches of a DCC User's estate, each device with its restricted state.

MP169 (restricted mode) asks that a supplier can see which of its meters are restricted, and
that a gaining supplier learns it on a change of supplier: the **device extract** lists every
device on the metering points (MPxN: MPAN or MPRN) for which the User is the Import or Gas
Supplier (IS, GS) now, from registration data, one row each with its model, SMI (Smart Metering
Inventory) status, HAN (Home Area Network) links and restriction (who set it, when, why).
``search`` answers the same rows for any role the User holds now, filtered and a page at a time.

The store is read in chunks by keyset pagination on the Device ID (EUI-64s are stored in a
fixed-width canonical text form, so text order is id order): an estate of millions streams in
constant memory. ``csv_text`` and ``json_text`` render rows as they come; the admin API and
``opendcc inventory extract`` share them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, exists, or_, select

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.eui import Eui64
from opendcc.inventory.devices import Device, InventoryStore
from opendcc.inventory.status import SmiStatus
from opendcc.store.tables import devices, registrations, restrictions

# The roles that make a User "the supplier" of a device for the extract (MP169: IS and GS).
EXTRACT_ROLES = frozenset({UserRole.IS, UserRole.GS})
ANY_ROLE = frozenset(UserRole)
CHUNK = 1_000
MAX_PAGE = 1_000


@dataclass(frozen=True, slots=True)
class ExtractRow:
    """One device of an extract, in the order of the extract's columns."""

    device_id: Eui64
    device_type: DeviceType
    status: SmiStatus
    manufacturer: str
    model: str
    firmware_version: str | None
    mpxn: str | None
    cohort: str | None
    comms_hub_id: Eui64 | None
    gas_proxy_id: Eui64 | None
    commissioned_at: datetime | None
    restricted: bool
    restricted_since: datetime | None
    restricted_by: Eui64 | None
    restricted_reason: str | None

    def as_json(self) -> dict[str, str | bool | None]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ExtractRow))


@dataclass(frozen=True, slots=True)
class Filters:
    """What a search narrows to; None matches anything."""

    restricted: bool | None = None
    mpxn: str | None = None
    device_type: DeviceType | None = None


def held_mpxns(user: Eui64, roles: Collection[UserRole], now: datetime) -> Select[str]:
    """The metering points for which ``user`` holds one of ``roles`` at ``now``.

    A registration is in force when it is the latest one effective by ``now`` for its MPxN and
    role (latest effective date, then latest row), as ``RegistrationStore.responsible`` reads.
    """
    mine, other = registrations.alias("mine"), registrations.alias("other")
    superseded = exists().where(
        other.c.mpxn == mine.c.mpxn,
        other.c.role == mine.c.role,
        other.c.effective_from <= now,
        or_(
            other.c.effective_from > mine.c.effective_from,
            and_(other.c.effective_from == mine.c.effective_from, other.c.id > mine.c.id),
        ),
    )
    return (
        select(mine.c.mpxn)
        .where(mine.c.user_id == str(user))
        .where(mine.c.role.in_(sorted(r.value for r in roles)))
        .where(mine.c.effective_from <= now)
        .where(~superseded)
    )


def search(
    engine: Engine,
    user: Eui64,
    now: datetime,
    *,
    roles: Collection[UserRole] = ANY_ROLE,
    filters: Filters = Filters(),  # frozen: never mutated
    after: Eui64 | None = None,
    limit: int = 100,
) -> list[ExtractRow]:
    """One page of the devices on the User's metering points, by Device ID after ``after``."""
    if not 0 < limit <= MAX_PAGE:
        raise ValueError(f"a page holds 1 to {MAX_PAGE} devices")
    query = (
        select(
            devices,
            restrictions.c.restricted.label("r_restricted"),
            restrictions.c.since.label("r_since"),
            restrictions.c.changed_by.label("r_by"),
            restrictions.c.reason.label("r_reason"),
        )
        .select_from(
            devices.outerjoin(restrictions, restrictions.c.device_id == devices.c.device_id)
        )
        .where(devices.c.mpxn.in_(held_mpxns(user, roles, now)))
        .order_by(devices.c.device_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(devices.c.device_id > str(after))
    if filters.mpxn is not None:
        query = query.where(devices.c.mpxn == filters.mpxn)
    if filters.device_type is not None:
        query = query.where(devices.c.device_type == filters.device_type.value)
    if filters.restricted is True:
        query = query.where(restrictions.c.restricted.is_(True))
    elif filters.restricted is False:
        query = query.where(
            or_(restrictions.c.restricted.is_(None), restrictions.c.restricted.is_(False))
        )
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def extract(engine: Engine, user: Eui64, now: datetime, chunk: int = CHUNK) -> Iterator[ExtractRow]:
    """Every device the User supplies now (IS or GS), by Device ID, read ``chunk`` at a time."""
    after: Eui64 | None = None
    while True:
        page = search(engine, user, now, roles=EXTRACT_ROLES, after=after, limit=chunk)
        yield from page
        if len(page) < chunk:
            return
        after = page[-1].device_id


def is_responsible(inventory: InventoryStore, device: Device, user: Eui64, now: datetime) -> bool:
    """Whether ``user`` holds any role for the device's metering point now."""
    if not device.mpxn:
        return False
    return any(inventory.responsible(device.mpxn, role, now) == user for role in UserRole)


# --------------------------------------------------------------------------- rendering


def csv_text(rows: Iterable[ExtractRow]) -> Iterator[str]:
    """The header line, then one CSV line per row (booleans as true/false, None empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(values: Iterable[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(COLUMNS)
    for row in rows:
        yield line(_cell(v) for v in row.as_json().values())


def json_text(rows: Iterable[ExtractRow]) -> Iterator[str]:
    """A JSON array of row objects, one row per piece."""
    yield "["
    separator = "\n"
    for row in rows:
        yield separator + json.dumps(row.as_json())
        separator = ",\n"
    yield "\n]\n"


def _cell(value: str | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _plain(value: object) -> str | bool | None:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, DeviceType | SmiStatus):
        return value.value
    return str(value)  # Eui64: its canonical form


def _row(r: Any) -> ExtractRow:  # a Row of ``devices`` joined with ``restrictions``
    restricted = bool(r.r_restricted)

    def eui(text: str | None) -> Eui64 | None:
        return None if text is None else Eui64.parse(text)

    return ExtractRow(
        device_id=Eui64.parse(r.device_id),
        device_type=DeviceType(r.device_type),
        status=SmiStatus(r.smi_status),
        manufacturer=r.manufacturer,
        model=r.model,
        firmware_version=r.firmware_version,
        mpxn=r.mpxn,
        cohort=r.cohort,
        comms_hub_id=eui(r.comms_hub_id),
        gas_proxy_id=eui(r.gas_proxy_id),
        commissioned_at=r.commissioned_at,
        restricted=restricted,
        restricted_since=r.r_since if restricted else None,
        restricted_by=eui(r.r_by) if restricted else None,
        restricted_reason=r.r_reason if restricted else None,
    )
