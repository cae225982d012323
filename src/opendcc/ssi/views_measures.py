"""Performance measures (CPM1/CPM2 with SVG charts and CSV), audit search and reports."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

from starlette.responses import Response
from starlette.routing import Route

from opendcc.s1sp.adapter import response_time_s
from opendcc.s1sp.contract import AdapterOptions
from opendcc.s1sp.services import DEFAULT_RESPONSE_TIME_S, SERVICES
from opendcc.service import audit_search, cpm, reports
from opendcc.ssi.charts import bars
from opendcc.ssi.views_status import month_of, parse_when
from opendcc.ssi.web import Ctx, Ssi

CPM_TARGET = 99.0  # percent within target, the DCC's CPM1 target


def _csv(name: str, text: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def routes(ssi: Ssi) -> list[Route]:
    hub = ssi.hub
    options = AdapterOptions(time_scale=hub.config.response_time_scale)
    # each SRV's target response time, as the adapters hold the S1SP to it
    targets = {srv: response_time_s(srv, options) for srv in SERVICES}
    default = DEFAULT_RESPONSE_TIME_S * options.time_scale

    async def performance(ctx: Ctx) -> Response:
        year, month = month_of(ctx.query("month"), ctx.now)
        start = datetime(year, month, 1, tzinfo=UTC)
        end = (start + timedelta(days=32)).replace(day=1)
        found = await asyncio.to_thread(cpm.tallies, hub.engine, start, end, targets, default)
        figures = cpm.measures(found)
        if ctx.query("format") == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(("measure", "month", "group", "counted", "within_target", "percent"))
            for m in figures:
                pct = "" if m.percent is None else f"{m.percent:.2f}"
                writer.writerow((m.measure, m.month, m.group, m.counted, m.within, pct))
            ctx.note = f"CPM CSV {year:04d}-{month:02d}"
            return _csv(f"cpm-{year:04d}-{month:02d}", buffer.getvalue())
        charts = [
            bars(
                f"{name} {year:04d}-{month:02d}: share within target response time",
                [(m.group, m.percent) for m in figures if m.measure == name],
                CPM_TARGET,
            )
            for name in ("CPM1", "CPM2")
        ]
        return ssi.render(
            ctx, "performance.html", figures=figures, charts=charts, month=f"{year:04d}-{month:02d}"
        )

    async def audit(ctx: Ctx) -> Response:
        q = audit_search.Query(
            start=parse_when(ctx.query("from")) if ctx.query("from") else None,
            end=parse_when(ctx.query("to")) if ctx.query("to") else None,
            user=ctx.query("user"),
            device=ctx.query("device"),
            srv=ctx.query("srv"),
            code=ctx.query("code"),
        )
        rows = await asyncio.to_thread(audit_search.search, hub.engine, ctx.actor, q)
        chain = await asyncio.to_thread(
            ssi.chain.check, ctx.now, full=ctx.query("verify") == "full"
        )
        ctx.note = f"audit search {q}"[:200]
        return ssi.render(ctx, "audit.html", rows=rows, q=q, chain=chain)

    async def report_list(ctx: Ctx) -> Response:
        name = ctx.query("name", "installation-status")
        report = await asyncio.to_thread(reports.build, hub.engine, ctx.actor, name, ctx.now)
        ctx.note = f"report {name}"
        if ctx.query("format") == "csv":
            return _csv(name, report.csv())
        return ssi.render(ctx, "reports.html", report=report, names=reports.NAMES)

    return [
        Route("/performance", ssi.page(performance), methods=["GET"]),
        Route("/audit", ssi.page(audit), methods=["GET"]),
        Route("/reports", ssi.page(report_list), methods=["GET"]),
    ]
