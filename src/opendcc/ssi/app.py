"""The SSI as a Starlette app the gateway mounts at ``/ssi``: sign-in and out, the home page,
and every area's routes (``views_*``), plus its JSON API (``api``) and static files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from opendcc.hub import Hub
from opendcc.ssi import (
    api,
    views_deadletters,
    views_devices,
    views_incidents,
    views_measures,
    views_status,
)
from opendcc.ssi.auth import SESSION_LIFETIME
from opendcc.ssi.web import COOKIE, PREFIX, Ctx, Ssi, redirect, same_origin

STATIC = Path(__file__).parent / "static"


def create_ssi(hub: Hub) -> tuple[Starlette, Ssi]:
    ssi = Ssi(hub)

    async def login_form(request: Request) -> Response:
        return ssi.render(None, "login.html", next=_local(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        now = hub.clock.now()
        try:
            form = await request.form(max_files=0, max_fields=5, max_part_size=4096)
        except Exception:  # a malformed body: the form parser's own errors
            return ssi.refusal(None, 400, "the sign-in form could not be read")
        if not same_origin(request):  # login CSRF: no signing a victim in as someone else
            return ssi.refusal(None, 403, "a sign-in form from another site")
        name, secret = str(form.get("user_id", "")), str(form.get("credential", ""))
        principal = await asyncio.to_thread(ssi.credentials.verify, name, secret)
        if principal is None:
            await asyncio.to_thread(
                ssi.audit, request, None, 401, f"sign-in refused for {name[:40]!r}", now
            )
            return ssi.render(
                None,
                "login.html",
                401,
                next=_local(str(form.get("next", ""))),
                error="That User ID and credential do not match a live SSI credential.",
            )
        user = principal.user_id
        if user is not None:
            known = hub.users.get(user)
            if known is None or not known.active:
                await asyncio.to_thread(ssi.audit, request, principal, 403, "not active", now)
                return ssi.render(
                    None, "login.html", 403, next="", error=f"{user} is not an active DCC User."
                )
        token, _ = await asyncio.to_thread(ssi.sessions.open, principal, now)
        await asyncio.to_thread(ssi.audit, request, principal, 303, "signed in", now)
        answer = RedirectResponse(_local(str(form.get("next", ""))) or f"{PREFIX}/", 303)
        answer.set_cookie(
            COOKIE,
            token,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    async def logout(ctx: Ctx) -> Response:
        await asyncio.to_thread(ssi.sessions.close, ctx.request.cookies.get(COOKIE, ""))
        ctx.note = "signed out"
        answer = RedirectResponse(f"{PREFIX}/login", 303)
        answer.delete_cookie(COOKIE, path=PREFIX)
        return answer

    async def home(ctx: Ctx) -> Response:
        mine = await asyncio.to_thread(ssi.incidents.list, ctx.actor, active_only=True)
        return ssi.render(ctx, "home.html", incidents=mine[:10])

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", ssi.page(logout), methods=["POST"]),
        Route("/", ssi.page(home), methods=["GET"]),
        *views_devices.routes(ssi),
        *views_incidents.routes(ssi),
        *views_deadletters.routes(ssi),
        *views_status.routes(ssi),
        *views_measures.routes(ssi),
        *api.routes(ssi),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes), ssi


def _local(target: str | None) -> str:
    """A ``next`` that stays inside the SSI (no open redirect)."""
    if not target:
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/"):
        return ""
    return parts.path


__all__ = ["create_ssi", "redirect"]
