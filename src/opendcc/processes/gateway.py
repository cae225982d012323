"""The gateway process: the HTTP front door (``opendcc.gateway.app``) over a hub that only
accepts: device requests are committed with their jobs and left to the workers (in scale mode
this process also publishes them to the broker). Stateless: any number may run, on one port
(SO_REUSEPORT, the kernel spreads connections) or each on its own."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from opendcc.config import HubConfig
from opendcc.hub import Hub, Role
from opendcc.processes.run import setup_logging
from opendcc.processes.wake import Wakes

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette


def listening(host: str, port: int) -> socket.socket:
    """A socket other gateways may bind too (SO_REUSEPORT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(
    config: HubConfig, port: int | None = None, fd: int | None = None, wakes: Wakes | None = None
) -> None:
    from opendcc.gateway.app import create_app
    from opendcc.tickless import TicklessServer

    setup_logging()
    hub = Hub(config, roles=frozenset({Role.GATEWAY}))
    hub.wakes = wakes  # its accepts wake the workers; its alerts, the deliverer
    # Under ``opendcc serve`` the supervisor holds the one listening socket and each gateway
    # inherits it: binding once means no port is ever looked for again (nor lost to another
    # process between a look and a bind), and a restarted gateway takes up the same socket.
    if fd is not None:
        sock = socket.socket(fileno=fd)
    else:
        sock = listening(config.host, port if port is not None else config.port)
    TicklessServer(server_config(create_app(hub))).run(sockets=[sock])


def server_config(app: Starlette) -> uvicorn.Config:
    """uvicorn for the gateway's app: the DUIS POSTs answered by the HTTP protocol itself
    (``httpserver``: the app's ``state.direct``), everything else by the app."""
    import uvicorn

    return uvicorn.Config(
        app, http=app.state.direct.protocol(), log_level="warning", access_log=False, lifespan="on"
    )
