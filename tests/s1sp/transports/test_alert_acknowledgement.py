"""Each adapter acknowledges an alert to its head-end only once the hub holds it.

``on_alert`` answers a future (the hub's commit); the test holds it open, fails it, then lets
it succeed, and watches the simulated head-end's memory of unacknowledged alerts: APDU's
ALERT-ACK and REST/JSON's 2xx go out only after success, a failure leaves the alert to be
offered again (with the same alert id, for the hub's de-duplication), and SOAP/XML's poll
cursor moves past an alert only after success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tests.sim.one_meter import METER, REGISTRY, core_of

from opendcc.core.clock import FixedClock
from opendcc.s1sp.contract import AdapterOptions, DeviceAlert, S1spAdapter
from opendcc.s1sp.transports.soapxml import SoapAdapter
from opendcc.sim.headends.apdu import ApduHeadEnd
from opendcc.sim.headends.restjson import RestJsonHeadEnd
from opendcc.sim.headends.soapxml import SoapHeadEnd


class Hub:
    """Stands in for the hub's intake: each alert handed over gets a future the test settles."""

    def __init__(self) -> None:
        self.handed: list[tuple[DeviceAlert, asyncio.Future[None]]] = []
        self.arrived = asyncio.Event()

    def on_alert(self, alert: DeviceAlert) -> asyncio.Future[None]:
        taken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.handed.append((alert, taken))
        self.arrived.set()
        return taken

    async def next(self) -> tuple[DeviceAlert, asyncio.Future[None]]:
        count = len(self.handed)
        while len(self.handed) == count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)
        return self.handed[-1]


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.02)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


async def pushed_protocol(server: ApduHeadEnd | RestJsonHeadEnd, cohort: str) -> None:
    server.unacked.resend_s = 0.3
    await server.start()
    hub = Hub()
    adapter: S1spAdapter = REGISTRY.adapter_for(
        cohort, server.endpoint, AdapterOptions(on_alert=hub.on_alert)
    )
    try:
        await adapter.listen()
        server.core.inject(METER, "tamper")
        alert, taken = await hub.next()
        assert alert.alert_id
        await asyncio.sleep(0.2)
        assert len(server.unacked) == 1  # not acknowledged while the hub has not committed it
        taken.set_exception(RuntimeError("the commit failed"))
        again, taken = await hub.next()  # so the head-end offers it again
        assert again.alert_id == alert.alert_id
        assert len(server.unacked) == 1
        taken.set_result(None)
        await until(lambda: len(server.unacked) == 0)
        assert len(server.unacked.acknowledged) == 1
    finally:
        await adapter.aclose()
        await server.aclose()


def test_apdu_sends_alert_ack_only_after_the_hub_holds_the_alert() -> None:
    run(lambda: pushed_protocol(ApduHeadEnd(core_of("landis")), "landis"))


def test_restjson_answers_2xx_only_after_the_hub_holds_the_alert() -> None:
    run(lambda: pushed_protocol(RestJsonHeadEnd(core_of("itron")), "itron"))


def test_soap_moves_its_cursor_only_past_alerts_the_hub_holds() -> None:
    async def scenario() -> None:
        core = core_of("elster")
        clock = core.clock
        assert isinstance(clock, FixedClock)
        server = SoapHeadEnd(core)
        await server.start()
        hub = Hub()
        adapter = REGISTRY.adapter_for(
            "elster", server.endpoint, AdapterOptions(on_alert=hub.on_alert)
        )
        assert isinstance(adapter, SoapAdapter)
        try:
            core.inject(METER, "tamper")
            clock.advance(timedelta(minutes=1))
            core.inject(METER, "power_outage")
            polling = asyncio.create_task(adapter.poll_alerts())
            await until(lambda: len(hub.handed) == 2)
            first, second = hub.handed
            first[1].set_exception(RuntimeError("the commit failed"))
            second[1].set_result(None)
            await polling
            # The first was not taken: the cursor stays before it, so the next poll offers both
            # again (the hub takes the second once, by its AlertId).
            polling = asyncio.create_task(adapter.poll_alerts())
            await until(lambda: len(hub.handed) == 4)
            assert [a.alert_id for a, _ in hub.handed[2:]] == [
                first[0].alert_id,
                second[0].alert_id,
            ]
            for _, taken in hub.handed[2:]:
                taken.set_result(None)
            await polling
            assert len(server.unacked.acknowledged) == 0  # nothing polled past yet
            await adapter.poll_alerts()  # from the newest taken: the older one is acknowledged
            assert [a for a, _ in server.unacked.acknowledged] == [first[0].alert_id]
        finally:
            await adapter.aclose()
            await server.aclose()

    run(scenario)
