"""The durable alert intake: every alert the hub takes from a head-end, committed before the
head-end is acknowledged (or polled past it), then routed from here.

``IntakeStore.take`` writes a batch of alerts in one transaction (a group commit: one commit
for however many alerts arrived while the last one was being written). An alert that carries
its head-end's id (``DeviceAlert.alert_id``) is written once per cohort: a redelivery, from a
head-end that did not see the acknowledgement (the hub was killed before it went out, or the
connection dropped), is recognised and taken as already held. ``routed_in`` marks alerts
routed inside the router's own transaction, so an alert is routed exactly once; ``unrouted``
gives what a killed hub left behind. Routed rows are kept ``KEEP`` (the window in which a
redelivery is recognised), then ``prune`` drops them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from opendcc.core.eui import Eui64
from opendcc.s1sp.contract import DeviceAlert
from opendcc.store.tables import alert_intake

KEEP = timedelta(days=1)  # routed alerts are remembered (for de-duplication) this long
_IN_CHUNK = 400  # source ids per IN (...) lookup: under every driver's parameter limit


def encode_values(values: Mapping[str, Any]) -> str:
    """An alert's values as JSON that ``decode_values`` turns back into the same Datum values
    (int, str, date-time, tuples of those): date-times tagged, tuples as lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return {"t": value.isoformat()}
        if isinstance(value, tuple | list):
            return [plain(item) for item in value]
        return value

    return json.dumps({name: plain(value) for name, value in values.items()}, sort_keys=True)


def decode_values(text: str) -> dict[str, Any]:
    def back(value: Any) -> Any:
        if isinstance(value, dict):
            return datetime.fromisoformat(value["t"])
        if isinstance(value, list):
            return tuple(back(item) for item in value)
        return value

    return {name: back(value) for name, value in json.loads(text).items()}


class IntakeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(self, alerts: Sequence[tuple[str, DeviceAlert]], now: datetime) -> list[int | None]:
        """Commit a batch of (cohort, alert) in one transaction; for each, its intake id, or
        None for one already held (a redelivery, before or within this batch)."""
        with self.engine.begin() as conn:
            held = self._held_in(conn, {(c, a.alert_id) for c, a in alerts if a.alert_id})
            rows: list[dict[str, object]] = []
            fresh: list[int] = []  # positions of the alerts written
            for position, (cohort, alert) in enumerate(alerts):
                if alert.alert_id is not None:
                    if (cohort, alert.alert_id) in held:
                        continue
                    held.add((cohort, alert.alert_id))
                fresh.append(position)
                rows.append(
                    {
                        "cohort": cohort,
                        "source_id": alert.alert_id,
                        "device_id": str(alert.device_id),
                        "code": alert.code,
                        "raised_at": alert.raised_at,
                        "alert_values": encode_values(alert.values),
                        "received_at": now,
                    }
                )
            ids: list[int | None] = [None] * len(alerts)
            if rows:
                written = conn.execute(
                    insert(alert_intake).returning(alert_intake.c.id, sort_by_parameter_order=True),
                    rows,
                ).scalars()
                for position, row_id in zip(fresh, written, strict=True):
                    ids[position] = int(row_id)
        return ids

    @staticmethod
    def _held_in(conn: Connection, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (cohort, source id) are already in the intake."""
        found: set[tuple[str, str]] = set()
        by_cohort: dict[str, list[str]] = {}
        for cohort, source in sorted(keys):
            by_cohort.setdefault(cohort, []).append(source)
        for cohort, sources in by_cohort.items():
            for start in range(0, len(sources), _IN_CHUNK):
                # Cohort first: the lookup runs down the (cohort, source_id) unique index.
                rows = conn.execute(
                    select(alert_intake.c.source_id)
                    .where(alert_intake.c.cohort == cohort)
                    .where(alert_intake.c.source_id.in_(sources[start : start + _IN_CHUNK]))
                ).scalars()
                found.update((cohort, source) for source in rows)
        return found

    @staticmethod
    def routed_in(conn: Connection, ids: Iterable[int], now: datetime) -> None:
        """Mark alerts routed, in the router's transaction; raises if one already was (another
        router took it), so that transaction rolls back rather than route it twice."""
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            done = conn.execute(
                update(alert_intake)
                .where(alert_intake.c.id.in_(chunk))
                .where(alert_intake.c.routed_at.is_(None))
                .values(routed_at=now)
            )
            if done.rowcount != len(chunk):
                raise RuntimeError("alerts in this batch were already routed")

    def last_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(alert_intake.c.id))).scalar() or 0)

    def unrouted(self, after: int, up_to: int, limit: int) -> list[tuple[int, str, DeviceAlert]]:
        """Alerts taken but not routed (a hub killed in between), oldest first:
        (intake id, cohort, alert) with ``after`` < id <= ``up_to``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_intake)
                .where(alert_intake.c.routed_at.is_(None))
                .where(alert_intake.c.id > after, alert_intake.c.id <= up_to)
                .order_by(alert_intake.c.id)
                .limit(limit)
            ).all()
        return [
            (
                int(row.id),
                row.cohort,
                DeviceAlert(
                    Eui64.parse(row.device_id),
                    int(row.code),
                    row.raised_at,
                    decode_values(row.alert_values),
                    row.source_id,
                ),
            )
            for row in rows
        ]

    def pending(self) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).where(alert_intake.c.routed_at.is_(None))
            return int(conn.execute(query).scalar_one())

    def prune(self, now: datetime, keep: timedelta = KEEP) -> int:
        """Forget routed alerts older than ``keep``; how many."""
        cutoff = now - keep
        with self.engine.begin() as conn:
            gone = conn.execute(delete(alert_intake).where(alert_intake.c.routed_at < cutoff))
        return int(gone.rowcount or 0)
