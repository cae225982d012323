"""The service status across processes: ``opendcc serve`` with two gateways, a worker, a
deliverer and a scheduler on SQLite. The SSI (its JSON API, through either gateway) shows the
workers down while the only worker hangs (alive to the supervisor, silent to the heartbeats)
and up again once it is killed and its successor beats; a killed head-end is recorded as ONE
outage with ONE incident, though two gateways serve the SSI (the one monitor runs in the
scheduler)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tests.gateway.harness import Estate, cohort, estate
from tests.processes.test_supervisor import wait_for_kinds

from opendcc.service.incidents import HUB, Incidents
from opendcc.sim.processes import HubProcess
from opendcc.store.tables import component_outages, hub_processes

KINDS = ["deliverer", "gateway", "gateway", "scheduler", "worker"]


def desk_token(hub: Estate) -> str:
    command = ["ssi", "credential", "-c", str(hub.config), "desk", "--desk"]
    done = subprocess.run(
        [sys.executable, "-m", "opendcc", *command],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def wait_until(what: str, ok: Callable[[], bool], timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not _answered(ok):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.25)


def _answered(ok: Callable[[], bool]) -> bool:
    """``ok()``, a look that timed out on a loaded box counting as "not yet" (the deadline
    still holds), never as a failure on its own."""
    try:
        return ok()
    except httpx.TimeoutException:
        return False


def test_workers_down_and_up_as_the_ssi_reads_it_and_one_outage_for_two_gateways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENDCC_HEARTBEAT_SECONDS", "0.5")  # the hub's processes inherit these
    monkeypatch.setenv("OPENDCC_SSI_MONITOR_SECONDS", "0.5")
    with estate(tmp_path, xsd=False) as hub:
        hub.hub.stop()
        with hub.config.open("a") as config:
            config.write("\n[processes]\ngateways = 2\n")
        hub.restart_hub()
        supervisor = hub.hub.popen.pid
        running = wait_for_kinds(supervisor, KINDS)
        token = desk_token(hub)

        def states() -> dict[str, str]:
            answer = httpx.get(
                f"{hub.hub.url}/ssi/api/v1/status",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            return {c["component"]: c["state"] for c in answer.json()["components"]}

        headend = f"headend:{cohort()}"
        wait_until(
            "every component up",
            lambda: all(states().get(c) == "up" for c in ("gateway", "workers", "utrn", headend)),
        )
        assert "broker" not in states()  # no broker_url: the embedded default has none
        with hub.engine.connect() as conn:
            roles = sorted(r.roles for r in conn.execute(select(hub_processes.c.roles)))
        assert roles == ["deliverer", "gateway", "gateway", "scheduler", "worker"]

        worker = next(p for p, kind in running.items() if kind == "worker")
        since = datetime.now(UTC)  # outages from here on (not the first hub's stop)
        os.kill(worker, signal.SIGSTOP)  # hung: the supervisor sees it alive, no beats come
        try:
            wait_until("the workers seen down", lambda: states()["workers"] == "down")
            assert states()["gateway"] == "up"  # the other processes still beat
        finally:
            os.kill(worker, signal.SIGKILL)  # the supervisor starts another
        wait_for_kinds(supervisor, KINDS)
        wait_until("the workers seen up again", lambda: states()["workers"] == "up")

        hub.headend.kill()
        wait_until("the head-end seen down", lambda: states()[headend] == "down")
        time.sleep(3)  # several more looks, through both gateways' SSI

        def outages(component: str) -> int:
            with hub.engine.connect() as conn:
                return int(
                    conn.execute(
                        select(func.count())
                        .select_from(component_outages)
                        .where(component_outages.c.component == component)
                        .where(component_outages.c.down_at >= since)
                    ).scalar_one()
                )

        assert outages(headend) == 1
        assert outages("workers") == 1  # down once, closed when the new worker beat
        raised = [i for i in Incidents(hub.engine).list(HUB) if "is down" in i.title]
        assert len(raised) == 1, [i.title for i in raised]


def test_single_process_mode_monitors_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--single-process``: the one process beats for every loop and runs the monitor."""
    monkeypatch.setenv("OPENDCC_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("OPENDCC_SSI_MONITOR_SECONDS", "0.5")
    with estate(tmp_path, xsd=False) as hub:
        hub.hub.stop()
        port = int(hub.hub.url.rsplit(":", 1)[1])
        hub.hub = HubProcess(hub.config, port, tmp_path / "single.log", single_process=True)
        token = desk_token(hub)

        def states() -> dict[str, str]:
            answer = httpx.get(
                f"{hub.hub.url}/ssi/api/v1/status",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            return {c["component"]: c["state"] for c in answer.json()["components"]}

        wanted = ("gateway", "workers", "utrn", "database", f"headend:{cohort()}")
        wait_until("every component up", lambda: all(states().get(c) == "up" for c in wanted))
        with hub.engine.connect() as conn:
            rows = list(conn.execute(select(hub_processes.c.roles, hub_processes.c.alive)))
        assert [(r.roles, r.alive) for r in rows] == [
            ("deliverer,gateway,scheduler,worker", "deliverer,gateway,utrn,workers")
        ]
        hub.hub.stop()  # a clean stop: its row goes
        with hub.engine.connect() as conn:
            assert list(conn.execute(select(hub_processes))) == []
