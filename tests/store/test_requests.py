from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, select

from opendcc.core.request_id import COUNTER_MAX, RequestId
from opendcc.dsp.lifecycle import IllegalTransition, RequestState
from opendcc.store.requests import (
    ConcurrentTransition,
    NewRequest,
    Replay,
    RequestStore,
    UnknownRequest,
)
from opendcc.store.tables import originator_counters

S = RequestState
T0 = datetime(2026, 1, 1, tzinfo=UTC)
USER = "90-B3-D5-1F-30-01-00-00"
DEVICE = "00-DB-12-34-56-78-90-A0"


def new(counter: int, user: str = USER) -> NewRequest:
    return NewRequest(RequestId.parse(f"{user}:{DEVICE}:{counter}"), "4.1.1", 1, b"<signed/>")


def test_migrations_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"users", "user_roles", "originator_counters", "service_requests",
            "request_transitions"} <= tables  # fmt: skip


def test_accept_then_walk_the_lifecycle_with_history(engine: Engine) -> None:
    store = RequestStore(engine)
    request = new(1)
    store.accept(request, T0)
    path = [S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP, S.RESPONDED, S.DELIVERED]
    for i, state in enumerate(path, start=1):
        store.transition(request.request_id, state, T0 + timedelta(seconds=i))
    history = store.history(request.request_id)
    assert [s for s, _ in history] == [S.RECEIVED, S.ACCEPTED, *path]
    assert history[-1][1] == T0 + timedelta(seconds=5)
    assert store.state(request.request_id) is S.DELIVERED


def test_illegal_transition_changes_nothing(engine: Engine) -> None:
    store = RequestStore(engine)
    request = new(1)
    store.accept(request, T0)
    with pytest.raises(IllegalTransition):
        store.transition(request.request_id, S.DELIVERED, T0)
    assert store.state(request.request_id) is S.ACCEPTED
    assert len(store.history(request.request_id)) == 2


def test_replayed_and_stale_counters_are_refused_and_store_nothing(engine: Engine) -> None:
    store = RequestStore(engine)
    store.accept(new(10), T0)
    for counter in (10, 9, 0):
        with pytest.raises(Replay):
            store.accept(new(counter), T0)
    with pytest.raises(UnknownRequest):
        store.state(new(9).request_id)
    store.accept(new(11), T0)  # strictly greater is fine
    store.accept(new(5, user="90-B3-D5-1F-30-02-00-00"), T0)  # counters are per User


def test_counters_near_two_to_the_64_keep_their_order(engine: Engine) -> None:
    store = RequestStore(engine)
    store.accept(new(COUNTER_MAX - 1), T0)
    with pytest.raises(Replay):
        store.accept(new(COUNTER_MAX - 2), T0)
    store.accept(new(COUNTER_MAX), T0)
    with pytest.raises(Replay):
        store.accept(new(COUNTER_MAX), T0)


def test_unfinished_requests_are_found_for_resumption(engine: Engine) -> None:
    store = RequestStore(engine)
    for counter in (1, 2, 3):
        store.accept(new(counter), T0 + timedelta(seconds=counter))
    store.transition(new(1).request_id, S.DISPATCHED, T0)
    store.transition(new(2).request_id, S.RESPONDED, T0)
    store.transition(new(2).request_id, S.DELIVERED, T0)
    assert store.unfinished() == [new(1).request_id, new(3).request_id]


def test_racing_workers_cannot_both_move_a_request(engine: Engine) -> None:
    store = RequestStore(engine)
    request = new(1)
    store.accept(request, T0)
    outcomes = race(
        [lambda: store.transition(request.request_id, S.RESPONDED, T0)] * 4,
        refusals=(ConcurrentTransition, IllegalTransition),
    )
    # One winner; each other worker is refused by name: it either read ACCEPTED before the
    # winner committed (ConcurrentTransition) or RESPONDED after (IllegalTransition).
    assert outcomes.count("ok") == 1, outcomes
    assert all(o in {"ok", "ConcurrentTransition", "IllegalTransition"} for o in outcomes), outcomes
    assert [s for s, _ in store.history(request.request_id)].count(S.RESPONDED) == 1


def test_one_request_sent_four_times_at_once_is_accepted_once(engine: Engine) -> None:
    store = RequestStore(engine)
    outcomes = race([lambda: store.accept(new(1), T0)] * 4, refusals=(Replay,))
    # The User's first request: four threads may all find no counter row and race to insert
    # it; exactly one wins, and every other is a replay, never a database error.
    assert sorted(outcomes) == ["Replay", "Replay", "Replay", "ok"], outcomes
    assert store.state(new(1).request_id) is S.ACCEPTED
    assert [s for s, _ in store.history(new(1).request_id)] == [S.RECEIVED, S.ACCEPTED]


def test_first_requests_from_one_user_racing_each_other(engine: Engine) -> None:
    store = RequestStore(engine)
    results = race([lambda c=c: store.accept(new(c), T0) for c in (1, 2, 3, 4)], refusals=(Replay,))
    # Each is accepted or refused as a replay (an older counter arriving after a newer one),
    # nothing else: no IntegrityError, no lock error, no other exception.
    assert set(results) <= {"ok", "Replay"}, results
    accepted = results.count("ok")
    assert accepted >= 1, results
    stored = [c for c in (1, 2, 3, 4) if _exists(store, new(c).request_id)]
    assert len(stored) == accepted
    with engine.connect() as conn:
        last = conn.execute(select(originator_counters.c.last_counter)).scalar_one()
    assert int(last) == max(stored)  # the counter is the highest request that was accepted


def _exists(store: RequestStore, request_id: RequestId) -> bool:
    try:
        store.state(request_id)
    except UnknownRequest:
        return False
    return True


def race(calls: list[Callable[[], object]], refusals: tuple[type[Exception], ...]) -> list[str]:
    """Run the calls at once on threads; say how each ended: "ok", the name of the refusal
    it met (one of ``refusals``), or "error:<type>" for anything else."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
            outcomes.append("ok")
        except refusals as exc:
            outcomes.append(type(exc).__name__)
        except Exception as exc:
            outcomes.append(f"error:{type(exc).__name__}")

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
