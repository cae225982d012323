"""A simulated head-end keeps an alert its client has not acknowledged and offers it again, as a
real head-end does: APDU until ALERT-ACK (again on the next connection, and after a while),
REST/JSON until a 2xx (again after a while, and to a renewed subscription), SOAP/XML until a
poll's ``Since`` is past it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.sim.one_meter import METER, core_of

from opendcc.core.clock import FixedClock
from opendcc.httpclient import HttpClient
from opendcc.s1sp.protocols.apdu import Alert, AlertAck, Connection, Role
from opendcc.s1sp.protocols.soapxml import (
    SERVICE_PATH,
    PollAlerts,
    decode_response,
    encode_request,
    operation_of,
    request_headers,
)
from opendcc.s1sp.transports.http import HttpListener
from opendcc.sim.headends.apdu import ApduHeadEnd
from opendcc.sim.headends.restjson import RestJsonHeadEnd
from opendcc.sim.headends.soapxml import SoapHeadEnd


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 20))


async def read_alert(reader: asyncio.StreamReader, connection: Connection) -> Alert:
    while True:
        for event in connection.receive_data(await reader.read(65536)):
            if isinstance(event, Alert):
                return event


def test_apdu_offers_an_unacknowledged_alert_again_until_alert_ack() -> None:
    async def scenario() -> None:
        server = ApduHeadEnd(core_of("landis"))
        server.unacked.resend_s = 0.2
        await server.start()
        try:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            connection = Connection(Role.CLIENT)
            await asyncio.sleep(0.05)
            server.core.inject(METER, "tamper")
            first = await read_alert(reader, connection)
            assert first.sequence is not None
            # Not acknowledged: offered again on the same connection after a while ...
            again = await read_alert(reader, connection)
            assert again == first
            writer.close()
            # ... and on the next connection, until acknowledged there.
            reader, writer = await asyncio.open_connection(server.host, server.port)
            connection = Connection(Role.CLIENT)
            assert await read_alert(reader, connection) == first
            writer.write(connection.send(AlertAck(first.sequence)))
            await writer.drain()
            await asyncio.sleep(0.1)
            assert len(server.unacked) == 0
            assert [p.code for _, p in server.unacked.acknowledged] == [first.code]
            writer.close()
        finally:
            await server.aclose()

    run(scenario)


def test_restjson_pushes_until_the_subscriber_answers_2xx() -> None:
    async def scenario() -> None:
        answers = [500, 500, 204]
        posts: list[str] = []

        async def receive(request: Request) -> Response:
            posts.append((await request.json())["alertId"])
            return Response(status_code=answers.pop(0) if answers else 204)

        listener = HttpListener(Starlette(routes=[Route("/alerts", receive, methods=["POST"])]))
        await listener.start()
        server = RestJsonHeadEnd(core_of("itron"))
        server.unacked.resend_s = 0.2
        await server.start()
        try:
            server.core.inject(METER, "tamper")  # nobody subscribes yet: it waits
            await asyncio.sleep(0.1)
            assert posts == [] and len(server.unacked) == 1
            subscribe = f"{server.endpoint}/v2/alert-subscriptions/hub"
            async with HttpClient() as http:
                body = f'{{"url": "{listener.base_url}/alerts"}}'.encode()
                answer = await http.request(
                    "PUT", subscribe, body=body, headers=(("Content-Type", "application/json"),)
                )
                assert answer.status < 300, answer.body
            while len(server.unacked):
                await asyncio.sleep(0.05)
            assert len(posts) == 3 and len(set(posts)) == 1  # one alert, offered three times
            assert len(server.unacked.acknowledged) == 1
        finally:
            await server.aclose()
            await listener.stop()

    run(scenario)


def test_soap_keeps_alerts_until_a_poll_since_is_past_them() -> None:
    async def scenario() -> None:
        core = core_of("elster")
        server = SoapHeadEnd(core)
        await server.start()
        clock = core.clock
        assert isinstance(clock, FixedClock)
        try:
            core.inject(METER, "tamper")
            clock.advance(timedelta(seconds=1))
            core.inject(METER, "power_outage")
            async with HttpClient() as http:

                async def poll(since: datetime) -> list[tuple[str, datetime]]:
                    request = PollAlerts(since)
                    reply = await http.post(
                        server.endpoint + SERVICE_PATH,
                        encode_request(request),
                        headers=request_headers(request),
                    )
                    answer = decode_response(reply.body, operation_of(request))
                    alerts = getattr(answer, "alerts", ())
                    return [(alert.alert_id, alert.raised_at) for alert in alerts]

                first = await poll(datetime(1970, 1, 1, tzinfo=UTC))
                assert len(first) == 2
                assert await poll(datetime(1970, 1, 1, tzinfo=UTC)) == first  # kept
                # Asking from the second's RaisedAt: the client holds the first.
                assert await poll(first[1][1]) == first[1:]
                assert [a for a, _ in server.unacked.acknowledged] == [first[0][0]]
        finally:
            await server.aclose()

    run(scenario)
