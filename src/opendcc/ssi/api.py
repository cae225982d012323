"""The SSI's JSON API, for Users' and the desk's own tools: the same services as the pages.

Every call carries ``Authorization: Bearer <SSI credential>`` (``opendcc ssi credential``);
no cookies, so no CSRF. Every call, served or refused, is audited (endpoint ``ssi``).
Refusals are ``{"error": <why>}`` with 400, 401, 403 or 404 (another User's incident or device
is 404, as an unknown one).

- ``GET /ssi/api/v1/incidents``: the caller's incidents with their SLA clocks.
- ``POST /ssi/api/v1/incidents`` ``{"title", "category", "description"?, "device"?}``: raise one.
- ``GET /ssi/api/v1/incidents/{id}``: one incident with its clocks.
- ``GET /ssi/api/v1/status``: every component's state from the latest health checks, open
  outages and planned maintenance.
- ``GET /ssi/api/v1/devices/{device}``: a device's inventory record and restriction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.service.diagnosis import DeviceNotFound
from opendcc.service.imp import ImpError
from opendcc.service.incidents import NotFound, Refused
from opendcc.ssi.auth import Principal
from opendcc.ssi.views_status import fresh_checks
from opendcc.ssi.web import Ssi

BASE = "/api/v1"
MAX_BODY = 64 * 1024


class ApiRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[Request, Principal, dict[str, Any]], Awaitable[Response]]


def routes(ssi: Ssi) -> list[Route]:  # noqa: PLR0915 - one closure per call
    hub = ssi.hub

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            now = hub.clock.now()
            body = await request.body()
            principal: Principal | None = None
            try:
                if len(body) > MAX_BODY:
                    raise ApiRefused(413, "a body is at most 64 KiB")
                scheme, _, key = request.headers.get("authorization", "").partition(" ")
                if scheme.lower() == "bearer" and key.strip():
                    principal = await asyncio.to_thread(ssi.credentials.principal_of, key)
                if principal is None:
                    raise ApiRefused(401, "a valid SSI credential is required (Bearer)")
                data = _json(body) if body else {}
                answer = await handler(request, principal, data)
                why = "served"
            except ApiRefused as exc:
                answer, why = JSONResponse({"error": str(exc)}, exc.status), str(exc)
            except (NotFound, DeviceNotFound) as exc:
                answer, why = JSONResponse({"error": str(exc)}, 404), str(exc)
            except Refused as exc:
                answer, why = JSONResponse({"error": str(exc)}, 403), str(exc)
            except (ImpError, ValueError) as exc:
                answer, why = JSONResponse({"error": str(exc)}, 400), str(exc)
            await asyncio.to_thread(ssi.audit, request, principal, answer.status_code, why, now)
            return answer

        return endpoint

    async def incidents(request: Request, who: Principal, _: dict[str, Any]) -> Response:
        now = hub.clock.now()
        found = await asyncio.to_thread(ssi.incidents.list, who.actor)
        targets = await asyncio.to_thread(ssi.incidents.targets)
        return JSONResponse({"incidents": [i.as_json(targets[i.category], now) for i in found]})

    async def raise_one(request: Request, who: Principal, data: dict[str, Any]) -> Response:
        now = hub.clock.now()
        category = data.get("category")
        if not isinstance(category, int) or isinstance(category, bool):
            raise ApiRefused(400, "category is an integer 1 to 5")
        device = None
        if data.get("device"):
            device = _eui(data["device"])
            await asyncio.to_thread(ssi.diagnosis.device, who.actor, device, now)
        number = await asyncio.to_thread(
            lambda: ssi.incidents.raise_incident(
                who.actor,
                now,
                title=str(data.get("title", "")),
                description=str(data.get("description", "")),
                category=category,
                device_id=device,
            )
        )
        found = await asyncio.to_thread(ssi.incidents.get, who.actor, number)
        targets = await asyncio.to_thread(ssi.incidents.targets)
        return JSONResponse(found.as_json(targets[found.category], now), 201)

    async def incident(request: Request, who: Principal, _: dict[str, Any]) -> Response:
        now = hub.clock.now()
        text = str(request.path_params["incident"])
        if not text.isdigit() or len(text) > 12:
            raise ApiRefused(404, "no such incident")
        found = await asyncio.to_thread(ssi.incidents.get, who.actor, int(text))
        targets = await asyncio.to_thread(ssi.incidents.targets)
        return JSONResponse(found.as_json(targets[found.category], now))

    async def status(request: Request, who: Principal, _: dict[str, Any]) -> Response:
        now = hub.clock.now()
        outages = await asyncio.to_thread(ssi.status.open_outages)
        windows = await asyncio.to_thread(ssi.status.windows, now - timedelta(days=1))
        checks = await asyncio.to_thread(fresh_checks, ssi)
        components = []
        for name in ssi.monitor.components():
            check = checks.get(name)
            state = "down" if name in outages else "up" if check else "unknown"
            components.append({"component": name, "state": state})
        return JSONResponse(
            {
                "components": components,
                "outages": [
                    {
                        "component": o.component,
                        "since": o.down_at.isoformat(),
                        "incident": o.incident_id,
                    }
                    for o in outages.values()
                ],
                "maintenance": [
                    {
                        "component": w.component,
                        "from": w.starts_at.isoformat(),
                        "to": w.ends_at.isoformat(),
                        "description": w.description,
                    }
                    for w in windows
                    if not w.cancelled
                ],
            }
        )

    async def device(request: Request, who: Principal, _: dict[str, Any]) -> Response:
        now = hub.clock.now()
        found = await asyncio.to_thread(
            ssi.diagnosis.device, who.actor, _eui(request.path_params["device"]), now
        )
        restriction = await asyncio.to_thread(hub.restrictions.of, found.device_id)
        return JSONResponse(
            {
                "device_id": str(found.device_id),
                "device_type": found.device_type.value,
                "smi_status": found.smi_status.value,
                "mpxn": found.mpxn,
                "cohort": found.cohort,
                "manufacturer": found.manufacturer,
                "model": found.model,
                "firmware_version": found.firmware_version,
                "restricted": bool(restriction and restriction.restricted),
            }
        )

    return [
        Route(f"{BASE}/incidents", guarded(incidents), methods=["GET"]),
        Route(f"{BASE}/incidents", guarded(raise_one), methods=["POST"]),
        Route(f"{BASE}/incidents/{{incident}}", guarded(incident), methods=["GET"]),
        Route(f"{BASE}/status", guarded(status), methods=["GET"]),
        Route(f"{BASE}/devices/{{device}}", guarded(device), methods=["GET"]),
    ]


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiRefused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiRefused(400, "the body is a JSON object")
    return data


def _eui(text: object) -> Eui64:
    try:
        return Eui64.parse(str(text))
    except InvalidIdentifier:
        raise ApiRefused(400, f"not an EUI-64: {str(text)[:30]!r}") from None
