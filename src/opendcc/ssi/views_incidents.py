"""Incidents: the list (and raising one), an incident's page with its live SLA clocks, and the
actions on it (update, assign, attach, interested party, major, hold/resume/resolve/close/
reopen), and the desk's IMP target times."""

from __future__ import annotations

import asyncio

from starlette.datastructures import UploadFile
from starlette.responses import Response
from starlette.routing import Route

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.service import imp
from opendcc.service.incidents import MAX_ATTACHMENT
from opendcc.ssi.web import Ctx, PageError, Ssi, redirect

ACTIONS = ("hold", "resume", "resolve", "close", "reopen")
USER_ACTIONS = ("close", "reopen")  # of its own incidents; the desk does the rest


def routes(ssi: Ssi) -> list[Route]:  # noqa: PLR0915 - one closure per page
    incidents = ssi.incidents

    def number(ctx: Ctx) -> int:
        text = str(ctx.request.path_params["incident"])
        if not text.isdigit() or len(text) > 12:
            raise PageError(404, "not an incident number")
        return int(text)

    def category(ctx: Ctx) -> int:
        text = ctx.field("category", "3")
        if not text.isdigit():
            raise PageError(400, "the category is 1 to 5")
        return imp.check_category(int(text))

    async def listing(ctx: Ctx) -> Response:
        found = await asyncio.to_thread(incidents.list, ctx.actor)
        targets = await asyncio.to_thread(incidents.targets)
        rows = [(i, *i.clocks(targets[i.category], ctx.now)) for i in found]
        return ssi.render(
            ctx, "incidents.html", rows=rows, targets=targets, device=ctx.query("device")
        )

    async def raise_one(ctx: Ctx) -> Response:
        device = None
        if ctx.field("device").strip():
            try:
                device = Eui64.parse(ctx.field("device"))
            except InvalidIdentifier:
                raise PageError(400, "the Device ID is not an EUI-64") from None
            # a User raises incidents about its own devices only
            await asyncio.to_thread(ssi.diagnosis.device, ctx.actor, device, ctx.now)
        owner = None
        if ctx.principal.desk and ctx.field("owner").strip():
            try:
                owner = Eui64.parse(ctx.field("owner"))
            except InvalidIdentifier:
                raise PageError(400, "the responsible User is an EUI-64") from None
        new = await asyncio.to_thread(
            lambda: incidents.raise_incident(
                ctx.actor,
                ctx.now,
                title=ctx.field("title"),
                description=ctx.field("description"),
                category=category(ctx),
                device_id=device,
                owner=owner,
                major=ctx.field("major") == "on",
            )
        )
        ctx.note = f"raised incident {new}"
        return redirect(f"/incidents/{new}", f"Incident {new} raised")

    async def show(ctx: Ctx) -> Response:
        found = await asyncio.to_thread(incidents.get, ctx.actor, number(ctx))
        targets = await asyncio.to_thread(incidents.targets)
        response, resolution = found.clocks(targets[found.category], ctx.now)
        cohorts = [p.name for p in ssi.hub.registry.profiles()]
        return ssi.render(
            ctx,
            "incident.html",
            i=found,
            response=response,
            resolution=resolution,
            actions=[
                a
                for a in ACTIONS
                if (found.status, a) in imp.TRANSITIONS
                and (ctx.principal.desk or a in USER_ACTIONS)
            ],
            cohorts=cohorts,
            max_kib=MAX_ATTACHMENT // 1024,
        )

    async def change(ctx: Ctx) -> Response:
        n = number(ctx)
        what = ctx.field("do")
        actor = ctx.actor
        if what == "update":
            await asyncio.to_thread(incidents.update, actor, n, ctx.now, ctx.field("text"))
        elif what == "assign":
            kind = ctx.field("kind")
            await asyncio.to_thread(incidents.assign, actor, n, ctx.now, kind, ctx.field("s1sp"))
        elif what == "party":
            try:
                party = Eui64.parse(ctx.field("user_id"))
            except InvalidIdentifier:
                raise PageError(400, "an interested party is a User ID (EUI-64)") from None
            await asyncio.to_thread(incidents.add_party, actor, n, ctx.now, party)
        elif what == "major":
            await asyncio.to_thread(
                incidents.set_major, actor, n, ctx.now, ctx.field("major") == "on"
            )
        elif what == "attach":
            upload = ctx.form.get("file") if ctx.form is not None else None
            if not isinstance(upload, UploadFile):
                raise PageError(400, "choose a file to attach")
            data = await upload.read(MAX_ATTACHMENT + 1)
            await asyncio.to_thread(
                incidents.attach,
                actor,
                n,
                ctx.now,
                upload.filename or "attachment",
                upload.content_type or "application/octet-stream",
                data,
            )
        elif what in ACTIONS:
            await asyncio.to_thread(incidents.act, actor, n, ctx.now, what, ctx.field("text"))
        else:
            raise PageError(400, f"no such action {what[:20]!r}")
        ctx.note = f"incident {n}: {what}"
        return redirect(f"/incidents/{n}", f"Incident {n}: {what} done")

    async def attachment(ctx: Ctx) -> Response:
        n = number(ctx)
        text = str(ctx.request.path_params["attachment"])
        if not text.isdigit():
            raise PageError(404, "no such attachment")
        name, _, data = await asyncio.to_thread(incidents.attachment, ctx.actor, n, int(text))
        ctx.note = f"incident {n}: downloaded attachment {text}"
        safe = "".join(c for c in name if c.isalnum() or c in "._-") or "attachment"
        # Served as a download, never rendered: an upload is not trusted content.
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{safe}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def targets(ctx: Ctx) -> Response:
        def minutes(name: str) -> int:
            text = ctx.field(name)
            if not text.isdigit():
                raise PageError(400, "target times are whole minutes")
            return int(text)

        cat = category(ctx)
        await asyncio.to_thread(
            incidents.set_target, ctx.actor, cat, minutes("response"), minutes("resolution")
        )
        ctx.note = f"IMP targets of category {cat} changed"
        return redirect("/incidents", f"Category {cat} targets changed")

    return [
        Route("/incidents", ssi.page(listing), methods=["GET"]),
        Route("/incidents", ssi.page(raise_one), methods=["POST"]),
        Route("/incidents/targets", ssi.page(targets), methods=["POST"]),
        Route("/incidents/{incident}", ssi.page(show), methods=["GET"]),
        Route("/incidents/{incident}", ssi.page(change), methods=["POST"]),
        Route("/incidents/{incident}/attachments/{attachment}", ssi.page(attachment)),
    ]
