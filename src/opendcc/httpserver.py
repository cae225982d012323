"""Direct routes: a few POST paths answered by the HTTP protocol itself, without ASGI.

uvicorn hands every request to the ASGI app through a task, a scope, receive/send callables and
each middleware's wrappers (proxy headers, Starlette's error middleware, the boundary), and the
app answers through ``send`` messages whose headers uvicorn checks again. For the hub's hot path
(a signed DUIS POST, a few kB in and out) that was most of the gateway's event-loop CPU.
``DirectProtocol`` is uvicorn's httptools protocol with a table of exact paths (``Direct``):
a POST to one of them, with no query string and no root path, has its body gathered by the
protocol, is handed to the route's handler, and the handler's ``Reply`` is written to the socket
as bytes. Everything else (other methods and paths, upgrades, a root path) goes to the ASGI app
unchanged.

What the boundary (``gateway.boundary``) does for every request is done here too, with the same
answers byte for byte (its ``refusal``): a declared length over the limit is refused 413 before
a byte is read and before ``100 Continue``; a body that grows past it is refused as soon as it
does; a body that pauses ``idle_s`` is answered 408; both close the connection. A client that
goes away mid-body costs one log line. A handler that raises is answered 400 (the boundary's
last resort), never a 500. Keep-alive, ``Connection: close``, HTTP/1.0, pipelining (answers in
request order) and flow control are uvicorn's own: a direct request is a ``RequestResponseCycle``
whose ``run_asgi`` answers it, queued and started by the protocol like any other.

This leans on uvicorn's httptools protocol's internals, so pyproject.toml pins uvicorn to the
minor release it was written and tested against (``tests/test_httpserver.py`` fails if the
direct path is no longer taken).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import (
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from opendcc.core.woken import woken
from opendcc.gateway.boundary import (
    BODY_IDLE_S,
    Refused,
    Surface,
    declared_length,
    refusal,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """A direct route's answer. ``headers``: lower-case names, content-length among them;
    ``connection: close`` is added when the connection is not kept."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


Handler = Callable[[bytes], Awaitable[Reply]]
# A route under a prefix: its handler also gets the last path segment and the headers.
SegmentHandler = Callable[[str, list[tuple[bytes, bytes]], bytes], Awaitable[Reply]]


@dataclass(frozen=True)
class Direct:
    """The direct routes, all under one surface's body limit: exact path -> handler, and
    prefix -> handler of one more path segment (``/callbacks/{id}``: letters, digits, ``-``,
    ``_`` and ``.`` only; anything else goes to the ASGI app, which decodes it)."""

    routes: dict[str, Handler]
    surface: Surface
    idle_s: float = BODY_IDLE_S
    segments: dict[str, SegmentHandler] = field(default_factory=dict)

    def protocol(self) -> type[DirectProtocol]:
        """uvicorn's ``Config(http=...)``: the protocol class answering these routes."""
        table = {path.encode("ascii"): handler for path, handler in self.routes.items()}
        prefixes = tuple((p.encode("ascii"), h) for p, h in self.segments.items())
        attributes = {"direct": self, "table": table, "prefixes": prefixes}
        return type("DirectProtocol", (DirectProtocol,), attributes)


def _segment(url: bytes, prefixes: tuple[tuple[bytes, SegmentHandler], ...]) -> Any:
    """The handler for ``url`` under one of ``prefixes``, bound to its segment, or None."""
    for prefix, handler in prefixes:
        if url.startswith(prefix):
            segment = url[len(prefix) :]
            if segment and _PLAIN.fullmatch(segment):
                return segment.decode("ascii"), handler
    return None


_PLAIN = re.compile(rb"[A-Za-z0-9._-]{1,200}")


