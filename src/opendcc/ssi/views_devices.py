"""Inventory search, the device page and its connectivity check."""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.routing import Route

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.service.diagnosis import check_connectivity
from opendcc.ssi.web import Ctx, PageError, Ssi


def routes(ssi: Ssi) -> list[Route]:
    hub = ssi.hub
    supported = {p.name: p.supported_srvs for p in hub.registry.profiles()}
    providers = {p.name: p.s1sp or p.manufacturer for p in hub.registry.profiles()}

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

    async def device(ctx: Ctx) -> Response:
        did = device_id(ctx)
        ctx.note = f"device {did}"
        view = await asyncio.to_thread(ssi.diagnosis.view, ctx.actor, did, ctx.now)
        return ssi.render(
            ctx, "device.html", v=view, d=view.device, check=None, providers=providers
        )

    async def diagnose(ctx: Ctx) -> Response:
        did = device_id(ctx)
        found = await asyncio.to_thread(ssi.diagnosis.device, ctx.actor, did, ctx.now)
        check = await check_connectivity(found, hub.adapters, supported, hub.dco.seal)
        ctx.note = f"connectivity check of {did} via {check.cohort}: {check.status}"
        view = await asyncio.to_thread(ssi.diagnosis.view, ctx.actor, did, ctx.now)
        return ssi.render(
            ctx, "device.html", v=view, d=view.device, check=check, providers=providers
        )

    return [
        Route("/devices", ssi.page(search), methods=["GET"]),
        Route("/devices/{device}", ssi.page(device), methods=["GET"]),
        Route("/devices/{device}/diagnose", ssi.page(diagnose), methods=["POST"]),
    ]
