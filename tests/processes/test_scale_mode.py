"""Scale mode end to end on real engines: PostgreSQL the truth, RabbitMQ's quorum queues
carrying the jobs, two gateways, two workers, a deliverer and a scheduler as processes.

Signed requests go in through either gateway and their responses reach a real callback server;
a gateway, a worker and the broker are each killed (-9) mid-load: every acknowledged (I99)
request is answered, duplicates only as the same ResponseID. So is each of the deliverer and
the scheduler, and the broker is restarted cleanly, all with several requests in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from tests.processes.scale import (
    ScaleEstate,
    kill_rabbitmq,
    scale_estate,
    start_rabbitmq,
    stop_rabbitmq,
)

from opendcc.store.tables import (
    component_checks,
    component_outages,
    hub_processes,
    jobs,
    service_requests,
)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleEstate]:
    with scale_estate(tmp_path_factory.mktemp("scale")) as running:
        yield running


SENDERS = 4  # requests in flight at once, through both gateways


def _load_and(estate: ScaleEstate, count: int, action: object) -> set[str]:
    """Send ``count`` requests from ``SENDERS`` threads at once (a stream of requests in
    flight); ``action`` runs once ten of them are acknowledged."""
    before = len(estate.acknowledged)
    keys: set[str] = set()
    failed: list[BaseException] = []

    def send() -> None:
        try:
            keys.update(estate.load(count // SENDERS))
        except BaseException as exc:  # reported in the test's thread
            failed.append(exc)

    senders = [threading.Thread(target=send) for _ in range(SENDERS)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while len(estate.acknowledged) - before < 10:
        assert not failed, failed
        assert time.monotonic() < deadline, "no request was acknowledged"
        time.sleep(0.01)
    assert callable(action)
    action()
    for sender in senders:
        sender.join()
    assert not failed, failed
    return keys


def test_requests_through_either_gateway_are_answered_at_the_callback(
    estate: ScaleEstate,
) -> None:
    keys = set()
    for n in range(12):
        key = estate.send_one(estate.gateways[n % 2])
        assert key is not None, f"request {n} through gateway {n % 2} was not acknowledged"
        keys.add(key)
    estate.check_delivered(keys, timeout=30)


def test_a_killed_worker_loses_nothing(estate: ScaleEstate) -> None:
    in_flight: list[int] = []

    def kill() -> None:
        in_flight.append(len(estate.acknowledged - estate.callback.keys()))
        estate.workers[0].kill()

    keys = _load_and(estate, 40, kill)
    assert in_flight[0] > 0, "the kill came too late to test anything"
    estate.check_delivered(keys)
    estate.restart_worker(0)


def test_a_killed_gateway_loses_nothing_acknowledged(estate: ScaleEstate) -> None:
    keys = _load_and(estate, 40, estate.gateways[0].kill)
    estate.check_delivered(keys)
    estate.restart_gateway(0)


def test_a_killed_and_restarted_broker_loses_nothing(estate: ScaleEstate) -> None:
    keys = _load_and(estate, 30, kill_rabbitmq)
    # Accepts went on without the broker (the database is the truth); the work waits for it.
    start_rabbitmq()
    keys |= estate.load(10)
    estate.check_delivered(keys, timeout=90)


def _checks(estate: ScaleEstate) -> dict[str, bool]:
    """What the SSI in every gateway reads: the one monitor's latest look (the scheduler's)."""
    with estate.engine.connect() as conn:
        return {r.component: r.up for r in conn.execute(select(component_checks))}


def _until(what: str, ok: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.5)


def test_the_status_shows_the_broker_and_every_kind_of_process(estate: ScaleEstate) -> None:
    wanted = ("gateway", "workers", "utrn", "database", "broker")
    _until("every component up", lambda: all(_checks(estate).get(c) for c in wanted))
    fresh = datetime.now(UTC) - timedelta(seconds=8)  # the killed processes' rows are stale
    with estate.engine.connect() as conn:
        roles = sorted(
            r.roles
            for r in conn.execute(
                select(hub_processes.c.roles).where(hub_processes.c.last_seen >= fresh)
            )
        )
    assert roles == ["deliverer", "gateway", "gateway", "scheduler", "worker", "worker"]
    kill_rabbitmq()
    try:
        _until("the broker seen down", lambda: _checks(estate).get("broker") is False)
        with estate.engine.connect() as conn:
            opened = conn.execute(
                select(func.count())
                .select_from(component_outages)
                .where(component_outages.c.component == "broker")
                .where(component_outages.c.up_at.is_(None))
            ).scalar_one()
        assert opened == 1  # one monitor, however many gateways
    finally:
        start_rabbitmq()
    _until("the broker seen up again", lambda: _checks(estate).get("broker") is True)


def test_a_restarted_broker_loses_nothing(estate: ScaleEstate) -> None:
    """An operator's restart of RabbitMQ (a clean stop, then a start) in the middle of a stream
    of requests: what the broker held, and what was accepted while it was away, is answered."""

    def restart() -> None:
        stop_rabbitmq()
        time.sleep(1)  # accepts go on meanwhile: the database is the truth
        start_rabbitmq()

    keys = _load_and(estate, 40, restart)
    keys |= estate.load(8)
    estate.check_delivered(keys, timeout=90)


def test_a_killed_deliverer_loses_nothing(estate: ScaleEstate) -> None:
    """Responses in the outbox wait for a deliverer; one started again delivers them (a
    response delivered twice is the same ResponseID)."""
    in_flight: list[int] = []

    def kill() -> None:
        in_flight.append(len(estate.acknowledged - estate.callback.keys()))
        estate.other("deliverer").kill()

    keys = _load_and(estate, 40, kill)
    assert in_flight[0] > 0, "the kill came too late to test anything"
    estate.restart_other("deliverer")
    estate.check_delivered(keys)


def test_a_killed_scheduler_loses_nothing(estate: ScaleEstate) -> None:
    """The scheduler is off the path of an on-demand request: killing it mid-load loses none,
    and one started again takes up its loops (its heartbeat says so)."""
    keys = _load_and(estate, 40, lambda: estate.other("scheduler").kill())
    estate.check_delivered(keys)
    estate.restart_other("scheduler")
    pid = estate.other("scheduler").popen.pid

    def beating() -> bool:
        with estate.engine.connect() as conn:
            return bool(
                conn.execute(
                    select(func.count())
                    .select_from(hub_processes)
                    .where(hub_processes.c.pid == pid)
                    .where(hub_processes.c.roles == "scheduler")
                ).scalar_one()
            )

    _until("the new scheduler's heartbeat", beating)


def test_the_truth_agrees(estate: ScaleEstate) -> None:
    """After it all: no job left, every request DELIVERED (the deliverer records a delivery
    just after the callback took it)."""
    estate.check_delivered(estate.acknowledged, timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with estate.engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(jobs)).scalar_one()
            states = dict(
                conn.execute(
                    select(service_requests.c.state, func.count()).group_by(
                        service_requests.c.state
                    )
                ).all()
            )
        if left == 0 and set(states) == {"delivered"}:
            break
        time.sleep(0.2)
    assert left == 0
    assert set(states) == {"delivered"}, states
