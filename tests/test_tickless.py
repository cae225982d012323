"""uvicorn without its tenth-of-a-second tick (``opendcc.tickless``), over real sockets: an idle
server never wakes on a timer (once a second with a Date header), and it still stops at once,
gracefully, whether told by ``should_exit``, by another thread or by its signal handler."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from opendcc.s1sp.transports.http import HttpListener
from opendcc.tickless import TicklessServer


async def _hello(_request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/", _hello)])


class _Counted(TicklessServer):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ticks = 0

    async def on_tick(self, counter: int) -> bool:
        self.ticks += 1
        return await super().on_tick(counter)


class _Signalled(_Counted):
    """Its exit handler on SIGUSR1, a real signal; not raised again afterwards (uvicorn's own
    raises SIGTERM again once stopped, which would end the test run)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        before = signal.signal(signal.SIGUSR1, self.handle_exit)
        try:
            yield
        finally:
            signal.signal(signal.SIGUSR1, before)


def _bound() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _config(*, date_header: bool) -> uvicorn.Config:
    return uvicorn.Config(
        APP, log_config=None, lifespan="off", date_header=date_header, timeout_graceful_shutdown=1
    )


async def _serving(server: TicklessServer, sock: socket.socket) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.005)
    return task


def test_without_a_date_header_an_idle_server_never_wakes_and_stops_at_once() -> None:
    async def scenario() -> None:
        sock = _bound()
        server = _Counted(_config(date_header=False))
        task = await _serving(server, sock)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).text == "hello"
        await asyncio.sleep(0.6)  # uvicorn's own loop would tick six times here
        assert server.ticks == 1
        stopped = time.monotonic()
        server.should_exit = True
        await asyncio.wait_for(task, 2)
        assert time.monotonic() - stopped < 1.5  # shutdown's own 0.1 s pause, no tick
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as client:
                await client.get(url)

    asyncio.run(scenario())


def test_with_a_date_header_it_wakes_once_a_second_and_the_date_stays_current() -> None:
    async def scenario() -> None:
        sock = _bound()
        server = _Counted(_config(date_header=True))
        task = await _serving(server, sock)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        try:
            await asyncio.sleep(2.2)
            assert 2 <= server.ticks <= 4  # uvicorn's own: 23
            async with httpx.AsyncClient() as client:
                date = (await client.get(url)).headers["date"]
            sent = email.utils.parsedate_to_datetime(date).timestamp()
            assert abs(time.time() - sent) <= 2.0
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 2)

    asyncio.run(scenario())


def test_told_to_exit_from_another_thread_or_by_its_signal_handler_it_stops_at_once() -> None:
    async def scenario(tell: str) -> None:
        sock = _bound()
        server = _Signalled(_config(date_header=False))
        task = await _serving(server, sock)
        await asyncio.sleep(0.3)  # waiting, with no timer
        stopped = time.monotonic()
        if tell == "thread":
            threading.Thread(target=setattr, args=(server, "should_exit", True)).start()
        else:
            os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(task, 2)
        assert time.monotonic() - stopped < 1.5
        assert server.ticks == 2  # at the start, and once told

    asyncio.run(scenario("thread"))
    asyncio.run(scenario("signal"))


def test_the_listener_stops_and_starts_again_on_its_port() -> None:
    async def scenario() -> None:
        listener = HttpListener(APP)
        await listener.start()
        port = listener.port
        async with httpx.AsyncClient() as client:
            assert (await client.get(listener.base_url)).text == "hello"
        stopped = time.monotonic()
        await listener.stop()
        assert time.monotonic() - stopped < 1.5
        await listener.start()
        try:
            assert listener.port == port
            async with httpx.AsyncClient() as client:
                assert (await client.get(listener.base_url)).text == "hello"
        finally:
            await listener.stop()

    asyncio.run(scenario())
