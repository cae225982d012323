"""Bodies too large, sent chunked or with a Content-Length, and uploads that stall or stop,
against a running hub over real sockets: every surface answers 413 while the body is still
coming, the hub's memory does not grow with it, nothing is stored, and an aborted upload costs
one log line, not a traceback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from opendcc.gateway.boundary import SURFACES
from opendcc.prepayment.registers import Kind, Registers
from opendcc.sim import scenario
from tests.gateway.harness import Estate, estate
from tests.hostile.rig import changed, table_counts
from tests.hostile.wire import MIB, flood, rss_bytes, stall
from tests.reference import NOW

FLOOD = 128 * MIB
RSS_BOUND = 32 * MIB  # the most the hub's memory may grow over a flood of FLOOD bytes
METER = scenario.METERS[0].device_id


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(tmp_path_factory.mktemp("floods")) as running:
        yield running


@pytest.fixture(scope="module")
def bearer(hub: Estate) -> dict[str, str]:
    registers = Registers(hub.engine)
    key = registers.make_key(str(scenario.SUPPLIER), Kind.SUPPLIER, NOW)
    return {"Authorization": f"Bearer {key}"}


ROUTES = [
    ("POST", "/api/v1/serviceS"),
    ("POST", "/api/v1/serviceD"),
    ("POST", "/utrn/v1/utrns"),
    ("PUT", "/utrn/v1/pans/9826000000000000025"),
    ("PUT", f"/admin/v1/devices/{METER}/restriction"),
    ("GET", "/admin/v1/devices"),
    ("GET", "/health"),
    ("POST", "/no/such/route"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_a_chunked_flood_is_refused_while_it_streams(
    hub: Estate, bearer: dict[str, str], method: str, path: str
) -> None:
    pid = hub.hub.popen.pid
    before, rss = table_counts(hub.engine), rss_bytes(pid)
    answer = flood(hub.hub.url, path, total=FLOOD, method=method, headers=bearer)
    grown = rss_bytes(pid) - rss
    print(f"{method} {path}: 413 after {answer.sent / MIB:.0f} MiB, RSS +{grown / MIB:.1f} MiB")
    assert answer.status == 413, answer.head
    assert answer.sent < FLOOD / 4, "the hub read on long after the limit"
    assert grown < RSS_BOUND, f"the hub grew by {grown / MIB:.1f} MiB"
    assert changed(before, table_counts(hub.engine), allowed=()) == {}


@pytest.mark.parametrize("surface", SURFACES, ids=[s.name for s in SURFACES])
def test_a_declared_length_over_the_limit_is_refused_before_reading(
    hub: Estate, bearer: dict[str, str], surface: object
) -> None:
    from opendcc.gateway.boundary import Surface

    assert isinstance(surface, Surface)
    path = {
        "DUIS": "/api/v1/serviceS",
        "UTRN service": "/utrn/v1/utrns",
        "SSI": "/ssi/login",
    }.get(surface.name, "/admin/v1/devices")
    answer = flood(hub.hub.url, path, total=200 * MIB, chunked=False, headers=bearer)
    assert answer.status == 413, answer.head
    # Just over the limit is refused too; at the limit is read (and refused for what it is).
    over = flood(hub.hub.url, path, total=surface.max_body + 1, chunked=False, chunk=1024)
    assert over.status == 413
    at = flood(hub.hub.url, path, total=surface.max_body, chunked=False, chunk=1024)
    assert at.status is not None and 400 <= at.status < 500 and at.status != 413, at.head


def test_stalled_and_aborted_uploads_cost_one_line_each(hub: Estate) -> None:
    log = hub.hub.log
    assert log is not None
    size = log.stat().st_size
    sockets = [stall(hub.hub.url, "/api/v1/serviceS", declared=MIB, send=1024) for _ in range(50)]
    sockets += [stall(hub.hub.url, "/utrn/v1/utrns", declared=8192, send=10) for _ in range(50)]
    time.sleep(0.5)
    # Stalled uploads hold no worker: the hub answers others meanwhile.
    assert flood(hub.hub.url, "/health", total=0, method="GET", chunked=False).status == 200
    for sock in sockets:
        sock.close()
    deadline = time.monotonic() + 10
    written = ""
    while time.monotonic() < deadline:
        with open(log, encoding="utf-8", errors="replace") as text:
            text.seek(size)
            written = text.read()
        if written.count("went away mid-body") >= len(sockets):
            break
        time.sleep(0.2)
    assert "Traceback" not in written
    assert "ClientDisconnect" not in written
    assert written.count("went away mid-body") == len(sockets)
    assert len(written.splitlines()) == len(sockets), written[-2000:]


def _invented_names(round_: int, size: int) -> bytes:
    """A well-formed document of ``size`` bytes whose every element name is new."""
    names = (f"<n{round_:05d}x{i:08d}{'q' * 39}/>" for i in range(size // 64))
    return b"<r>" + "".join(names).encode() + b"</r>"


def test_invented_names_do_not_pile_up(hub: Estate) -> None:
    # lxml keeps every name it parses for the life of the parsing thread: without recycling the
    # front door's threads, 125 MiB of invented names would stay in the hub for ever (measured:
    # +160 MiB without, +65 MiB with, on the same run).
    pid = hub.hub.popen.pid
    before = rss_bytes(pid)
    for round_ in range(2000):
        answer = hub.post("serviceS", _invented_names(round_, 64 * 1024))
        assert answer.status_code == 400
    grown = rss_bytes(pid) - before
    print(f"125 MiB of invented names: RSS +{grown / MIB:.1f} MiB")
    assert grown < 96 * MIB, f"the hub grew by {grown / MIB:.1f} MiB"
