"""``opendcc firmware add | list | campaign`` against a configuration file and its store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.firmware.rig import (
    APPLICABLE,
    APPLICABLE_TOO,
    BUSY,
    IMAGE,
    NOT_THEIRS,
    SINCE,
    SUPPLIER,
    cpl_entries,
    estate,
)
from tests.test_cli_admin import write_config
from typer.testing import CliRunner, Result

from opendcc.cli_firmware import app
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.firmware import Distributions, DistributionState, image_hash
from opendcc.firmware.distributions import Change, NewDistribution
from opendcc.inventory import CplStore, InventoryStore
from opendcc.store import create_engine_for, upgrade

DCC = Eui64.parse("90-B3-D5-1F-30-00-00-02")


class Cli:
    def __init__(self, config: Path, engine: Engine, image: Path) -> None:
        self.config, self.engine, self.image = config, engine, image
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, [args[0], "--config", str(self.config), *args[1:]])


@pytest.fixture
def cli(tmp_path: Path, reference: Path) -> Iterator[Cli]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    CplStore(engine).put(cpl_entries())
    InventoryStore(engine).put_devices(estate(), SINCE)
    image = tmp_path / "e100-2.0.bin"
    image.write_bytes(IMAGE)
    yield Cli(write_config(tmp_path / "hub.toml", url), engine, image)
    engine.dispose()


def add(cli: Cli, version: str = "2.0") -> Result:
    return cli(
        "add", "--manufacturer", "Acme", "--model", "E100", "--version", version, str(cli.image)
    )


def test_add_and_list(cli: Cli) -> None:
    added = add(cli)
    assert added.exit_code == 0, added.output
    assert f"Acme/E100 2.0: {len(IMAGE)} bytes, sha256 {image_hash(IMAGE)}" in added.output
    listed = cli("list", "--model", "E100", "--json")
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.output)
    assert (entry["model"], entry["version"], entry["sha256"]) == ("E100", "2.0", image_hash(IMAGE))
    assert json.loads(cli("list", "--model", "E200", "--json").output) == []
    table = cli("list")
    assert "E100" in table.output and "2.0" in table.output


def test_add_refuses_a_version_not_on_the_cpl(cli: Cli) -> None:
    refused = add(cli, version="7.7")
    assert refused.exit_code == 1
    assert "refused: Acme/E100 7.7 is not on the CPL" in refused.output
    assert json.loads(cli("list", "--json").output) == []


def test_campaign_summary_and_json(cli: Cli) -> None:
    assert add(cli).exit_code == 0
    request = RequestId(SUPPLIER, DCC, 1)
    sent = (APPLICABLE, APPLICABLE_TOO, BUSY)
    store = Distributions(cli.engine)
    with cli.engine.begin() as conn:
        Distributions.insert_in(
            conn,
            request,
            SUPPLIER,
            version="2.0",
            image_hash=image_hash(IMAGE),
            devices=[NewDistribution(d, "acme", "E100") for d in sent],
            now=SINCE,
        )
    rows = {r.device_id: r for r in store.of_request(request)}
    with cli.engine.begin() as conn:
        Distributions.apply_in(
            conn,
            [
                Change(rows[APPLICABLE], DistributionState.STAGED),
                Change(rows[APPLICABLE_TOO], DistributionState.FAILED, "rejected: image refused"),
            ],
            SINCE,
        )
    inventory = InventoryStore(cli.engine)
    with cli.engine.begin() as conn:
        inventory.set_firmware_in(conn, {NOT_THEIRS: "2.0"})  # updated before the campaign

    shown = cli("campaign", "E100", "2.0")
    assert shown.exit_code == 0, shown.output
    assert "5 device(s) in service, 1 on 2.0; activated 0 of 3 sent" in shown.output
    for text in ("pending", "staged", "failed", "rejected: image refused"):
        assert text in shown.output

    as_json = cli("campaign", "E100", "2.0", "--json")
    report = json.loads(as_json.output)
    assert report["states"] == {
        "pending": 1,
        "distributed": 0,
        "staged": 1,
        "activated": 0,
        "failed": 1,
    }
    assert (report["devices"], report["on_version"], report["sent"]) == (5, 1, 3)
    assert report["failures"] == {"rejected: image refused": 1}


def test_campaign_watch_reports_until_nothing_is_in_flight(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = RequestId(SUPPLIER, DCC, 2)
    with cli.engine.begin() as conn:
        Distributions.insert_in(
            conn,
            request,
            SUPPLIER,
            version="2.0",
            image_hash=image_hash(IMAGE),
            devices=[NewDistribution(APPLICABLE, "acme", "E100")],
            now=SINCE,
        )
    naps: list[float] = []

    def sleep(seconds: float) -> None:  # the device activates while the operator waits
        naps.append(seconds)
        (row,) = Distributions(cli.engine).of_request(request)
        with cli.engine.begin() as conn:
            Distributions.apply_in(conn, [Change(row, DistributionState.STAGED)], SINCE)
            Distributions.settle_in(conn, row, DistributionState.ACTIVATED, SINCE, "")

    monkeypatch.setattr("opendcc.cli_firmware.time.sleep", sleep)
    watched = cli("campaign", "E100", "2.0", "--watch", "5")
    assert watched.exit_code == 0, watched.output
    assert naps == [5.0]
    assert "activated 0 of 1 sent" in watched.output
    assert "activated 1 of 1 sent" in watched.output
