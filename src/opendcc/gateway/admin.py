"""The admin API: DCC Users manage restricted mode, read their estate and alerts over JSON.

Every call carries ``Authorization: Bearer <key>``: a *user* key (``opendcc users key``) or a
supplier's UTRN service key, either naming a DCC User by its EUI-64; the User must be in the
registry and active. Every call, served or refused, leaves an audit record (endpoint ``admin``,
outcome ``HTTP<status>``). A refusal is ``{"error": <why>, "code": <DUIS code or null>}``:
401 no or bad key, 403 not responsible (E4), 404 unknown device (E19), 409 a mandatory alert
turned off, 422 not a meter (E11), 400 a malformed call (every field is read by
``gateway.fields``; a failure nobody foresaw is a 400 too, logged in one line, never a 5xx), 413
a body over 16 KiB (refused by ``gateway.boundary`` while it streams).

Under ``/admin/v1``:

- ``PUT /devices/{device}/restriction`` ``{"restricted": bool, "reason": str}``: set or clear
  restricted mode (MP169) as the supplier responsible for the meter now; a GSME's GPF follows.
  Answers the resulting restrictions. A reason is required to set.
- ``GET /devices/{device}/restriction``: state and history (who, when, why), for any User
  holding a role for the device's metering point now.
- ``GET /devices?restricted=&mpxn=&type=&limit=&after=``: the caller's devices (on metering
  points it holds a role for now), a page at a time (``next`` is the ``after`` of the next).
- ``GET /extract?format=csv|json``: the device extract of every device the caller supplies now
  (``inventory.extract``), streamed.
- ``GET /alerts?since=&limit=``, ``GET /alerts/{alert_id}``: the caller's alert messages, and
  one signed alert document exactly as stored (``application/xml``).
- ``GET /alert-subscriptions``, ``PUT|DELETE /alert-subscriptions/{code}`` ``{"choice":
  "on"|"off"}``: device alert codes with the caller's choices; DELETE restores the default.
- ``GET /firmware-watch``: restricted devices the caller supplies whose firmware updates keep
  failing (MP169 R-001).
- ``GET /performance?from=&to=``: the performance report (``service.performance``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from opendcc.alerts.codes import DEVICE_ALERTS, ROLE_OF, Recipient
from opendcc.alerts.store import Choice, UserAlert
from opendcc.catalogue import DeviceType
from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.gateway import fields
from opendcc.gateway.fields import FieldInvalid
from opendcc.hub import Hub
from opendcc.inventory import extract as estate
from opendcc.inventory.restriction import Change, Restriction
from opendcc.prepayment.registers import Kind
from opendcc.service import performance
from opendcc.store.audit import AuditRecord, digest

log = logging.getLogger(__name__)

BASE = "/admin/v1"
MAX_REASON = 256  # as the restrictions table keeps it
DEFAULT_PAGE = 100
DEFAULT_PERIOD = timedelta(days=1)
ADMIN_KINDS = frozenset({Kind.USER, Kind.SUPPLIER})


class AdminRefused(Exception):
    """A call the admin API refuses: its HTTP status and DUIS code, if any."""

    def __init__(self, status: int, message: str, code: ResponseCode | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


Handler = Callable[[Request, Eui64, dict[str, Any]], Awaitable[Response]]


class AdminApi:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.registers = hub.prepayment.registers

    # ------------------------------------------------------------------ every call

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Every call: authenticated, its body a JSON object, every failure a refusal (never a
        5xx), audited. The body's size was bounded by ``gateway.boundary`` before it got here."""

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            user: Eui64 | None = None
            try:
                user = await asyncio.to_thread(self._authenticate, request)
                answer = await handler(request, user, fields.json_object(body))
                why = "served"
            except FieldInvalid as exc:
                answer, why = _refusal(AdminRefused(400, str(exc))), str(exc)
            except AdminRefused as exc:
                answer, why = _refusal(exc), str(exc)
            except DuisError as exc:  # the rooms' refusals carry their DUIS meaning
                refused = AdminRefused(exc.http_status, str(exc), exc.code)
                answer, why = _refusal(refused), str(exc)
            except Exception as exc:  # the last word on this surface: a refusal, one log line
                log.warning("%s %s failed: %r", request.method, request.url.path, exc)
                why = f"the request could not be processed ({type(exc).__name__})"
                answer = _refusal(AdminRefused(400, why))
            await asyncio.to_thread(self._audit, request, user, body, answer.status_code, why)
            return answer

        return endpoint

    def _authenticate(self, request: Request) -> Eui64:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        principal = self.registers.authenticate(key.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise AdminRefused(401, "a valid bearer key is required")
        if principal.kind not in ADMIN_KINDS:
            raise AdminRefused(403, "the admin API is for DCC Users, not PSPs")
        user_id = Eui64.parse(principal.name)
        user = self.hub.users.get(user_id)
        if user is None:
            raise AdminRefused(403, f"{user_id} is not a DCC User", ResponseCode.INVALID_USER_ROLE)
        if not user.active:
            raise AdminRefused(403, f"{user_id} is suspended", ResponseCode.USER_STATUS_INVALID)
        return user_id

    def _audit(
        self, request: Request, user: Eui64 | None, body: bytes, status: int, why: str
    ) -> None:
        who = str(user) if user else "anonymous"
        self.hub.audit.record(
            AuditRecord(
                self.hub.clock.now(),
                "admin",
                f"HTTP{status}",
                f"{request.method} {request.url.path} by {who}: {why}"[:500],
                digest(body),
                originator=str(user) if user else None,
            )
        )

    # ------------------------------------------------------------------ restricted mode

    async def set_restriction(
        self, request: Request, user: Eui64, data: dict[str, Any]
    ) -> Response:
        device = _eui(request.path_params["device"])
        restricted = data.get("restricted")
        if not isinstance(restricted, bool):
            raise AdminRefused(400, "restricted is true or false")
        reason = fields.text(data.get("reason", ""), "reason", MAX_REASON)
        if restricted and not reason.strip():
            raise AdminRefused(400, "a reason is required to restrict a meter")
        changed = await asyncio.to_thread(
            lambda: self.hub.restrict(device, restricted=restricted, by=user, reason=reason)
        )
        return JSONResponse({"restrictions": [_restriction(r) for r in changed]})

    async def restriction(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        device_id = _eui(request.path_params["device"])
        return JSONResponse(await asyncio.to_thread(self._restriction_of, device_id, user))

    def _restriction_of(self, device_id: Eui64, user: Eui64) -> dict[str, Any]:
        device = self.hub.inventory.device(device_id)
        if device is None:
            raise AdminRefused(404, f"no device {device_id}", ResponseCode.UNKNOWN_DEVICE)
        if not estate.is_responsible(self.hub.inventory, device, user, self.hub.clock.now()):
            raise AdminRefused(
                403,
                f"{user} holds no role for device {device_id} now",
                ResponseCode.NOT_RESPONSIBLE_PARTY,
            )
        current = self.hub.restrictions.of(device_id)
        state = (
            _restriction(current)
            if current is not None
            else {"device": str(device_id), "restricted": False, "since": None}
        )
        return {**state, "history": [_change(c) for c in self.hub.restrictions.history(device_id)]}

    # ------------------------------------------------------------------ the estate

    async def devices(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        params = request.query_params
        filters = estate.Filters(
            restricted=_flag(params.get("restricted")),
            mpxn=params.get("mpxn") or None,
            device_type=_device_type(params.get("type")),
        )
        limit = _limit(params.get("limit"), DEFAULT_PAGE)
        after = _eui(params["after"]) if params.get("after") else None
        page = await asyncio.to_thread(
            lambda: estate.search(
                self.hub.engine,
                user,
                self.hub.clock.now(),
                filters=filters,
                after=after,
                limit=limit,
            )
        )
        cursor = str(page[-1].device_id) if len(page) == limit else None
        return JSONResponse({"devices": [r.as_json() for r in page], "next": cursor})

    async def extract(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        kind = request.query_params.get("format", "csv")
        render, media = _EXTRACT_FORMATS.get(kind, (None, ""))
        if render is None:
            raise AdminRefused(400, "format is csv or json")
        rows = estate.extract(self.hub.engine, user, self.hub.clock.now())
        # A sync iterator: Starlette reads it in the thread pool, a chunk of rows at a time.
        return StreamingResponse(
            render(rows),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="device-extract.{kind}"'},
        )

    async def firmware_watch(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        return JSONResponse({"devices": await asyncio.to_thread(self._watched, user)})

    def _watched(self, user: Eui64) -> list[dict[str, Any]]:
        now = self.hub.clock.now()
        found = []
        for watched in self.hub.firmware_watch.flagged():
            device = self.hub.inventory.device(watched.device_id)
            role = ROLE_OF[Recipient.SUPPLIER].get(device.device_type) if device else None
            if device is None or role is None or not device.mpxn:
                continue
            if self.hub.inventory.responsible(device.mpxn, role, now) != user:
                continue
            found.append(
                {
                    "device_id": str(watched.device_id),
                    "failures": watched.failures,
                    "last_failure_at": _iso(watched.last_failure_at),
                    "last_detail": watched.last_detail,
                    "flagged_at": _iso(watched.flagged_at),
                    "restricted": self.hub.restrictions.is_restricted(watched.device_id),
                }
            )
        return found

    # ------------------------------------------------------------------ alerts

    async def alerts(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        since = _instant(request.query_params.get("since"), "since")
        limit = _limit(request.query_params.get("limit"), DEFAULT_PAGE)
        found = await asyncio.to_thread(
            lambda: self.hub.alert_record.for_user(user, since=since, limit=limit)
        )
        return JSONResponse({"alerts": [_alert(a) for a in found]})

    async def alert(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        alert_id = request.path_params["alert_id"]
        found = await asyncio.to_thread(self.hub.alert_record.fetch, user, alert_id)
        if found is None:
            raise AdminRefused(404, f"no alert {alert_id} of yours")
        return Response(found.body, media_type="application/xml")

    async def subscriptions(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        codes = sorted(DEVICE_ALERTS)
        return JSONResponse({"alerts": await asyncio.to_thread(self._subscriptions, user, codes)})

    async def subscription(self, request: Request, user: Eui64, data: dict[str, Any]) -> Response:
        code = _alert_code(request.path_params["code"])
        if request.method == "DELETE":
            await asyncio.to_thread(self.hub.subscriptions.reset, user, code)
        else:
            try:
                choice = Choice(str(data.get("choice")))
            except ValueError:
                raise AdminRefused(400, 'choice is "on" or "off"') from None
            now = self.hub.clock.now()
            await asyncio.to_thread(self.hub.subscriptions.choose, user, code, choice, now)
        return JSONResponse((await asyncio.to_thread(self._subscriptions, user, [code]))[0])

    def _subscriptions(self, user: Eui64, codes: list[int]) -> list[dict[str, Any]]:
        choices = self.hub.subscriptions.of(user)
        return [
            _subscription(code, choices.get(code), self.hub.subscriptions.wants(user, code))
            for code in codes
        ]

    # ------------------------------------------------------------------ the service

    async def performance(self, request: Request, user: Eui64, _: dict[str, Any]) -> Response:
        end = _instant(request.query_params.get("to"), "to") or self.hub.clock.now()
        start = _instant(request.query_params.get("from"), "from") or end - DEFAULT_PERIOD
        if end <= start:
            raise AdminRefused(400, "from is before to")
        report = await asyncio.to_thread(
            performance.build, self.hub.engine, self.hub.catalogue, start, end
        )
        return JSONResponse(report.as_json())

    def routes(self) -> list[Route]:
        device = f"{BASE}/devices/{{device}}/restriction"
        code = f"{BASE}/alert-subscriptions/{{code}}"
        return [
            Route(device, self.guarded(self.set_restriction), methods=["PUT"]),
            Route(device, self.guarded(self.restriction), methods=["GET"]),
            Route(f"{BASE}/devices", self.guarded(self.devices), methods=["GET"]),
            Route(f"{BASE}/extract", self.guarded(self.extract), methods=["GET"]),
            Route(f"{BASE}/alerts", self.guarded(self.alerts), methods=["GET"]),
            Route(f"{BASE}/alerts/{{alert_id}}", self.guarded(self.alert), methods=["GET"]),
            Route(f"{BASE}/alert-subscriptions", self.guarded(self.subscriptions), methods=["GET"]),
            Route(code, self.guarded(self.subscription), methods=["PUT", "DELETE"]),
            Route(f"{BASE}/firmware-watch", self.guarded(self.firmware_watch), methods=["GET"]),
            Route(f"{BASE}/performance", self.guarded(self.performance), methods=["GET"]),
        ]


_EXTRACT_FORMATS = {
    "csv": (estate.csv_text, "text/csv; charset=utf-8"),
    "json": (estate.json_text, "application/json"),
}


# --------------------------------------------------------------------------- helpers


def _refusal(exc: AdminRefused) -> Response:
    code = exc.code.value if exc.code is not None else None
    return JSONResponse({"error": str(exc), "code": code}, exc.status)


def _eui(text: str) -> Eui64:
    try:
        return Eui64.parse(text)
    except InvalidIdentifier:
        raise AdminRefused(400, f"not a device id: {text!r}") from None


def _flag(text: str | None) -> bool | None:
    flags = {None: None, "": None, "true": True, "false": False}
    if text not in flags:
        raise AdminRefused(400, "restricted is true or false")
    return flags[text]


def _device_type(text: str | None) -> DeviceType | None:
    if not text:
        return None
    try:
        return DeviceType(text)
    except ValueError:
        raise AdminRefused(400, f"not a device type: {text!r}") from None


def _limit(text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        limit = fields.digits(text, "limit", estate.MAX_PAGE)
    except FieldInvalid:
        limit = 0
    if limit == 0:
        raise AdminRefused(400, f"limit is 1 to {estate.MAX_PAGE}")
    return limit


def _instant(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    return fields.instant(text, name)


def _alert_code(text: str) -> int:
    try:
        code = int(text.removeprefix("0x"), 16) if len(text) <= 8 else -1
    except ValueError:
        raise AdminRefused(400, f"not an alert code: {text!r}") from None
    if code not in DEVICE_ALERTS:
        raise AdminRefused(404, f"alert code {text} is not one opendcc delivers")
    return code


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _restriction(r: Restriction) -> dict[str, Any]:
    return {
        "device": str(r.device_id),
        "meter": str(r.meter_id),
        "restricted": r.restricted,
        "since": r.since.isoformat(),
        "changed_by": str(r.changed_by),
        "reason": r.reason,
    }


def _change(c: Change) -> dict[str, Any]:
    return {
        "restricted": c.restricted,
        "at": c.at.isoformat(),
        "changed_by": str(c.changed_by),
        "reason": c.reason,
    }


def _alert(a: UserAlert) -> dict[str, Any]:
    return {
        "alert_id": a.alert_id,
        "created_at": a.created_at.isoformat(),
        "delivered_at": _iso(a.delivered_at),
        "attempts": a.attempts,
        "last_error": a.last_error,
    }


def _subscription(code: int, choice: Choice | None, receives: bool) -> dict[str, Any]:
    spec = DEVICE_ALERTS[code]
    return {
        "code": spec.hex,
        "description": spec.description,
        "category": spec.category.value,
        "mandatory": spec.mandatory,
        "default_on": spec.default_on,
        "choice": None if choice is None else choice.value,
        "receives": receives,
    }
