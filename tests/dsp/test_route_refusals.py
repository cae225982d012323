"""What the router refuses after the front door accepted: a meter restricted since (E71), and a
User no longer authorised, which the DCO refuses (the User also gets DCC alert N13)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path

import pytest
from tests.reference import KEYS, NOW

from opendcc import hub as hub_module
from opendcc.catalogue import UserRole
from opendcc.config import load
from opendcc.core.clock import FixedClock
from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.access import Endpoint
from opendcc.dsp.lifecycle import RequestState
from opendcc.duis.xml import parse_xml, sr
from opendcc.hub import Hub
from opendcc.inventory import InventoryStore
from opendcc.inventory.facts import DeviceFacts
from opendcc.inventory.restriction import Restrictions
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.service import performance
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials
from opendcc.store.requests import Loaded
from opendcc.store.tables import outbox
from opendcc.store.users import UserStatus

METER = scenario.METERS[0].device_id


def _hub(tmp_path: Path) -> tuple[Hub, SimulatedUser]:
    profile = register_all(Registry()).profiles()[0]
    scheme = "tcp" if profile.protocol == "apdu" else "http"
    config = scenario.write_config(
        tmp_path / "hub.toml",
        keys=KEYS,
        cohort=profile.name,
        headend=f"{scheme}://127.0.0.1:9",  # never reached: the router refuses first
        callback_url="http://127.0.0.1:9/duis",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
    )
    hub = Hub(load(config), FixedClock(NOW))
    hub.seed()
    key = scenario.SUPPLIER_KEY
    credentials = SigningCredentials.from_files(KEYS / f"{key}.key", KEYS / f"{key}.pem")
    return hub, SimulatedUser(credentials)


def _accepted(hub: Hub, supplier: SimulatedUser) -> RequestId:
    body = supplier.request("4.1.1", METER)
    assert hub.front_door.handle(Endpoint.SEND, body).code == "I99"
    return RequestId.parse(parse_xml(body).findtext(f"{sr('Header')}/{sr('RequestID')}") or "")


def _answers(hub: Hub, rid: RequestId) -> list[str]:
    """The response code of the answer and the DCC alert code of any alert, for the User."""
    with hub.engine.connect() as conn:
        rows = conn.execute(
            outbox.select().where(outbox.c.user_id == str(rid.originator)).order_by(outbox.c.id)
        ).all()
    found = []
    for row in rows:
        document = parse_xml(row.body)
        alert = document.findtext(f".//{sr('DCCAlertCode')}")
        found.append(alert or document.findtext(f"{sr('Header')}/{sr('ResponseCode')}") or "?")
    return found


def test_a_user_suspended_after_acceptance_is_refused_by_the_dco_and_alerted(
    tmp_path: Path,
) -> None:
    hub, supplier = _hub(tmp_path)
    rid = _accepted(hub, supplier)
    hub.users.set_status(supplier.user_id, UserStatus.SUSPENDED)
    hub.users._changed()
    asyncio.run(hub.dispatcher.process(rid))
    assert hub.requests.state(rid) is RequestState.FAILED
    assert _answers(hub, rid) == ["E3", "N13"]
    hub.engine.dispose()


def test_a_read_accepted_before_the_restriction_is_refused_at_dispatch(tmp_path: Path) -> None:
    hub, supplier = _hub(tmp_path)
    rid = _accepted(hub, supplier)

    hub.restrict(METER, restricted=True, by=supplier.user_id, reason="consumer refused")
    asyncio.run(hub.dispatcher.process(rid))

    assert hub.requests.state(rid) is RequestState.FAILED
    assert _answers(hub, rid) == ["E71"]  # and no DCC alert: the consumer's choice, no fault
    # MP169: performance reporting leaves it out, as it does a front-door E71.
    report = performance.build(
        hub.engine, hub.catalogue, NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    )
    line = report.line("4.1.1")
    assert (line.accepted, line.excluded_after, line.failed, line.counted) == (1, 1, 0, 0)
    assert line.in_flight == 0
    assert hub.jobs.pending() == 0
    hub.engine.dispose()


def test_changes_made_elsewhere_reach_the_worker_at_once_though_the_door_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front door may answer from its cache (a minute here); the worker's reads never do:
    a change of supplier made by another process is refused by the DCO (E4), a restriction by
    the route (E71), before any instruction, with no cache cleared."""
    monkeypatch.setattr(hub_module, "REGISTRY_CACHE_SECONDS", 60.0)
    hub, supplier = _hub(tmp_path)
    elsewhere = InventoryStore(hub.engine)  # another process: this hub's caches are not told
    switched, restricted = _accepted(hub, supplier), _accepted(hub, supplier)
    mpan = scenario.METERS[0].mpxn
    assert mpan is not None
    # The supplier loses the meter's MPAN a second ago; the door's cached facts still say not.
    elsewhere.registrations.change_supplier(
        mpan, UserRole.IS, scenario.OTHER_SUPPLIER, NOW - timedelta(seconds=1)
    )
    facts = hub.facts.cached(METER)
    assert facts is not None and facts.responsible(UserRole.IS, NOW) == supplier.user_id
    asyncio.run(hub.dispatcher.process(switched))
    assert hub.requests.state(switched) is RequestState.FAILED
    assert _answers(hub, switched)[0] == "E4"

    elsewhere.registrations.change_supplier(mpan, UserRole.IS, supplier.user_id, NOW)
    Restrictions(hub.engine, elsewhere).change(
        METER, restricted=True, by=supplier.user_id, reason="consumer refused", now=NOW
    )
    asyncio.run(hub.dispatcher.process(restricted))
    assert hub.requests.state(restricted) is RequestState.FAILED
    assert _answers(hub, restricted)[-1] == "E71"
    hub.engine.dispose()


