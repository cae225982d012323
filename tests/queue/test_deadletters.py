"""Callback delivery that cannot succeed: bounded retries, then a dead letter that is kept,
visible (admin API, CLI) and redriven.

The Users' endpoint is a real HTTP server on loopback; the hub's deliverer posts to it over
real HTTP while the test moves the hub's fake clock on, so backoff passes without sleeping.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from tests.reference import NOW
from tests.test_cli_admin import write_config
from typer.testing import CliRunner

from opendcc.catalogue import UserRole
from opendcc.cli import app as cli_app
from opendcc.config import ConfigError, HubConfig, load
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.gateway.app import create_app
from opendcc.hub import Hub
from opendcc.prepayment.registers import Kind
from opendcc.queue.deadletters import DeliveryPolicy, is_permanent
from opendcc.queue.outbox import Deliverer, Message
from opendcc.smki import SigningCredentials
from opendcc.store.requests import NewRequest
from opendcc.store.tables import dead_letters, outbox
from opendcc.store.users import User, UserStatus

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
NETWORK = Eui64.parse("90-B3-D5-1F-30-02-00-00")
RID = RequestId.parse(f"{SUPPLIER}:00-DB-12-34-56-78-90-A0:7")
TICK = timedelta(seconds=5)
ALERT_KEY = f"alert:00-DB-12-34-56-78-90-A0:{SUPPLIER}:1"


class Endpoint:
    """The Users' callback: answers ``status`` to every POST and counts them by message key."""

    def __init__(self) -> None:
        self.status = 400
        self.posts: Counter[str] = Counter()
        self.taken: Counter[str] = Counter()  # answered 2xx
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("X-DCC-Message-ID", "")
                status = endpoint.status
                endpoint.posts[key] += 1
                if status < 300:
                    endpoint.taken[key] += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


def make_hub(engine: Engine, dsp: SigningCredentials, s1sp: SigningCredentials, url: str) -> Hub:
    users = tuple(
        User(user, frozenset({role}), UserStatus.ACTIVE, f"{url}/{user.hex}")
        for user, role in ((SUPPLIER, UserRole.IS), (NETWORK, UserRole.ED))
    )
    config = HubConfig(
        database_url=engine.url.render_as_string(hide_password=False),
        host="127.0.0.1",
        port=0,
        dsp_credentials=dsp,
        s1sp_credentials=s1sp,
        users=users,
    )
    hub = Hub(config, FixedClock(NOW))
    hub.seed(NOW)
    return hub


def queue_messages(hub: Hub, url: str) -> set[str]:
    """A Response to a request of the supplier's, an alert to it and one to the network
    operator, as the hub queues them."""
    hub.requests.accept(NewRequest(RID, "4.1.1", 1, b"<doc/>"), NOW)
    messages = [
        Message(f"R:{RID.response_id()}", str(SUPPLIER), f"{url}/s", b"<r/>", RID),
        Message(ALERT_KEY, str(SUPPLIER), f"{url}/s", b"<a/>", ordering_key="s|d"),
        Message(f"alert:00-DB-12-34-56-78-90-A0:{NETWORK}:2", str(NETWORK), f"{url}/n", b"<a/>"),
    ]
    with hub.engine.begin() as conn:
        hub.requests.transition_in(conn, RID, RequestState.RESPONDED, NOW)
        for message in messages:
            hub.outbox.put_in(conn, message, NOW)
    return {m.key for m in messages}


def deliver(hub: Hub, until: Any, *, tick: timedelta = TICK, seconds: float = 30.0) -> None:
    """Run the hub's deliverer, the fake clock moving ``tick`` every 20 ms, until ``until()``
    (then a little longer: nothing more may go out). The clock moves only while the deliverer
    is settled (no POST or record under way), so a message being posted is never claimed
    again meanwhile for a lease (30 s) run out on the fake clock, however slow the box."""
    clock = hub.clock
    assert isinstance(clock, FixedClock)

    async def run() -> None:
        deliverer = Deliverer(hub.outbox, clock, poll=0.01)
        task = asyncio.create_task(deliverer.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:

            def advance() -> None:
                if deliverer.settled:
                    clock.advance(tick)

            while not await asyncio.to_thread(until):
                assert loop.time() < deadline, "timed out"
                advance()
                await asyncio.sleep(0.02)
            for _ in range(15):
                advance()
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())


def dead(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        return len(conn.execute(select(dead_letters.c.id)).all())


def delivered(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.id).where(outbox.c.delivered_at.is_not(None)))
        return len(rows.all())


def admin_call(hub: Hub, key: str, method: str, path: str, **params: str) -> httpx.Response:
    async def exchange() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(hub))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.request(
                method,
                f"/admin/v1{path}",
                headers={"Authorization": f"Bearer {key}"},
                params=params,
            )

    return asyncio.run(exchange())


def test_permanent_and_transient_failures() -> None:
    assert all(is_permanent(s) for s in (400, 404, 405, 410, 413, 414, 415, 422))
    assert not any(is_permanent(s) for s in (None, 401, 403, 408, 409, 429, 500, 502, 503))
    policy = DeliveryPolicy(max_attempts=5, permanent_attempts=2)
    assert not policy.gives_up(1, permanent=True) and policy.gives_up(2, permanent=True)
    assert not policy.gives_up(4, permanent=False) and policy.gives_up(5, permanent=False)


