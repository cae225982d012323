"""What the simulated head-ends that speak HTTP (REST/JSON, SOAP/XML) share.

``HttpHeadEnd`` puts a ``HeadEndCore`` behind an ASGI (Starlette) app that an ``HttpListener``
(``opendcc.s1sp.transports.http``: uvicorn in the running event loop) serves. ``start`` listens
(port 0 picks a free port), ``go_down`` stops listening and closes every connection (new
connections are refused), ``come_up`` listens again on the same port and ``aclose`` goes down for
good; while it listens it carries out the held future-dated commands as they fall due
(``Releaser``). It also gives the alerts the head-end sends their ids: unique across restarts of the
simulator (a random prefix per head-end, then a serial number), since clients de-duplicate by
them.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from typing import TypeVar

from starlette.types import ASGIApp

from opendcc.s1sp.transports.http import HttpListener
from opendcc.sim.headends.core import HeadEndCore, PushedAlert, Releaser

WireAlert = TypeVar("WireAlert")


class HttpHeadEnd:
    """A ``HeadEndCore`` behind an ASGI app on an in-process uvicorn."""

    def __init__(self, core: HeadEndCore, app: ASGIApp, host: str, port: int) -> None:
        self.core = core
        self._listener = HttpListener(app, host, port)
        self._alert_prefix = secrets.token_hex(4)
        self._alert_serial = itertools.count(1)
        self._releaser = Releaser(core)

    @property
    def host(self) -> str:
        return self._listener.host

    @property
    def port(self) -> int:
        return self._listener.port

    @property
    def endpoint(self) -> str:
        return self._listener.base_url

    async def start(self) -> None:
        await self._listener.start()
        self._releaser.start()

    async def go_down(self) -> None:
        """Stop listening and close every connection: new connections are refused."""
        await self._releaser.stop()
        await self._listener.stop()

    async def come_up(self) -> None:
        """Listen again, on the same port."""
        await self.start()

    async def aclose(self) -> None:
        await self.go_down()

    def _wire_alert(self, alert_type: Callable[..., WireAlert], pushed: PushedAlert) -> WireAlert:
        """``pushed`` as the protocol's alert, with a fresh alert id; ``ValueError`` if the wire
        cannot carry it."""
        return alert_type(
            alert_id=f"{self._alert_prefix}-{next(self._alert_serial)}",
            device=pushed.device,
            code=pushed.code,
            raised_at=pushed.raised_at,
            values=pushed.values,
        )
