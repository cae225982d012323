from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import Engine, event, func, select, update
from tests.dbapi import statements
from tests.reference import NOW

from opendcc.core.clock import SystemClock
from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.queue.deadletters import DeliveryPolicy
from opendcc.queue.outbox import Deliverer, Failure, Message, Outbox, backoff
from opendcc.store import create_engine_for, upgrade
from opendcc.store.group import GroupCommit
from opendcc.store.requests import NewRequest, RequestStore
from opendcc.store.tables import dead_letters, outbox

RID = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7")
LEASE = timedelta(seconds=30)


def responded(engine: Engine) -> tuple[RequestStore, Outbox]:
    requests = RequestStore(engine)
    requests.accept(NewRequest(RID, "4.1.1", 1, b"<doc/>"), NOW)
    box = Outbox(engine, requests)
    with engine.begin() as conn:
        requests.transition_in(conn, RID, RequestState.RESPONDED, NOW)
        box.put_in(conn, Message("R:x", "u", "http://127.0.0.1:9/", b"<r/>", RID), NOW)
    return requests, box


def test_backoff_doubles_up_to_a_ceiling() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [0.5, 1, 2, 4]
    assert backoff(30) == timedelta(seconds=30)


def test_a_failed_delivery_waits_then_is_claimed_again(engine: Engine) -> None:
    _, box = responded(engine)
    [(row, message)] = box.claim(NOW, 10, LEASE)
    assert message.request_id == RID
    assert box.claim(NOW, 10, LEASE) == []  # leased
    box.failed(row, box.attempts(row), "HTTP 503", NOW)
    assert box.claim(NOW, 10, LEASE) == []  # backing off
    assert len(box.claim(NOW + timedelta(seconds=1), 10, LEASE)) == 1
    assert box.undelivered() == 1


def test_delivery_moves_the_request_to_delivered(engine: Engine) -> None:
    requests, box = responded(engine)
    [(row, message)] = box.claim(NOW, 10, LEASE)
    box.delivered(row, message, NOW)
    assert requests.state(RID) is RequestState.DELIVERED
    assert box.undelivered() == 0
    # At least once: a second delivery of the same message changes nothing.
    box.delivered(row, message, NOW)
    assert requests.state(RID) is RequestState.DELIVERED


def test_release_all_frees_leases_of_a_dead_process(engine: Engine) -> None:
    _, box = responded(engine)
    box.claim(NOW, 10, LEASE)
    box.release_all()
    assert len(box.claim(NOW, 10, LEASE)) == 1


# --------------------------------------------------------------------------- batches


def _rid(counter: int) -> RequestId:
    return RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{counter}")


def _responded(engine: Engine, count: int, url: str = "http://127.0.0.1:9/") -> Outbox:
    """``count`` requests in RESPONDED, their Responses in the outbox (keys R:1 ...)."""
    requests = RequestStore(engine)
    box = Outbox(engine, requests)
    with engine.begin() as conn:
        for n in range(1, count + 1):
            requests.accept_in(conn, NewRequest(_rid(n), "4.1.1", 1, b"<doc/>"), NOW)
            requests.transition_in(conn, _rid(n), RequestState.RESPONDED, NOW)
            box.put_in(conn, Message(f"R:{n}", "u", url, b"<r/>", _rid(n)), NOW)
    return box


