from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select

from opendcc.core.request_id import COUNTER_MAX, RequestId
from opendcc.dsp.lifecycle import IllegalTransition, RequestState
from opendcc.store.requests import (
    PRUNE_EVERY,
    ConcurrentTransition,
    NewRequest,
    Replay,
    RequestStore,
    UnknownRequest,
)
from opendcc.store.tables import accepted_counters, originator_counters

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
    store = RequestStore(engine, replay_window=100)
    store.accept(new(1000), T0)
    for counter in (1000, 900, 0):  # an exact replay; the newest minus the window; older still
        with pytest.raises(Replay):
            store.accept(new(counter), T0)
    for counter in (900, 0):
        with pytest.raises(UnknownRequest):
            store.state(new(counter).request_id)
    store.accept(new(1001), T0)  # strictly greater is fine
    store.accept(new(5, user="90-B3-D5-1F-30-02-00-00"), T0)  # counters are per User


def test_out_of_order_counters_inside_the_window_are_accepted_once(engine: Engine) -> None:
    store = RequestStore(engine, replay_window=100)
    for counter in (50, 52, 51, 901, 850, 802):  # honest concurrency: arrival order differs
        store.accept(new(counter), T0)
    for counter in (50, 51, 52, 850, 802, 901):  # each of them again: an exact replay
        with pytest.raises(Replay, match=r"before|too old"):
            store.accept(new(counter), T0)
    with pytest.raises(Replay, match="too old"):
        store.accept(new(801), T0)  # 901 - 100: just outside the window
    store.accept(new(802 + 1), T0)  # inside it, unseen
    with engine.connect() as conn:
        newest = conn.execute(select(originator_counters.c.last_counter)).scalar_one()
    assert int(newest) == 901  # a late arrival never lowers the newest


def test_concurrent_duplicates_exactly_one_is_accepted(engine: Engine) -> None:
    store = RequestStore(engine, replay_window=100)
    store.accept(new(10), T0)
    # The same counter from several threads at once, inside the window and above the newest.
    for counter in (8, 20):
        results = race([lambda c=counter: store.accept(new(c), T0)] * 6, refusals=(Replay,))
        assert sorted(results) == ["Replay"] * 5 + ["ok"], results


def test_the_seen_set_is_pruned_below_the_window(engine: Engine) -> None:
    store = RequestStore(engine, replay_window=10)
    for counter in range(1, PRUNE_EVERY + 2):
        store.accept(new(counter), T0)
    with engine.connect() as conn:
        kept = conn.execute(select(func.count()).select_from(accepted_counters)).scalar_one()
    assert kept < PRUNE_EVERY  # pruned; and what was pruned is refused as too old
    with pytest.raises(Replay, match="too old"):
        store.accept(new(1), T0)


def test_counters_near_two_to_the_64_keep_their_order(engine: Engine) -> None:
    store = RequestStore(engine, replay_window=100)
    store.accept(new(COUNTER_MAX - 1), T0)
    store.accept(new(COUNTER_MAX - 2), T0)  # inside the window
    with pytest.raises(Replay):
        store.accept(new(COUNTER_MAX - 101), T0)  # the newest minus the window
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
    # Four different counters inside the replay window: each is accepted whatever order they
    # commit in (an older counter after a newer one is honest concurrency, not a replay), and
    # nothing else happens: no IntegrityError, no lock error, no other exception.
    assert results == ["ok"] * 4, results
    accepted = results.count("ok")
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


def test_a_batch_is_accepted_as_if_one_by_one(engine: Engine) -> None:
    """``accept_many_in`` (the group commit's path) answers each item as ``accept_in`` would
    have, in order: replays inside the batch and against the store, the window, new Users."""
    store = RequestStore(engine, replay_window=100)
    other = "90-B3-D5-1F-30-02-00-00"
    store.accept(new(500), T0)
    store.accept(new(450), T0)
    batch = [new(501), new(450), new(400), new(499), new(501), new(700), new(599), new(3, other)]
    with engine.begin() as conn:
        answers = store.accept_many_in(conn, [(n, S.ACCEPTED, T0) for n in batch])
    refused = [type(a).__name__ if a else "ok" for a in answers]
    # 450 seen before; 400 too old (500 - 100); 501 twice in the batch; 599 too old once 700
    # is in (700 - 100 = 600).
    assert refused == ["ok", "Replay", "Replay", "ok", "Replay", "ok", "Replay", "ok"]
    for n, answer in zip(batch, answers, strict=True):
        if answer is None:
            assert store.history(n.request_id) == [(S.RECEIVED, T0), (S.ACCEPTED, T0)]
    with engine.connect() as conn:
        newest = dict(conn.execute(select(originator_counters)).all())
    assert {k: int(v) for k, v in newest.items()} == {USER: 700, other: 3}
    with pytest.raises(Replay):
        store.accept(new(499), T0)  # the batch's counters are in the seen-set
    store.accept(new(650), T0)  # and the window moved with 700
