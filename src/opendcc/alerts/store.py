"""The alert room's tables: Users' subscriptions, the alert record, the diagnostics log and the
firmware watch.

- ``Subscriptions``: a User turns a non-mandatory alert code on ("on", subscribed) or off
  ("off", suppressed); mandatory alerts cannot be turned off.
- ``AlertRecord``: what the hub took in and what became of it; a User lists and fetches its
  own recent alerts (the signed documents, exactly as delivered or still waiting).
- ``FirmwareWatch``: MP169 risk R-001: a restricted device whose firmware updates keep failing
  is flagged to its supplier once ``threshold`` failures come in a row.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from opendcc.alerts.codes import device_alert_spec
from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64
from opendcc.store.cache import TtlCache
from opendcc.store.tables import (
    alert_diagnostics,
    alert_subscriptions,
    alerts,
    firmware_watch,
    outbox,
)


class Choice(StrEnum):
    ON = "on"
    OFF = "off"


class SubscriptionRefused(DuisError):
    """A mandatory alert cannot be turned off, or the code is not an alert code."""


class Subscriptions:
    def __init__(self, engine: Engine, cache_seconds: float = 1.0) -> None:
        self.engine = engine
        self._choices: TtlCache[Eui64, dict[int, Choice]] = TtlCache(cache_seconds)

    def choose(self, user_id: Eui64, code: int, choice: Choice, now: datetime) -> None:
        spec = device_alert_spec(code)
        if spec.mandatory and choice is Choice.OFF:
            raise SubscriptionRefused(
                f"alert {spec.hex} ({spec.description}) is mandatory: it cannot be suppressed",
                http_status=409,
            )
        key = {"user_id": str(user_id), "code": spec.hex}
        with self.engine.begin() as conn:
            conn.execute(
                delete(alert_subscriptions)
                .where(alert_subscriptions.c.user_id == key["user_id"])
                .where(alert_subscriptions.c.code == key["code"])
            )
            conn.execute(
                insert(alert_subscriptions).values(**key, choice=choice.value, updated_at=now)
            )
        self._choices.clear()

    def reset(self, user_id: Eui64, code: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(alert_subscriptions)
                .where(alert_subscriptions.c.user_id == str(user_id))
                .where(alert_subscriptions.c.code == f"{code:04X}")
            )
        self._choices.clear()

    def of(self, user_id: Eui64) -> dict[int, Choice]:
        return self._choices.get(user_id, lambda: self._load(user_id))

    def wants(self, user_id: Eui64, code: int) -> bool:
        spec = device_alert_spec(code)
        if spec.mandatory:
            return True
        choice = self.of(user_id).get(code)
        return spec.default_on if choice is None else choice is Choice.ON

    def _load(self, user_id: Eui64) -> dict[int, Choice]:
        query = select(alert_subscriptions).where(alert_subscriptions.c.user_id == str(user_id))
        with self.engine.connect() as conn:
            return {int(r.code, 16): Choice(r.choice) for r in conn.execute(query)}


@dataclass(frozen=True, slots=True)
class RecordedAlert:
    id: int
    kind: str
    code: str
    device_id: Eui64 | None
    cohort: str | None
    raised_at: datetime
    received_at: datetime
    values: dict[str, Any]
    disposition: str
    recipients: int


@dataclass(frozen=True, slots=True)
class UserAlert:
    """One alert message for one User: its AlertID, state and the signed document."""

    alert_id: str
    alert: int | None  # the alert record's id
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    last_error: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Diagnostic:
    device_id: Eui64
    cohort: str
    code: str
    raised_at: datetime
    received_at: datetime
    values: dict[str, Any]
    reason: str


class AlertRecord:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def alerts(self, device_id: Eui64 | None = None, limit: int = 1000) -> list[RecordedAlert]:
        query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if device_id is not None:
            query = query.where(alerts.c.device_id == str(device_id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_recorded(r) for r in reversed(rows)]

    def for_user(
        self, user_id: Eui64, *, since: datetime | None = None, limit: int = 100
    ) -> list[UserAlert]:
        """A User's most recent alert messages, oldest first (at most ``limit``)."""
        query = (
            select(outbox)
            .where(outbox.c.user_id == str(user_id))
            .where(outbox.c.message_key.like("alert:%"))
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(outbox.c.created_at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_user_alert(r) for r in reversed(rows)]

    def fetch(self, user_id: Eui64, alert_id: str) -> UserAlert | None:
        query = (
            select(outbox)
            .where(outbox.c.user_id == str(user_id))
            .where(outbox.c.message_key == f"alert:{alert_id}")
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _user_alert(row)

    def diagnostics(self, device_id: Eui64 | None = None, limit: int = 1000) -> list[Diagnostic]:
        query = select(alert_diagnostics).order_by(alert_diagnostics.c.id.desc()).limit(limit)
        if device_id is not None:
            query = query.where(alert_diagnostics.c.device_id == str(device_id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Diagnostic(
                Eui64.parse(r.device_id),
                r.cohort,
                r.code,
                r.raised_at,
                r.received_at,
                json.loads(r.alert_values),
                r.reason,
            )
            for r in reversed(rows)
        ]


def _recorded(r: Any) -> RecordedAlert:
    return RecordedAlert(
        r.id,
        r.kind,
        r.code,
        Eui64.parse(r.device_id) if r.device_id else None,
        r.cohort,
        r.raised_at,
        r.received_at,
        json.loads(r.alert_values),
        r.disposition,
        r.recipients,
    )


def _user_alert(r: Any) -> UserAlert:
    return UserAlert(
        r.message_key.removeprefix("alert:"),
        r.alert_id,
        r.created_at,
        r.delivered_at,
        r.attempts,
        r.last_error,
        r.body,
    )


@dataclass(frozen=True, slots=True)
class Watched:
    device_id: Eui64
    failures: int
    last_failure_at: datetime | None
    last_detail: str
    flagged_at: datetime | None


class FirmwareWatch:
    """Counts firmware failures in a row per restricted device; flags at ``threshold``."""

    def __init__(self, engine: Engine, threshold: int = 3) -> None:
        if threshold < 1:
            raise ValueError("the firmware watch threshold is at least 1")
        self.engine = engine
        self.threshold = threshold

    def failed_in(self, conn: Connection, device_id: Eui64, detail: str, at: datetime) -> bool:
        """Record a failure; True when this one makes the device due to be flagged."""
        key = str(device_id)
        row = conn.execute(select(firmware_watch).where(firmware_watch.c.device_id == key)).first()
        if row is None:
            conn.execute(
                insert(firmware_watch).values(
                    device_id=key, failures=1, last_failure_at=at, last_detail=detail[:256]
                )
            )
            failures, flagged = 1, None
        else:
            failures, flagged = row.failures + 1, row.flagged_at
            conn.execute(
                update(firmware_watch)
                .where(firmware_watch.c.device_id == key)
                .values(failures=failures, last_failure_at=at, last_detail=detail[:256])
            )
        if flagged is None and failures >= self.threshold:
            conn.execute(
                update(firmware_watch)
                .where(firmware_watch.c.device_id == key)
                .values(flagged_at=at)
            )
            return True
        return False

    def succeeded_in(self, conn: Connection, device_id: Eui64) -> None:
        """A firmware update took: the count starts again and the flag is lifted."""
        conn.execute(delete(firmware_watch).where(firmware_watch.c.device_id == str(device_id)))

    def flagged(self, device_ids: Collection[Eui64] | None = None) -> list[Watched]:
        query = select(firmware_watch).where(firmware_watch.c.flagged_at.is_not(None))
        if device_ids is not None:
            query = query.where(firmware_watch.c.device_id.in_([str(d) for d in device_ids]))
        with self.engine.connect() as conn:
            return [_watched(r) for r in conn.execute(query.order_by(firmware_watch.c.device_id))]

    def of(self, device_id: Eui64) -> Watched | None:
        query = select(firmware_watch).where(firmware_watch.c.device_id == str(device_id))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _watched(row)


def _watched(r: Any) -> Watched:
    return Watched(
        Eui64.parse(r.device_id), r.failures, r.last_failure_at, r.last_detail, r.flagged_at
    )


def values_json(values: Mapping[str, Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, tuple | list):
            return [plain(item) for item in value]
        return value

    return json.dumps({k: plain(v) for k, v in values.items()}, sort_keys=True)