def test_a_claim_leases_its_whole_batch_in_one_update(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = _responded(engine, 6)
    updates = statements(engine, monkeypatch, "UPDATE")
    batch = box.claim_batch(NOW, 4, LEASE)
    assert [c.message.key for c in batch] == ["R:1", "R:2", "R:3", "R:4"]  # oldest first
    assert [c.attempts for c in batch] == [0, 0, 0, 0]
    assert batch[0].message.request_id == _rid(1)
    assert len(updates) == 1
    assert [c.message.key for c in box.claim_batch(NOW, 4, LEASE)] == ["R:5", "R:6"]
    assert box.claim_batch(NOW, 4, LEASE) == []  # all leased
    assert len(box.claim_batch(NOW + LEASE + timedelta(seconds=1), 10, LEASE)) == 6


def test_a_sole_deliverers_claim_is_a_read_that_skips_what_it_holds(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = _responded(engine, 4)
    updates = statements(engine, monkeypatch, "UPDATE")
    first = box.claim_batch(NOW, 2, LEASE, holding=frozenset())
    assert [c.message.key for c in first] == ["R:1", "R:2"]
    held = {c.row_id for c in first}
    assert [c.message.key for c in box.claim_batch(NOW, 10, LEASE, holding=held)] == [
        "R:3",
        "R:4",
    ]
    assert updates == []  # nothing leased, nothing written
    # Leases others hold (a schedules runner's) are still respected.
    [runner] = box.claim_batch(NOW, 1, LEASE)  # leases R:1
    assert runner.message.key == "R:1"
    others = box.claim_batch(NOW, 10, LEASE, holding=frozenset())
    assert [c.message.key for c in others] == ["R:2", "R:3", "R:4"]


def test_a_batch_of_outcomes_is_one_commit(engine: Engine) -> None:
    box = _responded(engine, 4)
    batch = box.claim_batch(NOW, 10, LEASE)
    taken = [(c.row_id, c.message) for c in batch[:3]]
    failure = Failure(batch[3].row_id, batch[3].attempts, "HTTP 503")
    commits: list[object] = []
    event.listen(engine, "commit", commits.append)
    assert box.record(taken, [failure], NOW) == []
    assert len(commits) == 1
    for n in (1, 2, 3):
        assert box.requests.state(_rid(n)) is RequestState.DELIVERED
    assert box.requests.state(_rid(4)) is RequestState.RESPONDED
    assert box.undelivered() == 1
    assert box.attempts(failure.row_id) == 1
    assert box.claim_batch(NOW, 10, LEASE) == []  # backing off
    [again] = box.claim_batch(NOW + backoff(1), 10, LEASE)
    assert (again.message.key, again.attempts) == ("R:4", 1)
    # At least once: a batch recorded twice changes nothing more.
    box.record(taken, [], NOW)
    assert box.requests.state(_rid(1)) is RequestState.DELIVERED


def test_a_failure_past_the_policy_is_a_dead_letter(engine: Engine) -> None:
    box = _responded(engine, 1)
    box.policy = DeliveryPolicy(max_attempts=3, permanent_attempts=1)
    [claimed] = box.claim_batch(NOW, 10, LEASE)
    failure = Failure(claimed.row_id, claimed.attempts, "HTTP 410", permanent=True)
    assert box.record([], [failure], NOW) == [failure]
    assert box.undelivered() == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dead_letters)).scalar_one() == 1


def test_delivered_messages_are_pruned_after_their_retention_in_chunks(engine: Engine) -> None:
    box = _responded(engine, 5)
    batch = box.claim_batch(NOW, 10, LEASE)
    long_ago = NOW - timedelta(days=8)
    box.record([(c.row_id, c.message) for c in batch[:3]], [], long_ago)
    box.record([(batch[3].row_id, batch[3].message)], [], NOW)  # delivered lately
    before = NOW - timedelta(days=7)
    assert box.prune(before, limit=2) == 2
    assert box.prune(before, limit=2) == 1
    assert box.prune(before, limit=2) == 0
    with engine.connect() as conn:
        left = conn.execute(select(outbox.c.message_key).order_by(outbox.c.id)).scalars().all()
    assert left == ["R:4", "R:5"]  # the recent delivery, and the undelivered one (never pruned)
    assert box.requests.state(_rid(1)) is RequestState.DELIVERED  # the request stays


# --------------------------------------------------------------------------- the deliverer


