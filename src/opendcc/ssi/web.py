"""The SSI's web plumbing: sessions from the cookie, CSRF on every POST, one audit record per
action, Jinja2 rendering. Views (``ssi.views_*``) are small functions over a ``Ctx``.

Every page but sign-in needs a session; without one a browser is sent to ``/ssi/login``.
Every POST carries the session's CSRF token (a hidden ``csrf`` field) and comes from this origin
(the cookie is SameSite=Strict as well). Every request a signed-in principal makes, and every
sign-in attempt, leaves a record in the hash-chained audit trail (endpoint ``ssi``).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from opendcc.hub import Hub
from opendcc.service import imp
from opendcc.service.audit_search import ChainWatch
from opendcc.service.diagnosis import DeviceNotFound, Diagnosis
from opendcc.service.hub_monitor import hub_monitor
from opendcc.service.imp import ImpError
from opendcc.service.incidents import Incidents, NotFound, Refused
from opendcc.service.reports import UnknownReport
from opendcc.service.status import ServiceStatus
from opendcc.ssi.auth import Credentials, Principal, Session, Sessions
from opendcc.store.audit import AuditRecord, digest

COOKIE = "opendcc_ssi"
PREFIX = "/ssi"
MAX_FORM = 2 * 1024 * 1024  # an attachment (1 MiB) and its form
TEMPLATES = Path(__file__).parent / "templates"


class PageError(Exception):
    """A refusal the page shows: its HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Ctx:
    request: Request
    session: Session
    now: datetime
    form: FormData | None = None
    note: str = ""  # what the audit record says was done
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def principal(self) -> Principal:
        return self.session.principal

    @property
    def actor(self) -> Any:
        return self.session.principal.actor

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)


View = Callable[[Ctx], Awaitable[Response]]


class Ssi:
    """What every view shares: the hub, the domain services, the templates."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.credentials = Credentials(hub.engine)
        self.sessions = Sessions(hub.engine)
        self.incidents = Incidents(hub.engine)
        self.diagnosis = Diagnosis(
            hub.engine, hub.inventory, hub.restrictions, hub.cpl, hub.alert_record
        )
        self.status = ServiceStatus(hub.engine)
        self.chain = ChainWatch(hub.audit)
        # Run only where the hub's one monitor runs (service.hub_monitor); the pages read what
        # it recorded, and its components.
        self.monitor = hub_monitor(hub, self.incidents, self.status)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["when"] = _when
        self.env.filters["dur"] = imp.fmt
        self.env.globals["prefix"] = PREFIX
        self.env.globals["q"] = lambda v: quote(str(v), safe="")

    def render(self, ctx: Ctx | None, template: str, status: int = 200, **values: Any) -> Response:
        page = self.env.get_template(template).render(
            session=ctx.session if ctx else None,
            principal=ctx.principal if ctx else None,
            csrf=ctx.session.csrf if ctx else "",
            now=ctx.now if ctx else self.hub.clock.now(),
            flash=ctx.query("flash") if ctx else "",
            **values,
        )
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    # ------------------------------------------------------------------ every request

    def page(self, view: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            now = self.hub.clock.now()
            token = request.cookies.get(COOKIE, "")
            session = await asyncio.to_thread(self.sessions.get, token, now) if token else None
            if session is None:
                if request.method == "GET":
                    target = quote(request.url.path, safe="/")
                    return RedirectResponse(f"{PREFIX}/login?next={target}", 303)
                return self.refusal(None, 401, "sign in first")
            ctx = Ctx(request, session, now)
            status, why = 200, "served"
            try:
                await asyncio.to_thread(self._still_active, session.principal)
                if request.method == "POST":
                    ctx.form = await _form(request)
                    _check_post(request, ctx.form, session)
                answer = await view(ctx)
                status = answer.status_code
            except PageError as exc:
                answer, status, why = self.refusal(ctx, exc.status, str(exc)), exc.status, str(exc)
            except (NotFound, DeviceNotFound, UnknownReport) as exc:
                answer, status, why = self.refusal(ctx, 404, str(exc)), 404, str(exc)
            except Refused as exc:
                answer, status, why = self.refusal(ctx, 403, str(exc)), 403, str(exc)
            except (ImpError, ValueError) as exc:
                answer, status, why = self.refusal(ctx, 400, str(exc)), 400, str(exc)
            what = f"{ctx.note}: {why}" if ctx.note else why
            await asyncio.to_thread(self.audit, request, session.principal, status, what, now)
            return answer

        return endpoint

    def _still_active(self, principal: Principal) -> None:
        """A User suspended (or removed) since signing in is refused from then on."""
        user = principal.user_id
        if user is None:
            return
        known = self.hub.users.get(user)
        if known is None or not known.active:
            raise PageError(403, f"{user} is not an active DCC User")

    def refusal(self, ctx: Ctx | None, status: int, message: str) -> Response:
        return self.render(ctx, "error.html", status, status_code=status, message=message)

    def audit(
        self, request: Request, who: Principal | None, status: int, why: str, now: datetime
    ) -> None:
        name = who.name if who else "anonymous"
        self.hub.audit.record(
            AuditRecord(
                now,
                "ssi",
                f"HTTP{status}",
                f"{request.method} {request.url.path} by {name}: {why}"[:500],
                digest(str(request.url).encode()),
                originator=name[:23] if who else None,
            )
        )


# The hub's loops whose life a component's health is (task name -> component).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


async def _form(request: Request) -> FormData:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_FORM:
        raise PageError(413, "the form is over 2 MiB")
    try:
        return await request.form(max_files=1, max_fields=100, max_part_size=MAX_FORM)
    except Exception as exc:  # a malformed body: the multipart parser's own errors
        raise PageError(400, f"the form could not be read: {exc}") from None


def _check_post(request: Request, form: FormData, session: Session) -> None:
    """CSRF: the session's token in the form, and a same-origin request when it says."""
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
        raise PageError(403, "the form's CSRF token is missing or wrong: reload the page")
    if not same_origin(request):
        raise PageError(403, "a form from another site")


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (``Origin``)."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    return origin != "null" and origin.split("://", 1)[-1] == request.headers.get("host", "")


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def redirect(path: str, flash: str = "") -> Response:
    target = PREFIX + path
    if flash:
        target += ("&" if "?" in target else "?") + "flash=" + quote(flash)
    return RedirectResponse(target, 303)
