"""``httpserver`` over real sockets: uvicorn on 127.0.0.1 with a table of direct routes and
an ASGI app for the rest; raw HTTP/1.1 written and read by hand (keep-alive, pipelining,
``Connection: close``, HTTP/1.0, Expect, oversize and slow bodies, malformed requests, handlers
that raise, concurrent connections)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn

from opendcc.gateway.boundary import Surface
from opendcc.httpserver import Direct, DirectProtocol, Reply

LIMIT = 1000
IDLE_S = 0.3


async def echo(body: bytes) -> Reply:
    if body.startswith(b"slow"):
        await asyncio.sleep(0.2)  # answered after the requests pipelined behind it start
    out = b"echo:" + body
    headers = [(b"content-length", str(len(out)).encode()), (b"content-type", b"text/plain")]
    return Reply(200, headers, out)


async def boom(body: bytes) -> Reply:
    raise ValueError("the handler failed")


async def bad_header(body: bytes) -> Reply:
    return Reply(200, [(b"content-length", b"0"), (b"x-reason", b"a\r\nset-cookie: x")], b"")


async def asgi(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    if scope["type"] != "http":
        return
    body = f"asgi:{scope['method']} {scope['path']}".encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    direct = Direct(
        {"/echo": echo, "/boom": boom, "/bad": bad_header},
        Surface("test", "/", LIMIT, json=False),
        IDLE_S,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(
        asgi, http=direct.protocol(), log_level="warning", access_log=False, lifespan="off"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(uv.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield sock.getsockname()
    uv.should_exit = True
    thread.join(10)


def connect(server: tuple[str, int]) -> socket.socket:
    return socket.create_connection(server, timeout=5)


def post(path: str, body: bytes, *extra: str, version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: t", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def read_answer(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[bytes, bytes], bytes]:
    """One response off ``sock`` (``buffer`` keeps what follows it)."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before an answer")
        buffer += data
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.lower()] = value.strip()
    if status == 100:
        buffer[:] = rest
        return status, headers, b""
    length = int(headers.get(b"content-length", b"0"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed mid-body")
        rest += data
    buffer[:] = rest[length:]
    return status, headers, rest[:length]


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return True


def test_keep_alive_answers_each_post_on_one_connection(server: tuple[str, int]) -> None:
    before = DirectProtocol.answered
    buffer = bytearray()
    with connect(server) as sock:
        for i in range(3):
            sock.sendall(post("/echo", f"hello {i}".encode()))
            status, headers, body = read_answer(sock, buffer)
            assert (status, body) == (200, f"echo:hello {i}".encode())
            assert headers[b"content-type"] == b"text/plain"
            assert b"connection" not in headers
            assert b"date" in headers  # uvicorn's default headers, as on every other answer
    assert DirectProtocol.answered == before + 3


def test_pipelined_requests_are_answered_in_order(server: tuple[str, int]) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(post("/echo", b"slow one") + post("/echo", b"two") + post("/x", b"three"))
        answers = [read_answer(sock, buffer) for _ in range(3)]
    assert [body for _, _, body in answers] == [b"echo:slow one", b"echo:two", b"asgi:POST /x"]


def test_connection_close_and_http_1_0_close_after_the_answer(server: tuple[str, int]) -> None:
    for request in (post("/echo", b"a", "Connection: close"), post("/echo", b"b", version="1.0")):
        buffer = bytearray()
        with connect(server) as sock:
            sock.sendall(request)
            status, headers, body = read_answer(sock, buffer)
            assert status == 200 and body.startswith(b"echo:")
            assert headers[b"connection"] == b"close"
            assert closed(sock)


def test_other_methods_paths_and_query_strings_go_to_the_app(server: tuple[str, int]) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_answer(sock, buffer)[2] == b"asgi:GET /echo"
        sock.sendall(post("/echo?x=1", b"q"))
        assert read_answer(sock, buffer)[2] == b"asgi:POST /echo"
        sock.sendall(post("/echo/", b"q"))
        assert read_answer(sock, buffer)[2] == b"asgi:POST /echo/"


def test_a_declared_length_over_the_limit_is_refused_before_continue(
    server: tuple[str, int],
) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {LIMIT + 1}\r\n\r\n".encode()
        )
        status, headers, body = read_answer(sock, buffer)
        assert status == 413
        assert headers[b"connection"] == b"close"
        assert body == f"the body is {LIMIT + 1} bytes; the limit is {LIMIT}\n".encode()
        assert headers[b"x-opendcc-reason"] == body.strip()
        assert closed(sock)


def test_expect_continue_within_the_limit_is_continued(server: tuple[str, int]) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n")
        sock.sendall(b"Content-Length: 4\r\n\r\n")
        assert read_answer(sock, buffer)[0] == 100
        sock.sendall(b"body")
        assert read_answer(sock, buffer)[2] == b"echo:body"


def test_at_the_limit_is_taken_and_a_chunked_body_past_it_refused(
    server: tuple[str, int],
) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(post("/echo", b"x" * LIMIT))
        status, _, body = read_answer(sock, buffer)
        assert (status, len(body)) == (200, LIMIT + 5)
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            sock.sendall(b"190\r\n" + b"y" * 400 + b"\r\n")  # 1,200 bytes in all
        status, headers, body = read_answer(sock, buffer)
        assert status == 413
        assert body == f"the body is over the limit of {LIMIT} bytes\n".encode()
        assert headers[b"connection"] == b"close"


def test_a_chunked_body_within_the_limit_is_gathered(server: tuple[str, int]) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"3\r\nabc\r\n")
        time.sleep(0.05)  # in two reads
        sock.sendall(b"2\r\nde\r\n0\r\n\r\n")
        assert read_answer(sock, buffer)[2] == b"echo:abcde"