class _Endpoint:
    """A User's callback endpoint over real HTTP: 200 on /ok, 503 on /down."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def ok(request: web.Request) -> web.Response:
            await request.read()
            self.keys.append(request.headers["X-DCC-Message-ID"])
            return web.Response(status=200)

        async def down(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=503)

        app = web.Application()
        app.router.add_post("/ok", ok)
        app.router.add_post("/down", down)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.mark.parametrize("sole", [False, True], ids=["leasing", "sole"])
def test_the_deliverer_posts_batches_records_them_together_and_prunes(
    tmp_path: Path, sole: bool
) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    clock = SystemClock()

    async def main() -> None:
        endpoint = _Endpoint()
        await endpoint.start()
        box = _responded(engine, 60, f"{endpoint.url}/ok")
        now = clock.now()
        with engine.begin() as conn:
            box.put_in(conn, Message("A:down", "u", f"{endpoint.url}/down", b"<a/>"), now)
            box.put_in(conn, Message("A:old", "u", f"{endpoint.url}/ok", b"<a/>"), now)
            conn.execute(  # delivered two hours ago: past a one-hour retention
                update(outbox)
                .where(outbox.c.message_key == "A:old")
                .values(delivered_at=now - timedelta(hours=2))
            )
        deliverer = Deliverer(
            box, clock, poll=0.05, concurrency=16, retain=timedelta(hours=1), sole=sole
        )
        task = asyncio.create_task(deliverer.run())
        try:
            for _ in range(400):
                if await asyncio.to_thread(box.undelivered) == 1:  # only A:down is left
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await endpoint.stop()
        assert sorted(endpoint.keys) == sorted(f"R:{n}" for n in range(1, 61))  # each once
        assert deliverer.records < 60  # outcomes recorded together, not one commit each
        assert deliverer.claims >= 60 / 16  # never more than 16 in flight
        with engine.connect() as conn:
            rows = {
                r.message_key: r
                for r in conn.execute(
                    select(outbox.c.message_key, outbox.c.attempts, outbox.c.last_error)
                )
            }
        assert "A:old" not in rows  # pruned
        assert rows["A:down"].attempts >= 1
        assert rows["A:down"].last_error == "HTTP 503"
        for n in range(1, 61):
            assert box.requests.state(_rid(n)) is RequestState.DELIVERED

    try:
        asyncio.run(main())
    finally:
        engine.dispose()


def _deliver_one(tmp_path: Path, *, poll: float, woken: bool) -> float:
    """Seconds from a message's commit to its arrival with a deliverer idle meanwhile."""
    tmp_path.mkdir()
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)

    async def main() -> float:
        endpoint = _Endpoint()
        await endpoint.start()
        box = Outbox(engine, RequestStore(engine))
        deliverer = Deliverer(box, SystemClock(), poll=poll)
        task = asyncio.create_task(deliverer.run())
        try:
            await asyncio.sleep(0.3)  # idle: waiting for a wake-up or its poll
            started = time.monotonic()
            with engine.begin() as conn:
                box.put_in(conn, Message("A:1", "u", f"{endpoint.url}/ok", b"<a/>"), NOW)
            if woken:
                deliverer.wake.set()
            while not endpoint.keys:
                assert time.monotonic() - started < 30
                await asyncio.sleep(0.005)
            return time.monotonic() - started
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await endpoint.stop()

    try:
        return asyncio.run(main())
    finally:
        engine.dispose()


def test_a_wake_up_delivers_at_once_and_a_lost_one_only_waits_for_the_poll(
    tmp_path: Path,
) -> None:
    assert _deliver_one(tmp_path / "woken", poll=10.0, woken=True) < 5
    assert _deliver_one(tmp_path / "lost", poll=0.5, woken=False) < 10


