"""The UTRN service over HTTP: suppliers and their nominated PSPs ask for prepayment tokens.

Every call carries ``Authorization: Bearer <key>`` (keys are made with ``opendcc prepayment
key``). Bodies and answers are JSON; a refusal is ``{"error": <reason>, "message": ...}`` with
its HTTP status, and every request, served or refused, leaves an audit record (endpoint
``utrn``) whose outcome is the HTTP status. Every field is read by ``gateway.fields`` and checked
before anything is issued; no input gets a 5xx; bodies are at most 16 KiB (``gateway.boundary``).

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
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.gateway import fields
from opendcc.gateway.fields import FieldInvalid
from opendcc.hub import Hub
from opendcc.prepayment.ledger import Entry, UtrnState
from opendcc.prepayment.ledger import Route as TopUpRoute
from opendcc.prepayment.registers import Kind, Principal
from opendcc.prepayment.service import MAX_AMOUNT_P, TopUpRefused
from opendcc.store.audit import AuditRecord, digest

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 30.0
MAX_WAIT_S = 120.0
MAX_REFERENCE = 64
MAX_NAME = 64  # a device id, MPxN or PAN naming the meter
MAX_ID_DIGITS = 18  # a ledger id fits the database's 64-bit integer

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
        """Every call: authenticated, its body a JSON object, every failure a refusal (never a
        5xx), audited. The body's size was bounded by ``gateway.boundary`` before it got here."""

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            principal: Principal | None = None
            try:
                principal = await asyncio.to_thread(self._authenticate, request)
                answer = await handler(request, principal, _json(body))
                why = "served"
            except TopUpRefused as exc:
                answer, why = self.refuse(exc), f"{exc.reason}: {exc}"
            except FieldInvalid as exc:
                refused = TopUpRefused(400, exc.field, str(exc))
                answer, why = self.refuse(refused), f"{exc.field}: {exc}"
            except Exception as exc:  # the last word on this surface: a refusal, one log line
                log.warning("%s %s failed: %r", request.method, request.url.path, exc)
                why = f"the request could not be processed ({type(exc).__name__})"
                answer = self.refuse(TopUpRefused(400, "unprocessable", why))
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
        # Every field is read and checked before anything is issued: a call refused on its last
        # field must not have paid (a caller who retries without a reference would pay twice).
        route = _route(data.get("route", "utrn"))
        amount = fields.whole(data.get("amount_p"), "amount", 1, MAX_AMOUNT_P)
        reference = data.get("reference")
        if reference is not None:
            reference = fields.text(reference, "reference", MAX_REFERENCE, min_length=1)
        names = {
            k: fields.text(data[k], "target", MAX_NAME, min_length=1)
            for k in ("device", "mpxn", "pan")
            if data.get(k) is not None
        }
        wait = min(fields.number(data.get("wait_s", DEFAULT_WAIT_S), "wait_s", 0, 3600), MAX_WAIT_S)
        target = await asyncio.to_thread(lambda: self.topups.target(principal, **names))
        entry = await asyncio.to_thread(
            lambda: self.topups.issue(principal, target, amount, route=route, reference=reference)
        )
        if route is TopUpRoute.ONE_STEP and entry.state in (UtrnState.ISSUED, UtrnState.SENT):
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
        why = fields.text(data.get("reason", ""), "reason", 16 * 1024)[:200]
        entry = await asyncio.to_thread(self._entry, request, principal)
        cancelled = await asyncio.to_thread(self.topups.cancel, principal, entry, why)
        return JSONResponse(cancelled.as_json())

    def _entry(self, request: Request, principal: Principal) -> Entry:
        ref = request.path_params["ref"]
        found: Entry | None = None
        if len(ref) == 20 and ref.isascii() and ref.isdigit():  # a UTRN itself
            found = self.topups.ledger.find(ref)
        elif ref.isascii() and ref.isdigit() and len(ref) <= MAX_ID_DIGITS:  # the ledger's id
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
        mpxn = fields.text(data.get("mpxn"), "mpxn", MAX_NAME, min_length=1)
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
    return fields.json_object(body)


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