class DirectProtocol(HttpToolsProtocol):
    direct: ClassVar[Direct]
    table: ClassVar[dict[bytes, Handler]]
    prefixes: ClassVar[tuple[tuple[bytes, SegmentHandler], ...]] = ()
    # Counted for tests and benchmarks: requests this process answered directly.
    answered: ClassVar[int] = 0

    def on_headers_complete(self) -> None:
        handler = self.table.get(self.url)  # the exact path: no query string, no absolute form
        if handler is None and self.prefixes and (found := _segment(self.url, self.prefixes)):
            segment, under = found
            headers = list(self.scope["headers"])
            handler = partial(under, segment, headers)  # the body comes last
        if (
            handler is None
            or self.parser.get_method() != b"POST"
            or self.root_path
            or self.limit_concurrency is not None
            or self.parser.should_upgrade()
        ):
            super().on_headers_complete()
            return
        http_version = self.parser.get_http_version()
        self.scope["method"] = "POST"
        if http_version != "1.1":
            self.scope["http_version"] = http_version
        self.scope["path"] = self.url.decode("ascii")
        self.scope["raw_path"] = self.url
        existing = self.cycle
        self.cycle = DirectCycle(
            direct=self.direct,
            handler=handler,
            scope=self.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=False,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        app: Any = None  # a direct cycle answers itself
        if existing is None or existing.response_complete:
            self._start_asgi_task(self.cycle, app)
        else:  # pipelined behind an unanswered request: started when that one is answered
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))


class DirectCycle(RequestResponseCycle):
    """One direct request: its body gathered under the limit, its handler's answer written."""

    def __init__(self, *, direct: Direct, handler: Handler, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct = direct
        self.handler = handler

    async def run_asgi(self, app: Any) -> None:
        where = f"POST {self.scope['path']}"
        try:
            try:
                body = await self._read_body()
            except Refused as exc:
                log.info("%s refused: %s", where, exc)
                self._write(*refusal(self.direct.surface, exc, close=True))
                return
            if body is None:
                log.info("%s: the client went away mid-body", where)
                return
            try:
                reply = await self.handler(body)
                DirectProtocol.answered += 1
                self._write(reply.status, reply.headers, reply.body)
            except Exception as exc:
                # One line, no traceback: the reason is for the operator, the refusal for the
                # client (as the boundary answers a route that raised).
                log.warning("%s failed: %s: %s", where, type(exc).__name__, str(exc)[:300])
                if not self.response_started and not self.disconnected:
                    why = f"the request could not be processed ({type(exc).__name__})"
                    refused = Refused(400, "unprocessable", why)
                    self._write(*refusal(self.direct.surface, refused, close=False))
        finally:
            self.on_response = lambda: None  # as uvicorn's: a finished cycle starts nothing

    async def _read_body(self) -> bytes | None:
        """The whole body, or None when the client went away; ``Refused`` as the boundary."""
        limit = self.direct.surface.max_body
        declared = declared_length(self.scope["headers"])
        if declared is not None and declared > limit:
            raise Refused(413, "too_large", f"the body is {declared} bytes; the limit is {limit}")
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        chunks: list[bytes] = []
        total = 0
        while True:
            if self.disconnected:
                return None
            chunk = bytes(self.body)
            self.body.clear()
            total += len(chunk)
            if total > limit:
                raise Refused(413, "too_large", f"the body is over the limit of {limit} bytes")
            if chunk:
                chunks.append(chunk)
            if not self.more_body:
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self.message_event.clear()
            self.flow.resume_reading()
            if not await woken(self.message_event, self.direct.idle_s):
                why = f"no body for {self.direct.idle_s:g} s after {total} bytes"
                raise Refused(408, "timeout", why) from None

    def _write(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if self.disconnected:
            return
        for _, value in headers:
            if HEADER_VALUE_RE.search(value):  # as uvicorn refuses to write one
                raise RuntimeError("Invalid HTTP header value.")
        keep_alive = self.keep_alive and (b"connection", b"close") not in headers
        head = [STATUS_LINE[status]]
        for name, value in self.default_headers:
            head += (name, b": ", value, b"\r\n")
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        if not keep_alive and (b"connection", b"close") not in headers:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", body)
        self.response_started = True
        self.waiting_for_100_continue = False
        self.transport.write(b"".join(head))
        self.response_complete = True
        self.message_event.set()
        if not keep_alive:
            self.keep_alive = False
            self.transport.close()
        self.on_response()
