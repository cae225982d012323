"""What the cohorts' head-ends said outside a request's answer: late replies, and the device
alerts they pushed as the alert room recorded them (``alerts.intake``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from opendcc.core.eui import Eui64
from opendcc.s1sp.contract import Outcome
from opendcc.store.tables import alerts, s1sp_late_replies


@dataclass(frozen=True, slots=True)
class LateReply:
    request_id: str
    cohort: str
    status: str
    detail: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ReceivedAlert:
    device_id: Eui64
    cohort: str
    code: int
    raised_at: datetime
    received_at: datetime
    values: dict[str, Any]


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    return value


class S1spLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def late_reply(self, cohort: str, outcome: Outcome, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(s1sp_late_replies).values(
                    request_id=outcome.request_id,
                    cohort=cohort,
                    status=str(outcome.status),
                    detail=outcome.detail[:256],
                    received_at=now,
                )
            )

    def late_replies(self) -> list[LateReply]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s1sp_late_replies).order_by(s1sp_late_replies.c.id))
            return [
                LateReply(r.request_id, r.cohort, r.status, r.detail, r.received_at) for r in rows
            ]

    def alerts(self, device_id: Eui64 | None = None) -> list[ReceivedAlert]:
        query = select(alerts).where(alerts.c.kind == "device").order_by(alerts.c.id)
        if device_id is not None:
            query = query.where(alerts.c.device_id == str(device_id))
        with self.engine.connect() as conn:
            return [
                ReceivedAlert(
                    Eui64.parse(r.device_id),
                    r.cohort,
                    int(r.code, 16),
                    r.raised_at,
                    r.received_at,
                    json.loads(r.alert_values),
                )
                for r in conn.execute(query)
            ]