@pytest.mark.parametrize("sole", [False, True], ids=["leasing", "sole"])
def test_ordered_messages_follow_each_other_without_waiting_for_a_poll(
    tmp_path: Path, sole: bool
) -> None:
    """One device's alerts to one User go in order, each after the last is recorded: a
    recorded delivery claims the next at once, not a poll later (a 10 s poll here)."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)

    async def main() -> float:
        endpoint = _Endpoint()
        await endpoint.start()
        box = Outbox(engine, RequestStore(engine))
        with engine.begin() as conn:
            for n in range(20):
                message = Message(f"A:{n}", "u", f"{endpoint.url}/ok", b"<a/>", ordering_key="k")
                box.put_in(conn, message, NOW)
        deliverer = Deliverer(box, SystemClock(), poll=10.0, sole=sole)
        started = time.monotonic()
        task = asyncio.create_task(deliverer.run())
        try:
            while len(endpoint.keys) < 20:
                assert time.monotonic() - started < 30, endpoint.keys
                await asyncio.sleep(0.01)
            return time.monotonic() - started
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await endpoint.stop()

    try:
        took = asyncio.run(main())
    finally:
        engine.dispose()
    assert took < 8  # one poll per message would be 190 s


def _trickle(tmp_path: Path, *, linger: float, group: bool) -> Deliverer:
    """Ten Responses committed one by one, 20 ms apart, each waking an otherwise idle sole
    deliverer (a 10 s poll), as at a low rate; the deliverer once every one is DELIVERED."""
    tmp_path.mkdir()
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    box = _responded(engine, 0)
    box.group = GroupCommit(engine) if group else None

    async def main() -> Deliverer:
        endpoint = _Endpoint()
        await endpoint.start()
        deliverer = Deliverer(box, SystemClock(), poll=10.0, sole=True, linger=linger)
        task = asyncio.create_task(deliverer.run())
        try:
            for n in range(1, 11):
                rid = _rid(n)
                with engine.begin() as conn:
                    box.requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
                    box.requests.transition_in(conn, rid, RequestState.RESPONDED, NOW)
                    message = Message(f"R:{n}", "u", f"{endpoint.url}/ok", b"<r/>", rid)
                    box.put_in(conn, message, NOW)
                deliverer.wake.set()
                await asyncio.sleep(0.02)
            started = time.monotonic()
            while await asyncio.to_thread(box.undelivered):
                assert time.monotonic() - started < 30
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await endpoint.stop()
        assert sorted(endpoint.keys) == sorted(f"R:{n}" for n in range(1, 11))
        for n in range(1, 11):
            assert box.requests.state(_rid(n)) is RequestState.DELIVERED
        return deliverer

    try:
        return asyncio.run(main())
    finally:
        if box.group is not None:
            box.group.close()
        engine.dispose()


@pytest.mark.parametrize("group", [False, True], ids=["own-transaction", "group-commit"])
def test_outcomes_at_a_low_rate_linger_to_share_a_commit(tmp_path: Path, group: bool) -> None:
    """Ten deliveries 20 ms apart: recorded together within the linger, not one commit each."""
    deliverer = _trickle(tmp_path / "linger", linger=1.0, group=group)
    assert deliverer.records <= 2


def test_a_record_wakes_no_claim_unless_it_frees_an_ordered_message(tmp_path: Path) -> None:
    """Each wake-up claims once; recording a Response frees nothing else to claim, so it
    costs no claim that would find nothing (with no linger: a record per delivery)."""
    deliverer = _trickle(tmp_path / "eager", linger=0.0, group=True)
    assert deliverer.records >= 5  # recorded as they came
    assert deliverer.claims <= 10 + 1  # one per wake-up, and the first look


def test_the_claims_raw_read_returns_what_the_core_query_does(engine: Engine) -> None:
    """``_read_due`` (DBAPI) against ``_DUE`` (Core) over the same outbox: ordered keys, bulk,
    leased, backing-off, delivered and held messages, each limit."""
    from opendcc.queue.outbox import _DUE, _read_due

    box = Outbox(engine, RequestStore(engine))
    with engine.begin() as conn:
        for n in range(1, 13):
            message = Message(
                f"R:{n}",
                f"u{n % 2}",
                f"http://127.0.0.1:9/{n}",
                bytes([n]) * (n * 100),
                _rid(n) if n % 3 else None,
                ordering_key=f"k{n % 2}" if n % 4 == 0 else None,
                bulk=n % 5 == 0,
            )
            box.put_in(conn, message, NOW)
        ids = [row for (row,) in conn.execute(select(outbox.c.id).order_by(outbox.c.id))]
        conn.execute(
            update(outbox)
            .where(outbox.c.id == ids[1])
            .values(lease_until=NOW + timedelta(seconds=5))
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id == ids[2])
            .values(next_attempt_at=NOW + timedelta(seconds=5))
        )
        conn.execute(update(outbox).where(outbox.c.id == ids[6]).values(delivered_at=NOW))
    for at in (NOW, NOW + timedelta(seconds=10)):
        for limit in (1, 5, 20):
            for holding in ([], [ids[0]], ids[3:6]):
                with engine.connect() as conn:
                    core = conn.execute(_DUE, {"now": at, "limit": limit, "holding": holding}).all()
                raw = _read_due(engine, at, limit, holding)
                names = ("id", "message_key", "user_id", "request_id", "url", "body")
                names += ("attempts", "ordering_key")
                expected = [(*(getattr(r, n) for n in names), bool(r.bulk)) for r in core]
                got = [(*(getattr(r, n) for n in names), r.bulk) for r in raw]
                assert got == expected and all(type(r.body) is bytes for r in raw)
    assert len(_read_due(engine, NOW, 20, [])) > 3  # the cases above were not all empty


def test_a_deliverer_cancelled_as_it_is_woken_stops(engine: Engine) -> None:
    """A cancel that comes in the same turn as a wake-up stops the deliverer (Python 3.11's
    ``wait_for`` returned the wake-up and dropped the cancel: it ran on forever)."""

    async def main() -> None:
        deliverer = Deliverer(Outbox(engine, RequestStore(engine)), SystemClock(), poll=30.0)
        task = asyncio.create_task(deliverer.run())
        for _ in range(50):  # until it waits for work: its claim found none
            await asyncio.sleep(0.01)
        deliverer.wake.set()
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        assert task.cancelled()

    asyncio.run(main())


def test_a_record_through_the_group_answers_on_the_loop_with_its_result_or_error(
    tmp_path: Path,
) -> None:
    """``record_soon``: committed by the group's writer, answered on the awaiting loop; a
    failing record's error reaches the awaiter; an awaiter cancelled meanwhile leaves the
    work committed and nothing raised on the loop."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    box = _responded(engine, 3)
    box.group = GroupCommit(engine)
    items = [(c.row_id, c.message) for c in box.claim_batch(NOW, 10, LEASE)]

    errors: list[dict[str, object]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))
        assert await box.record_soon(items[:1], [], NOW) == []
        assert box.requests.state(_rid(1)) is RequestState.DELIVERED
        abandoned = box.record_soon(items[1:2], [], NOW)
        abandoned.cancel()
        for _ in range(200):
            if box.requests.state(_rid(2)) is RequestState.DELIVERED:
                break
            await asyncio.sleep(0.01)
        assert box.requests.state(_rid(2)) is RequestState.DELIVERED
        naive = NOW.replace(tzinfo=None)  # refused by the store: the record's batch fails
        with pytest.raises(ValueError, match="timezone-aware"):
            await box.record_soon(items[2:], [], naive)
        assert box.requests.state(_rid(3)) is RequestState.RESPONDED  # nothing written
        await asyncio.sleep(0.05)
        assert errors == []  # the abandoned answer was dropped, not set on a cancelled future

    try:
        asyncio.run(main())
    finally:
        box.group.close()
        engine.dispose()
