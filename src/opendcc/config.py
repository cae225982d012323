"""The hub's configuration file (TOML): where the store is, the hub's keys, the S1SP head-ends,
and the Users, devices and registration data to seed the store with.

Paths are relative to the file. Users and devices in the file seed the store on first start;
afterwards ``opendcc users ...`` manages the Users registry (a restart does not undo a
suspension). See docs/configuration.md for every key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opendcc.alerts.throttle import StormPolicy
from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.eui import Eui64
from opendcc.dsp.restricted import DEFAULT_ALLOWED
from opendcc.firmware import FirmwareSettings
from opendcc.inventory import Device, Registration, SmiStatus
from opendcc.prepayment.keys import DEFAULT_SEED
from opendcc.queue.deadletters import DeliveryPolicy
from opendcc.schedules import ScheduleSettings
from opendcc.smki.credentials import SigningCredentials, load_certificate
from opendcc.store.users import AnomalyThreshold, User, UserStatus


class ConfigError(ValueError):
    """The configuration file is missing something or says something impossible."""


@dataclass(frozen=True, slots=True)
class HeadEnd:
    cohort: str
    endpoint: str  # e.g. tcp://127.0.0.1:9001


@dataclass(frozen=True, slots=True)
class MigrationSettings:
    max_attempts: int = 5
    retry_delays_minutes: tuple[float, ...] = (15, 60, 240, 720)
    concurrency: int = 256  # device tests in flight
    chunk: int = 1_000  # installations tested, then committed, per round


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS says, else all)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    """How the hub runs as processes (``opendcc serve``; ``opendcc.processes``)."""

    # HTTP front doors sharing the port (SO_REUSEPORT): one per core by default, since each
    # accept costs the same CPU in one gateway or several and a gateway is one busy core at most.
    gateways: int = field(default_factory=cores)
    workers: int = 1  # processes claiming jobs and carrying them to the head-ends
    # A worker renews its jobs' leases every third of this; a killed one's are free after it.
    lease: timedelta = timedelta(seconds=15)
    # How often a process looks for work another process made when no wake-up reaches it
    # (scale mode's deliverer; a process started without ``--wake``).
    poll_s: float = 0.1
    # ... and when wake-ups reach it (``opendcc serve``): the poll is then only the safety net
    # for a lost wake-up and for work that falls due by time (retries, future-dated jobs).
    woken_poll_s: float = 1.0
    # Scale mode: a published job not taken by a worker in this long is published again.
    redeliver_after: timedelta = timedelta(seconds=30)
    # Scale mode: how often each gateway and worker sweeps for jobs to (re)publish.
    sweep_s: float = 0.5


@dataclass(frozen=True)
class HubConfig:
    database_url: str
    host: str
    port: int
    dsp_credentials: SigningCredentials
    s1sp_credentials: SigningCredentials
    smki_repository: Path | None = None
    xsd: Path | None = None
    workers: int = 64
    headends: tuple[HeadEnd, ...] = ()
    # Multiplies every SRV's target response time (below 1 in tests and benchmarks).
    response_time_scale: float = 1.0
    users: tuple[User, ...] = ()
    devices: tuple[Device, ...] = ()
    registrations: tuple[Registration, ...] = ()
    cpl: Path | None = None  # the CPL and eligible combinations file (docs/migration.md)
    migration: MigrationSettings = field(default_factory=MigrationSettings)
    # The secret the S1SP's UTRN keys are derived from (``prepayment.keys``); the simulated
    # head-ends must be given the same (``--key-seed``).
    utrn_key_seed: bytes = DEFAULT_SEED
    # Worker slots kept free of everything but prepayment (top-ups never wait behind reads).
    priority_workers: int = 8
    # Restricted mode (MP169): the SRVs still allowed to a restricted meter (``dsp.restricted``)
    # and how many firmware failures in a row flag a restricted device to its supplier.
    restricted_allowed: tuple[str, ...] = DEFAULT_ALLOWED
    firmware_watch_failures: int = 3
    # Storm protection of device alerts (``alerts.throttle``).
    storm: StormPolicy = field(default_factory=StormPolicy)
    # Future-dated requests: how late an outcome may be before the User gets E30, and how late
    # a DSP-held request may still be sent after downtime (``dsp.future``, ``dsp.route``).
    future_dated_grace: timedelta = timedelta(hours=1)
    # Firmware distribution (SRV 11.1): attempts per device, backoff, concurrency.
    firmware: FirmwareSettings = field(default_factory=FirmwareSettings)
    # DCC schedules (SRV 5.1): spread of a minute's runs, concurrency, missed-run window.
    schedules: ScheduleSettings = field(default_factory=ScheduleSettings)
    # Callback delivery: attempts before a message is dead-lettered (``queue.deadletters``).
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    # Delivered messages are kept this long (the alerts query lists them), then pruned; None:
    # kept for ever (``[outbox] retain_delivered_hours = 0``).
    delivered_retention: timedelta | None = timedelta(days=7)
    source: Path | None = field(default=None, compare=False)
    # Scale mode: RabbitMQ carries the jobs (``queue.broker``); None: the embedded job table.
    broker_url: str | None = None
    # The RabbitMQ queues' name prefix: one per estate sharing a RabbitMQ node (or a vhost each).
    broker_prefix: str = "opendcc"
    processes: ProcessSettings = field(default_factory=ProcessSettings)


def load(path: Path) -> HubConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse(raw, base=path.parent, source=path)


def parse(raw: dict[str, Any], base: Path, source: Path | None = None) -> HubConfig:
    hub = raw.get("hub", {})
    restricted = raw.get("restricted", {})

    def file(key: str, table: dict[str, Any] = hub) -> Path:
        if key not in table:
            raise ConfigError(f"[hub] needs {key}")
        return (base / str(table[key])).resolve()

    def optional(key: str) -> Path | None:
        return file(key) if key in hub else None

    try:
        return HubConfig(
            database_url=str(
                hub.get("database_url") or os.environ.get("DATABASE_URL") or "sqlite:///opendcc.db"
            ),
            host=str(hub.get("host", "127.0.0.1")),
            port=int(hub.get("port", 8079)),
            dsp_credentials=SigningCredentials.from_files(file("dsp_key"), file("dsp_certificate")),
            s1sp_credentials=SigningCredentials.from_files(
                file("s1sp_key"), file("s1sp_certificate")
            ),
            smki_repository=optional("smki_repository"),
            xsd=optional("xsd"),
            workers=int(hub.get("workers", 64)),
            response_time_scale=float(hub.get("response_time_scale", 1.0)),
            headends=tuple(
                HeadEnd(str(h["cohort"]), str(h["endpoint"])) for h in raw.get("s1sp", [])
            ),
            users=tuple(_user(u, base) for u in raw.get("users", [])),
            devices=tuple(_device(d) for d in raw.get("devices", [])),
            registrations=tuple(_registration(r) for r in raw.get("registrations", [])),
            cpl=file("cpl", raw["inventory"]) if "cpl" in raw.get("inventory", {}) else None,
            migration=_migration(raw.get("migration", {})),
            utrn_key_seed=_seed(raw.get("prepayment", {})),
            priority_workers=int(hub.get("priority_workers", 8)),
            restricted_allowed=tuple(
                str(p) for p in restricted.get("allowed_srvs", DEFAULT_ALLOWED)
            ),
            firmware_watch_failures=int(restricted.get("firmware_watch_failures", 3)),
            storm=_storm(raw.get("alerts", {})),
            future_dated_grace=timedelta(
                seconds=float(raw.get("future_dated", {}).get("grace_seconds", 3600))
            ),
            firmware=_firmware(raw.get("firmware", {})),
            schedules=_schedules(raw.get("schedules", {})),
            delivery=_delivery(raw.get("outbox", {})),
            delivered_retention=_retention(raw.get("outbox", {})),
            source=source,
            broker_url=hub.get("broker_url") or os.environ.get("BROKER_URL") or None,
            broker_prefix=_broker_prefix(hub.get("broker_prefix", "opendcc")),
            processes=_processes(raw.get("processes", {})),
        )
    except (KeyError, ValueError, OSError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{source or 'configuration'}: {exc!r}") from exc


BROKER_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _broker_prefix(value: object) -> str:
    """A queue name's first part: letters, digits, ``.``, ``_``, ``-``; at most 100 characters
    (RabbitMQ's names take 255 bytes, and ``amq.`` is the server's own)."""
    if not isinstance(value, str) or not BROKER_PREFIX.fullmatch(value) or value.startswith("amq."):
        raise ConfigError(f"broker_prefix {value!r}: letters, digits, '.', '_', '-', not 'amq.'")
    return value


def _user(raw: dict[str, Any], base: Path) -> User:
    return User(
        user_id=Eui64.parse(raw["id"]),
        roles=frozenset(UserRole(role) for role in raw["roles"]),
        status=UserStatus(raw.get("status", "active")),
        callback_url=str(raw["callback_url"]),
        certificates=tuple(
            load_certificate((base / c).read_bytes()) for c in raw.get("certificates", [])
        ),
        thresholds=tuple(
            AnomalyThreshold(str(t["srv"]), int(t["max_requests"]), int(t["window_seconds"]))
            for t in raw.get("anomaly_thresholds", [])
        ),
    )


def _device(raw: dict[str, Any]) -> Device:
    return Device(
        device_id=Eui64.parse(raw["id"]),
        device_type=DeviceType(raw["type"]),
        smi_status=SmiStatus(raw.get("status", "commissioned")),
        manufacturer=str(raw.get("manufacturer", "")),
        model=str(raw.get("model", "")),
        cohort=raw.get("cohort"),
        mpxn=raw.get("mpxn"),
        firmware_version=raw.get("firmware_version"),
    )


def _migration(raw: dict[str, Any]) -> MigrationSettings:
    defaults = MigrationSettings()
    return MigrationSettings(
        max_attempts=int(raw.get("max_attempts", defaults.max_attempts)),
        retry_delays_minutes=tuple(
            float(m) for m in raw.get("retry_delays_minutes", defaults.retry_delays_minutes)
        ),
        concurrency=int(raw.get("concurrency", defaults.concurrency)),
        chunk=int(raw.get("chunk", defaults.chunk)),
    )


def _registration(raw: dict[str, Any]) -> Registration:
    effective = raw.get("from", datetime(2000, 1, 1, tzinfo=UTC))
    if isinstance(effective, str):
        effective = datetime.fromisoformat(effective)
    if effective.tzinfo is None:
        effective = effective.replace(tzinfo=UTC)
    return Registration(
        mpxn=str(raw["mpxn"]),
        role=UserRole(raw["role"]),
        user_id=Eui64.parse(raw["user"]),
        effective_from=effective,
    )


def _storm(raw: dict[str, Any]) -> StormPolicy:
    default = StormPolicy()
    return StormPolicy(
        device_limit=int(raw.get("device_limit", default.device_limit)),
        window_s=float(raw.get("window_seconds", default.window_s)),
        cohort_limit=int(raw.get("cohort_limit", default.cohort_limit)),
    )


def _delivery(raw: dict[str, Any]) -> DeliveryPolicy:
    default = DeliveryPolicy()
    policy = DeliveryPolicy(
        max_attempts=int(raw.get("max_attempts", default.max_attempts)),
        permanent_attempts=int(raw.get("permanent_attempts", default.permanent_attempts)),
    )
    if policy.max_attempts < 1 or policy.permanent_attempts < 1:
        raise ConfigError("[outbox] attempts are at least 1")
    return policy


def _retention(raw: dict[str, Any]) -> timedelta | None:
    hours = float(raw.get("retain_delivered_hours", 7 * 24))
    if hours < 0:
        raise ConfigError("[outbox] retain_delivered_hours is 0 (for ever) or more")
    return timedelta(hours=hours) if hours else None


def _firmware(raw: dict[str, Any]) -> FirmwareSettings:
    default = FirmwareSettings()
    return FirmwareSettings(
        attempts=int(raw.get("attempts", default.attempts)),
        backoff=timedelta(seconds=float(raw.get("backoff_seconds", default.backoff.seconds))),
        concurrency=int(raw.get("concurrency", default.concurrency)),
    )


def _schedules(raw: dict[str, Any]) -> ScheduleSettings:
    default = ScheduleSettings()

    def seconds(key: str, value: timedelta) -> timedelta:
        return timedelta(seconds=float(raw.get(key, value.total_seconds())))

    return ScheduleSettings(
        spread=seconds("spread_seconds", default.spread),
        concurrency=int(raw.get("concurrency", default.concurrency)),
        batch=int(raw.get("batch", default.batch)),
        lease=seconds("lease_seconds", default.lease),
        missed_window=seconds("missed_window_seconds", default.missed_window),
        in_hub=bool(raw.get("in_hub", default.in_hub)),
    )


def _seed(raw: dict[str, Any]) -> bytes:
    if "key_seed" not in raw:
        return DEFAULT_SEED
    try:
        return bytes.fromhex(str(raw["key_seed"]))
    except ValueError:
        raise ConfigError("[prepayment] key_seed is hex") from None


def _processes(raw: dict[str, Any]) -> ProcessSettings:
    default = ProcessSettings()

    def seconds(key: str, value: timedelta) -> timedelta:
        return timedelta(seconds=float(raw.get(key, value.total_seconds())))

    settings = ProcessSettings(
        gateways=int(raw.get("gateways", default.gateways)),
        workers=int(raw.get("workers", default.workers)),
        lease=seconds("lease_seconds", default.lease),
        poll_s=float(raw.get("poll_seconds", default.poll_s)),
        woken_poll_s=float(raw.get("woken_poll_seconds", default.woken_poll_s)),
        redeliver_after=seconds("redeliver_seconds", default.redeliver_after),
        sweep_s=float(raw.get("sweep_seconds", default.sweep_s)),
    )
    if settings.poll_s <= 0 or settings.woken_poll_s <= 0:
        raise ConfigError("[processes] poll_seconds and woken_poll_seconds are above 0")
    if settings.gateways < 1 or settings.workers < 1:
        raise ConfigError("[processes] needs at least one gateway and one worker")
    return settings
