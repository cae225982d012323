"""Durable alert intake: kill -9 of the hub during an alert flood loses no alert a head-end
handed over.

Three head-ends, one per wire protocol (APDU pushed and acknowledged by ALERT-ACK, REST/JSON
pushed and acknowledged by the 2xx, SOAP/XML polled and acknowledged by the poll cursor),
flood the hub (a real process) with critical alerts, each numbered in its values so the User's
copy can be told apart. The hub is killed with SIGKILL while alerts are acknowledged but not
yet delivered, the flood goes on against the dead hub, and a new hub process starts on the same
database. Every alert a head-end recorded as acknowledged, and in the end every alert it
published, reaches both Users exactly as one AlertID (redeliveries carry the same one).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tests.s1sp.contract.estate import Estate, estate

from opendcc.sim import scenario
from opendcc.sim.headends.apdu import ApduHeadEnd
from opendcc.sim.headends.core import PushedAlert
from opendcc.sim.headends.restjson import RestJsonHeadEnd
from opendcc.sim.headends.soapxml import SoapHeadEnd
from opendcc.sim.headends.unacked import Unacknowledged
from opendcc.sim.processes import HubProcess
from opendcc.sim.state import Alert, EventCode

COHORTS = ("landis", "itron", "elster")  # APDU, REST/JSON, SOAP/XML
PER_COHORT = 450  # under the SOAP head-end's 500 alerts per poll with equal timestamps
BURST = 15
USERS = (scenario.SUPPLIER, scenario.NETWORK_OPERATOR)
_SEQ = re.compile(rb"seq=([a-z]+-\d+)")


def _unacked(hub: Estate, cohort: str) -> Unacknowledged[object]:
    server = hub.headends.servers[cohort]
    assert isinstance(server, ApduHeadEnd | RestJsonHeadEnd | SoapHeadEnd)
    return server.unacked  # type: ignore[return-value]


def acknowledged(hub: Estate) -> set[str]:
    """The seq of every alert the head-ends saw acknowledged (read on their loop)."""

    async def read() -> set[str]:
        found: set[str] = set()
        for cohort in COHORTS:
            pushed: list[tuple[str, PushedAlert]] = list(_unacked(hub, cohort).acknowledged)
            found.update(str(p.values["seq"]) for _, p in pushed)
        return found

    return hub.headends.call(read())


def waiting(hub: Estate) -> dict[str, int]:
    """Alerts each head-end still holds for the hub."""

    async def read() -> dict[str, int]:
        return {cohort: len(_unacked(hub, cohort)) for cohort in COHORTS}

    return hub.headends.call(read())


def delivered(hub: Estate) -> dict[tuple[str, str], set[str]]:
    """(User, seq) -> the message keys (AlertIDs) it arrived under."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    with hub.callback._arrived:
        deliveries = list(hub.callback.deliveries)
    for delivery in deliveries:
        found = _SEQ.search(delivery.body)
        if found is None:
            continue
        user = delivery.key.split(":")[2]  # alert:<device>:<User>:<counter>
        seen[(user, found[1].decode())].add(delivery.key)
    return seen


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


async def flood(hub: Estate) -> None:
    """PER_COHORT numbered tamper alerts from each cohort's ESME, in bursts."""
    start = hub.headends.clock.now()
    for n in range(0, PER_COHORT, BURST):
        for cohort in COHORTS:
            device = hub.installs[cohort].devices["ESME"]
            core = hub.headends.core(cohort)
            core.publish(
                Alert(
                    EventCode.TAMPER_DETECTED,
                    device,
                    start + timedelta(milliseconds=k),
                    (("seq", f"{cohort}-{k}"),),
                )
                for k in range(n, min(n + BURST, PER_COHORT))
            )
        await asyncio.sleep(0.05)


def test_kill_9_during_an_alert_flood_loses_no_acknowledged_alert(tmp_path: Path) -> None:
    with estate(tmp_path) as hub:
        flooding = asyncio.run_coroutine_threadsafe(flood(hub), hub.headends.loop)
        # Kill once every protocol has had alerts acknowledged, mid-flood.
        wait_until(
            lambda: (
                all(any(seq.startswith(c) for seq in acknowledged(hub)) for c in COHORTS)
                and len(acknowledged(hub)) >= 150
            ),
            60,
            "alerts acknowledged by the hub",
        )
        hub.hub.kill()
        taken = acknowledged(hub)
        arrived = delivered(hub)
        in_flight = {seq for seq in taken if any((str(u), seq) not in arrived for u in USERS)}
        assert in_flight, "the kill came too late to test anything"
        flooding.result(60)  # the rest of the flood meets a dead hub: the head-ends keep it
        assert sum(waiting(hub).values()) > 0, "the head-ends hold what the dead hub did not take"

        log = hub.hub.log
        hub.hub = HubProcess(
            hub.hub_directory / "hub.toml", int(hub.hub.url.rsplit(":", 1)[1]), log
        )

        def all_arrived(wanted: set[str]) -> Callable[[], bool]:
            def check() -> bool:
                seen = delivered(hub)
                return all((str(u), seq) in seen for u in USERS for seq in wanted)

            return check

        wait_until(all_arrived(taken), 120, "every acknowledged alert at both Users")
        published = {f"{c}-{k}" for c in COHORTS for k in range(PER_COHORT)}
        wait_until(all_arrived(published), 120, "every alert at both Users")
        # Pushed alerts are all acknowledged; a poll cursor (Since = the newest RaisedAt taken)
        # acknowledges what was raised before it, so the newest alert stays held.
        wait_until(
            lambda: waiting(hub) == {"landis": 0, "itron": 0, "elster": 1},
            30,
            "the head-ends to see every alert taken",
        )
        assert acknowledged(hub) | {f"elster-{PER_COHORT - 1}"} == published
        # A redelivered alert is taken once: never two AlertIDs for one alert and User.
        twice = {k: keys for k, keys in delivered(hub).items() if len(keys) > 1}
        assert not twice, twice
