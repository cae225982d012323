"""The gateway's DUIS POSTs as the gateway process serves them: uvicorn with the app's direct
protocol (``processes.gateway.server_config``) on a real socket, the front door run through
``gateway.door`` (a pool thread up to the commit, the commit awaited on the loop). An accept is
answered only once its rows are committed; a replay gets its signed E1; a commit that fails is
answered as a malformed request (400, signed E1), never a 5xx, and stores nothing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Connection

from opendcc.dsp.frontdoor import FrontDoor, Pending
from opendcc.httpserver import DirectProtocol
from opendcc.processes.gateway import server_config
from tests.gateway.harness import response_code
from tests.hostile.rig import METER, Rig, changed, make_rig


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Rig, str]]:
    rig = make_rig(tmp_path, xsd=False)
    config = server_config(rig.app)
    config.lifespan = "off"  # the hub is not started: the front door answers on its own
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve([sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    host, port = sock.getsockname()
    yield rig, f"http://{host}:{port}"
    server.should_exit = True
    thread.join(10)
    rig.hub.engine.dispose()


def _post(url: str, body: bytes, path: str = "/api/v1/serviceS") -> httpx.Response:
    return httpx.post(url + path, content=body, headers={"Content-Type": "application/xml"})


def test_the_gateway_process_answers_duis_posts_directly(served: tuple[Rig, str]) -> None:
    rig, url = served
    assert issubclass(server_config(rig.app).http, DirectProtocol)  # type: ignore[arg-type]
    before = DirectProtocol.answered
    body = rig.supplier.request("4.1.1", METER, counter=rig.supplier.next_counter())
    accepted = _post(url, body)
    assert (accepted.status_code, response_code(accepted.content)) == (200, "I99")
    assert accepted.headers["x-duis-response-code"] == "I99"
    assert accepted.headers["content-type"] == "application/xml"
    replay = _post(url, body)
    assert (replay.status_code, response_code(replay.content)) == (200, "E1")
    assert replay.headers["x-opendcc-reason"].startswith("replay")
    plain = _post(url, b"not xml")
    assert (plain.status_code, plain.headers["x-duis-response-code"]) == (400, "HTTP400")
    assert DirectProtocol.answered == before + 3  # none of them through ASGI
    # Each was announced to the group commit as coming, and counted off: submitted (the
    # accept, the replay's attempt) or answered without a write (the plain text).
    assert rig.hub.group.announced == 0
    assert _post(url, body, "/api/v1/serviceS?x=1").status_code == 200  # through ASGI: the same


def test_the_i99_comes_only_after_the_commit(
    served: tuple[Rig, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, url = served
    begin = FrontDoor.begin
    committed: list[float] = []

    def slow_begin(self: FrontDoor, *args: Any) -> Any:
        found = begin(self, *args)
        if isinstance(found, Pending):

            def write(conn: Connection) -> None:
                time.sleep(0.3)  # a slow disk
                found.write(conn)
                committed.append(time.monotonic())

            return Pending(write, found.accepted, found.refused)
        return found

    monkeypatch.setattr(FrontDoor, "begin", slow_begin)
    body = rig.supplier.request("4.1.1", METER, counter=rig.supplier.next_counter())
    before = rig.counts()
    answer = _post(url, body)
    answered = time.monotonic()
    assert response_code(answer.content) == "I99"
    assert committed and committed[0] < answered
    after = rig.counts()
    assert (after["service_requests"], after["jobs"]) == (
        before["service_requests"] + 1,
        before["jobs"] + 1,
    )


def test_a_commit_that_fails_is_answered_as_malformed_and_stores_nothing(
    served: tuple[Rig, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, url = served
    begin = FrontDoor.begin

    def failing_begin(self: FrontDoor, *args: Any) -> Any:
        found = begin(self, *args)
        if isinstance(found, Pending):

            def write(conn: Connection) -> None:
                found.write(conn)
                raise OSError("the disk went away")

            return Pending(write, found.accepted, found.refused)
        return found

    monkeypatch.setattr(FrontDoor, "begin", failing_begin)
    body = rig.supplier.request("4.1.1", METER, counter=rig.supplier.next_counter())
    before = rig.counts()
    answer = _post(url, body)
    assert answer.status_code == 400
    assert response_code(answer.content) == "E1"
    assert "OSError" in answer.headers["x-opendcc-reason"]
    assert changed(before, rig.counts()) == {}  # its one audit record (the refusal's) only
    assert rig.hub.group.announced == 0


def test_a_door_that_breaks_calls_its_piece_off(
    served: tuple[Rig, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong between the loop's announcement and the submit, the group is told the
    piece is not coming (else every later batch would wait for it), and the client is answered."""
    rig, url = served

    def broken(self: FrontDoor, *args: Any) -> Any:
        raise RuntimeError("no room")

    monkeypatch.setattr(FrontDoor, "begin", broken)
    monkeypatch.setattr(FrontDoor, "unreadable", broken)  # past the door's own catch
    body = rig.supplier.request("4.1.1", METER, counter=rig.supplier.next_counter())
    answer = _post(url, body)
    assert answer.status_code == 400  # httpserver's last resort: never a 5xx
    assert rig.hub.group.announced == 0


def test_a_refusal_does_not_wait_for_its_own_announced_accept(served: tuple[Rig, str]) -> None:
    """A request is announced to the group commit as coming while a front-door thread works on
    it; a refusal's audit record, written from that thread meanwhile, must not wait for the
    request's own accept (which cannot come before the record is written)."""
    rig, url = served
    rig.hub.group.gather = 5.0  # a wait for it would show
    body = rig.supplier.request("4.1.1", METER, counter=rig.supplier.next_counter())
    forged = body.replace(b"<sr:RequestID>", b"<sr:RequestID> ", 1)  # the signature fails
    assert forged != body
    before = rig.counts()
    started = time.monotonic()
    answer = _post(url, forged)
    took = time.monotonic() - started
    assert answer.status_code in (400, 401) and response_code(answer.content).startswith("E")
    after = rig.counts()
    assert changed(before, after) == {}
    assert after["audit_log"] == before["audit_log"] + 1  # the refusal's record, committed
    assert took < 2.5
    assert rig.hub.group.announced == 0
