"""kill -9 of the deliverer with POSTs in flight: the supervisor starts it again and every
Response still reaches the User (at least once: a redelivery is the same message key, its
ResponseID), and every request ends DELIVERED."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import func, select
from tests.gateway.harness import KEYS, cohort
from tests.gateway.test_durability import send
from tests.processes.test_supervisor import wait_for_kinds

from opendcc.config import cores
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port
from opendcc.store import create_engine_for
from opendcc.store.tables import outbox, service_requests

SLOW_S = 3.0  # the User's endpoint takes this long to answer each POST


class SlowEndpoint:
    """A User's callback endpoint that answers 200 only after ``SLOW_S``; keeps every key it
    was sent, duplicates included."""

    def __init__(self) -> None:
        self.arrivals: list[str] = []
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrivals.append(self.headers.get("X-DCC-Message-ID", ""))
                time.sleep(SLOW_S)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/duis"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Hub:
    def __init__(self, hub: HubProcess) -> None:
        self.hub = hub
        self.http = httpx.Client(timeout=30)

    def post(self, endpoint: str, body: bytes) -> httpx.Response:
        return self.http.post(
            f"{self.hub.url}/api/v1/{endpoint}",
            content=body,
            headers={"Content-Type": "application/xml"},
        )


def test_a_killed_deliverer_loses_nothing(tmp_path: Path) -> None:
    endpoint = SlowEndpoint()
    headend = HeadEndProcess(cohort(), meters=scenario.headend_meters())
    database = tmp_path / "hub.db"
    try:
        config = scenario.write_config(
            tmp_path / "hub.toml",
            keys=KEYS,
            cohort=cohort(),
            headend=headend.endpoint,
            callback_url=endpoint.url,
            database_url=f"sqlite:///{database}",
        )
        hub = HubProcess(config, free_port(), tmp_path / "hub.log")
        client = _Hub(hub)
        try:
            kinds = ["deliverer", *["gateway"] * cores(), "scheduler", "worker"]  # a gateway a core
            running = wait_for_kinds(hub.popen.pid, kinds)
            deliverer = next(p for p, kind in running.items() if kind == "deliverer")
            keys = send(client, 8)
            deadline = time.monotonic() + 60
            while not endpoint.arrivals:  # a POST is in flight, its answer SLOW_S away
                assert time.monotonic() < deadline, "nothing was delivered"
                time.sleep(0.02)
            os.kill(deliverer, signal.SIGKILL)
            in_flight = set(endpoint.arrivals)
            assert in_flight, "the kill came too late to test anything"
            restarted = wait_for_kinds(hub.popen.pid, kinds)
            assert deliverer not in restarted
            engine = create_engine_for(f"sqlite:///{database}")
            try:
                deadline = time.monotonic() + 120
                while True:  # the killed one's leases run out; its successor delivers again
                    with engine.connect() as conn:
                        left = conn.execute(
                            select(func.count())
                            .select_from(outbox)
                            .where(outbox.c.delivered_at.is_(None))
                        ).scalar_one()
                    if not left:
                        break
                    assert time.monotonic() < deadline, f"{left} messages never delivered"
                    time.sleep(0.2)
                with engine.connect() as conn:
                    states = Counter(conn.execute(select(service_requests.c.state)).scalars())
            finally:
                engine.dispose()
            arrived = Counter(endpoint.arrivals)
            assert set(arrived) == keys  # every Response, and nothing else
            # What was in flight at the kill went again: the same key, a duplicate at most.
            assert any(arrived[key] > 1 for key in in_flight)
            assert states == {"delivered": len(keys)}
        finally:
            client.http.close()
            hub.stop()
    finally:
        headend.stop()
        endpoint.close()
