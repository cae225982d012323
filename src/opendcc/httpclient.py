"""The hub's outbound HTTP: one pooled client for User callbacks and HTTP head-ends.

The outbox posts every Response and alert to its User, and the REST/JSON and SOAP/XML adapters
send every instruction to their head-ends, so a request costs two or three outbound HTTP calls.
They go through ``HttpClient``, a thin layer over aiohttp (measured on this project's 2-core
machine: about 0.1 ms of CPU a POST, against 2.2 ms for the same POST through httpx).

It answers with ``HttpAnswer`` (status, headers, body) and turns aiohttp's many exception
classes into the three the callers judge by:

- ``Unreachable``: the connection was refused, or not accepted in time; nothing was sent.
- ``Dropped``: the connection broke before an answer came; the request may have arrived.
- ``HttpError`` (the base of both): any other trouble, a timeout of the request among them.

The session is made on first use, inside the running event loop, as aiohttp wants. Idle
connections are closed after ``keepalive_s`` (4 s by default, under the 5 s common on servers,
so that a connection the server is closing is not reused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp

KEEPALIVE_S = 4.0


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


class HttpClient:
    """A pooled HTTP/1.1 client (see the module docstring)."""

    def __init__(
        self,
        *,
        timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
        max_connections: int = 100,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise HttpError("the client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections, keepalive_timeout=self.keepalive_s
            )
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

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
        total = timeout_s if timeout_s is not None else self.timeout_s
        connect = self.connect_timeout_s
        if total is not None and connect is not None:
            connect = min(connect, total)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect)
        try:
            async with self._open().request(
                method, url, headers=list(headers), data=body, timeout=timeout
            ) as response:
                content = await response.read()
                received = tuple((name.lower(), value) for name, value in response.headers.items())
                return HttpAnswer(response.status, received, content)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise Unreachable(_why(exc)) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise Dropped(_why(exc)) from exc
        except aiohttp.ClientPayloadError as exc:
            raise Dropped(_why(exc)) from exc
        except aiohttp.ClientError as exc:
            raise HttpError(_why(exc)) from exc
        except TimeoutError as exc:  # aiohttp's own deadline (an outer one cancels instead)
            raise HttpError(f"no answer in {total} s") from exc

    async def post(
        self, url: str, body: bytes, *, headers: Iterable[tuple[str, str]] = ()
    ) -> HttpAnswer:
        return await self.request("POST", url, headers=headers, body=body)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            await asyncio.sleep(0)  # let the connector's transports finish closing

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
