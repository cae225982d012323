"""``opendcc restricted``, ``inventory extract``, ``alerts``, ``users key`` and ``report
performance`` against a configuration file and its SQLite store, as an operator runs them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from opendcc.alerts.store import FirmwareWatch
from opendcc.catalogue import UserRole
from opendcc.cli import app
from opendcc.inventory import InventoryStore, Registration
from opendcc.prepayment.registers import Kind, Registers
from opendcc.queue.outbox import Message, Outbox
from opendcc.sim import scenario
from opendcc.store import create_engine_for, upgrade
from opendcc.store.audit import AuditLog, AuditRecord
from opendcc.store.tables import alert_diagnostics, restrictions, s1sp_notices
from opendcc.store.users import User, UserStatus, UserStore
from tests.gateway.test_admin import (
    MPAN,
    MPRN,
    NETWORK,
    OTHER,
    OTHER_MPAN,
    OTHERS_ESME,
    SUPPLIER,
    estate_devices,
)
from tests.inventory.test_devices import ESME, GPF, GSME, HUB, T0, installation
from tests.reference import KEYS

SINCE = datetime(2020, 1, 1, tzinfo=UTC)  # registrations in force whatever today is


@dataclass
class Cli:
    config: Path
    engine: Engine
    runner: CliRunner

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, [*args[:2], "--config", str(self.config), *args[2:]])

    def rows(self, table: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(table)).all())


def write_config(path: Path, database_url: str) -> Path:
    def key(name: str) -> str:
        return json.dumps(str(KEYS / name))

    path.write_text(
        "\n".join(
            [
                "[hub]",
                f"database_url = {json.dumps(database_url)}",
                f"dsp_key = {key(scenario.DSP_KEY + '.key')}",
                f"dsp_certificate = {key(scenario.DSP_KEY + '.pem')}",
                f"s1sp_key = {key(scenario.S1SP_KEY + '.key')}",
                f"s1sp_certificate = {key(scenario.S1SP_KEY + '.pem')}",
            ]
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cli(tmp_path: Path, reference: Path) -> Iterator[Cli]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    users = UserStore(engine)
    for user, roles in (
        (SUPPLIER, {UserRole.IS, UserRole.GS}),
        (NETWORK, {UserRole.ED}),
        (OTHER, {UserRole.IS}),
    ):
        users.put(User(user, frozenset(roles), UserStatus.ACTIVE, "http://127.0.0.1:9/"), T0)
    inventory = InventoryStore(engine)
    inventory.put_devices(estate_devices(), T0)
    inventory.register(
        [
            Registration(MPAN, UserRole.IS, SUPPLIER, SINCE),
            Registration(MPAN, UserRole.ED, NETWORK, SINCE),
            Registration(MPRN, UserRole.GS, SUPPLIER, SINCE),
            Registration(OTHER_MPAN, UserRole.IS, OTHER, SINCE),
        ]
    )
    yield Cli(write_config(tmp_path / "hub.toml", url), engine, CliRunner())
    engine.dispose()


# --------------------------------------------------------------------------- restricted


def test_set_by_the_responsible_supplier(cli: Cli) -> None:
    done = cli("restricted", "set", str(ESME), "--as", str(SUPPLIER), "--reason", "refused")
    assert done.exit_code == 0, done.output
    assert f"{ESME}  restricted since" in done.stdout
    assert [(r.device_id, r.restricted, r.reason) for r in cli.rows(restrictions)] == [
        (str(ESME), True, "refused")
    ]
    assert [n.device_id for n in cli.rows(s1sp_notices)] == [str(ESME)]  # for the hub to send


def test_set_by_another_supplier_is_refused_and_says_why(cli: Cli) -> None:
    refused = cli("restricted", "set", str(ESME), "--as", str(OTHER), "--reason", "refused")
    assert refused.exit_code == 1
    assert "refused (E4)" in refused.stderr
    assert f"only the Import Supplier responsible for {ESME} now" in refused.stderr
    assert f"{OTHER} is not" in refused.stderr
    assert cli.rows(restrictions) == [] and cli.rows(s1sp_notices) == []


def test_refusals_for_devices_that_cannot_be_restricted(cli: Cli) -> None:
    hub = cli("restricted", "set", str(HUB), "--as", str(SUPPLIER), "--reason", "x")
    assert (hub.exit_code, "(E11)" in hub.stderr) == (1, True)
    nowhere = "00-DB-12-00-00-00-09-99"
    unknown = cli("restricted", "set", nowhere, "--as", str(SUPPLIER), "--reason", "x")
    assert (unknown.exit_code, "(E19)" in unknown.stderr) == (1, True)
    blank = cli("restricted", "set", str(ESME), "--as", str(SUPPLIER), "--reason", " ")
    assert (blank.exit_code, "reason is required" in blank.stderr) == (1, True)


def test_a_gas_meter_and_its_gpf_then_clear_show_and_list(cli: Cli) -> None:
    done = cli("restricted", "set", str(GSME), "--as", str(SUPPLIER), "--reason", "no smart")
    assert done.exit_code == 0, done.output
    assert {line.split()[0] for line in done.stdout.splitlines()} == {str(GSME), str(GPF)}
    listed = cli("restricted", "list")
    assert listed.exit_code == 0, listed.output
    assert str(GSME) in listed.stdout and str(GPF) in listed.stdout
    assert str(ESME) not in listed.stdout

    cleared = cli("restricted", "clear", str(GSME), "--as", str(SUPPLIER), "--reason", "agreed")
    assert cleared.exit_code == 0, cleared.output
    shown = cli("restricted", "show", str(GSME))
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"{GSME}  not restricted since")
    assert lines[1].endswith(f"set     by {SUPPLIER}: no smart")
    assert lines[2].endswith(f"cleared by {SUPPLIER}: agreed")
    assert str(GSME) not in cli("restricted", "list").stdout
    never = cli("restricted", "show", str(ESME))
    assert never.stdout.strip() == f"{ESME}  never restricted"


def test_watch_shows_flagged_devices(cli: Cli) -> None:
    watch = FirmwareWatch(cli.engine)
    with cli.engine.begin() as conn:
        for n in range(watch.threshold):
            watch.failed_in(conn, ESME, f"failure {n}", T0 + timedelta(hours=n))
    shown = cli("restricted", "watch")
    assert shown.exit_code == 0, shown.output
    assert str(ESME) in shown.stdout and "1 flagged" in shown.stdout
    assert str(GSME) not in shown.stdout


# --------------------------------------------------------------------------- inventory


def test_inventory_extract_to_stdout_and_to_a_file(cli: Cli, tmp_path: Path) -> None:
    cli("restricted", "set", str(ESME), "--as", str(SUPPLIER), "--reason", "refused")
    as_csv = cli("inventory", "extract", "--as", str(SUPPLIER))
    assert as_csv.exit_code == 0, as_csv.output
    rows = {r["device_id"]: r for r in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert set(rows) == {str(d.device_id) for d in installation()}
    assert (rows[str(ESME)]["restricted"], rows[str(ESME)]["restricted_reason"]) == (
        "true",
        "refused",
    )
    assert rows[str(GSME)]["restricted"] == "false"

    out = tmp_path / "extract.json"
    done = cli("inventory", "extract", "--as", str(OTHER), "--format", "json", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert [r["device_id"] for r in json.loads(out.read_text())] == [str(OTHERS_ESME)]
    assert cli("inventory", "extract", "--as", str(OTHER), "--format", "xml").exit_code == 1


# --------------------------------------------------------------------------- alerts


def test_alerts_list_and_show(cli: Cli) -> None:
    alert_id = f"{ESME}:{SUPPLIER}:77"
    body = b"<?xml version='1.0'?><sr:Response>signed</sr:Response>"
    with cli.engine.begin() as conn:
        message = Message(f"alert:{alert_id}", str(SUPPLIER), "http://127.0.0.1:9/", body)
        Outbox.put_many_in(conn, [(message, None)], T0)
    listed = cli("alerts", "list", "--as", str(SUPPLIER))
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.startswith(f"{alert_id}  2026-03-01T00:00:00Z  undelivered  attempts=0")
    assert cli("alerts", "list", "--as", str(OTHER)).stdout == ""
    shown = cli("alerts", "show", alert_id, "--as", str(SUPPLIER))
    assert shown.exit_code == 0, shown.output
    assert shown.stdout_bytes == body
    assert cli("alerts", "show", alert_id, "--as", str(OTHER)).exit_code == 1


def test_alert_subscriptions(cli: Cli) -> None:
    off = cli("alerts", "suppress", "8101", "--as", str(SUPPLIER))
    assert (off.exit_code, off.stdout.strip()) == (0, f"8101 Low credit: off for {SUPPLIER}")
    mandatory = cli("alerts", "suppress", "8F20", "--as", str(SUPPLIER))
    assert mandatory.exit_code == 1 and "mandatory" in mandatory.stderr
    on = cli("alerts", "subscribe", "8103", "--as", str(SUPPLIER))  # off by default
    assert on.stdout.strip() == f"8103 Clock adjusted: on for {SUPPLIER}"
    reset = cli("alerts", "reset", "8101", "--as", str(SUPPLIER))
    assert reset.stdout.strip() == f"8101 Low credit: on for {SUPPLIER}"
    assert cli("alerts", "subscribe", "1234", "--as", str(SUPPLIER)).exit_code == 1


def test_alert_diagnostics(cli: Cli) -> None:
    with cli.engine.begin() as conn:
        conn.execute(
            insert(alert_diagnostics),
            [
                {
                    "device_id": str(device),
                    "cohort": "acme",
                    "code": "8101",
                    "raised_at": T0,
                    "received_at": T0,
                    "alert_values": json.dumps({"n": n}),
                    "reason": "restricted",
                }
                for n, device in enumerate((ESME, GSME))
            ],
        )
    every = cli("alerts", "diagnostics")
    assert [json.loads(line)["device_id"] for line in every.stdout.splitlines()] == [
        str(ESME),
        str(GSME),
    ]
    one = cli("alerts", "diagnostics", "--device", str(GSME))
    [line] = [json.loads(line) for line in one.stdout.splitlines()]
    assert (line["values"], line["reason"]) == ({"n": 1}, "restricted")


# --------------------------------------------------------------------------- users, reports


def test_users_key_opens_the_admin_api(cli: Cli) -> None:
    made = cli("users", "key", str(NETWORK))
    assert made.exit_code == 0, made.output
    principal = Registers(cli.engine).authenticate(made.stdout.strip())
    assert principal is not None
    assert (principal.name, principal.kind) == (str(NETWORK), Kind.USER)
    stranger = cli("users", "key", "00-DB-12-34-56-78-00-04")
    assert stranger.exit_code == 1 and "not a DCC User" in stranger.stderr


def test_report_performance(cli: Cli) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    for srv in ("4.1.1", "4.18"):
        record = AuditRecord(at, "serviceS", "E71", "restricted", "0" * 64, None, None, srv)
        AuditLog(cli.engine).record(record)
    as_json = cli("report", "performance", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    lines = {x["srv"]: x for x in json.loads(as_json.stdout)["srvs"]}
    assert (lines["4.1.1"]["excluded_restricted"], lines["4.1.1"]["counted"]) == (1, 0)
    assert (lines["4.18"]["excluded_restricted"], lines["4.18"]["refused"]) == (0, {"E71": 1})
    table = cli("report", "performance")
    assert table.exit_code == 0, table.output
    assert "4.18" in table.stdout and "E71:1" in table.stdout
    earlier = cli("report", "performance", "--to", "2020-01-02T00:00:00", "--format", "json")
    assert json.loads(earlier.stdout)["srvs"] == []
