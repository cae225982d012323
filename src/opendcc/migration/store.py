"""Migration batches and installations in the store.

A batch is one supplier's migration file; it is identified by the submitter and the file's
SHA-256, so submitting the same file again resumes the same batch instead of migrating
anything twice. Loading commits a chunk of records at a time together with the batch's
``loaded_records`` count, so a crash mid-load resumes after the last committed chunk.
Each installation then moves through the migration lifecycle (``lifecycle``) by conditional
updates (``WHERE state = <expected>``): work that another run already did is skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from opendcc.catalogue import DeviceType
from opendcc.core.eui import Eui64
from opendcc.migration.lifecycle import (
    DUE,
    FailureCategory,
    InstallationState,
    check,
)
from opendcc.store.tables import migration_batches, migration_installations


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    submitter: Eui64
    file_name: str
    file_digest: str
    submitted_at: datetime
    loaded_records: int
    loaded: bool


@dataclass(frozen=True, slots=True)
class MigrationDevice:
    device_id: Eui64
    device_type: DeviceType
    manufacturer: str
    model: str

    def as_json(self) -> list[str]:
        return [str(self.device_id), self.device_type.value, self.manufacturer, self.model]

    @classmethod
    def from_json(cls, raw: Sequence[str]) -> MigrationDevice:
        return cls(Eui64.parse(raw[0]), DeviceType(raw[1]), raw[2], raw[3])


@dataclass(frozen=True, slots=True)
class Installation:
    batch_id: str
    record: int
    installation_id: str | None
    mode: str | None
    cohort: str | None
    state: InstallationState
    attempts: int
    due_at: datetime | None
    category: FailureCategory | None
    reasons: list[dict[str, str]]
    devices: list[MigrationDevice]

    @property
    def meters(self) -> list[MigrationDevice]:
        return [d for d in self.devices if d.device_type in (DeviceType.ESME, DeviceType.GSME)]


def batch_id_of(submitter: Eui64, digest: str) -> str:
    return "MB-" + hashlib.sha256(f"{submitter}:{digest}".encode()).hexdigest()[:16].upper()


class MigrationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ batches

    def open_batch(self, submitter: Eui64, file_name: str, digest: str, now: datetime) -> Batch:
        """The batch for this file from this submitter: created, or the one to resume."""
        batch_id = batch_id_of(submitter, digest)
        with self.engine.begin() as conn:
            if (
                conn.execute(
                    select(migration_batches.c.batch_id).where(
                        migration_batches.c.batch_id == batch_id
                    )
                ).first()
                is None
            ):
                conn.execute(
                    insert(migration_batches).values(
                        batch_id=batch_id,
                        submitter=str(submitter),
                        file_name=file_name[-512:],
                        file_digest=digest,
                        submitted_at=now,
                        loaded_records=0,
                        loaded=0,
                    )
                )
        batch = self.batch(batch_id)
        assert batch is not None
        return batch

    def batch(self, batch_id: str) -> Batch | None:
        found = self._batches(migration_batches.c.batch_id == batch_id)
        return found[0] if found else None

    def batches(self) -> list[Batch]:
        return self._batches(migration_batches.c.batch_id.is_not(None))

    def _batches(self, condition: Any) -> list[Batch]:
        query = (
            select(migration_batches).where(condition).order_by(migration_batches.c.submitted_at)
        )
        with self.engine.connect() as conn:
            return [
                Batch(
                    row.batch_id,
                    Eui64.parse(row.submitter),
                    row.file_name,
                    row.file_digest,
                    row.submitted_at,
                    row.loaded_records,
                    bool(row.loaded),
                )
                for row in conn.execute(query)
            ]

    def store_chunk_in(
        self, conn: Connection, batch_id: str, rows: Sequence[dict[str, Any]], loaded: int
    ) -> None:
        """Insert a chunk of installation rows and advance ``loaded_records`` to ``loaded``."""
        if rows:
            conn.execute(insert(migration_installations), list(rows))
        conn.execute(
            update(migration_batches)
            .where(migration_batches.c.batch_id == batch_id)
            .values(loaded_records=loaded)
        )

    def finish_load(self, batch_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(migration_batches)
                .where(migration_batches.c.batch_id == batch_id)
                .values(loaded=1)
            )

    # ------------------------------------------------------------------ installations

    def due(self, now: datetime, limit: int, batch_id: str | None = None) -> list[Installation]:
        """Installations with work due at ``now``, oldest due first."""
        query = (
            select(migration_installations)
            .where(migration_installations.c.state.in_([s.value for s in DUE]))
            .where(migration_installations.c.due_at <= now)
            .order_by(migration_installations.c.due_at, migration_installations.c.record)
            .limit(limit)
        )
        if batch_id is not None:
            query = query.where(migration_installations.c.batch_id == batch_id)
        with self.engine.connect() as conn:
            return [_installation_of(row) for row in conn.execute(query)]

    def due_count(self, now: datetime, batch_id: str | None = None) -> int:
        query = (
            select(func.count())
            .select_from(migration_installations)
            .where(migration_installations.c.state.in_([s.value for s in DUE]))
            .where(migration_installations.c.due_at <= now)
        )
        if batch_id is not None:
            query = query.where(migration_installations.c.batch_id == batch_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def next_due_at(self, batch_id: str | None = None) -> datetime | None:
        """When the next installation with work left falls due, if any has work left."""
        query = select(func.min(migration_installations.c.due_at)).where(
            migration_installations.c.state.in_([s.value for s in DUE])
        )
        if batch_id is not None:
            query = query.where(migration_installations.c.batch_id == batch_id)
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value

    def move_in(
        self,
        conn: Connection,
        installation: Installation,
        target: InstallationState,
        now: datetime,
        **values: Any,
    ) -> bool:
        """Move one installation from its state as read to ``target``; False when another run
        moved it first (nothing is changed then)."""
        check(installation.state, target)
        if "reasons" in values:
            values["reasons"] = json.dumps(values["reasons"])
        result = conn.execute(
            update(migration_installations)
            .where(
                and_(
                    migration_installations.c.batch_id == installation.batch_id,
                    migration_installations.c.record == installation.record,
                    migration_installations.c.state == installation.state.value,
                    migration_installations.c.attempts == installation.attempts,
                )
            )
            .values(state=target.value, updated_at=now, **values)
        )
        return result.rowcount == 1

    def installations(
        self, batch_id: str, installation_id: str | None = None
    ) -> list[Installation]:
        query = (
            select(migration_installations)
            .where(migration_installations.c.batch_id == batch_id)
            .order_by(migration_installations.c.record)
        )
        if installation_id is not None:
            query = query.where(migration_installations.c.installation_id == installation_id)
        with self.engine.connect() as conn:
            return [_installation_of(row) for row in conn.execute(query)]

    def by_installation_id(self, installation_id: str) -> list[Installation]:
        query = select(migration_installations).where(
            migration_installations.c.installation_id == installation_id
        )
        with self.engine.connect() as conn:
            return [_installation_of(row) for row in conn.execute(query)]

    def counts(self, batch_id: str) -> dict[tuple[str, str | None], int]:
        """Installations per (state, category)."""
        query = (
            select(
                migration_installations.c.state,
                migration_installations.c.category,
                func.count(),
            )
            .where(migration_installations.c.batch_id == batch_id)
            .group_by(migration_installations.c.state, migration_installations.c.category)
        )
        with self.engine.connect() as conn:
            return {(state, category): n for state, category, n in conn.execute(query)}


def installation_row(
    batch_id: str,
    record: int,
    state: InstallationState,
    now: datetime,
    **values: Any,
) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "record": record,
        "installation_id": values.get("installation_id"),
        "mode": values.get("mode"),
        "cohort": values.get("cohort"),
        "state": state.value,
        "attempts": 0,
        "due_at": values.get("due_at"),
        "category": None,
        "reasons": json.dumps(values.get("reasons", [])),
        "devices": json.dumps([d.as_json() for d in values.get("devices", [])]),
        "updated_at": now,
    }


def _installation_of(row: Any) -> Installation:
    return Installation(
        row.batch_id,
        row.record,
        row.installation_id,
        row.mode,
        row.cohort,
        InstallationState(row.state),
        row.attempts,
        row.due_at,
        None if row.category is None else FailureCategory(row.category),
        json.loads(row.reasons),
        [MigrationDevice.from_json(d) for d in json.loads(row.devices)],
    )
