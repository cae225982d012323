"""A device's registry facts in one read (``inventory.facts``): the same answers as the lookups
one at a time, in one SELECT, and a cached answer that follows every change made here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event
from tests.inventory.test_registration import GAINING, LOSING, METER, MPAN, SWITCH, Users, read_from
from tests.reference import NOW

from opendcc.catalogue import DeviceType, UserRole, default_catalogue
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessControl, AccessDenied, Endpoint
from opendcc.dsp.restricted import RestrictedGate, RestrictedPolicy
from opendcc.inventory import Device, InventoryStore, Registration, SmiStatus
from opendcc.inventory.restriction import Restrictions

ABSENT = Eui64.parse("00-DB-12-34-56-78-90-FF")
NETWORK = Eui64.parse("90-B3-D5-1F-30-01-00-09")


def store(engine: Engine, cache_seconds: float = 60) -> InventoryStore:
    inventory = InventoryStore(engine, cache_seconds)
    meter = Device(METER, DeviceType.ESME, SmiStatus.COMMISSIONED, "M", "X", "c", MPAN)
    inventory.put_devices([meter], NOW)
    inventory.register(
        [
            Registration(MPAN, UserRole.IS, LOSING, NOW - timedelta(days=400)),
            Registration(MPAN, UserRole.ED, NETWORK, NOW - timedelta(days=900)),
        ]
    )
    inventory.registrations.change_supplier(MPAN, UserRole.IS, GAINING, SWITCH)
    return inventory


class _Cursor:
    """A DBAPI cursor that notes each statement it runs (the raw reads skip Core's events)."""

    def __init__(self, cursor: Any, seen: list[str]) -> None:
        self._cursor, self._seen = cursor, seen

    def execute(self, sql: str, *args: Any) -> Any:
        self._seen.append(sql)
        return self._cursor.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _Raw:
    def __init__(self, raw: Any, seen: list[str]) -> None:
        self._raw, self._seen = raw, seen

    def cursor(self) -> _Cursor:
        return _Cursor(self._raw.cursor(), self._seen)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement sent to the database in the block: through Core, or on a raw connection."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    raw_connection = engine.raw_connection
    event.listen(engine, "before_cursor_execute", count)
    engine.raw_connection = lambda: _Raw(raw_connection(), seen)  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
        del engine.raw_connection


def test_the_facts_answer_like_the_lookups_one_at_a_time(engine: Engine) -> None:
    inventory = store(engine, cache_seconds=0)
    with statements(engine) as seen:
        facts = inventory.facts.fresh(METER)
    assert len(seen) == 1  # device, restriction and every registration: one SELECT
    assert facts is not None
    assert facts.device == inventory.device(METER)
    assert facts.restricted is False
    for role in UserRole:
        for at in (NOW - timedelta(days=500), NOW, SWITCH - timedelta(seconds=1), SWITCH):
            assert facts.responsible(role, at) == inventory.responsible(MPAN, role, at)
    assert facts.responsible(UserRole.IS, SWITCH) == GAINING
    assert inventory.facts.fresh(ABSENT) is None


def test_access_control_reads_a_device_request_in_one_select(engine: Engine) -> None:
    inventory = store(engine, cache_seconds=0)
    one_read = AccessControl(default_catalogue(), Users(), inventory, inventory.facts.fresh)
    lookups = AccessControl(default_catalogue(), Users(), inventory)
    with statements(engine) as seen:
        granted = one_read.check(read_from(LOSING), Endpoint.SEND, NOW)
    assert len(seen) == 1
    assert (granted.device, granted.restricted) == (inventory.device(METER), False)
    with statements(engine) as before:
        assert lookups.check(read_from(LOSING), Endpoint.SEND, NOW).roles == granted.roles
    assert len(before) > 1  # the device, then the registrations of each eligible role


def test_a_cached_answer_follows_a_change_of_supplier_and_a_restriction(engine: Engine) -> None:
    inventory = store(engine, cache_seconds=60)
    restrictions = Restrictions(engine, inventory, cache_seconds=60)
    access = AccessControl(default_catalogue(), Users(), inventory, inventory.facts.cached)
    gate = RestrictedGate(RestrictedPolicy.build(default_catalogue()), restrictions.is_restricted)
    later = SWITCH + timedelta(days=1)
    granted = access.check(read_from(GAINING), Endpoint.SEND, later)
    gate(granted)  # not restricted: goes ahead

    restrictions.change(METER, restricted=True, by=GAINING, reason="consumer", now=later)
    granted = access.check(read_from(GAINING), Endpoint.SEND, later)
    assert granted.restricted is True
    with statements(engine) as seen:
        try:
            gate(granted)
        except AccessDenied as denied:
            assert denied.code is ResponseCode.DEVICE_RESTRICTED
        else:
            raise AssertionError("a read of a restricted meter went ahead")
    assert seen == []  # the flag came with the device's facts

    inventory.registrations.change_supplier(MPAN, UserRole.IS, LOSING, later)
    try:
        access.check(read_from(GAINING), Endpoint.SEND, later)
    except AccessDenied as denied:
        assert denied.code is ResponseCode.NOT_RESPONSIBLE_PARTY
    else:
        raise AssertionError("the cached facts kept the losing supplier's right")


def test_prefetched_facts_answer_like_read_ones_without_a_query(engine: Engine) -> None:
    inventory = store(engine, cache_seconds=60)
    Restrictions(engine, inventory).change(
        METER, restricted=True, by=GAINING, reason="consumer", now=SWITCH
    )
    expected = inventory.facts.fresh(METER)
    cold = InventoryStore(engine, cache_seconds=60)
    cold.facts.prefetch([METER, ABSENT])
    with statements(engine) as seen:
        assert cold.facts.cached(METER) == expected
        assert cold.facts.cached(ABSENT) is None
    assert seen == []
    assert expected is not None and expected.restricted is True


def test_a_claims_few_devices_read_together_answer_like_each_read_alone(engine: Engine) -> None:
    """``fresh_many``: a few devices (a worker's claim) in one SELECT on the DBAPI cursor, a
    long list through Core in chunks; each device's facts as ``fresh`` reads them, absent ones
    as None, repeats read once."""
    inventory = store(engine)
    other = Eui64.parse("00-DB-12-34-56-78-90-A1")
    inventory.put_devices(
        [Device(other, DeviceType.GSME, SmiStatus.COMMISSIONED, "M", "X", "c", None)], NOW
    )
    Restrictions(engine, inventory).change(
        METER, restricted=True, by=GAINING, reason="consumer", now=SWITCH
    )
    alone = {d: inventory.facts.fresh(d) for d in (METER, other, ABSENT)}
    assert alone[METER] is not None and alone[METER].holders and alone[other] is not None
    with statements(engine) as seen:
        assert inventory.facts.fresh_many([METER, other, ABSENT, METER]) == alone
    assert len(seen) == 1 and " IN " in seen[0]
    many = [Eui64(ABSENT.value + n) for n in range(1, 40)]
    assert inventory.facts.fresh_many([METER, *many]) == {
        METER: alone[METER],
        **dict.fromkeys(many),
    }
    assert inventory.facts.fresh_many([]) == {}
