"""Outbound HTTP: the CPU one POST costs the hub, through its client and through httpx.

The hub posts every Response and alert to its User and sends every REST/JSON and SOAP/XML
instruction to a head-end, so the client's CPU per POST is paid two or three times a request
(docs/time.md, src/opendcc/httpclient.py). This measures, in this process only, the CPU time
(``time.process_time``) of sequential keep-alive POSTs of a signed-Response-sized body to a
server in another process on 127.0.0.1:

- ``floor``: a hand-written HTTP/1.1 POST over one asyncio stream, the least a POST can cost a
  Python event loop (no header parsing beyond Content-Length);
- ``HttpClient``: ``opendcc.httpclient.HttpClient`` (asyncio transports and httptools' llhttp),
  what the hub uses;
- ``aiohttp``: an ``aiohttp.ClientSession``, what ``HttpClient`` was built on before;
- ``httpx``: ``httpx.AsyncClient``, what the hub used before.

Run with:

    .venv/bin/python benchmarks/http_client.py [--posts 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from aiohttp import web

from opendcc.httpclient import HttpClient

BODY = b"<sr:Response>" + b"x" * 4000 + b"</sr:Response>"  # about a signed DUIS Response
HEADERS = [("Content-Type", "application/xml")]


def serve(port: int) -> None:
    """The User's endpoint: takes the POST, answers 200 with a short body."""

    async def take(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", take)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def floor(url: str, posts: int) -> float:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode()

    async def post() -> None:
        writer.write(head + BODY)
        headers = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in headers.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)

    cpu = await _cpu_per_post(post, posts)
    writer.close()
    await writer.wait_closed()
    return cpu


async def hub_client(url: str, posts: int) -> float:
    async with HttpClient(timeout_s=10) as client:

        async def post() -> None:
            answer = await client.post(url, BODY, headers=HEADERS)
            assert answer.status == 200

        return await _cpu_per_post(post, posts)


async def aiohttp_client(url: str, posts: int) -> float:
    async with aiohttp.ClientSession() as session:

        async def post() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as answer:
                await answer.read()
                assert answer.status == 200

        return await _cpu_per_post(post, posts)


async def httpx_client(url: str, posts: int) -> float:
    async with httpx.AsyncClient(timeout=10) as client:

        async def post() -> None:
            answer = await client.post(url, content=BODY, headers=HEADERS)
            assert answer.status_code == 200

        return await _cpu_per_post(post, posts)


async def _cpu_per_post(post: Callable[[], Awaitable[None]], posts: int) -> float:
    """Milliseconds of this process's CPU per POST, after a short warm-up."""
    for _ in range(50):
        await post()
    start = time.process_time()
    for _ in range(posts):
        await post()
    return (time.process_time() - start) * 1000 / posts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the benchmark server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000, help="POSTs per client")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        _wait_for(port)
        url = f"http://127.0.0.1:{port}/"
        print(
            f"CPU per POST of {len(BODY):,} bytes, {args.posts:,} sequential keep-alive POSTs "
            f"to 127.0.0.1 ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()})"
        )
        print(f"{'client':<12}{'CPU ms/POST':>12}")
        clients = [
            ("floor", floor),
            ("HttpClient", hub_client),
            ("aiohttp", aiohttp_client),
            ("httpx", httpx_client),
        ]
        for name, run in clients:
            print(f"{name:<12}{asyncio.run(run(url, args.posts)):>12.3f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
