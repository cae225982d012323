"""Inventory search, the device page and its connectivity check."""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.routing import Route

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.queue.deadletters import DeadLetters
from opendcc.service.diagnosis import Connectivity, DeviceView, check_connectivity
from opendcc.ssi.web import Ctx, PageError, Ssi


def routes(ssi: Ssi) -> list[Route]:
    hub = ssi.hub
    supported = {p.name: p.supported_srvs for p in hub.registry.profiles()}
    providers = {p.name: p.s1sp or p.manufacturer for p in hub.registry.profiles()}
    letters = DeadLetters(hub.engine)

    def dead(ctx: Ctx, view: DeviceView) -> int:
        """Dead letters carrying Responses to the requests the page shows: one look at a table
        that holds only what could not be delivered (a User's by its index), so it stays cheap."""
        user = ctx.principal.user_id
        ids = [r.request_id for r in view.requests]
        return letters.for_requests(ids, None if user is None else str(user))

    def device_id(ctx: Ctx) -> Eui64:
        try:
            return Eui64.parse(str(ctx.request.path_params["device"]))
        except InvalidIdentifier:
            raise PageError(404, "not a Device ID") from None

    async def search(ctx: Ctx) -> Response:
        text = ctx.query("q")
        found = await asyncio.to_thread(ssi.diagnosis.search, ctx.actor, text, ctx.now)
        if text:
            ctx.note = f"searched devices for {text[:60]!r}: {len(found)} found"
        return ssi.render(ctx, "devices.html", q=text, devices=found)

    async def device_page(ctx: Ctx, did: Eui64, check: Connectivity | None) -> Response:
        """The device page, with the connectivity check just made (if any)."""
        view = await asyncio.to_thread(ssi.diagnosis.view, ctx.actor, did, ctx.now)
        stuck = await asyncio.to_thread(dead, ctx, view)
        return ssi.render(
            ctx,
            "device.html",
            v=view,
            d=view.device,
            check=check,
            providers=providers,
            dead=stuck,
        )

    async def device(ctx: Ctx) -> Response:
        did = device_id(ctx)
        ctx.note = f"device {did}"
        return await device_page(ctx, did, None)

    async def diagnose(ctx: Ctx) -> Response:
        did = device_id(ctx)
        found = await asyncio.to_thread(ssi.diagnosis.device, ctx.actor, did, ctx.now)
        check = await check_connectivity(found, hub.adapters, supported, hub.dco.seal)
        ctx.note = f"connectivity check of {did} via {check.cohort}: {check.status}"
        return await device_page(ctx, did, check)

    return [
        Route("/devices", ssi.page(search), methods=["GET"]),
        Route("/devices/{device}", ssi.page(device), methods=["GET"]),
        Route("/devices/{device}/diagnose", ssi.page(diagnose), methods=["POST"]),
    ]
