"""The DUIS endpoints as an ASGI (Starlette) app, laid out as DCC Boxed does.

``POST /api/v1/serviceS`` (command variants 1, 2, 3, 5, 6, 7), ``/api/v1/serviceT`` (CV 4) and
``/api/v1/serviceD`` (CV 8) take ``application/xml`` and answer with a signed DUIS Response (see
``opendcc.dsp.frontdoor`` for which and with what HTTP status). ``GET /health`` reports the
queue depths. ``/utrn/v1/...`` is the UTRN service (``opendcc.gateway.utrn``), ``/admin/v1/...``
the DCC Users' admin API (``opendcc.gateway.admin``). The front door does blocking database and
signature work, so it runs in the thread pool, not on the event loop; its POSTs skip Starlette's
routing (``DuisDirect``), and under uvicorn they skip ASGI altogether (``httpserver``, the
same answers). ``/catalogue/v1/smets1``
is the SMETS1 service catalogue per cohort (``opendcc.gateway.catalogue``).


Every request passes ``gateway.boundary`` first: its body is read there under its surface's
limit (8 MiB here), and nothing a route raises becomes a 500. On this surface a failure the
front door did not foresee is still answered as DUIS answers a malformed request: a signed E1
Response when the header can be read, else HTTP 400 in plain text, with one log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from opendcc.dsp.access import Endpoint
from opendcc.gateway import admin_deadletters, admin_requests, openapi
from opendcc.gateway.admin import AdminApi
from opendcc.gateway.boundary import Boundary, surface_of
from opendcc.gateway.catalogue import routes as catalogue_routes
from opendcc.gateway.door import DuisAnswers
from opendcc.gateway.threads import RecycledPool
from opendcc.gateway.utrn import UtrnApi
from opendcc.httpserver import Direct, Handler, Reply
from opendcc.hub import Hub
from opendcc.ssi.app import create_ssi
from opendcc.store import engine

log = logging.getLogger(__name__)


def create_app(hub: Hub) -> Starlette:
    ssi_app, ssi = create_ssi(hub)
    parsing = RecycledPool()  # lxml's per-thread name dictionary: see gateway.threads

    answers = DuisAnswers(hub.front_door, parsing)

    def direct_for(endpoint: Endpoint) -> Handler:
        return lambda body: answers.answer(endpoint, body)

    async def duis(request: Request) -> Response:
        # Reached only when ``DuisDirect`` passes a request on (a root path, say).
        endpoint = Endpoint(request.url.path.rsplit("/", 1)[1])
        body = await request.body()  # read and bounded by the boundary
        found = await answers.answer(endpoint, body)
        response = Response(found.body, found.status)
        response.raw_headers = found.headers  # content-length and content-type among them
        return response

    async def health(_: Request) -> Response:
        jobs, undelivered = await asyncio.gather(
            asyncio.to_thread(hub.jobs.pending), asyncio.to_thread(hub.outbox.undelivered)
        )
        return JSONResponse({"status": "ok", "jobs": jobs, "undelivered": undelivered})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await hub.start()
        # One monitor per hub, beside its one scheduler: here only when this process is the
        # whole hub; under ``opendcc serve`` the scheduler process runs it.
        monitor = (
            asyncio.create_task(ssi.monitor.run(), name="service monitor")
            if hub.roles is None
            else None
        )
        try:
            yield
        finally:
            if monitor is not None:
                monitor.cancel()
                await asyncio.gather(monitor, return_exceptions=True)
            await hub.stop()
            parsing.shutdown()
            log_commits(hub)

    routes: list[BaseRoute] = [
        Route(f"/api/v1/{e.value}", duis, methods=["POST"]) for e in Endpoint
    ]
    routes.append(Route("/health", health, methods=["GET"]))
    routes += UtrnApi(hub).routes()
    routes += catalogue_routes(hub)
    admin = AdminApi(hub)
    routes += admin.routes() + admin_requests.routes(admin)
    routes.append(Mount("/ssi", app=ssi_app))  # the Self Service Interface
    routes += openapi.routes()  # /docs: the JSON APIs in OpenAPI 3
    routes += admin_deadletters.routes(admin)
    middleware = [Middleware(Boundary), Middleware(DuisDirect, answer=answers.answer)]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    # The same POSTs for an HTTP server that answers them without ASGI (``httpserver``):
    # ``processes.gateway`` gives uvicorn ``app.state.direct.protocol()``.
    app.state.direct = Direct(
        {path: direct_for(e) for path, e in DUIS_PATHS.items()}, surface_of("/api/v1/")
    )
    return app


DUIS_PATHS = {f"/api/v1/{e.value}": e for e in Endpoint}


def log_commits(hub: Hub) -> None:
    """One line at the stop on how this process's commits went (``benchmarks/front_door.py``
    reads it): the group commit's batches and their pieces, the writer's CPU, and how often its
    BEGIN found SQLite's write lock taken by another process."""
    group = hub.group
    log.info(
        "gateway commits: %d batches, %d pieces, %d rolled back, writer CPU %.3f s;"
        " lock found taken %d times, %d polls",
        group.batches,
        group.pieces,
        group.rolled_back,
        group.cpu,
        *engine.LOCK_WAITS,
    )


class DuisDirect:
    """ASGI middleware inside the boundary: a POST to a DUIS endpoint goes straight to the
    front door, without the router, the exception middleware or a Request object (the hot
    path: a tenth of the gateway's Python per request went there). Everything else, and the
    same POSTs under a root path, go on to Starlette's routes."""

    def __init__(self, app: ASGIApp, answer: Callable[[Endpoint, bytes], Awaitable[Reply]]) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            DUIS_PATHS.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path")
            else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        message = await receive()  # the boundary has read the whole body: one message
        found = await self.answer(endpoint, message.get("body", b""))
        start = {"type": "http.response.start", "status": found.status, "headers": found.headers}
        await send(start)
        await send({"type": "http.response.body", "body": found.body})
