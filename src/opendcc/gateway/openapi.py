"""OpenAPI 3 description of the hub's JSON APIs: the admin API (``/admin/v1``), the UTRN service
(``/utrn/v1``) and the SSI's JSON API (``/ssi/api/v1``), served at ``/docs/openapi.json`` with a
plain HTML page at ``/docs``. ``tests/gateway/test_openapi.py`` fails when a route and the spec
disagree, so the two are kept in step. Each operation's prose is in the module that serves it.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

JSON = "application/json"
ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}


def _op(
    summary: str,
    tag: str,
    security: str,
    *,
    params: tuple[tuple[str, str], ...] = (),
    body: bool = False,
    ok: str = "200",
    produces: str = JSON,
) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": where, "required": where == "path", "schema": {"type": "string"}}
        for name, where in params
    ]
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "security": [{security: []}],
        "parameters": parameters,
        "responses": {
            ok: {"description": "served", "content": {produces: {"schema": {"type": "object"}}}},
            "400": {"description": "malformed", "content": {JSON: {"schema": ERROR}}},
            "401": {"description": "no or bad key", "content": {JSON: {"schema": ERROR}}},
            "403": {"description": "refused", "content": {JSON: {"schema": ERROR}}},
            "404": {"description": "not found", "content": {JSON: {"schema": ERROR}}},
        },
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": {"type": "object"}}},
        }
    return op


A, U, S = "admin", "utrn", "ssi"
ADMIN_KEY, UTRN_KEY, SSI_KEY = "adminKey", "utrnKey", "ssiCredential"
DEVICE = (("device", "path"),)


def spec() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {
        "/admin/v1/devices/{device}/restriction": {
            "get": _op("A device's restricted mode and its history", A, ADMIN_KEY, params=DEVICE),
            "put": _op(
                "Set or clear restricted mode (MP169)", A, ADMIN_KEY, params=DEVICE, body=True
            ),
        },
        "/admin/v1/devices": {
            "get": _op(
                "The caller's devices, a page at a time",
                A,
                ADMIN_KEY,
                params=tuple(
                    (p, "query") for p in ("restricted", "mpxn", "type", "limit", "after")
                ),
            )
        },
        "/admin/v1/extract": {
            "get": _op(
                "The device extract (CSV or JSON)", A, ADMIN_KEY, params=(("format", "query"),)
            )
        },
        "/admin/v1/alerts": {
            "get": _op(
                "The caller's alert messages",
                A,
                ADMIN_KEY,
                params=(("since", "query"), ("limit", "query")),
            )
        },
        "/admin/v1/alerts/{alert_id}": {
            "get": _op(
                "One signed alert document",
                A,
                ADMIN_KEY,
                params=(("alert_id", "path"),),
                produces="application/xml",
            )
        },
        "/admin/v1/alert-subscriptions": {
            "get": _op("Device alert codes with the caller's choices", A, ADMIN_KEY)
        },
        "/admin/v1/alert-subscriptions/{code}": {
            "put": _op(
                "Turn an alert code on or off", A, ADMIN_KEY, params=(("code", "path"),), body=True
            ),
            "delete": _op(
                "Restore an alert code's default", A, ADMIN_KEY, params=(("code", "path"),)
            ),
        },
        "/admin/v1/firmware-watch": {
            "get": _op("Restricted devices whose firmware updates keep failing", A, ADMIN_KEY)
        },
        "/admin/v1/performance": {
            "get": _op(
                "The performance report", A, ADMIN_KEY, params=(("from", "query"), ("to", "query"))
            )
        },
        "/admin/v1/requests/{request_id}": {
            "get": _op(
                "A request's state and steps", A, ADMIN_KEY, params=(("request_id", "path"),)
            ),
            "delete": _op(
                "Cancel a waiting request", A, ADMIN_KEY, params=(("request_id", "path"),)
            ),
        },
        "/admin/v1/dead-letters": {
            "get": _op(
                "Dead letters (the User's own; the desk: every User's), oldest first",
                A,
                ADMIN_KEY,
                params=(("after", "query"), ("limit", "query"), ("user", "query")),
            )
        },
        "/admin/v1/dead-letters/redrive": {
            "post": _op(
                "Redrive several dead letters (or all the caller's)", A, ADMIN_KEY, body=True
            )
        },
        "/admin/v1/dead-letters/{letter_id}": {
            "get": _op(
                "One dead letter with its signed document",
                A,
                ADMIN_KEY,
                params=(("letter_id", "path"),),
            )
        },
        "/admin/v1/dead-letters/{letter_id}/redrive": {
            "post": _op(
                "Redrive one dead letter to the User's callback",
                A,
                ADMIN_KEY,
                params=(("letter_id", "path"),),
            )
        },
        "/utrn/v1/utrns": {
            "post": _op("Issue a UTRN (two-step or one-step)", U, UTRN_KEY, body=True, ok="201"),
            "get": _op("A meter's latest tokens", U, UTRN_KEY, params=(("device", "query"),)),
        },
        "/utrn/v1/utrns/{ref}": {
            "get": _op("One token with its history", U, UTRN_KEY, params=(("ref", "path"),))
        },
        "/utrn/v1/utrns/{ref}/cancel": {
            "post": _op("Void a token not yet used", U, UTRN_KEY, params=(("ref", "path"),))
        },
        "/utrn/v1/psps": {"get": _op("The supplier's PSP nominations", U, UTRN_KEY)},
        "/utrn/v1/psps/{psp}": {
            "put": _op("Nominate a PSP", U, UTRN_KEY, params=(("psp", "path"),), body=True),
            "delete": _op("Withdraw a PSP's nomination", U, UTRN_KEY, params=(("psp", "path"),)),
        },
        "/utrn/v1/pans/{pan}": {
            "get": _op("The PAN register entry", U, UTRN_KEY, params=(("pan", "path"),)),
            "put": _op(
                "Register a PAN for an MPxN", U, UTRN_KEY, params=(("pan", "path"),), body=True
            ),
        },
        "/ssi/api/v1/incidents": {
            "get": _op("The caller's incidents with their SLA clocks", S, SSI_KEY),
            "post": _op("Raise an incident", S, SSI_KEY, body=True, ok="201"),
        },
        "/ssi/api/v1/incidents/{incident}": {
            "get": _op(
                "One incident with its SLA clocks", S, SSI_KEY, params=(("incident", "path"),)
            )
        },
        "/ssi/api/v1/status": {
            "get": _op("Service status: components, outages, maintenance", S, SSI_KEY)
        },
        "/ssi/api/v1/devices/{device}": {
            "get": _op("A device's inventory record and restriction", S, SSI_KEY, params=DEVICE)
        },
    }
    bearer = {"type": "http", "scheme": "bearer"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "opendcc JSON APIs",
            "version": "1",
            "description": "The admin API, the UTRN service and the SSI's JSON API. "
            "DUIS itself (/api/v1/serviceS|T|D) is signed XML, described by the DUIS schema.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": A, "description": "DCC Users' admin API (opendcc users key)"},
            {"name": U, "description": "The UTRN service (opendcc prepayment key)"},
            {"name": S, "description": "The SSI's JSON API (opendcc ssi credential)"},
        ],
        "components": {"securitySchemes": {ADMIN_KEY: bearer, UTRN_KEY: bearer, SSI_KEY: bearer}},
        "paths": paths,
    }


def routes() -> list[Route]:
    document = spec()

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def docs(_: Request) -> Response:
        rows = []
        for path, ops in document["paths"].items():
            for method, op in ops.items():
                rows.append(
                    f"<tr><td>{html.escape(op['tags'][0])}</td><td><code>{method.upper()}</code>"
                    f"</td><td><code>{html.escape(path)}</code></td>"
                    f"<td>{html.escape(op['summary'])}</td></tr>"
                )
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>opendcc APIs</title>"
            "</head><body><h1>opendcc JSON APIs</h1><p>OpenAPI 3: "
            '<a href="/docs/openapi.json">/docs/openapi.json</a></p><table border=1>'
            "<tr><th>API</th><th>Method</th><th>Path</th><th>What</th></tr>"
            + "".join(rows)
            + "</table></body></html>"
        )
        return HTMLResponse(page)

    return [
        Route("/docs", docs, methods=["GET"]),
        Route("/docs/openapi.json", openapi, methods=["GET"]),
    ]
