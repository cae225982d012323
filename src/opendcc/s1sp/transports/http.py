"""HTTP serving the HTTP-based adapters and the simulated HTTP head-ends share.

``HttpListener`` serves an ASGI (Starlette) app on uvicorn inside the running event loop: the
REST/JSON adapter's listener for callbacks and alerts, and the simulated REST/JSON and SOAP/XML
head-ends (``opendcc.sim.headends``), which stop and start it to go down and come up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from opendcc.httpserver import Direct
from opendcc.tickless import TicklessServer

log = logging.getLogger(__name__)


class _EmbeddedServer(TicklessServer):
    """A uvicorn server that leaves the process's signal handlers alone: it is a guest. Without
    a Date header it never wakes on a timer (``tickless``): an idle listener costs nothing."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpListener:
    """An ASGI app served by uvicorn in the running event loop, on a socket bound up front.

    Binding first makes the port known at once (port 0 picks a free one); ``stop`` then
    ``start`` listens again on the same port. The simulated HTTP head-ends serve through it too.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        direct: Direct | None = None,
    ) -> None:
        self.app = app
        self.direct = direct  # POSTs the protocol answers itself, without ASGI (httpserver)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen (again); ``OSError`` if the address cannot be bound."""
        if self._task is not None:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)  # connections queue from now on, before uvicorn accepts them
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            # Loopback peers and no proxy: no X-Forwarded-* rewriting, no Server/Date headers
            # (a middleware and two headers less on every callback a head-end sends).
            proxy_headers=False,
            server_header=False,
            date_header=False,
            http=self.direct.protocol() if self.direct is not None else "auto",
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self._server, self._task = server, task
        while not server.started and not task.done():
            await asyncio.sleep(0.001)
        if task.done():
            self._server = self._task = None
            sock.close()
            task.result()  # its failure, if it failed
            raise OSError(f"the listener on {self.base_url} stopped at once")

    async def stop(self, *, abort: bool = False) -> None:
        """Stop listening and close every connection; new connections are refused.

        Answers under way get a second to finish, unless ``abort``: then every connection is
        dropped at once, answers under way included, as when a server crashes (the handlers
        still running get a second to finish before they are cancelled; their answers go
        nowhere).
        """
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        if abort:
            await _abort(server, task)
            return
        server.should_exit = True
        try:
            await task
        except Exception:
            log.exception("the listener on %s failed while stopping", self.base_url)


async def _abort(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    for listening in server.servers:
        listening.close()
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.abort()
    serving.cancel()  # no graceful shutdown: uvicorn's wait for its exit ends here
    await asyncio.gather(serving, return_exceptions=True)
    handlers = list(server.server_state.tasks)
    if handlers:
        _, stragglers = await asyncio.wait(handlers, timeout=1.0)
        for handler in stragglers:
            handler.cancel()
    for listening in server.servers:
        await listening.wait_closed()
