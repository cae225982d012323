"""The admin API's requests: a User looks at one of its requests and cancels it while it waits.

Under ``/admin/v1`` (authenticated and audited as the rest of the admin API, ``gateway.admin``):

- ``GET /requests/{request_id}``: the request's state, execution time, predecessor, answer
  code and every step with its time; the caller's own requests only (404 otherwise).
- ``DELETE /requests/{request_id}``: cancel it (``dsp.future``): a request still waiting in
  the queue (future-dated and not yet due, or waiting for its predecessor) is taken out; one a
  head-end holds until its execution time is withdrawn from the head-end. 403 not the caller's,
  404 unknown, 409 nothing left to cancel (already carried out, or being carried out now).

The RequestID in the path is written as DUIS writes it (``originator:target:counter``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.future import CancelRefused
from opendcc.gateway.admin import BASE, AdminApi, AdminRefused
from opendcc.store.requests import RequestStore


def _request_id(request: Request, user: Eui64) -> RequestId:
    text = str(request.path_params["request_id"])
    try:
        rid = RequestId.parse(text)
    except (DuisError, ValueError):
        raise AdminRefused(400, f"not a RequestID: {text!r}") from None
    if rid.originator != user:
        raise AdminRefused(404, f"no request {rid} of yours")
    return rid


def describe(requests: RequestStore, rid: RequestId) -> dict[str, Any] | None:
    """A request's state, execution time, predecessor, answer code and steps; None if unknown.
    (``GET /admin/v1/requests/{id}`` and ``opendcc requests show`` answer with it.)"""
    stored = requests.outcome(rid)
    if stored is None:
        return None
    return {
        "request_id": str(rid),
        "state": stored.state.value,
        "response_code": stored.response_code,
        "execute_at": stored.execute_at.isoformat() if stored.execute_at else None,
        "preceding_request_id": (
            str(stored.preceding_request_id) if stored.preceding_request_id else None
        ),
        "steps": [{"state": s.value, "at": at.isoformat()} for s, at in requests.history(rid)],
    }


def routes(api: AdminApi) -> list[Route]:
    hub = api.hub

    async def show(request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        rid = _request_id(request, user)
        described = await asyncio.to_thread(describe, hub.requests, rid)
        if described is None:
            raise AdminRefused(404, f"no request {rid} of yours")
        return JSONResponse(described)

    async def cancel(request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        rid = _request_id(request, user)
        try:
            cancelled = await hub.future.cancel(rid, user)
        except CancelRefused as exc:
            raise AdminRefused(exc.status, str(exc)) from None
        return JSONResponse(
            {"request_id": str(rid), "state": "cancelled", "was": cancelled.was.value}
        )

    path = f"{BASE}/requests/{{request_id}}"
    return [
        Route(path, api.guarded(show), methods=["GET"]),
        Route(path, api.guarded(cancel), methods=["DELETE"]),
    ]
