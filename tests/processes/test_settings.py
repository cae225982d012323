"""The processes' settings: ``[processes]``, ``broker_url`` and the environment's URLs."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from tests.reference import KEYS

from opendcc import config as config_module
from opendcc.config import ConfigError, cores, load
from opendcc.sim import scenario


def config(tmp_path: Path, extra: str = "", database_url: str = "sqlite:///x.db") -> Path:
    return scenario.write_config(
        tmp_path / "hub.toml",
        keys=KEYS,
        cohort="secure",
        headend="tcp://127.0.0.1:1",
        callback_url="http://127.0.0.1:1/duis",
        database_url=database_url,
        extra=extra,
    )


def test_defaults_are_a_gateway_per_core_and_one_worker_on_the_embedded_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BROKER_URL", raising=False)
    settings = load(config(tmp_path))
    assert settings.broker_url is None
    assert (settings.processes.gateways, settings.processes.workers) == (cores(), 1)
    assert settings.processes.lease == timedelta(seconds=15)


def test_the_default_gateways_follow_the_cores_this_process_may_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert config_module.cores() == 3
    assert load(config(tmp_path)).processes.gateways == 3
    assert load(config(tmp_path, "\n[processes]\ngateways = 1\n")).processes.gateways == 1


def test_processes_and_broker_from_the_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = "\n[processes]\ngateways = 2\nworkers = 3\nlease_seconds = 4\nredeliver_seconds = 9\n"
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    settings = load(config(tmp_path, extra))
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert (settings.processes.gateways, settings.processes.workers) == (2, 3)
    assert settings.processes.lease == timedelta(seconds=4)
    assert settings.processes.redeliver_after == timedelta(seconds=9)


def test_no_process_of_a_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one"):
        load(config(tmp_path, "\n[processes]\nworkers = 0\n"))


def test_polls_and_the_outbox_retention(tmp_path: Path) -> None:
    settings = load(config(tmp_path))
    assert (settings.processes.poll_s, settings.processes.woken_poll_s) == (0.1, 1.0)
    assert settings.delivered_retention == timedelta(days=7)
    extra = (
        "\n[processes]\npoll_seconds = 0.3\nwoken_poll_seconds = 5\n"
        "\n[outbox]\nretain_delivered_hours = 36\n"
    )
    settings = load(config(tmp_path, extra))
    assert (settings.processes.poll_s, settings.processes.woken_poll_s) == (0.3, 5.0)
    assert settings.delivered_retention == timedelta(hours=36)
    kept = load(config(tmp_path, "\n[outbox]\nretain_delivered_hours = 0\n"))
    assert kept.delivered_retention is None  # kept for ever
    with pytest.raises(ConfigError, match="retain_delivered_hours"):
        load(config(tmp_path, "\n[outbox]\nretain_delivered_hours = -1\n"))
    with pytest.raises(ConfigError, match="poll"):
        load(config(tmp_path, "\n[processes]\nwoken_poll_seconds = 0\n"))


def test_the_broker_queues_prefix_names_an_estate(tmp_path: Path) -> None:
    def with_prefix(value: str) -> Path:
        path = config(tmp_path)
        text = path.read_text().replace("[hub]\n", f"[hub]\nbroker_prefix = {value}\n", 1)
        path.write_text(text)
        return path

    assert load(config(tmp_path)).broker_prefix == "opendcc"
    assert load(with_prefix('"estate-2"')).broker_prefix == "estate-2"
    for bad in ('""', '"amq.x"', '"a b"', '"x/y"', "7"):
        with pytest.raises(ConfigError, match="broker_prefix"):
            load(with_prefix(bad))


def test_the_hub_names_its_queues_with_the_prefix(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from opendcc.hub import _job_queue
    from opendcc.queue.broker import BrokerQueue, Lane

    path = config(tmp_path)
    path.write_text(
        path.read_text().replace(
            "[hub]\n", '[hub]\nbroker_url = "amqp://127.0.0.1:1/"\nbroker_prefix = "east"\n', 1
        )
    )
    made = _job_queue(create_engine("sqlite://"), load(path))
    assert isinstance(made, BrokerQueue)
    assert made.queue_names[Lane.BULK] == "east.jobs.bulk"
