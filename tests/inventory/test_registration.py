"""Registration data and change of supplier, read by access control (E4) from the real store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, event
from tests.reference import NOW, SUPPLIER

from opendcc.catalogue import DeviceType, UserRole, default_catalogue
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessControl, AccessDenied, Endpoint
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.inventory import Device, InventoryStore, Registration, SmiStatus
from opendcc.inventory.registration import NotASupplierRole
from opendcc.sim.user import BODIES, REQUEST
from opendcc.store.users import User, UserStatus

LOSING = Eui64.parse(SUPPLIER)
GAINING = Eui64.parse("90-B3-D5-1F-30-01-00-01")
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
MPAN = "1900000000160"
SWITCH = NOW + timedelta(days=3)


class Users:
    def get(self, user_id: Eui64) -> User | None:
        return User(user_id, frozenset({UserRole.IS}), UserStatus.ACTIVE, "http://127.0.0.1:9/")


def read_from(user: Eui64) -> ServiceRequest:
    text = REQUEST.format(
        request_id=f"{user}:{METER}:1",
        cv=1,
        sr="4.1",
        srv="4.1.1",
        body=BODIES["4.1.1"].format(target=METER),
    )
    return parse_request(text.encode())


@pytest.fixture
def inventory(engine: Engine) -> InventoryStore:
    store = InventoryStore(engine, cache_seconds=60)  # the cache must follow the change too
    meter = Device(METER, DeviceType.ESME, SmiStatus.COMMISSIONED, "M", "X", "c", MPAN)
    store.put_devices([meter], NOW)
    store.register([Registration(MPAN, UserRole.IS, LOSING, NOW - timedelta(days=400))])
    return store


def code_for(access: AccessControl, user: Eui64, at: object) -> ResponseCode | None:
    try:
        access.check(read_from(user), Endpoint.SEND, at)  # type: ignore[arg-type]
    except AccessDenied as denied:
        return denied.code
    return None


def test_change_of_supplier_moves_e4_at_the_effective_instant(inventory: InventoryStore) -> None:
    access = AccessControl(default_catalogue(), Users(), inventory)
    assert code_for(access, LOSING, NOW) is None
    assert code_for(access, GAINING, NOW) is ResponseCode.NOT_RESPONSIBLE_PARTY

    inventory.registrations.change_supplier(MPAN, UserRole.IS, GAINING, SWITCH)

    before = SWITCH - timedelta(seconds=1)
    assert code_for(access, LOSING, before) is None
    assert code_for(access, GAINING, before) is ResponseCode.NOT_RESPONSIBLE_PARTY
    assert code_for(access, LOSING, SWITCH) is ResponseCode.NOT_RESPONSIBLE_PARTY
    assert code_for(access, GAINING, SWITCH) is None
    holders = inventory.registrations.holders(MPAN)[UserRole.IS]
    assert (holders[0].user_id, holders[0].effective_from) == (GAINING, SWITCH)


def test_responsible_many_answers_like_responsible(inventory: InventoryStore) -> None:
    inventory.registrations.change_supplier(MPAN, UserRole.IS, GAINING, SWITCH)
    many = inventory.registrations.responsible_many
    assert many([MPAN, "1900000000999"], UserRole.IS, NOW) == {MPAN: LOSING}
    assert many([MPAN], UserRole.IS, SWITCH) == {MPAN: GAINING}
    assert many([MPAN], UserRole.GS, SWITCH) == {}


def test_only_supplier_roles_change_supplier(inventory: InventoryStore) -> None:
    with pytest.raises(NotASupplierRole):
        inventory.registrations.change_supplier(MPAN, UserRole.ED, GAINING, SWITCH)


def test_prefetched_lookups_answer_like_loaded_ones_without_a_query(
    engine: Engine, inventory: InventoryStore
) -> None:
    inventory.registrations.change_supplier(MPAN, UserRole.IS, GAINING, SWITCH)
    absent = Eui64.parse("00-DB-12-34-56-78-90-FF")
    roles, instants = (UserRole.IS, UserRole.GS, UserRole.ED), (NOW, SWITCH)
    expected = {
        "device": inventory.device(METER),
        "responsible": [inventory.responsible(MPAN, r, at) for r in roles for at in instants],
    }
    fresh = InventoryStore(engine, cache_seconds=60)
    fresh.prefetch([METER, absent])
    queries: list[object] = []

    def count(*args: object) -> None:
        queries.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert fresh.device(METER) == expected["device"]
        assert fresh.device(absent) is None
        responsible = [fresh.responsible(MPAN, r, at) for r in roles for at in instants]
        assert responsible == expected["responsible"]
        assert responsible[:2] == [LOSING, GAINING]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert queries == []  # every answer came from what prefetch loaded
