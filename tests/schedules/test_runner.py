"""The runner with a FixedClock: runs made once when due, their Responses in the outbox (XSD
valid, with DSPScheduleID), restarts, missed runs, change of supplier (N16), E71, priority."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import Engine, select
from tests.reference import DCC, NOW
from tests.schedules.support import (
    METER,
    SUPPLIER,
    HeadEnd,
    Rig,
    dsp_schedule,
    granted,
    rig,
    service_request,
)

from opendcc.core.clock import FixedClock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.duis.response import verify_smets1_signed_response
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml, ra, sr
from opendcc.duis.xmldsig import DCC_SIGNED, SignerPolicy, verify
from opendcc.schedules import ScheduleSettings
from opendcc.schedules.store import ScheduleRow
from opendcc.smki import SigningCredentials, TrustStore
from opendcc.store.tables import outbox

FIRST = datetime(2024, 6, 2, 1, 0, tzinfo=UTC)  # the first occurrence of dsp_schedule()


@pytest.fixture
def credentials(
    dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> tuple[SigningCredentials, SigningCredentials]:
    return dcc_credentials, s1sp_credentials


def make(engine: Engine, credentials: tuple[SigningCredentials, ...], **kwargs: object) -> Rig:
    dcc, s1sp = credentials
    return rig(engine, FixedClock(NOW), dcc, s1sp, **kwargs)  # type: ignore[arg-type]


def create(setup: Rig, **kwargs: Any) -> ScheduleRow:
    answer = setup.schedules.handlers()["5.1"](
        service_request("5.1", dsp_schedule(**kwargs)), granted("5.1"), setup.clock.now()
    )
    with setup.schedules.store.engine.begin() as conn:
        payload = answer.write(conn)
    assert payload is not None
    row = setup.schedules.store.get(int(payload.text or ""))
    assert row is not None
    return row


def row_of(setup: Rig, schedule_id: int) -> ScheduleRow:
    row = setup.schedules.store.get(schedule_id)
    assert row is not None
    return row


def sent(engine: Engine) -> list[tuple[str, etree._ElementTree]]:
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    return [(row.message_key, parse_xml(row.body)) for row in rows]


def due(setup: Rig, schedule_id: int) -> datetime:
    at = row_of(setup, schedule_id).due_at
    assert at is not None
    return at


def run_due(setup: Rig) -> int:
    return asyncio.run(setup.schedules.run_due())


def test_nothing_runs_before_due_and_the_run_is_made_once_at_due(
    engine: Engine,
    credentials: tuple[SigningCredentials, SigningCredentials],
    schema: DuisSchema,
    trust_store: TrustStore,
) -> None:
    setup = make(engine, credentials)
    row = create(setup)
    setup.clock.set(due(setup, row.schedule_id) - timedelta(seconds=1))
    assert run_due(setup) == 0
    assert setup.head_end.seen == [] and sent(engine) == []

    setup.clock.advance(timedelta(seconds=1))
    assert run_due(setup) == 1
    assert run_due(setup) == 0  # not twice
    [(cohort, instruction)] = setup.head_end.seen
    assert cohort == "test-cohort"
    assert instruction.request_id == f"SCHED-{row.schedule_id}-20240602T010000Z"
    assert (instruction.srv, instruction.device_id) == ("4.6.1", METER)
    # Offsets -1 00:00 .. 0 00:00 from the run's date: yesterday's daily read.
    assert dict(instruction.parameters) == {
        "start": "2024-06-01T00:00:00.000Z",
        "end": "2024-06-02T00:00:00.000Z",
    }

    [(key, document)] = sent(engine)
    assert key == f"S:{row.schedule_id}:2024-06-02T01:00:00+00:00"
    schema.validate(document)
    root = document.getroot()
    verify(root, trust_store, SignerPolicy(DCC_SIGNED, Eui64.parse(DCC)), setup.clock.now())
    verify_smets1_signed_response(document, trust_store, setup.clock.now())
    header = root.find(sr("Header"))
    assert header is not None
    assert header.find(sr("RequestID")) is None  # nobody sent a request
    assert header.findtext(sr("ResponseCode")) == "I0"
    device, user, _ = (header.findtext(sr("ResponseID")) or "").split(":")
    assert (device, user) == (str(METER), str(SUPPLIER))
    message = root.find(f"{sr('Body')}/{sr('SMETS1ResponseMessage')}")
    assert message is not None
    assert message.findtext(sr("DSPScheduleID")) == str(row.schedule_id)
    assert message.findtext(sr("ServiceReferenceVariant")) == "4.6.1"
    assert root.find(f".//{ra('RetrieveImportDailyReadLogRsp')}") is not None

    after = row_of(setup, row.schedule_id)
    assert (after.runs, after.last_outcome, after.state) == (1, "I0", "active")
    assert after.next_run_at == FIRST + timedelta(days=1)
    assert after.due_at == after.next_run_at + (due(setup, row.schedule_id) - after.next_run_at)


def test_the_schedule_ends_after_its_end_date(
    engine: Engine, credentials: tuple[SigningCredentials, SigningCredentials]
) -> None:
    setup = make(engine, credentials)
    row = create(setup, end="2024-06-03")
    for _ in range(2):
        setup.clock.set(due(setup, row.schedule_id))
        assert run_due(setup) == 1
    after = row_of(setup, row.schedule_id)
    assert (after.state, after.runs, after.next_run_at, after.due_at) == ("ended", 2, None, None)
    setup.clock.advance(timedelta(days=5))
    assert run_due(setup) == 0


def test_a_restart_neither_repeats_nor_loses_a_run(
    engine: Engine, credentials: tuple[SigningCredentials, SigningCredentials]
) -> None:
    settings = ScheduleSettings(lease=timedelta(minutes=5), poll=0.01)
    first = make(engine, credentials, settings=settings, head_end=HeadEnd(fail_next=1))
    row = create(first)
    at = due(first, row.schedule_id)
    first.clock.set(at)
    assert run_due(first) == 0  # the head-end went away mid-run: the lease is held
    assert sent(engine) == []

    # A new process on the same database: the lease still holds, then runs out.
    second = make(engine, credentials, settings=settings)
    second.clock.set(at + timedelta(minutes=1))
    assert run_due(second) == 0
    second.clock.set(at + timedelta(minutes=5, seconds=1))
    assert run_due(second) == 1
    retried = second.head_end.seen[0][1].request_id
    assert retried == first.head_end.seen[0][1].request_id  # the same instruction id
    assert len(sent(engine)) == 1

    # Another restart after the run was made: nothing to repeat until the next occurrence.
    third = make(engine, credentials, settings=settings)
    third.clock.set(at + timedelta(hours=1))
    assert run_due(third) == 0
    third.clock.set(due(third, row.schedule_id))
    assert run_due(third) == 1
    assert len(sent(engine)) == 2
    assert row_of(third, row.schedule_id).runs == 2


def test_after_three_days_down_one_catch_up_run_and_missed_recorded(
    engine: Engine, credentials: tuple[SigningCredentials, SigningCredentials]
) -> None:
    setup = make(engine, credentials, settings=ScheduleSettings(missed_window=timedelta(days=1)))
    row = create(setup)
    setup.clock.set(due(setup, row.schedule_id))
    assert run_due(setup) == 1  # 2 June made
    setup.clock.set(datetime(2024, 6, 6, 12, 0, tzinfo=UTC))  # 3, 4, 5 and 6 June 01:00 passed

    assert run_due(setup) == 0
    skipped = row_of(setup, row.schedule_id)
    assert skipped.last_outcome == "missed"
    assert skipped.next_run_at == datetime(2024, 6, 6, 1, 0, tzinfo=UTC)  # within the window
    assert run_due(setup) == 1  # the catch-up, once
    assert run_due(setup) == 0
    after = row_of(setup, row.schedule_id)
    assert (after.runs, after.last_outcome) == (2, "I0")
    assert after.next_run_at == datetime(2024, 6, 7, 1, 0, tzinfo=UTC)
    made = [instruction.request_id for _, instruction in setup.head_end.seen]
    assert made == [
        f"SCHED-{row.schedule_id}-20240602T010000Z",
        f"SCHED-{row.schedule_id}-20240606T010000Z",
    ]


def test_no_occurrence_within_the_window_waits_for_the_next(
    engine: Engine, credentials: tuple[SigningCredentials, SigningCredentials]
) -> None:
    setup = make(engine, credentials, settings=ScheduleSettings(missed_window=timedelta(hours=2)))
    row = create(setup)
    setup.clock.set(datetime(2024, 6, 4, 12, 0, tzinfo=UTC))
    assert run_due(setup) == 0
    skipped = row_of(setup, row.schedule_id)
    assert (skipped.last_outcome, skipped.runs) == ("missed", 0)
    assert skipped.next_run_at == datetime(2024, 6, 5, 1, 0, tzinfo=UTC)
    assert run_due(setup) == 0
    assert setup.head_end.seen == []


def test_change_of_supplier_stops_the_schedule_and_alerts_n16(
    engine: Engine,
    credentials: tuple[SigningCredentials, SigningCredentials],
    schema: DuisSchema,
) -> None:
    setup = make(engine, credentials)
    row = create(setup)
    setup.authority.refusal = ResponseCode.NOT_RESPONSIBLE_PARTY
    setup.clock.set(due(setup, row.schedule_id))
    assert run_due(setup) == 0
    assert setup.head_end.seen == []
    stopped = row_of(setup, row.schedule_id)
    assert (stopped.state, stopped.last_outcome, stopped.due_at) == ("stopped", "E4", None)
    assert stopped.stopped_reason and "E4" in stopped.stopped_reason
    [(key, document)] = sent(engine)
    assert key.startswith("alert:90-B3-D5-1F-30-00-00-02:")
    schema.validate(document)
    assert document.findtext(f".//{sr('DCCAlertCode')}") == "N16"
    removal = document.find(f".//{sr('DSPScheduleRemoval')}")
    assert removal is not None
    assert removal.findtext(sr("DeviceID")) == str(METER)
    assert removal.findtext(sr("DSPScheduleID")) == str(row.schedule_id)
    setup.authority.refusal = None
    setup.clock.advance(timedelta(days=2))
    assert run_due(setup) == 0  # stopped for good


def test_a_restricted_meter_answers_that_run_e71_and_the_schedule_continues(
    engine: Engine,
    credentials: tuple[SigningCredentials, SigningCredentials],
    schema: DuisSchema,
) -> None:
    setup = make(engine, credentials)
    row = create(setup)
    setup.authority.refusal = ResponseCode.DEVICE_RESTRICTED
    setup.clock.set(due(setup, row.schedule_id))
    assert run_due(setup) == 1
    assert setup.head_end.seen == []
    [(_, document)] = sent(engine)
    schema.validate(document)
    assert document.findtext(f"{sr('Header')}/{sr('ResponseCode')}") == "E71"
    assert document.findtext(f".//{sr('DSPScheduleID')}") == str(row.schedule_id)
    after = row_of(setup, row.schedule_id)
    assert (after.state, after.runs, after.last_outcome) == ("active", 1, "E71")
    assert after.next_run_at == FIRST + timedelta(days=1)

    setup.authority.refusal = None
    setup.clock.set(due(setup, row.schedule_id))
    assert run_due(setup) == 1
    assert len(setup.head_end.seen) == 1


def test_an_unreachable_device_answers_e20(
    engine: Engine,
    credentials: tuple[SigningCredentials, SigningCredentials],
    schema: DuisSchema,
) -> None:
    from opendcc.s1sp.contract import OutcomeStatus

    setup = make(engine, credentials, head_end=HeadEnd(status=OutcomeStatus.DEVICE_UNREACHABLE))
    row = create(setup)
    setup.clock.set(due(setup, row.schedule_id))
    assert run_due(setup) == 1
    [(_, document)] = sent(engine)
    schema.validate(document)
    assert document.findtext(f"{sr('Header')}/{sr('ResponseCode')}") == "E20"
    assert row_of(setup, row.schedule_id).last_outcome == "E20"


def test_no_run_starts_while_interactive_work_is_busy(
    engine: Engine, credentials: tuple[SigningCredentials, SigningCredentials]
) -> None:
    busy = [True]
    setup = make(engine, credentials, busy=lambda: busy[0])
    row = create(setup)
    setup.clock.set(due(setup, row.schedule_id))

    async def scenario() -> int:
        task = asyncio.create_task(setup.schedules.run_due())
        await asyncio.sleep(0.1)
        assert setup.head_end.seen == []  # held back
        assert not task.done()
        busy[0] = False
        return await asyncio.wait_for(task, timeout=5)

    assert asyncio.run(scenario()) == 1
    assert len(setup.head_end.seen) == 1


def test_the_runner_task_wakes_on_a_new_schedule(
    engine: Engine, credentials: tuple[SigningCredentials, SigningCredentials]
) -> None:
    setup = make(engine, credentials, settings=ScheduleSettings(poll=30.0))

    async def scenario() -> None:
        task = asyncio.create_task(setup.schedules.run())
        await asyncio.sleep(0.05)  # idle, waiting up to 30 s
        create(setup, start="2024-06-02", at="02:00:00")  # first run 2 June: not due
        row = create(setup, start="2024-06-01", at="13:00:00")  # 1 June 13:00
        assert row.next_run_at == datetime(2024, 6, 1, 13, 0, tzinfo=UTC)
        setup.clock.set(datetime(2024, 6, 1, 13, 31, tzinfo=UTC))  # past any spread offset
        await asyncio.to_thread(setup.schedules.requests.wake)  # the front door's thread
        for _ in range(100):
            if setup.head_end.seen:
                break
            await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(scenario())
    assert len(setup.head_end.seen) == 1


def test_runs_answered_together_are_written_in_one_group_or_not_at_all(
    engine: Engine,
    credentials: tuple[SigningCredentials, SigningCredentials],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ScheduleSettings(lease=timedelta(minutes=5), poll=0.01, concurrency=4)
    setup = make(engine, credentials, settings=settings)
    rows = [create(setup) for _ in range(6)]
    at = max(due(setup, row.schedule_id) for row in rows)
    setup.clock.set(at)
    store = setup.schedules.store
    real = store.advance_in
    calls = {"n": 0}

    def advance_fails_on_the_fourth(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("the database went away mid-group")
        return bool(real(*args, **kwargs))

    monkeypatch.setattr(store, "advance_in", advance_fails_on_the_fourth)
    assert run_due(setup) < 6  # a group failed: its runs are not written, not even in part
    written = len(sent(engine))
    moved = sum(1 for row in rows if row_of(setup, row.schedule_id).runs == 1)
    assert written == moved  # each Response goes with its row's move, or neither does

    monkeypatch.setattr(store, "advance_in", real)
    setup.clock.set(at + timedelta(minutes=5, seconds=1))  # the failed group's leases end
    assert run_due(setup) == 6 - moved
    assert len(sent(engine)) == 6
    assert all(row_of(setup, row.schedule_id).runs == 1 for row in rows)


def test_lookups_are_prefetched_a_slots_worth_at_a_time_just_before_the_runs(
    engine: Engine, credentials: tuple[SigningCredentials, SigningCredentials]
) -> None:
    # The lookup caches keep an entry about a second: a whole batch's prefetch would expire
    # before most of its runs began. Each window of ``concurrency`` is fetched as it starts.
    fetches: list[tuple[int, int]] = []  # (devices fetched, runs already asked of the meter)
    settings = ScheduleSettings(poll=0.01, concurrency=2)
    setup = make(
        engine,
        credentials,
        settings=settings,
        prefetch=lambda devices: fetches.append((len(devices), len(setup.head_end.seen))),
    )
    rows = [create(setup) for _ in range(5)]
    setup.clock.set(max(due(setup, row.schedule_id) for row in rows))
    assert run_due(setup) == 5
    assert [n for n, _ in fetches] == [2, 2, 1]
    # Each window is fetched before any of its runs is asked of the meter.
    assert all(asked <= start for (_, asked), start in zip(fetches, (0, 2, 4), strict=True))
