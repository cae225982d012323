"""The floors the front-door benchmark reports its figures beside, measured in the same run.

What the hub cannot go below on this machine, per request: one ECDSA P-256 verify (the User's
signature), the XMLDSig verify of a real signed request (parse, C14N, digest, ECDSA), the CPU a
raw HTTP/1.1 server spends on one POST of the same body, and what SQLite (WAL,
``synchronous=FULL``) does with rows like the front door's when they are written with
``executemany``, 64 to a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.duis.request import parse_request
from opendcc.duis.xmldsig import USER_SIGNED, SignerPolicy, verify
from opendcc.smki import TrustStore

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Floors:
    ecdsa_verify_us: float
    xml_verify_us: float
    http_post_cpu_us: float
    sqlite_rows_per_s: float
    sqlite_commit_ms: float  # one commit of 64 requests' rows (4 rows each), fsync included

    @property
    def per_request_ms(self) -> float:
        """The CPU floor of one accepted request at the front door: verify, HTTP, its rows."""
        rows = 4 / self.sqlite_rows_per_s * 1e3
        return (self.xml_verify_us + self.http_post_cpu_us) / 1e3 + rows

    def lines(self) -> list[tuple[str, str]]:
        return [
            ("floor: ECDSA P-256 verify", f"{self.ecdsa_verify_us:,.0f} µs"),
            ("floor: XMLDSig verify of a signed request", f"{self.xml_verify_us:,.0f} µs"),
            ("floor: raw HTTP/1.1 server CPU per POST", f"{self.http_post_cpu_us:,.0f} µs"),
            (
                "floor: SQLite executemany, 64 requests/commit",
                f"{self.sqlite_rows_per_s:,.0f} rows/s",
            ),
            ("floor: SQLite one such commit (fsync)", f"{self.sqlite_commit_ms:.2f} ms"),
            ("floor: front door CPU per request", f"{self.per_request_ms:.2f} ms"),
        ]


def _per_call(call: Callable[[], object], count: int) -> float:
    call()
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count * 1e6


def ecdsa_verify_us(count: int = 2000) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    data = b"x" * 512
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    return _per_call(lambda: public.verify(signature, data, ec.ECDSA(hashes.SHA256())), count)


def xml_verify_us(body: bytes, trust: TrustStore, count: int = 500) -> float:
    now = datetime.now(UTC)

    def once() -> None:
        request = parse_request(body)
        policy = SignerPolicy(USER_SIGNED, request.request_id.originator)
        verify(request.document.getroot(), trust, policy, now)

    return _per_call(once, count)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def http_post_cpu_us(
    url: str, pid: int, body: bytes, count: int = 2000, concurrency: int = 16
) -> float:
    """CPU of the raw HTTP server process (``pid``, at ``url``) per POST of ``body``."""

    async def drive() -> None:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:
            todo = iter(range(count))

            async def worker() -> None:
                for i in todo:
                    headers = {"X-DCC-Message-ID": f"floor-{i}"}
                    await client.post(url, content=body, headers=headers)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    before = _cpu(pid)
    asyncio.run(drive())
    return (_cpu(pid) - before) / count * 1e6


def sqlite_floor(requests: int = 6400, per_commit: int = 64) -> tuple[float, float]:
    """Rows/s and ms per commit: each request as its row, two history rows and an audit row."""
    with tempfile.TemporaryDirectory(prefix="floor-") as directory:
        db = sqlite3.connect(Path(directory) / "floor.db", isolation_level=None)
        with contextlib.closing(db):
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(
                "CREATE TABLE r (id TEXT PRIMARY KEY, originator TEXT, counter TEXT, srv TEXT,"
                " state TEXT, at TEXT, document BLOB)"
            )
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, rid TEXT, target TEXT, at TEXT)")
            db.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, rid TEXT, chain TEXT, at TEXT)")
            document = b"x" * 3700
            start = time.perf_counter()
            for batch in range(0, requests, per_commit):
                ids = [f"90-B3-D5-1F-30-01-00-00:{n}" for n in range(batch, batch + per_commit)]
                at = datetime.now(UTC).isoformat()
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(i, "u", i[-8:], "4.1.1", "accepted", at, document) for i in ids],
                )
                db.executemany(
                    "INSERT INTO t (rid, target, at) VALUES (?, ?, ?)",
                    [(i, s, at) for i in ids for s in ("received", "accepted")],
                )
                db.executemany(
                    "INSERT INTO a (rid, chain, at) VALUES (?, ?, ?)",
                    [(i, "c" * 64, at) for i in ids],
                )
                db.execute("COMMIT")
            elapsed = time.perf_counter() - start
    rows = requests * 4
    return rows / elapsed, elapsed / (requests / per_commit) * 1e3


def measure(body: bytes, trust: TrustStore, http_url: str, http_pid: int) -> Floors:
    rows_per_s, commit_ms = sqlite_floor()
    return Floors(
        ecdsa_verify_us(),
        xml_verify_us(body, trust),
        http_post_cpu_us(http_url, http_pid, body),
        rows_per_s,
        commit_ms,
    )
