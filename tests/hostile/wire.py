"""Raw HTTP/1.1 on a socket, for what ordinary clients will not send: bodies of any size, chunked
or not, sent while the answer is watched for, and uploads that stall or stop half-way."""

from __future__ import annotations

import resource
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Exchange:
    status: int | None  # None: the hub answered nothing before the connection ended
    head: bytes
    sent: int  # body bytes the hub took before it answered


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _status(head: bytes) -> int | None:
    first = head.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else None


def flood(
    url: str,
    path: str,
    *,
    total: int,
    chunked: bool = True,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    chunk: int = MIB,
    timeout: float = 60.0,
) -> Exchange:
    """Send up to ``total`` body bytes (chunked, or with a truthful Content-Length), stopping
    as soon as the hub answers; the answer's status line and headers."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {url.removeprefix('http://')}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    piece = b"<" * chunk
    framed = f"{chunk:x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    received = b""
    deadline = time.monotonic() + timeout
    with socket.create_connection(_address(url), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while sent < total and time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(framed)
                sent += chunk
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while b"\r\n\r\n" not in received and time.monotonic() < deadline:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except (ConnectionResetError, TimeoutError):
            pass
    head = received.split(b"\r\n\r\n", 1)[0]
    return Exchange(_status(head), head, sent)


def stall(url: str, path: str, *, declared: int, send: int) -> socket.socket:
    """Open an upload that declares ``declared`` bytes, send ``send`` of them, and stop: the
    open socket (close it to abort the upload, as a client that goes away)."""
    sock = socket.create_connection(_address(url), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n"
    sock.sendall(head.encode() + b"<" * send)
    return sock


def rss_bytes(pid: int) -> int:
    """A process's resident set size now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def own_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
