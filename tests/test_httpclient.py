"""The hub's outbound HTTP client against real servers on 127.0.0.1 (raw sockets, and TLS)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opendcc.httpclient import Dropped, HttpClient, HttpError, Unreachable

# Given the request's head and body, what the server writes back; then it closes if told so.
Answer = Callable[[bytes, bytes], Awaitable[tuple[bytes, bool]]]


class RawServer:
    """An HTTP/1.1 server written by hand, so each test says exactly what goes on the wire."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/cb?x=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                data, close = await self.answer(head, body)
                writer.write(data)
                await writer.drain()
                if close:
                    return
        finally:
            writer.close()


def fixed(data: bytes, close: bool = False) -> Answer:
    async def answer(head: bytes, body: bytes) -> tuple[bytes, bool]:
        return data, close

    return answer


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Two: b\r\nX-One: a\r\n\r\nok"


def run(main: Callable[[], Coroutine[None, None, None]]) -> None:
    """Run ``main`` on asyncio's own loop and on uvloop's (the hub's processes use uvloop)."""
    asyncio.run(main())
    uvloop.run(main())


def test_posts_reuse_one_kept_alive_connection_and_send_what_was_asked() -> None:
    async def main() -> None:
        async with RawServer(fixed(OK)) as server, HttpClient(timeout_s=5) as client:
            for n in range(3):
                answer = await client.post(server.url, b"<x>%d</x>" % n, headers=[("A", "b")])
                assert (answer.status, answer.body, answer.ok) == (200, b"ok", True)
                assert answer.headers == (("content-length", "2"), ("x-two", "b"), ("x-one", "a"))
            assert server.connections == 1
            first = server.requests[0]
            assert first.startswith(b"POST /cb?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
            assert b"\r\nA: b\r\n" in first and b"\r\nContent-Length: 8\r\n" in first
            assert first.endswith(b"\r\n\r\n<x>0</x>")

    run(main)


def test_a_chunked_answer_is_read_whole() -> None:
    chunked = (
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
    )

    async def main() -> None:
        async with RawServer(fixed(chunked)) as server, HttpClient(timeout_s=5) as client:
            for _ in range(2):
                answer = await client.post(server.url, b"x")
                assert (answer.status, answer.body) == (202, b"hello world")
            assert server.connections == 1

    run(main)


def test_an_answer_ended_by_closing_is_read_whole_and_its_connection_not_kept() -> None:
    async def main() -> None:
        until_close = fixed(b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * 100_000, close=True)
        async with RawServer(until_close) as server, HttpClient(timeout_s=5) as client:
            for _ in range(2):
                answer = await client.post(server.url, b"x")
                assert answer.body == b"z" * 100_000
            assert server.connections == 2

    run(main)


def test_connection_close_is_honoured() -> None:
    async def main() -> None:
        closing = fixed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        async with RawServer(closing) as server, HttpClient(timeout_s=5) as client:
            for _ in range(3):
                assert (await client.post(server.url, b"x")).status == 200
            assert server.connections == 3

    run(main)


def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    async def main() -> None:
        async with RawServer(fixed(OK, close=True)) as server, HttpClient(timeout_s=5) as c:
            # The answer says nothing of closing: the client learns it from the socket.
            assert (await c.post(server.url, b"x")).status == 200
            await asyncio.sleep(0.05)
            assert (await c.post(server.url, b"x")).status == 200
            assert server.connections == 2

    run(main)


def test_an_idle_connection_past_keepalive_is_not_used_again() -> None:
    async def main() -> None:
        async with RawServer(fixed(OK)) as server:
            async with HttpClient(timeout_s=5, keepalive_s=0.05) as client:
                await client.post(server.url, b"x")
                await asyncio.sleep(0.1)
                await client.post(server.url, b"x")
            assert server.connections == 2

    run(main)


def test_an_informational_answer_is_skipped() -> None:
    async def main() -> None:
        continued = fixed(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
        async with RawServer(continued) as server, HttpClient(timeout_s=5) as client:
            answer = await client.post(server.url, b"x")
            assert (answer.status, answer.body) == (200, b"ok")

    run(main)


def test_an_error_status_is_an_answer_not_an_error() -> None:
    async def main() -> None:
        refused = fixed(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy")
        async with RawServer(refused) as server, HttpClient(timeout_s=5) as client:
            answer = await client.post(server.url, b"x")
            assert (answer.status, answer.ok, answer.body) == (503, False, b"busy")

    run(main)


def test_a_refused_connection_is_unreachable() -> None:
    async def main() -> None:
        async with RawServer(fixed(OK)) as server:
            url = server.url
        await asyncio.sleep(0.05)
        async with HttpClient(timeout_s=5) as client:
            with pytest.raises(Unreachable):
                await client.post(url, b"x")

    run(main)


def test_a_connection_dropped_mid_answer_is_dropped() -> None:
    async def main() -> None:
        cut = fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", close=True)
        async with RawServer(cut) as server, HttpClient(timeout_s=5) as client:
            with pytest.raises(Dropped):
                await client.post(server.url, b"x")
        nothing = fixed(b"", close=True)
        async with RawServer(nothing) as server, HttpClient(timeout_s=5) as client:
            with pytest.raises(Dropped):
                await client.post(server.url, b"x")

    run(main)


def test_no_answer_in_time_is_an_http_error_and_the_connection_is_not_reused() -> None:
    async def main() -> None:
        slow = True

        async def answer(head: bytes, body: bytes) -> tuple[bytes, bool]:
            if slow:
                await asyncio.sleep(1)
            return OK, False

        async with RawServer(answer) as server, HttpClient(timeout_s=0.2) as client:
            with pytest.raises(HttpError) as caught:
                await client.post(server.url, b"x")
            assert not isinstance(caught.value, (Unreachable, Dropped))
            slow = False
            assert (await client.post(server.url, b"x")).status == 200
            assert server.connections == 2

    run(main)


def test_a_malformed_answer_is_an_http_error() -> None:
    async def main() -> None:
        async with RawServer(fixed(b"SMTP ready\r\n\r\n")) as server, HttpClient() as client:
            with pytest.raises(HttpError, match="malformed"):
                await client.post(server.url, b"x")

    run(main)


def test_urls_and_headers_it_cannot_send_are_refused_before_any_connection() -> None:
    async def main() -> None:
        async with HttpClient() as client:
            for url in ("ftp://127.0.0.1/x", "http:///x", "http://h:99999/", "http://h/a b"):
                with pytest.raises(HttpError):
                    await client.post(url, b"x")
            with pytest.raises(ValueError):
                await client.post("http://127.0.0.1:9/", b"x", headers=[("X", "a\r\nB: c")])
        with pytest.raises(HttpError, match="closed"):
            await client.post("http://127.0.0.1:9/", b"x")

    run(main)


# --------------------------------------------------------------------------- TLS


def certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_to_a_trusted_endpoint_works_and_to_an_untrusted_one_is_unreachable(
    tmp_path: Path,
) -> None:
    cert, key = certificate(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        requests: list[bytes] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    requests.append(head + await reader.readexactly(1))
                    writer.write(OK)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=served)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/cb"
        try:
            async with HttpClient(timeout_s=5, ssl_context=trusting) as client:
                for _ in range(2):
                    answer = await client.post(url, b"x")
                    assert (answer.status, answer.body) == (200, b"ok")
            assert len(requests) == 2
            async with HttpClient(timeout_s=5) as default:  # the system's CAs only
                with pytest.raises(Unreachable, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
                    await default.post(url, b"x")
        finally:
            server.close()

    run(main)


def test_a_bursts_connections_all_serve_the_next_burst() -> None:
    async def main() -> None:
        async def answer(head: bytes, body: bytes) -> tuple[bytes, bool]:
            await asyncio.sleep(0.01)  # so the burst's POSTs overlap
            return OK, False

        async with RawServer(answer) as server, HttpClient(timeout_s=5) as client:
            for _ in range(3):
                answers = await asyncio.gather(*(client.post(server.url, b"x") for _ in range(60)))
                assert all(a.status == 200 for a in answers)
            assert server.connections == 60

    run(main)


def test_no_more_connections_than_the_limit_are_open_at_once() -> None:
    async def main() -> None:
        async def answer(head: bytes, body: bytes) -> tuple[bytes, bool]:
            await asyncio.sleep(0.01)
            return OK, False

        async with RawServer(answer) as server:
            async with HttpClient(timeout_s=5, max_connections=4) as client:
                await asyncio.gather(*(client.post(server.url, b"x") for _ in range(20)))
            assert server.connections == 4

    run(main)
