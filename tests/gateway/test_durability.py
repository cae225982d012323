"""Nothing acknowledged is lost: the hub killed mid-flight, the User's endpoint down a while."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from opendcc.duis.xml import parse_xml
from opendcc.sim import scenario
from opendcc.store.tables import outbox, service_requests
from tests.gateway.harness import SR, Estate, estate, response_code, user


def send(hub: Estate, count: int) -> set[str]:
    """Send ``count`` 4.1.1 requests across the meters; return the expected message keys."""
    supplier = user(scenario.SUPPLIER_KEY)
    keys = set()
    for n in range(count):
        meter = scenario.METERS[n % len(scenario.METERS)].device_id
        body = supplier.request("4.1.1", meter)
        answer = hub.post("serviceS", body)
        assert response_code(answer.content) == "I99", answer.text
        request_id = parse_xml(body).findtext(f"{SR}Header/{SR}RequestID")
        assert request_id is not None
        originator, target, counter = request_id.split(":")
        keys.add(f"R:{target}:{originator}:{counter}")
    return keys


def states(hub: Estate) -> dict[str, int]:
    with hub.engine.connect() as conn:
        rows = conn.execute(select(service_requests.c.state)).all()
    counts: dict[str, int] = {}
    for (state,) in rows:
        counts[state] = counts.get(state, 0) + 1
    return counts


def test_killed_hub_completes_every_acknowledged_request_after_restart(tmp_path: Path) -> None:
    # A slow WAN keeps requests in flight at the head-end when the hub dies.
    with estate(tmp_path, latency_ms=400, xsd=False) as hub:
        keys = send(hub, 24)
        time.sleep(0.3)
        hub.hub.kill()
        in_flight = keys - hub.callback.keys()
        assert in_flight, "the kill came too late to test anything"
        unfinished = sum(n for s, n in states(hub).items() if s != "delivered")
        assert unfinished > 0
        hub.restart_hub()
        assert hub.callback.wait_for(keys, timeout=60), keys - hub.callback.keys()
        deadline = time.monotonic() + 10
        while states(hub) != {"delivered": 24} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert states(hub) == {"delivered": 24}
        for key in keys:
            assert response_code(hub.callback.body_of(key)) == "I0"


def test_a_callback_that_is_down_gets_everything_when_it_comes_back(tmp_path: Path) -> None:
    with estate(tmp_path, xsd=False) as hub:
        hub.callback.up = False
        keys = send(hub, 5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with hub.engine.connect() as conn:
                failed = conn.execute(
                    select(outbox.c.message_key).where(outbox.c.last_error.is_not(None))
                ).all()
            if len(failed) == len(keys):
                break
            time.sleep(0.1)
        assert {k for (k,) in failed} == keys, "every delivery should have been refused once"
        assert not keys & hub.callback.keys()
        hub.callback.up = True
        assert hub.callback.wait_for(keys, timeout=30), keys - hub.callback.keys()
        deadline = time.monotonic() + 10
        while states(hub) != {"delivered": 5} and time.monotonic() < deadline:
            time.sleep(0.1)
        with hub.engine.connect() as conn:
            attempts = conn.execute(select(outbox.c.attempts)).scalars().all()
        assert sorted(attempts)[0] >= 2, attempts  # refused at least once, then taken
