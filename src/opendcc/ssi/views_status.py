"""Service status: components from the live health checks, service alerts, planned maintenance
(scheduled here by the service desk) and monthly availability per component."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from starlette.responses import Response
from starlette.routing import Route

from opendcc.service.incidents import HUB, Refused
from opendcc.service.status import Check
from opendcc.ssi.web import Ctx, PageError, Ssi, redirect

STALE_CHECK = timedelta(seconds=30)  # a recorded look older than this (or 6 intervals) is no news


def parse_when(text: str) -> datetime:
    """A ``datetime-local`` field (UTC, as the page says) or an ISO instant."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PageError(400, f"not a date and time: {text[:30]!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def month_of(text: str, now: datetime) -> tuple[int, int]:
    if not text:
        return now.year, now.month
    try:
        year, month = (int(x) for x in text.split("-", 1))
        datetime(year, month, 1, tzinfo=UTC)
    except ValueError:
        raise PageError(400, "a month is YYYY-MM") from None
    return year, month


def fresh_checks(ssi: Ssi) -> dict[str, Check]:
    """The hub's monitor's latest look (it runs in another process, or this one), as recorded;
    none when it is too old to say anything (the monitor is not running)."""
    return {
        name: check
        for name, check in ssi.status.latest_checks().items()
        if check.checked_at is None or check.checked_at >= ssi.hub.clock.now() - stale_after(ssi)
    }


def stale_after(ssi: Ssi) -> timedelta:
    return max(STALE_CHECK, timedelta(seconds=ssi.monitor.interval * 6))


def routes(ssi: Ssi) -> list[Route]:
    status, monitor = ssi.status, ssi.monitor

    async def page(ctx: Ctx) -> Response:
        year, month = month_of(ctx.query("month"), ctx.now)
        components = monitor.components()
        outages = await asyncio.to_thread(status.open_outages)
        windows = await asyncio.to_thread(status.windows, ctx.now - timedelta(days=1))
        recent = await asyncio.to_thread(status.outages, ctx.now - timedelta(days=31))
        figures = await asyncio.to_thread(status.availability, components, year, month, ctx.now)
        checks = await asyncio.to_thread(fresh_checks, ssi)
        # major incidents are service alerts: every User sees that one is under way
        active = await asyncio.to_thread(ssi.incidents.list, HUB, active_only=True)
        majors = [i for i in active if i.major]
        rows = []
        for name in components:
            check = checks.get(name)
            down = name in outages
            planned = next((w for w in windows if w.covers(name, ctx.now)), None)
            colour = "red" if down else ("amber" if planned else ("green" if check else "grey"))
            state = (
                "down" if down else ("maintenance" if planned else ("up" if check else "unknown"))
            )
            rows.append(
                (
                    name,
                    colour,
                    state,
                    check.detail if check else "not checked yet",
                    outages.get(name),
                )
            )
        return ssi.render(
            ctx,
            "status.html",
            rows=rows,
            windows=windows,
            recent=recent,
            figures=figures,
            month=f"{year:04d}-{month:02d}",
            majors=majors,
            components=components,
        )

    async def schedule(ctx: Ctx) -> Response:
        if not ctx.principal.desk:
            raise Refused("the service desk schedules maintenance")
        component = ctx.field("component")
        if component not in [*monitor.components(), "all"]:
            raise PageError(400, "no such component")
        starts, ends = parse_when(ctx.field("starts_at")), parse_when(ctx.field("ends_at"))
        new = await asyncio.to_thread(
            status.schedule,
            component,
            starts,
            ends,
            ctx.field("description"),
            ctx.principal.name,
            ctx.now,
        )
        ctx.note = f"maintenance window {new} for {component} scheduled"
        return redirect("/status", f"Maintenance window {new} scheduled")

    async def cancel(ctx: Ctx) -> Response:
        if not ctx.principal.desk:
            raise Refused("the service desk cancels maintenance")
        text = str(ctx.request.path_params["window"])
        if not text.isdigit() or not await asyncio.to_thread(status.cancel, int(text), ctx.now):
            raise PageError(404, "no such maintenance window to cancel")
        ctx.note = f"maintenance window {text} cancelled"
        return redirect("/status", f"Maintenance window {text} cancelled")

    return [
        Route("/status", ssi.page(page), methods=["GET"]),
        Route("/status/maintenance", ssi.page(schedule), methods=["POST"]),
        Route("/status/maintenance/{window}/cancel", ssi.page(cancel), methods=["POST"]),
    ]
