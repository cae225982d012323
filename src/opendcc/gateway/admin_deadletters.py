"""The admin API's dead letters: messages a User's endpoint could not be made to take.

Under ``/admin/v1`` (``queue.deadletters`` says when a message becomes one):

- ``GET /dead-letters?after=&limit=&user=``: dead letters oldest first, a page at a time
  (``next`` is the ``after`` of the next page); a User sees its own, the service desk every
  User's (``user`` narrows it to one).
- ``GET /dead-letters/{id}``: one, with the signed document it carries (``document``).
- ``POST /dead-letters/{id}/redrive``: back into the outbox, delivered at once to the User's
  callback URL now, under the same message key; 404 if it is not one of the caller's.
- ``POST /dead-letters/redrive`` ``{"ids": [..]}`` or ``{}`` (all the caller's; the desk: all,
  or ``{"user": ..}``): the same for several; answers the keys redriven.

A User calls with its own admin key (``opendcc users key``), authenticated and audited as the
rest of the admin API (``gateway.admin``). The DCC service desk calls with a desk key
(``opendcc deadletters desk-key NAME``); its calls are audited the same way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.gateway.admin import BASE, AdminApi, AdminRefused
from opendcc.prepayment.registers import Kind
from opendcc.queue.deadletters import DeadLetters
from opendcc.store.audit import AuditRecord, digest

MAX_PAGE = 1000
MAX_BODY = 16 * 1024

# The caller's reach: one User's dead letters, or (None) the service desk's, every User's.
Scoped = Callable[[Request, str | None, dict[str, Any]], Awaitable[Response]]


def routes(api: AdminApi) -> list[Route]:
    hub = api.hub
    letters = DeadLetters(hub.engine)

    def url_of(user: str) -> str | None:
        found = hub.users.get(Eui64.parse(user))
        return found.callback_url if found is not None and found.active else None

    async def listing(request: Request, user: str | None, _: dict[str, Any]) -> Response:
        params = request.query_params
        after = _number(params.get("after"), 0, "after")
        limit = _number(params.get("limit"), 100, "limit")
        if not 1 <= limit <= MAX_PAGE:
            raise AdminRefused(400, f"limit is 1 to {MAX_PAGE}")
        if user is None and params.get("user"):
            user = _user(params["user"])
        page = await asyncio.to_thread(letters.list_dead, user, after=after, limit=limit)
        cursor = page[-1].id if len(page) == limit else None
        return JSONResponse({"dead_letters": [d.to_json() for d in page], "next": cursor})

    async def show(request: Request, user: str | None, _: dict[str, Any]) -> Response:
        letter_id = _number(request.path_params["letter_id"], 0, "a dead letter id")
        found = await asyncio.to_thread(letters.get, letter_id, user)
        if found is None:
            raise AdminRefused(404, f"no dead letter {letter_id} of yours")
        letter, body = found
        return JSONResponse({**letter.to_json(), "document": body.decode("utf-8", "replace")})

    async def redrive_one(request: Request, user: str | None, _: dict[str, Any]) -> Response:
        letter_id = _number(request.path_params["letter_id"], 0, "a dead letter id")
        keys = await asyncio.to_thread(
            letters.redrive, [letter_id], hub.clock.now(), user=user, url_of=url_of
        )
        if not keys:
            raise AdminRefused(404, f"no dead letter {letter_id} of yours")
        hub.deliverer.wake.set()
        return JSONResponse({"redriven": keys})

    async def redrive_many(request: Request, user: str | None, data: dict[str, Any]) -> Response:
        ids = data.get("ids")
        if ids is not None and (
            not isinstance(ids, list)
            or len(ids) > MAX_PAGE
            or not all(type(i) is int and 0 < i < 2**63 for i in ids)
        ):
            raise AdminRefused(400, f"ids is a list of at most {MAX_PAGE} dead letter ids")
        if user is None and data.get("user") is not None:
            user = _user(data["user"])
        keys = await asyncio.to_thread(
            letters.redrive, ids, hub.clock.now(), user=user, url_of=url_of
        )
        hub.deliverer.wake.set()
        return JSONResponse({"redriven": keys})

    base = f"{BASE}/dead-letters"
    return [
        Route(base, _guarded(api, listing), methods=["GET"]),
        Route(f"{base}/redrive", _guarded(api, redrive_many), methods=["POST"]),
        Route(f"{base}/{{letter_id}}", _guarded(api, show), methods=["GET"]),
        Route(f"{base}/{{letter_id}}/redrive", _guarded(api, redrive_one), methods=["POST"]),
    ]


def _guarded(api: AdminApi, handler: Scoped) -> Callable[[Request], Awaitable[Response]]:
    """The service desk's calls here; a User's go through the admin API's own guard."""

    async def as_user(request: Request, user: Eui64, data: dict[str, Any]) -> Response:
        return await handler(request, str(user), data)

    users = api.guarded(as_user)

    async def endpoint(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        principal = (
            await asyncio.to_thread(api.registers.authenticate, key.strip())
            if scheme.lower() == "bearer"
            else None
        )
        if principal is None or principal.kind is not Kind.DESK:
            return await users(request)
        body = await request.body()
        try:
            if len(body) > MAX_BODY:
                raise AdminRefused(413, "an admin API body is at most 16 KiB")
            answer = await handler(request, None, _json(body) if body else {})
            why = "served"
        except AdminRefused as exc:
            answer, why = JSONResponse({"error": str(exc), "code": None}, exc.status), str(exc)
        record = AuditRecord(
            api.hub.clock.now(),
            "admin",
            f"HTTP{answer.status_code}",
            f"{request.method} {request.url.path} by desk {principal.name}: {why}"[:500],
            digest(body),
        )
        await asyncio.to_thread(api.hub.audit.record, record)
        return answer

    return endpoint


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise AdminRefused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise AdminRefused(400, "the body is a JSON object")
    return data


def _number(text: str | None, default: int, what: str) -> int:
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise AdminRefused(400, f"{what} is a whole number")
    return int(text)


def _user(text: object) -> str:
    try:
        return str(Eui64.parse(str(text)))
    except (InvalidIdentifier, ValueError):
        raise AdminRefused(400, f"not a User ID: {str(text)[:40]!r}") from None