def test_a_stalled_body_is_answered_408_and_closed(server: tuple[str, int]) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        started = time.monotonic()
        status, headers, body = read_answer(sock, buffer)
        assert status == 408
        assert time.monotonic() - started >= IDLE_S * 0.9
        assert body == b"no body for 0.3 s after 3 bytes\n"
        assert headers[b"connection"] == b"close"
        assert closed(sock)


def test_malformed_http_is_refused_400(server: tuple[str, int]) -> None:
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: x1\r\n\r\n")
        status, headers, _ = read_answer(sock, buffer)
        assert status == 400 and headers[b"connection"] == b"close"
    buffer = bytearray()
    with connect(server) as sock:  # a length no real body has: the boundary's own refusal
        sock.sendall(post("/echo", b"").replace(b"Length: 0", b"Length: " + b"9" * 19))
        status, _, body = read_answer(sock, buffer)
        assert (status, body) == (400, b"Content-Length is not a length\n")


def test_a_handler_that_raises_is_answered_400_and_the_connection_kept(
    server: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    buffer = bytearray()
    with caplog.at_level(logging.INFO, "opendcc.httpserver"), connect(server) as sock:
        for path in ("/boom", "/bad"):  # a header value that would split the response: refused
            sock.sendall(post(path, b"x"))
            status, headers, body = read_answer(sock, buffer)
            assert status == 400
            assert body.startswith(b"the request could not be processed (")
            assert b"set-cookie" not in headers
        sock.sendall(post("/echo", b"after"))
        assert read_answer(sock, buffer)[2] == b"echo:after"
    failed = [r.getMessage().split(":")[0] for r in caplog.records]
    assert failed == ["POST /boom failed", "POST /bad failed"]


def test_a_client_gone_mid_body_costs_a_line_and_nothing_else(
    server: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "opendcc.httpserver"):
        with connect(server) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab")
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [r.getMessage() for r in caplog.records] == ["POST /echo: the client went away mid-body"]
    buffer = bytearray()
    with connect(server) as sock:
        sock.sendall(post("/echo", b"still here"))
        assert read_answer(sock, buffer)[2] == b"echo:still here"


def test_concurrent_connections_each_get_their_own_answers(server: tuple[str, int]) -> None:
    def client(n: int) -> list[bytes]:
        buffer = bytearray()
        with connect(server) as sock:
            out = []
            for i in range(20):
                sock.sendall(post("/echo", f"{n}-{i}".encode()))
                out.append(read_answer(sock, buffer)[2])
            return out

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(client, range(16)))
    assert results == [[f"echo:{n}-{i}".encode() for i in range(20)] for n in range(16)]