def test_an_endpoint_answering_400_forever_gets_each_message_a_bounded_number_of_times(
    engine: Engine,
    endpoint: Endpoint,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
    tmp_path: Path,
) -> None:
    hub = make_hub(engine, dcc_credentials, s1sp_credentials, endpoint.url)
    keys = queue_messages(hub, endpoint.url)
    limit = hub.outbox.policy.permanent_attempts

    deliver(hub, lambda: dead(hub) == 3)
    assert endpoint.posts == dict.fromkeys(keys, limit)  # and no more, however long it runs
    assert not endpoint.taken
    assert hub.outbox.undelivered() == 0  # out of the outbox: nothing waits behind them
    assert hub.requests.state(RID) is RequestState.RESPONDED

    # Visible to each User (its own) and to the service desk (all) over the admin API.
    registers = hub.prepayment.registers
    supplier = registers.make_key(str(SUPPLIER), Kind.USER, NOW)
    network = registers.make_key(str(NETWORK), Kind.USER, NOW)
    desk = registers.make_key("desk-1", Kind.DESK, NOW)
    own = admin_call(hub, supplier, "GET", "/dead-letters")
    assert own.status_code == 200, own.text
    listed = own.json()["dead_letters"]
    assert {d["message_key"] for d in listed} == keys - {
        f"alert:00-DB-12-34-56-78-90-A0:{NETWORK}:2"
    }
    assert {(d["kind"], d["attempts"], d["permanent"], d["last_error"]) for d in listed} == {
        ("response", limit, True, "HTTP 400"),
        ("alert", limit, True, "HTTP 400"),
    }
    theirs = admin_call(hub, network, "GET", "/dead-letters").json()["dead_letters"]
    assert len(theirs) == 1
    assert admin_call(hub, supplier, "GET", f"/dead-letters/{theirs[0]['id']}").status_code == 404
    shown = admin_call(hub, network, "GET", f"/dead-letters/{theirs[0]['id']}")
    assert shown.json()["document"] == "<a/>"
    every = admin_call(hub, desk, "GET", "/dead-letters").json()["dead_letters"]
    assert {d["message_key"] for d in every} == keys
    only = admin_call(hub, desk, "GET", "/dead-letters", user=str(NETWORK)).json()
    assert [d["id"] for d in only["dead_letters"]] == [theirs[0]["id"]]
    assert admin_call(hub, "nonsense", "GET", "/dead-letters").status_code == 401

    # And to the service desk on the command line.
    config = write_config(tmp_path / "hub.toml", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["deadletters", "list", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["message_key"] for line in result.output.splitlines()} == keys

    # The endpoint mended: the supplier redrives its Response over the admin API, the desk the
    # rest from the command line; each is delivered once.
    endpoint.status = 200
    response = next(d for d in listed if d["kind"] == "response")
    redriven = admin_call(hub, supplier, "POST", f"/dead-letters/{response['id']}/redrive")
    assert redriven.status_code == 200, redriven.text
    assert redriven.json() == {"redriven": [response["message_key"]]}
    assert (
        admin_call(hub, network, "POST", f"/dead-letters/{response['id']}/redrive").status_code
        == 404
    )
    result = runner.invoke(cli_app, ["deadletters", "redrive", "--config", str(config), "--all"])
    assert result.exit_code == 0, result.output
    assert dead(hub) == 0
    deliver(hub, lambda: delivered(hub) == 3, tick=timedelta(0))  # due at once
    assert endpoint.taken == dict.fromkeys(keys, 1)
    assert hub.requests.state(RID) is RequestState.DELIVERED
    hub.engine.dispose()


def test_transient_failures_are_retried_longer_then_dead_lettered(
    engine: Engine,
    endpoint: Endpoint,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    hub = make_hub(engine, dcc_credentials, s1sp_credentials, endpoint.url)
    hub.outbox.policy = replace(hub.outbox.policy, max_attempts=6)
    endpoint.status = 429  # "later", not "never"
    keys = queue_messages(hub, endpoint.url)
    deliver(hub, lambda: dead(hub) == 3)
    assert endpoint.posts == dict.fromkeys(keys, 6)
    with hub.engine.connect() as conn:
        rows = conn.execute(select(dead_letters.c.permanent, dead_letters.c.last_error)).all()
    assert {(bool(p), e) for p, e in rows} == {(False, "HTTP 429")}
    hub.engine.dispose()


def test_the_policy_comes_from_the_configuration(tmp_path: Path) -> None:
    path = write_config(tmp_path / "hub.toml", "sqlite:///x.db")
    assert load(path).delivery == DeliveryPolicy()
    path.write_text(
        path.read_text() + "\n[outbox]\nmax_attempts = 7\npermanent_attempts = 1\n",
        encoding="utf-8",
    )
    assert load(path).delivery == DeliveryPolicy(max_attempts=7, permanent_attempts=1)
    path.write_text(path.read_text().replace("= 1\n", "= 0\n"), encoding="utf-8")
    with pytest.raises(ConfigError):
        load(path)
