"""The hub's outbound HTTP: one pooled client for User callbacks and HTTP head-ends.

The outbox posts every Response and alert to its User, and the REST/JSON and SOAP/XML adapters
send every instruction to their head-ends, so a request costs two or three outbound HTTP calls.
They go through ``HttpClient``: HTTP/1.1 over asyncio's own transports (plain TCP or TLS), the
answer read by ``httptools`` (llhttp, in C: the parser uvicorn uses), idle connections kept
per host for the next call. It is this small because it is on the hot path: measured with
``benchmarks/http_client.py`` on this project's 2-core machine, aiohttp cost ~0.2 ms of CPU a
POST and httpx 1 ms, against ~0.05 ms for a hand-written POST on an asyncio stream.

It answers with ``HttpAnswer`` (status, headers, body) and reports trouble as one of three
errors the callers judge by:

- ``Unreachable``: the connection was refused, not accepted in time, or its TLS handshake
  failed (an untrusted certificate); nothing was sent.
- ``Dropped``: the connection broke before a whole answer came; the request may have arrived.
- ``HttpError`` (the base of both): any other trouble, a timeout of the request among them, a
  malformed answer, or a URL it cannot call (not http/https).

What it speaks: a request with its body sent at once (``Content-Length``); an answer of any
length, chunked or ``Content-Length`` or ended by the server closing (then the connection is
not kept); informational 1xx answers skipped; ``Connection: close`` honoured. No redirects,
cookies, proxies or compression (none of its callers wants them) and no HEAD (an answer to
HEAD has no body to read, which llhttp cannot be told). https URLs are verified against the
system's trusted CAs, host name included (``ssl.create_default_context``), unless the caller
gives its own ``ssl.SSLContext``.

Idle connections are closed after ``keepalive_s`` (4 s by default, under the 5 s common on
servers, so that a connection the server is closing is not reused), and one the server closed
is never handed out.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import urlsplit

import httptools

KEEPALIVE_S = 4.0

# Set by the client itself; a caller's own are left out rather than sent twice.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class HttpError(Exception):
    """The request got no HTTP answer."""


class Unreachable(HttpError):
    """The peer refused the connection, or did not accept it in time."""


class Dropped(HttpError):
    """The connection broke before the answer came: the request may have arrived."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: tuple[tuple[str, str], ...]  # names lower-case, in the order received
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a URL's requests go: the pool's key, and what the request line and Host say."""

    tls: bool
    host: str
    port: int
    authority: str  # the Host header
    path: str  # the request target: path and query

    @property
    def key(self) -> tuple[bool, str, int]:
        return self.tls, self.host, self.port


@lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HttpError(f"cannot call {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"cannot call {url!r}: only http and https URLs with a host")
    tls = parts.scheme == "https"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c in path for c in "\r\n ") or any(c in parts.netloc for c in "\r\n "):
        raise HttpError(f"cannot call {url!r}: spaces or line breaks in it")
    authority = parts.netloc.rpartition("@")[2]
    return _Target(tls, parts.hostname, port or (443 if tls else 80), authority, path)


def _head(
    method: str, target: _Target, headers: Iterable[tuple[str, str]], length: int | None
) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.authority}"]
    for name, value in headers:
        if name.lower() in _OWN_HEADERS:
            continue
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise ValueError(f"header {name!r}: line breaks (or a colon in its name)")
        lines.append(f"{name}: {value}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: a request at a time, its answer read by llhttp."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[HttpAnswer] | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._headers_done = False
        self._until_close = False  # the answer's body ends when the server closes
        self.reusable = False

    # ---------------------------------------------------------------- for the client

    def send(self, data: bytes, answer: asyncio.Future[HttpAnswer]) -> None:
        assert self.transport is not None
        self._answer = answer
        self._headers, self._body = [], []
        self._headers_done = self._until_close = self.reusable = False
        self.transport.write(data)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    # ---------------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # nothing was asked: a server talking out of turn is not reused
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        answer = self._answer
        if answer is None or answer.done():
            return
        if self._headers_done and self._until_close:
            self._complete()  # the body ran to the end of the connection
        else:
            why = f": {type(exc).__name__}: {exc}" if exc else ""
            answer.set_exception(Dropped(f"the connection closed before the answer{why}"))

    # ---------------------------------------------------------------- llhttp's callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        status = self.parser.get_status_code()
        framed = any(name in ("content-length", "transfer-encoding") for name, _ in self._headers)
        self._until_close = not framed and status >= 200 and status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:  # 100 Continue and the like: the answer follows
            self._headers, self._body, self._headers_done = [], [], False
            return
        self.reusable = self.parser.should_keep_alive() and not self._until_close
        self._complete()

    def _complete(self) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            status = self.parser.get_status_code()
            answer.set_result(HttpAnswer(status, tuple(self._headers), b"".join(self._body)))

    def _fail(self, error: HttpError) -> None:
        self.close()
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)


class HttpClient:
    """A pooled HTTP/1.1 client (see the module docstring)."""

    def __init__(
        self,
        *,
        timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
        max_connections: int = 100,
        keepalive_s: float = KEEPALIVE_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._ssl = ssl_context
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._slots: asyncio.Semaphore | None = None  # made in the loop that uses it
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        timeout_s: float | None = None,
    ) -> HttpAnswer:
        """Send one request and read the whole answer; ``HttpError`` when none came."""
        if self._closed:
            raise HttpError("the client is closed")
        if method.upper() == "HEAD":
            raise ValueError("HttpClient does not send HEAD requests")
        target = _target(url)
        length = len(body) if body is not None else (None if method in ("GET", "DELETE") else 0)
        data = _head(method, target, headers, length) + (body or b"")
        total = timeout_s if timeout_s is not None else self.timeout_s
        connect = self.connect_timeout_s
        if total is not None:
            connect = total if connect is None else min(connect, total)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        async with self._slots:
            if total is None:
                return await self._exchange(target, data, connect)
            try:
                async with asyncio.timeout(total):
                    return await self._exchange(target, data, connect)
            except TimeoutError as exc:
                raise HttpError(f"no answer in {total} s") from exc

    async def post(
        self, url: str, body: bytes, *, headers: Iterable[tuple[str, str]] = ()
    ) -> HttpAnswer:
        return await self.request("POST", url, headers=headers, body=body)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
        await asyncio.sleep(0)  # let the transports finish closing

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- the pool

    async def _exchange(self, target: _Target, data: bytes, connect: float | None) -> HttpAnswer:
        connection = self._take(target) or await self._connect(target, connect)
        answer: asyncio.Future[HttpAnswer] = asyncio.get_running_loop().create_future()
        try:
            connection.send(data, answer)
            result = await answer
        except BaseException:
            connection.close()  # cancelled or failed mid-exchange: its state is unknown
            raise
        if connection.reusable and not connection.lost and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(target.key, []).append(connection)
            # At most as many kept as may be open: a burst's connections all serve the next.
            if len(self._idle[target.key]) > self.max_connections:
                self._idle[target.key].pop(0).close()
        else:
            connection.close()
        return result

    def _take(self, target: _Target) -> _Connection | None:
        """The most recently used idle connection to ``target`` still open, or None."""
        idle = self._idle.get(target.key)
        if not idle:
            return None
        fresh_since = time.monotonic() - self.keepalive_s
        while idle:
            connection = idle.pop()
            transport = connection.transport
            if connection.lost or transport is None or transport.is_closing():
                continue
            if connection.idle_since < fresh_since:
                # The rest are older still (the list is in the order they came back).
                connection.close()
                for old in idle:
                    old.close()
                idle.clear()
                return None
            return connection
        return None

    async def _connect(self, target: _Target, timeout_s: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        try:
            async with asyncio.timeout(timeout_s):
                _, connection = await loop.create_connection(
                    _Connection,
                    target.host,
                    target.port,
                    ssl=tls,
                    server_hostname=target.host if tls else None,
                )
        except TimeoutError as exc:
            raise Unreachable(f"no connection to {target.authority} in {timeout_s} s") from exc
        except (OSError, ssl.SSLError) as exc:  # refused, no route, no such host, bad certificate
            raise Unreachable(f"{target.authority}: {_why(exc)}") from exc
        return connection


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
