"""A scale-mode estate for the tests: PostgreSQL (the truth) and RabbitMQ (the lanes), two
gateways, two workers, a deliverer and a scheduler as real processes (``opendcc process KIND``),
a head-end simulator, and the User's callback server in this process.

The servers come from ``OPENDCC_TEST_POSTGRES_URL`` and ``OPENDCC_TEST_RABBITMQ_URL`` (``make
test`` starts both); without the RabbitMQ URL the broker is started here by
scripts/test-rabbitmq.sh when it is installed. When a server is missing the tests skip, except
under ``CI``, where they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, text
from tests.gateway.harness import SR, cohort, response_code, user
from tests.reference import KEYS

from opendcc.config import load
from opendcc.duis.xml import parse_xml
from opendcc.processes.supervisor import prepare
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess, Process, free_port
from opendcc.sim.user import CallbackServer, SimulatedUser
from opendcc.store import create_engine_for

ROOT = Path(__file__).resolve().parents[2]
RABBITMQ_SCRIPT = ROOT / "scripts/test-rabbitmq.sh"


def rabbitmq_port() -> int:
    """The test node's port: the one in ``OPENDCC_TEST_RABBITMQ_URL``, else the script's."""
    url = os.environ.get("OPENDCC_TEST_RABBITMQ_URL")
    if url:
        port = urlsplit(url).port
        if port is not None:
            return port
    return int(os.environ.get("OPENDCC_TEST_AMQP_PORT", "56729"))


def rabbitmq_dir() -> Path:
    """Where scripts/test-rabbitmq.sh keeps the node of that port (its pid file among it)."""
    default = Path(os.environ.get("TMPDIR", "/tmp")) / f"opendcc-rabbitmq-{rabbitmq_port()}"
    return Path(os.environ.get("OPENDCC_TEST_RABBITMQ_DIR", default))


def missing(what: str) -> None:
    """Skip, or fail under CI: a scale-mode test that did not run is not a pass there."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI")
    pytest.skip(f"{what} not available")


def postgres_url() -> str:
    url = os.environ.get("OPENDCC_TEST_POSTGRES_URL")
    if not url:
        missing("PostgreSQL (OPENDCC_TEST_POSTGRES_URL)")
    assert url is not None
    return url


def rabbitmq_url() -> str:
    url = os.environ.get("OPENDCC_TEST_RABBITMQ_URL")
    if url:
        return url
    if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        missing("RabbitMQ (rabbitmq-server)")
    return start_rabbitmq()


