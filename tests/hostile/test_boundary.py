"""The last resort: a route that raises instead of answering (a bug, or input nobody foresaw)
still gets a refusal (DUIS: a signed E1 where the header can be read; JSON: a 400 with a reason),
one log line and no traceback; and counters at the very top of their range."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opendcc.gateway.boundary import Boundary
from tests.gateway.harness import response_code
from tests.hostile.corpus import COUNTER_MAX
from tests.hostile.rig import METER, Rig, changed, make_rig, resign


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path, xsd=False)
    yield made
    made.hub.engine.dispose()


def _one_line(caplog: pytest.LogCaptureFixture) -> None:
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].exc_info is None  # no traceback
    assert "\n" not in warnings[0].getMessage()


def test_a_front_door_that_raises_answers_a_signed_e1(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(rig.hub.front_door, "begin", broken)  # what the gateway calls
    before = rig.counts()
    with caplog.at_level(logging.INFO):
        answer = rig.duis(rig.supplier.request("4.1.1", METER))
    assert answer.status_code == 400
    assert response_code(answer.content) == "E1"
    assert "ZeroDivisionError" in answer.headers["X-OpenDCC-Reason"]
    _one_line(caplog)
    assert changed(before, rig.counts()) == {}


@pytest.mark.parametrize("path", ["/utrn/v1/psps", "/admin/v1/alerts"])
def test_a_json_route_that_raises_answers_400(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(rig.hub.prepayment.registers, "nominated", broken)
    monkeypatch.setattr(rig.hub.alert_record, "for_user", broken)
    kind = "supplier" if path.startswith("/utrn") else "user"
    with caplog.at_level(logging.INFO):
        answer = rig.call("GET", path, headers=rig.bearer(kind))
    assert answer.status_code == 400
    assert answer.json()["error"] in (
        "unprocessable",
        "the request could not be processed (KeyError)",
    )
    _one_line(caplog)
    assert rig.hub.audit.records()[-1].outcome == "HTTP400"  # still audited


def test_the_boundary_answers_for_any_route(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(_: Request) -> Response:
        raise RuntimeError("nobody foresaw this")

    app = Starlette(
        routes=[Route("/api/v1/serviceS", broken, methods=["POST"]), Route("/admin/v1/x", broken)],
        middleware=[Middleware(Boundary)],
    )

    async def call(method: str, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.request(method, path, content=b"<x/>")

    with caplog.at_level(logging.INFO):
        duis = asyncio.run(call("POST", "/api/v1/serviceS"))
    assert duis.status_code == 400
    assert duis.headers["content-type"].startswith("text/plain")
    _one_line(caplog)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        admin = asyncio.run(call("GET", "/admin/v1/x"))
    assert admin.status_code == 400
    assert admin.json()["error"] == "unprocessable"
    _one_line(caplog)


def test_a_counter_at_the_top_is_accepted_once_and_past_it_refused(rig: Rig) -> None:
    who = rig.supplier
    top = who.request("4.1.1", METER, counter=COUNTER_MAX)
    answer = rig.duis(top)
    assert (answer.status_code, response_code(answer.content)) == (200, "I99")
    before = rig.counts()
    again = rig.duis(top)
    assert again.status_code == 200  # a replay is a signed E1 Response (access-control.md)
    assert response_code(again.content) == "E1"
    template = who.request("4.1.1", METER, counter=12345)
    past = resign(template, who, (b":12345<", f":{COUNTER_MAX + 1}<".encode()))
    refused = rig.duis(past)
    assert (refused.status_code, response_code(refused.content)) == (400, "E1")
    assert changed(before, rig.counts()) == {}


def test_a_stalled_upload_is_answered_408_when_it_stops_sending() -> None:
    async def never(_: Request) -> Response:
        raise AssertionError("the route must not be reached")

    app = Boundary(Starlette(routes=[Route("/utrn/v1/utrns", never, methods=["POST"])]), 0.2)
    sent: list[dict[str, object]] = []
    chunks = [{"type": "http.request", "body": b"{", "more_body": True}]

    async def receive() -> dict[str, object]:
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)  # the client stalls
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/utrn/v1/utrns", "headers": []}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))  # type: ignore[arg-type]
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]  # type: ignore[operator]
