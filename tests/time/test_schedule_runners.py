"""DCC schedules' runs made by a runner of their own (``opendcc schedules run``), not the hub.

With ``[schedules] in_hub = false`` the hub makes no run; a runner (``Hub.start_schedules``,
adapters that leave the alerts to the hub) makes them over each protocol, and the Users get
their Responses as before. The runner takes no alert subscription of its own. A restarted hub
leaves the outbox's leases to run out, for a runner may be delivering under one.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.time.rig import Rig, code_of, timed_estate, wait_until
from tests.time.test_schedules_flow import FIRST, _create, _run_key

from opendcc.config import load
from opendcc.hub import Hub
from opendcc.queue.outbox import Message, Outbox
from opendcc.sim.headends.restjson import RestJsonHeadEnd

COHORTS = ("landis", "itron", "elster")  # APDU, REST/JSON, SOAP/XML


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    config = "[schedules]\nspread_seconds = 60\nin_hub = false\n"
    with timed_estate(tmp_path, config) as running:
        yield running  # type: ignore[misc]


def test_a_runner_of_their_own_makes_the_runs_the_hub_leaves(rig: Rig) -> None:
    schedules = {cohort: _create(rig, rig.meter_of(cohort)[0]) for cohort in COHORTS}
    keys = {cohort: _run_key(schedule, 0) for cohort, schedule in schedules.items()}
    rest = rig.headends.servers["itron"]
    assert isinstance(rest, RestJsonHeadEnd)
    subscribed = dict(rest.subscriptions)

    rig.clock.set(FIRST + timedelta(minutes=2))
    assert not wait_until(lambda: bool(set(keys.values()) & rig.delivered_keys()), timeout=1.5)

    runner = Hub(load(rig.config_path), rig.clock, alerts=False)
    rig.call(runner.start_schedules())
    try:
        for key in keys.values():
            assert code_of(rig.delivered(key)) == "I0"
    finally:
        rig.call(runner.stop())
    assert rest.subscriptions == subscribed  # the hub's subscription only


def test_a_restarted_hub_leaves_a_runners_delivery_lease_alone(rig: Rig) -> None:
    hub = rig.running
    message = Message("R:runner-delivering", str(rig.supplier.user_id), rig.callback.url, b"x")
    now = rig.clock.now()
    rig.stop()
    with hub.engine.begin() as conn:
        Outbox.put_in(conn, message, now)
    claimed = hub.outbox.claim(now, 10, timedelta(seconds=30))  # a runner delivering it
    assert [m.key for _, m in claimed] == [message.key]

    rig.start()
    assert not wait_until(lambda: message.key in rig.delivered_keys(), timeout=1.5)
    rig.clock.set(now + timedelta(seconds=31))  # the runner died: its lease runs out
    assert wait_until(lambda: message.key in rig.delivered_keys())
