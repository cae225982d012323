"""The UTRN service over HTTP: suppliers and their nominated PSPs ask for prepayment tokens.

Every call carries ``Authorization: Bearer <key>`` (keys are made with ``opendcc prepayment
key``). Bodies and answers are JSON; a refusal is ``{"error": <reason>, "message": ...}`` with
its HTTP status, and every request, served or refused, leaves an audit record (endpoint
``utrn``) whose outcome is the HTTP status.

- ``POST /utrn/v1/utrns`` ``{"device" | "mpxn" | "pan": ..., "amount_p": int,
  "route": "utrn" | "one-step", "reference": str?, "wait_s": float?}``: issue a UTRN (201).
  ``utrn`` returns it to be keyed in or sent later with DUIS SRV 2.2 (two-step); ``one-step``
  also delivers it over the air and answers with the outcome (``state`` applied or rejected;
  202 with ``state`` sent if the meter has not answered within ``wait_s``, default 30 s; the
  hub keeps delivering it). A ``reference`` (the PSP's transaction id) makes the call
  idempotent: the same reference answers the same token, never a second one.
- ``GET /utrn/v1/utrns/{id or 20 digits}``: one token, with its history; ``GET
  /utrn/v1/utrns?device=EUI``: a meter's latest tokens.
- ``POST /utrn/v1/utrns/{id}/cancel``: void a token not yet used (409 once sent or applied).
- ``GET /utrn/v1/psps``, ``PUT|DELETE /utrn/v1/psps/{psp}`` (suppliers): nominations.
- ``PUT /utrn/v1/pans/{pan}`` ``{"mpxn": ...}``, ``GET /utrn/v1/pans/{pan}`` (the supplier
  responsible for the MPxN now): the PAN register.
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
from opendcc.hub import Hub
from opendcc.prepayment.ledger import Entry, UtrnState
from opendcc.prepayment.ledger import Route as TopUpRoute
from opendcc.prepayment.registers import Kind, Principal
from opendcc.prepayment.service import TopUpRefused
from opendcc.store.audit import AuditRecord, digest

DEFAULT_WAIT_S = 30.0
MAX_WAIT_S = 120.0
MAX_BODY = 16 * 1024

Handler = Callable[[Request, Principal, dict[str, Any]], Awaitable[Response]]


class UtrnApi:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.topups = hub.prepayment
        self.registers = hub.prepayment.registers
        self._deliveries: set[asyncio.Future[Entry]] = set()

    def refuse(self, exc: TopUpRefused) -> Response:
        return JSONResponse({"error": exc.reason, "message": str(exc)}, exc.status)

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            principal: Principal | None = None
            try:
                if len(body) > MAX_BODY:
                    raise TopUpRefused(413, "too_large", "a UTRN service body is at most 16 KiB")
                principal = await asyncio.to_thread(self._authenticate, request)
                data = _json(body) if body else {}
                answer = await handler(request, principal, data)
                why = "served"
            except TopUpRefused as exc:
                answer, why = self.refuse(exc), f"{exc.reason}: {exc}"
            await asyncio.to_thread(self._audit, request, principal, body, answer.status_code, why)
            return answer

        return endpoint

    def _authenticate(self, request: Request) -> Principal:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        principal = self.registers.authenticate(key.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise TopUpRefused(401, "unauthenticated", "a valid bearer key is required")
        if principal.kind is Kind.USER:  # an admin API key is not a UTRN service key
            raise TopUpRefused(403, "forbidden", "this key is for the admin API, not for UTRNs")
        return principal

    def _audit(
        self, request: Request, principal: Principal | None, body: bytes, status: int, why: str
    ) -> None:
        who = principal.name if principal else "anonymous"
        self.hub.audit.record(
            AuditRecord(
                self.hub.clock.now(),
                "utrn",
                f"HTTP{status}",
                f"{request.method} {request.url.path} by {who}: {why}"[:500],
                digest(body),
                originator=who if principal and principal.kind is Kind.SUPPLIER else None,
                srv="2.2" if request.url.path.endswith("/utrns") else None,
            )
        )

    # ------------------------------------------------------------------ tokens

    async def issue(self, request: Request, principal: Principal, data: dict[str, Any]) -> Response:
        route = _route(data.get("route", "utrn"))
        amount = data.get("amount_p")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TopUpRefused(400, "amount", "amount_p is a whole number of pence")
        reference = data.get("reference")
        if reference is not None and (
            not isinstance(reference, str) or not 0 < len(reference) <= 64
        ):
            raise TopUpRefused(400, "reference", "reference is a string of 1-64 characters")
        names = {k: str(data[k]) for k in ("device", "mpxn", "pan") if data.get(k) is not None}
        target = await asyncio.to_thread(lambda: self.topups.target(principal, **names))
        entry = await asyncio.to_thread(
            lambda: self.topups.issue(principal, target, amount, route=route, reference=reference)
        )
        if route is TopUpRoute.ONE_STEP and entry.state in (UtrnState.ISSUED, UtrnState.SENT):
            wait = min(float(data.get("wait_s", DEFAULT_WAIT_S)), MAX_WAIT_S)
            delivery = asyncio.ensure_future(self.topups.deliver(entry))
            self._deliveries.add(delivery)  # it goes on if we stop waiting: keep it alive
            delivery.add_done_callback(self._deliveries.discard)
            try:
                entry = await asyncio.wait_for(asyncio.shield(delivery), wait)
            except TimeoutError:
                latest = await asyncio.to_thread(self.topups.ledger.get, entry.id)
                assert latest is not None
                return JSONResponse(latest.as_json(), 202)
        return JSONResponse(entry.as_json(), 201)

    async def one(self, request: Request, principal: Principal, _: dict[str, Any]) -> Response:
        entry = await asyncio.to_thread(self._entry, request, principal)
        history = await asyncio.to_thread(self.topups.ledger.events, entry.id)
        events = [
            {"state": e.state.value, "at": e.at.isoformat(), "detail": e.detail} for e in history
        ]
        return JSONResponse({**entry.as_json(), "events": events})

    async def of_device(
        self, request: Request, principal: Principal, _: dict[str, Any]
    ) -> Response:
        device = _eui(request.query_params.get("device", ""))
        entries = await asyncio.to_thread(self.topups.ledger.of_device, device)
        visible = [e.as_json() for e in entries if self.topups.may_see(principal, e)]
        return JSONResponse({"utrns": visible})

    async def cancel(
        self, request: Request, principal: Principal, data: dict[str, Any]
    ) -> Response:
        entry = await asyncio.to_thread(self._entry, request, principal)
        why = str(data.get("reason", ""))[:200]
        cancelled = await asyncio.to_thread(self.topups.cancel, principal, entry, why)
        return JSONResponse(cancelled.as_json())

    def _entry(self, request: Request, principal: Principal) -> Entry:
        ref = request.path_params["ref"]
        found: Entry | None = None
        if len(ref) == 20 and ref.isdigit():
            found = self.topups.ledger.find(ref)
        elif ref.isdigit():
            found = self.topups.ledger.get(int(ref))
        if found is None or not self.topups.may_see(principal, found):
            raise TopUpRefused(404, "unknown_utrn", f"no UTRN {ref} of yours")
        return found

    # ------------------------------------------------------------------ PSPs and PANs

    def _supplier(self, principal: Principal) -> Eui64:
        if principal.kind is not Kind.SUPPLIER:
            raise TopUpRefused(403, "suppliers_only", "only a supplier may do this")
        return principal.supplier

    async def psps(self, request: Request, principal: Principal, _: dict[str, Any]) -> Response:
        supplier = self._supplier(principal)
        return JSONResponse({"psps": await asyncio.to_thread(self.registers.nominated, supplier)})

    async def psp(self, request: Request, principal: Principal, _: dict[str, Any]) -> Response:
        supplier = self._supplier(principal)
        name = request.path_params["psp"]
        now = self.hub.clock.now()
        try:
            if request.method == "PUT":
                await asyncio.to_thread(self.registers.nominate, supplier, name, now)
            elif not await asyncio.to_thread(self.registers.denominate, supplier, name, now):
                raise TopUpRefused(404, "not_nominated", f"{name} is not nominated")
        except ValueError as exc:
            raise TopUpRefused(400, "psp", str(exc)) from None
        return JSONResponse({"psps": await asyncio.to_thread(self.registers.nominated, supplier)})

    async def pan(self, request: Request, principal: Principal, data: dict[str, Any]) -> Response:
        supplier = self._supplier(principal)
        number = request.path_params["pan"]
        if request.method == "GET":
            mpxn = await asyncio.to_thread(self.registers.mpxn_of, number)
            if mpxn is None or not await asyncio.to_thread(self.topups.supplies, mpxn, supplier):
                raise TopUpRefused(404, "unknown_pan", f"no PAN {number} of yours")
            return JSONResponse({"pan": number, "mpxn": mpxn})
        mpxn = str(data.get("mpxn", ""))
        if not await asyncio.to_thread(self.topups.supplies, mpxn, supplier):
            raise TopUpRefused(403, "not_responsible", f"{supplier} is not the supplier of {mpxn}")
        try:
            await asyncio.to_thread(
                self.registers.register_pan, number, mpxn, supplier, self.hub.clock.now()
            )
        except ValueError as exc:
            raise TopUpRefused(400, "pan", str(exc)) from None
        return JSONResponse({"pan": number, "mpxn": mpxn})

    def routes(self) -> list[Route]:
        base = "/utrn/v1"
        return [
            Route(f"{base}/utrns", self.guarded(self.issue), methods=["POST"]),
            Route(f"{base}/utrns", self.guarded(self.of_device), methods=["GET"]),
            Route(f"{base}/utrns/{{ref}}", self.guarded(self.one), methods=["GET"]),
            Route(f"{base}/utrns/{{ref}}/cancel", self.guarded(self.cancel), methods=["POST"]),
            Route(f"{base}/psps", self.guarded(self.psps), methods=["GET"]),
            Route(f"{base}/psps/{{psp}}", self.guarded(self.psp), methods=["PUT", "DELETE"]),
            Route(f"{base}/pans/{{pan}}", self.guarded(self.pan), methods=["GET", "PUT"]),
        ]


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TopUpRefused(400, "json", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise TopUpRefused(400, "json", "the body is a JSON object")
    return data


def _route(text: object) -> TopUpRoute:
    try:
        return TopUpRoute(str(text))
    except ValueError:
        raise TopUpRefused(400, "route", "route is 'utrn' (two-step) or 'one-step'") from None


def _eui(text: str) -> Eui64:
    try:
        return Eui64.parse(text)
    except InvalidIdentifier:
        raise TopUpRefused(400, "device", f"not a device id: {text!r}") from None