def test_the_route_and_the_dco_share_one_fresh_read_of_the_device_a_step(
    tmp_path: Path,
) -> None:
    """One fresh read of the target's facts serves the route and the DCO's re-check in the same
    step (opendcc.dsp.stepfacts); the next request's step reads again, so a change made
    between the two requests is seen (E4)."""
    hub, supplier = _hub(tmp_path)
    reads: list[object] = []
    fresh = hub.facts.fresh

    def counted(device_id: object) -> object:
        reads.append(device_id)
        return fresh(device_id)  # type: ignore[arg-type]

    hub.step_facts._fresh = counted  # type: ignore[assignment]
    first, second = _accepted(hub, supplier), _accepted(hub, supplier)
    ready = hub.dispatcher._prepare(first)  # the route's checks and the DCO's, no S1SP call
    assert ready is not None and reads == [METER]
    mpan = scenario.METERS[0].mpxn
    assert mpan is not None
    InventoryStore(hub.engine).registrations.change_supplier(
        mpan, UserRole.IS, scenario.OTHER_SUPPLIER, NOW - timedelta(seconds=1)
    )
    asyncio.run(hub.dispatcher.process(second))
    assert reads == [METER, METER]
    assert hub.requests.state(second) is RequestState.FAILED
    assert _answers(hub, second)[0] == "E4"
    # Outside a step (any other caller of the DCO's re-check) every read is its own.
    hub.step_facts(METER)
    hub.step_facts(METER)
    assert len(reads) == 4
    hub.engine.dispose()


def test_a_claims_jobs_read_their_devices_facts_together_and_fail_alone(
    tmp_path: Path,
) -> None:
    """The worker pool's claim thread prepares a claim's jobs together (``prepared``): their
    devices' facts are one read for the claim (``StepFacts.ahead``), no read of its own a step;
    a job whose first part raises gets a continuation that raises it, and the others go on.
    The next claim reads afresh: a change made between two claims is seen (E4)."""
    hub, supplier = _hub(tmp_path)
    other = scenario.METERS[1].device_id
    assert other != METER
    singles: list[Eui64] = []
    many: list[list[Eui64]] = []
    fresh, fresh_many = hub.facts.fresh, hub.facts.fresh_many

    def one(device: Eui64) -> DeviceFacts | None:
        singles.append(device)
        return fresh(device)

    def several(devices: Collection[Eui64]) -> dict[Eui64, DeviceFacts | None]:
        many.append(sorted(devices))
        return fresh_many(devices)

    hub.step_facts._fresh = one
    hub.step_facts._fresh_many = several

    def accepted(meter: Eui64) -> tuple[RequestId, Loaded]:
        body = supplier.request("4.1.1", meter)
        assert hub.front_door.handle(Endpoint.SEND, body).code == "I99"
        header = parse_xml(body).findtext(f"{sr('Header')}/{sr('RequestID')}") or ""
        rid = RequestId.parse(header)
        loaded = hub.requests.load(rid)
        assert loaded is not None
        return rid, loaded

    first, second, third = accepted(METER), accepted(other), accepted(METER)
    broken = (second[0], Loaded(second[1].outcome, b"<not-duis/>"))
    rests = hub.dispatcher.prepared([first, broken, third])
    assert len(rests) == 3 and singles == []
    assert many == [sorted([METER, other, METER])]
    with pytest.raises(DuisError):
        asyncio.run(rests[1]())
    # A change between two claims: the next claim's one read sees it.
    mpan = scenario.METERS[0].mpxn
    assert mpan is not None
    InventoryStore(hub.engine).registrations.change_supplier(
        mpan, UserRole.IS, scenario.OTHER_SUPPLIER, NOW - timedelta(seconds=1)
    )
    hub.dispatcher.prepared([third, second])
    assert len(many) == 2 and singles == []
    assert hub.requests.state(third[0]) is RequestState.FAILED
    assert _answers(hub, third[0]) == ["E4", "N13"]  # refused by the DCO, and alerted
    hub.engine.dispose()
