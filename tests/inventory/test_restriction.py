"""Restricted mode (MP169) in the inventory: set and cleared only by the responsible supplier,
a GSME's restriction covers its GPF, who/when/why kept, a notice queued for the S1SP, and the
flag survives a change of supplier."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, select
from tests.inventory.test_devices import ESME, GPF, GSME, HUB, T0, installation

from opendcc.catalogue import UserRole
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.inventory import InventoryStore, Registration, SmiStatus
from opendcc.inventory.restriction import RestrictionRefused, Restrictions
from opendcc.store.tables import restrictions as restrictions_table
from opendcc.store.tables import s1sp_notices

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
GAS_SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-01")
GAINING = Eui64.parse("90-B3-D5-1F-30-01-00-02")
NETWORK = Eui64.parse("90-B3-D5-1F-30-01-00-03")
NOW = T0 + timedelta(days=2)


@pytest.fixture
def restrictions(engine: Engine) -> Restrictions:
    inventory = InventoryStore(engine)
    with engine.begin() as conn:
        inventory.add_in(conn, installation(SmiStatus.COMMISSIONED), T0, "test")
    inventory.register(
        [
            Registration("1900000000017", UserRole.IS, SUPPLIER, T0),
            Registration("1900000000017", UserRole.ED, NETWORK, T0),
            Registration("7000000001", UserRole.GS, GAS_SUPPLIER, T0),
        ]
    )
    return Restrictions(engine, inventory)


def notices(engine: Engine) -> list[dict[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(s1sp_notices).order_by(s1sp_notices.c.id)).all()
    return [{"device": r.device_id, "srv": r.srv, **json.loads(r.parameters)} for r in rows]


def test_the_responsible_supplier_sets_and_clears_with_who_when_why(
    restrictions: Restrictions, engine: Engine
) -> None:
    changed = restrictions.change(
        ESME, restricted=True, by=SUPPLIER, reason="consumer refused smart", now=NOW
    )
    assert [(r.device_id, r.restricted, r.since, r.changed_by) for r in changed] == [
        (ESME, True, NOW, SUPPLIER)
    ]
    assert restrictions.is_restricted(ESME)
    later = NOW + timedelta(hours=1)
    restrictions.change(ESME, restricted=False, by=SUPPLIER, reason="consumer agreed", now=later)
    assert not restrictions.is_restricted(ESME)
    history = restrictions.history(ESME)
    assert [(h.restricted, h.at, h.changed_by, h.reason) for h in history] == [
        (True, NOW, SUPPLIER, "consumer refused smart"),
        (False, later, SUPPLIER, "consumer agreed"),
    ]
    told = notices(engine)
    assert [(n["device"], n["srv"], n["restricted"]) for n in told] == [
        (str(ESME), "99.1", "true"),
        (str(ESME), "99.1", "false"),
    ]
    assert told[0]["set_by"] == str(SUPPLIER)


@pytest.mark.parametrize("who", [NETWORK, GAS_SUPPLIER, GAINING])
def test_nobody_else_may_set_it(restrictions: Restrictions, engine: Engine, who: Eui64) -> None:
    with pytest.raises(RestrictionRefused) as refused:
        restrictions.change(ESME, restricted=True, by=who, reason="x", now=NOW)
    assert refused.value.code is ResponseCode.NOT_RESPONSIBLE_PARTY
    assert not restrictions.is_restricted(ESME)
    assert restrictions.history(ESME) == []
    assert notices(engine) == []


def test_a_gsme_restriction_covers_its_gpf(restrictions: Restrictions, engine: Engine) -> None:
    changed = restrictions.change(GSME, restricted=True, by=GAS_SUPPLIER, reason="r", now=NOW)
    assert {r.device_id for r in changed} == {GSME, GPF}
    assert all(r.meter_id == GSME for r in changed)
    assert restrictions.restricted_among({ESME, GSME, GPF, HUB}) == {GSME, GPF}
    # One notice, for the meter the supplier named.
    assert [n["device"] for n in notices(engine)] == [str(GSME)]
    restrictions.change(GSME, restricted=False, by=GAS_SUPPLIER, reason="", now=NOW)
    assert restrictions.restricted_among({GSME, GPF}) == set()


@pytest.mark.parametrize(
    ("device", "code"),
    [
        (GPF, ResponseCode.SRV_NOT_FOR_DEVICE_TYPE),
        (HUB, ResponseCode.SRV_NOT_FOR_DEVICE_TYPE),
        (Eui64.parse("00-DB-12-00-00-00-00-99"), ResponseCode.UNKNOWN_DEVICE),
    ],
)
def test_only_meters_in_the_inventory(
    restrictions: Restrictions, device: Eui64, code: ResponseCode
) -> None:
    with pytest.raises(RestrictionRefused) as refused:
        restrictions.change(device, restricted=True, by=GAS_SUPPLIER, reason="r", now=NOW)
    assert refused.value.code is code


def test_the_same_state_again_changes_nothing(restrictions: Restrictions, engine: Engine) -> None:
    restrictions.change(ESME, restricted=True, by=SUPPLIER, reason="first", now=NOW)
    again = restrictions.change(ESME, restricted=True, by=SUPPLIER, reason="again", now=NOW)
    assert again[0].reason == "first"
    assert len(restrictions.history(ESME)) == 1
    assert len(notices(engine)) == 1


def test_the_flag_survives_a_change_of_supplier_and_moves_who_may_clear_it(
    restrictions: Restrictions,
) -> None:
    restrictions.change(ESME, restricted=True, by=SUPPLIER, reason="refused", now=NOW)
    switch = NOW + timedelta(days=1)
    restrictions.inventory.registrations.change_supplier(
        "1900000000017", UserRole.IS, GAINING, switch
    )
    after = switch + timedelta(minutes=1)
    assert restrictions.is_restricted(ESME)
    assert restrictions.of(ESME) is not None
    with pytest.raises(RestrictionRefused):
        restrictions.change(ESME, restricted=False, by=SUPPLIER, reason="old", now=after)
    restrictions.change(ESME, restricted=False, by=GAINING, reason="asked again", now=after)
    assert not restrictions.is_restricted(ESME)


def test_prefetched_flags_answer_like_loaded_ones(
    restrictions: Restrictions, engine: Engine
) -> None:
    restrictions.change(ESME, restricted=True, by=SUPPLIER, reason="refused", now=NOW)
    cached = Restrictions(engine, InventoryStore(engine), cache_seconds=60)
    cached.prefetch([ESME, GSME, HUB])
    with engine.begin() as conn:  # changed behind the cache's back: prefetch's answers stay
        conn.execute(delete(restrictions_table))
    assert [cached.is_restricted(d) for d in (ESME, GSME, HUB)] == [True, False, False]
    assert not restrictions.is_restricted(ESME)  # an uncached store reads the change