def start_rabbitmq() -> str:
    """Start (or reuse) the test node; its URL. Installed but not starting is a failure."""
    environment = os.environ | {"OPENDCC_TEST_AMQP_PORT": str(rabbitmq_port())}
    found = subprocess.run(
        [str(RABBITMQ_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=environment,
    )
    assert found.returncode == 0, f"RabbitMQ did not start: {found.stderr[-500:]}"
    return found.stdout.strip()


def kill_rabbitmq() -> None:
    """kill -9 the broker's Erlang VM, as a crash."""
    pid = int((rabbitmq_dir() / "node.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def stop_rabbitmq() -> None:
    """Stop the broker as an operator's restart does (SIGTERM: it shuts down cleanly)."""
    pid = int((rabbitmq_dir() / "node.pid").read_text().strip())
    environment = os.environ | {"OPENDCC_TEST_AMQP_PORT": str(rabbitmq_port())}
    subprocess.run([str(RABBITMQ_SCRIPT), "stop"], check=True, timeout=30, env=environment)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("the broker did not stop within 60 s")


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    admin = create_engine_for(url)
    name = f"scale_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


class Node(Process):
    """One hub process: ``opendcc process KIND``."""

    def __init__(self, kind: str, config: Path, log: Path, port: int | None = None) -> None:
        args = ["-m", "opendcc", "process", kind, "--config", str(config)]
        if port is not None:
            args += ["--port", str(port)]
        super().__init__(args, log)
        self.kind = kind
        self.port = port
        self.url = f"http://127.0.0.1:{port}" if port is not None else ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.popen.returncode}; {self.log}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not come up")


@dataclass
class ScaleEstate:
    directory: Path
    config: Path
    engine: Engine
    callback: CallbackServer
    headend: HeadEndProcess
    gateways: list[Node]
    workers: list[Node]
    others: list[Node]
    http: httpx.Client
    supplier: SimulatedUser
    acknowledged: set[str] = field(default_factory=set)  # message keys of I99 answers
    refused: list[str] = field(default_factory=list)  # what else came back, for diagnosis

    def start(self, kind: str, port: int | None = None) -> Node:
        node = Node(kind, self.config, self.directory / f"{kind}-{port or 'x'}.log", port)
        if port is not None:
            node.wait_ready()
        return node

    def restart_gateway(self, n: int) -> None:
        self.gateways[n] = self.start("gateway", self.gateways[n].port)

    def restart_worker(self, n: int) -> None:
        self.workers[n] = self.start("worker")

    def other(self, kind: str) -> Node:
        """The deliverer or the scheduler."""
        return next(node for node in self.others if node.kind == kind)

    def restart_other(self, kind: str) -> None:
        self.others = [n for n in self.others if n.kind != kind] + [self.start(kind)]

    def send_one(self, gateway: Node) -> str | None:
        """One signed 4.1.1 through ``gateway``; its message key when acknowledged (I99)."""
        supplier = self.supplier
        meter = scenario.METERS[len(self.acknowledged) % len(scenario.METERS)].device_id
        body = supplier.request("4.1.1", meter)
        try:
            answer = self.http.post(
                f"{gateway.url}/api/v1/serviceS",
                content=body,
                headers={"Content-Type": "application/xml"},
            )
        except httpx.HTTPError as exc:
            self.refused.append(f"{gateway.url}: {type(exc).__name__}")
            return None  # not acknowledged: nothing promised
        if answer.status_code != 200 or response_code(answer.content) != "I99":
            self.refused.append(f"{gateway.url}: HTTP {answer.status_code} {answer.text[:200]}")
            return None
        request_id = parse_xml(body).findtext(f"{SR}Header/{SR}RequestID")
        assert request_id is not None
        originator, target, counter = request_id.split(":")
        key = f"R:{target}:{originator}:{counter}"
        self.acknowledged.add(key)
        return key

    def load(self, count: int, during: threading.Event | None = None) -> set[str]:
        """Send through both gateways in turn until ``count`` are acknowledged (``during`` is
        set at the tenth); the keys acknowledged."""
        keys: set[str] = set()
        n = 0
        while len(keys) < count:
            assert n < count * 5, f"too few acknowledged: {self.refused[-5:]}"
            gateway = self.gateways[n % len(self.gateways)]
            n += 1
            key = self.send_one(gateway) or self.send_one(self.gateways[n % len(self.gateways)])
            if key is not None:
                keys.add(key)
            if during is not None and len(keys) >= 10:
                during.set()
        return keys

    def check_delivered(self, keys: set[str], timeout: float = 60.0) -> None:
        """Every acknowledged request answered at the callback with I0; a key delivered more
        than once carries the same ResponseID each time."""
        assert self.callback.wait_for(keys, timeout), sorted(keys - self.callback.keys())[:5]
        with self.callback._arrived:
            deliveries = list(self.callback.deliveries)
        for key in keys:
            bodies = [d.body for d in deliveries if d.key == key]
            ids = {
                parse_xml(b).findtext(f"{SR}Header/{SR}ResponseID")
                or parse_xml(b).findtext(f"{SR}Header/{SR}RequestID")
                for b in bodies
            }
            assert len(ids) == 1, (key, ids)
            assert {response_code(b) for b in bodies} == {"I0"}, key


# Short leases and sweeps: a killed process's work comes back within seconds.
TEST_PROCESSES = (
    "lease_seconds = 3\nredeliver_seconds = 5\nsweep_seconds = 0.3\npoll_seconds = 0.05\n"
)


@contextmanager
def scale_estate(
    directory: Path,
    *,
    latency_ms: int = 150,
    processes: str = TEST_PROCESSES,
    workers: int = 2,
) -> Iterator[ScaleEstate]:
    """The estate, up; ``processes`` is its ``[processes]`` table (the tests' short leases and
    sweeps by default), ``workers`` how many worker processes start with it."""
    broker = rabbitmq_url()
    with fresh_database(postgres_url()) as database:
        headend = HeadEndProcess(cohort(), meters=scenario.headend_meters(), latency_ms=latency_ms)
        try:
            with CallbackServer() as callback, httpx.Client(timeout=10) as http:
                config = scenario.write_config(
                    directory / "hub.toml",
                    keys=KEYS,
                    cohort=cohort(),
                    headend=headend.endpoint,
                    callback_url=callback.url,
                    database_url=database,
                    broker_url=broker,
                    extra=f"\n[processes]\n{processes}",
                )
                prepare(load(config))
                engine = create_engine_for(database)
                running = ScaleEstate(
                    directory,
                    config,
                    engine,
                    callback,
                    headend,
                    [],
                    [],
                    [],
                    http,
                    user(scenario.SUPPLIER_KEY),
                )
                for kind in ("scheduler", "deliverer", *["worker"] * workers):
                    node = running.start(kind)
                    (running.workers if kind == "worker" else running.others).append(node)
                running.gateways = [
                    Node("gateway", config, directory / f"gateway-{n}.log", free_port())
                    for n in range(2)
                ]
                for gateway in running.gateways:
                    gateway.wait_ready()
                try:
                    yield running
                finally:
                    for node in [*running.gateways, *running.workers, *running.others]:
                        node.stop()
                    engine.dispose()
        finally:
            headend.stop()
