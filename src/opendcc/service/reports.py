"""The reports Users expect from the SSI, each a table with a CSV form: installation status
(the migration's installations by cohort, mode, state and failure category), device status,
device status and firmware, device status and model, monthly transactions.

A DCC User's reports cover its own devices (metering points it holds a role for now), the
installations of the migration files it submitted and its own requests; the service desk's
cover everything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, String, cast, func, select

from opendcc.inventory.extract import ANY_ROLE, held_mpxns
from opendcc.service.incidents import Actor
from opendcc.store.tables import (
    devices,
    migration_batches,
    migration_installations,
    service_requests,
)

NAMES = {
    "installation-status": "Installation status",
    "device-status": "Device status",
    "device-firmware": "Device status and firmware",
    "device-model": "Device status and model",
    "monthly-transactions": "Monthly transactions",
}


class UnknownReport(LookupError):
    """No report of that name."""


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buffer.getvalue()


def build(engine: Engine, actor: Actor, name: str, now: datetime) -> Report:
    if name not in NAMES:
        raise UnknownReport(f"no report {name[:40]!r}")
    d, s = devices, service_requests
    if name == "monthly-transactions":
        month = func.substr(cast(s.c.received_at, String(32)), 1, 7)
        query = select(month, s.c.srv, s.c.state, func.count()).group_by(month, s.c.srv, s.c.state)
        if not actor.desk:
            query = query.where(s.c.originator == str(actor.user_id))
        columns: Sequence[str] = ("month", "srv", "state", "requests")
    elif name == "installation-status":
        m, b = migration_installations, migration_batches
        groups = (m.c.cohort, m.c.mode, m.c.state, m.c.category)
        query = select(*groups, func.count()).group_by(*groups)
        if not actor.desk:  # the installations of the migration files the User submitted
            mine = select(b.c.batch_id).where(b.c.submitter == str(actor.user_id))
            query = query.where(m.c.batch_id.in_(mine))
        columns = ("cohort", "mode", "state", "failure_category", "installations")
    else:
        keys = {
            "device-status": (d.c.device_type, d.c.smi_status),
            "device-firmware": (d.c.smi_status, d.c.manufacturer, d.c.model, d.c.firmware_version),
            "device-model": (d.c.smi_status, d.c.manufacturer, d.c.model),
        }[name]
        query = select(*keys, func.count()).group_by(*keys)
        if not actor.desk and actor.user_id is not None:
            query = query.where(d.c.mpxn.in_(held_mpxns(actor.user_id, ANY_ROLE, now)))
        columns = (*(k.name for k in keys), "devices")
    with engine.connect() as conn:
        rows = tuple(
            sorted((tuple("" if v is None else v for v in r) for r in conn.execute(query)), key=str)
        )
    return Report(name, NAMES[name], tuple(columns), rows)
