"""The gateway's outer boundary: every HTTP request's body read under its surface's limit, and
the last-resort answer for anything a surface failed to turn into its own refusal.

Each surface (DUIS ``/api/v1/``, the UTRN service ``/utrn/v1/``, the admin API ``/admin/v1/``)
has a body limit (``SURFACES``; see docs/limits.md). The boundary reads the body itself, a chunk
at a time with a running count, before any route sees it, whether the client sent a
Content-Length or not (chunked): a declared length over the limit is refused before a byte is
read, a body that grows past it is refused as soon as it does (HTTP 413, and the connection is
closed rather than drained), so the hub's memory never grows with what a client sends. A client
that goes away mid-body costs one log line; one that stops sending for ``BODY_IDLE_S`` is answered
408 and its connection closed, so stalled uploads do not hold connections for ever.

Behind that, a route that raises instead of answering (a bug, or input nobody foresaw) is
answered HTTP 400 with a reason and one log line, never a 500 and never a traceback: every
input-caused failure is a refusal, and an unexpected one must not leak internals either.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
BODY_IDLE_S = 30.0  # the longest a client may pause mid-body


@dataclass(frozen=True, slots=True)
class Surface:
    """Requests under ``prefix``: the largest body taken, and whether refusals are JSON."""

    name: str
    prefix: str
    max_body: int
    json: bool


SURFACES = (
    Surface("DUIS", "/api/v1/", 8 * MIB, json=False),  # as the DUIS parser's own limit
    Surface("UTRN service", "/utrn/v1/", 16 * KIB, json=True),
    Surface("admin API", "/admin/v1/", 16 * KIB, json=True),
    Surface("SSI", "/ssi/", 2 * MIB, json=False),  # an incident's attachment (1 MiB) and its form
)
# Anything else (``/health``, unknown paths) takes no body worth reading.
OTHER = Surface("other", "/", 1 * KIB, json=True)


def surface_of(
    path: str, surfaces: tuple[Surface, ...] = SURFACES, other: Surface = OTHER
) -> Surface:
    for surface in surfaces:
        if path.startswith(surface.prefix):
            return surface
    return other


class Refused(Exception):
    """The boundary refuses the request before a route sees it."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ClientGone(Exception):
    """The client disconnected before its body was complete."""


async def read_body(
    scope: Scope, receive: Receive, limit: int, idle_s: float = BODY_IDLE_S
) -> bytes:
    """The request's body, read a chunk at a time; ``Refused`` (413) once it passes ``limit``,
    (408) when no chunk comes for ``idle_s``."""
    declared = declared_length(scope.get("headers", ()))
    if declared is not None and declared > limit:
        raise Refused(413, "too_large", f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), idle_s)
        except TimeoutError:
            raise Refused(408, "timeout", f"no body for {idle_s:g} s after {total} bytes") from None
        if message["type"] == "http.disconnect":
            raise ClientGone(f"after {total} bytes")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise Refused(413, "too_large", f"the body is over the limit of {limit} bytes")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The request's Content-Length, if it declared one; ``Refused`` (400) if it is not one."""
    for name, value in headers:
        if name == b"content-length":
            # ASCII digits only, and never more of them than a real length has (int() of a
            # 5,000-digit text is itself refused by Python).
            if not value.isdigit() or len(value) > 18:
                raise Refused(400, "content_length", "Content-Length is not a length")
            return int(value)
    return None


class Boundary:
    """ASGI middleware: body limits, aborted uploads, and the last-resort refusal.

    ``surfaces`` and ``other`` say whose limits apply where: the gateway's by default; another
    listener (the REST/JSON adapter's callback listener) passes its own."""

    def __init__(
        self,
        app: ASGIApp,
        idle_s: float = BODY_IDLE_S,
        *,
        surfaces: tuple[Surface, ...] = SURFACES,
        other: Surface = OTHER,
    ) -> None:
        self.app = app
        self.idle_s = idle_s
        self.surfaces = surfaces
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        surface = surface_of(scope.get("path", ""), self.surfaces, self.other)
        where = f"{scope.get('method', '?')} {scope.get('path', '?')}"
        try:
            body = await read_body(scope, receive, surface.max_body, self.idle_s)
        except Refused as exc:
            log.info("%s refused: %s", where, exc)
            await _refuse(send, surface, exc, close=True)
            return
        except ClientGone as exc:
            log.info("%s: the client went away mid-body (%s)", where, exc)
            return
        except OSError as exc:  # a transport that failed under the read
            log.info("%s: the body could not be read: %s", where, exc)
            return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only the disconnect is left to hear

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, replay, tracked)
        except Exception as exc:
            # One line, no traceback: the reason is for the operator, the refusal for the client.
            log.warning("%s failed: %s: %s", where, type(exc).__name__, str(exc)[:300])
            if not started:
                why = f"the request could not be processed ({type(exc).__name__})"
                await _refuse(send, surface, Refused(400, "unprocessable", why), close=False)


async def _refuse(send: Send, surface: Surface, exc: Refused, *, close: bool) -> None:
    status, headers, body = refusal(surface, exc, close=close)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def refusal(
    surface: Surface, exc: Refused, *, close: bool
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The boundary's answer to ``exc`` on ``surface``: status, headers and body (also written
    by ``httpserver``, which must answer as the boundary does)."""
    message = str(exc)
    if surface.json:
        # Both JSON APIs' refusal shapes: the UTRN service's reason/message, the admin's code.
        body = json.dumps({"error": exc.reason, "message": message, "code": None}).encode()
        media = b"application/json"
    else:
        body = f"{message}\n".encode()
        media = b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", media),
        (b"content-length", str(len(body)).encode()),
        (b"x-opendcc-reason", message.encode("ascii", "replace")[:300]),
    ]
    if close:  # the rest of the body is not read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    return exc.status, headers, body
