"""`opendcc migrate` as the service desk runs it: real processes, a head-end over TCP, kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from tests.reference import KEYS, SUPPLIER

from opendcc.migration.lifecycle import InstallationState
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import fleet, scenario
from opendcc.sim.processes import HeadEndProcess
from opendcc.store import create_engine_for
from opendcc.store.tables import device_status_history, migration_installations

COHORT = register_all(Registry()).profiles()[0]
MODELS = fleet.Models.of(COHORT)


class Desk:
    def __init__(self, directory: Path, records: list[dict[str, object]], latency_ms: int) -> None:
        self.directory = directory
        self.records = records
        self.file = directory / "migration.jsonl"
        self.file.write_text("".join(json.dumps(r) + "\n" for r in records))
        meters = directory / "fleet.jsonl"
        unreachable = {str(records[0]["installation"])}
        meters.write_text(
            "".join(
                json.dumps(m.to_json()) + "\n"
                for r in records
                for m in fleet.headend_meters(r, unreachable=r["installation"] in unreachable)
            )
        )
        cpl = directory / "cpl.toml"
        cpl.write_text(fleet.cpl_document([(COHORT.name, MODELS)]))
        self.headend = HeadEndProcess(COHORT.name, latency_ms=latency_ms, fleet=meters)
        self.database = directory / "hub.db"
        registrations = [(str(r["mpan"]), "IS", SUPPLIER) for r in records]
        registrations += [(str(r["mprn"]), "GS", SUPPLIER) for r in records if "mprn" in r]
        self.config = scenario.write_config(
            directory / "hub.toml",
            keys=KEYS,
            cohort=COHORT.name,
            headend=self.headend.endpoint,
            callback_url="http://127.0.0.1:9/",
            database_url=f"sqlite:///{self.database}",
            cpl=cpl,
            registrations=registrations,
            extra="[migration]\nconcurrency = 4\nchunk = 4\n",
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "opendcc", *args, "-c", str(self.config)]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=120, check=False
        )

    def states(self) -> Counter[str]:
        engine = create_engine_for(f"sqlite:///{self.database}")
        try:
            with engine.connect() as conn:
                query = select(migration_installations.c.state, func.count()).group_by(
                    migration_installations.c.state
                )
                return Counter(dict(conn.execute(query).all()))
        finally:
            engine.dispose()

    def commissionings(self) -> Counter[str]:
        engine = create_engine_for(f"sqlite:///{self.database}")
        try:
            with engine.connect() as conn:
                query = select(device_status_history.c.device_id).where(
                    device_status_history.c.target == "commissioned"
                )
                return Counter(conn.execute(query).scalars())
        finally:
            engine.dispose()


@pytest.fixture
def desk(reference: Path, tmp_path: Path) -> Iterator[Desk]:
    records = [fleet.installation(COHORT.name, 0, n, MODELS) for n in range(40)]
    made = Desk(tmp_path, records, latency_ms=100)
    yield made
    made.headend.stop()


def test_migrate_report_and_inventory_commands(desk: Desk) -> None:
    result = desk.run("migrate", str(desk.file), "--as", SUPPLIER)
    assert result.returncode == 0, result.stderr
    assert "40 records, 40 accepted, 0 rejected" in result.stdout
    assert "commissioned" in result.stdout and "retry_wait: no_wan" in result.stdout
    batch = result.stdout.split("batch ", 1)[1].split(":", 1)[0]

    report = desk.run("migrate", "report", batch, "--json")
    assert report.returncode == 0, report.stderr
    body = json.loads(report.stdout)
    assert body["counts"] == {"commissioned": 39, "retry_wait: no_wan": 1}
    waiting = [i for i in body["installations"] if i["outcome"] != "commissioned"]
    assert waiting[0]["installation"] == "INS-0-00000000"
    assert waiting[0]["next_attempt_at"] is not None

    meter = str(fleet.device_id(0, 1, "GSME"))
    shown = desk.run("inventory", "show", meter)
    assert shown.returncode == 0, shown.stderr
    assert (
        "commissioned" in shown.stdout and "pending -> installed_not_commissioned" in shown.stdout
    )
    found = desk.run("inventory", "search", "--serial", "S0GSME00000001")
    assert json.loads(found.stdout)["device_id"] == meter
    missing = desk.run("inventory", "search", "--serial", "NOPE")
    assert missing.returncode == 1 and "not enrolled" in missing.stderr

    withdrawn = desk.run("migrate", "withdraw", "INS-0-00000001", "--reason", "test")
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert "withdrew 5 devices" in withdrawn.stdout


def test_a_migration_killed_mid_batch_resumes_and_migrates_nothing_twice(desk: Desk) -> None:
    process = subprocess.Popen(
        desk.command("migrate", str(desk.file), "--as", SUPPLIER),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:  # a read sees the database before the migration's schema commit: no table yet
            done = desk.states() if desk.database.exists() else Counter()
        except OperationalError:
            done = Counter()
        if done[InstallationState.COMMISSIONED.value] + done[InstallationState.TESTED.value]:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted = desk.states()
    assert interrupted[InstallationState.VALIDATED.value] > 0, "killed after it had finished"

    again = desk.run("migrate", str(desk.file), "--as", SUPPLIER)
    assert again.returncode == 0, again.stderr
    assert desk.states() == Counter({"commissioned": 39, "retry_wait": 1})
    migrated = {str(d["device_id"]) for r in desk.records for d in r["devices"]}  # type: ignore[attr-defined, index]
    commissioned = Counter({k: v for k, v in desk.commissionings().items() if k in migrated})
    assert len(commissioned) == sum(len(r["devices"]) for r in desk.records[1:])  # type: ignore[arg-type]
    assert set(commissioned.values()) == {1}  # every device commissioned exactly once
