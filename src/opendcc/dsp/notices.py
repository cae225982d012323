"""Messages the DCC owes an S1SP, carried until its head-end has taken them.

A restriction set or cleared (``inventory.restriction``) or a meter decommissioned (DUIS 8.3,
``queue_in``) queues a notice in the same transaction; ``S1spNotices.run`` submits each due
notice to the cohort's adapter as a DCO-sealed instruction (id ``NOTICE-<row id>``, so a
resend after a crash is the same instruction, which the head-end carries out once) and records
it sent when the S1SP answers success. A head-end that is down or refuses is tried again with
backoff: notices are not lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from opendcc.core.clock import Clock
from opendcc.core.eui import Eui64
from opendcc.core.woken import woken
from opendcc.queue.outbox import backoff
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus
from opendcc.store.tables import s1sp_notices

log = logging.getLogger(__name__)

Submit = Callable[[str, Instruction], Awaitable[Outcome]]
POLL_S = 2.0
BATCH = 100


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    cohort: str
    instruction: Instruction
    attempts: int
    sent_at: datetime | None


def queue_in(
    conn: Connection,
    *,
    device_id: Eui64,
    cohort: str,
    srv: str,
    parameters: dict[str, str],
    now: datetime,
) -> None:
    """Queue a notice for ``cohort``'s S1SP in the caller's transaction (8.3's 99.3 ...)."""
    conn.execute(
        insert(s1sp_notices).values(
            device_id=str(device_id),
            cohort=cohort,
            srv=srv,
            parameters=json.dumps(parameters, sort_keys=True),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


class S1spNotices:
    def __init__(self, engine: Engine, clock: Clock, submit: Submit) -> None:
        self.engine = engine
        self.clock = clock
        self.submit = submit
        self.wake = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("delivering S1SP notices failed; trying again shortly")
            self.wake.clear()
            await woken(self.wake, POLL_S)

    async def deliver_due(self) -> int:
        """Submit every due notice once; returns how many the S1SPs took."""
        due = await asyncio.to_thread(self.due, self.clock.now())
        outcomes = await asyncio.gather(*(self._send(n) for n in due))
        return sum(outcomes)

    def due(self, now: datetime) -> list[Notice]:
        query = (
            select(s1sp_notices)
            .where(s1sp_notices.c.sent_at.is_(None))
            .where(s1sp_notices.c.next_attempt_at <= now)
            .order_by(s1sp_notices.c.id)
            .limit(BATCH)
        )
        with self.engine.connect() as conn:
            return [_notice(r) for r in conn.execute(query)]

    def all(self, device_id: Eui64 | None = None) -> list[Notice]:
        query = select(s1sp_notices).order_by(s1sp_notices.c.id)
        if device_id is not None:
            query = query.where(s1sp_notices.c.device_id == str(device_id))
        with self.engine.connect() as conn:
            return [_notice(r) for r in conn.execute(query)]

    def pending(self) -> int:
        query = select(func.count()).where(s1sp_notices.c.sent_at.is_(None))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    async def _send(self, notice: Notice) -> bool:
        try:
            outcome = await self.submit(notice.cohort, notice.instruction)
            ok = outcome.status is OutcomeStatus.SUCCESS
            error = "" if ok else f"{outcome.status}: {outcome.detail}"
        except Exception as exc:  # an adapter that raises is a head-end we could not use
            ok, error = False, f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(self._record, notice, ok, error)
        if not ok:
            log.info(
                "S1SP notice %d for %s not taken (%s); retrying", notice.id, notice.cohort, error
            )
        return ok

    def _record(self, notice: Notice, ok: bool, error: str) -> None:
        now = self.clock.now()
        values: dict[str, object] = {"attempts": notice.attempts + 1}
        if ok:
            values["sent_at"] = now
        else:
            values["next_attempt_at"] = now + max(
                backoff(notice.attempts + 1), timedelta(seconds=1)
            )
            values["last_error"] = error[:256]
        with self.engine.begin() as conn:
            conn.execute(
                update(s1sp_notices).where(s1sp_notices.c.id == notice.id).values(**values)
            )


def _notice(r: Any) -> Notice:
    instruction = Instruction(
        f"NOTICE-{r.id}",
        r.srv,
        Eui64.parse(r.device_id),
        json.loads(r.parameters),
    )
    return Notice(
        r.id,
        r.cohort,
        instruction,
        r.attempts,
        r.sent_at,
    )
