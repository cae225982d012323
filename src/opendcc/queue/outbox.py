"""The outbox: signed responses and alerts on their way to Users' callback URLs.

Each message is written in the same transaction as the outcome it reports, under a unique key
(its DUIS ResponseID or AlertID), and POSTed to the User's endpoint until the endpoint answers
2xx: at least once, with exponential backoff while it is down. Each POST carries the key in the
``X-DCC-Message-ID`` header (and the ResponseID in the document), so a User de-duplicates a
redelivery. When the message answers a request, delivery moves the request to DELIVERED.

Not for ever: after ``DeliveryPolicy.max_attempts`` failures (``permanent_attempts`` when the
endpoint refuses the message itself with a permanent 4xx such as 400, 404 or 410) the message
is dead-lettered (``queue.deadletters``): moved out of the outbox, kept and shown, until the
service desk or the User redrives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, insert, or_, select, update

from opendcc.core.clock import Clock
from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.httpclient import HttpClient, HttpError
from opendcc.queue.deadletters import DeliveryPolicy, bury_in, is_permanent
from opendcc.store.group import GroupCommit, write
from opendcc.store.requests import RequestStore
from opendcc.store.tables import outbox

log = logging.getLogger(__name__)

BACKOFF_FIRST = timedelta(milliseconds=500)
BACKOFF_MAX = timedelta(seconds=30)
DELIVERY_TIMEOUT = 10.0  # seconds for the User's endpoint to answer one POST


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 0.5 s doubling, at most 30 s."""
    wait: timedelta = BACKOFF_FIRST * 2 ** max(attempts - 1, 0)
    return min(wait, BACKOFF_MAX)


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    user_id: str
    url: str
    body: bytes
    request_id: RequestId | None = None
    # Messages sharing a key go out one at a time, oldest first (an alert's User and device).
    ordering_key: str | None = None
    # Bulk messages (DCC-scheduled runs' Responses) are delivered after every interactive one.
    bulk: bool = False


class Outbox:
    def __init__(
        self, engine: Engine, requests: RequestStore, policy: DeliveryPolicy | None = None
    ) -> None:
        self.engine = engine
        self.requests = requests
        self.policy = policy or DeliveryPolicy()
        # The hub's group commit, when it has one: claims and deliveries join its batches.
        self.group: GroupCommit | None = None

    @staticmethod
    def put_in(
        conn: Connection, message: Message, now: datetime, alert_id: int | None = None
    ) -> None:
        Outbox.put_many_in(conn, [(message, alert_id)], now)

    @staticmethod
    def put_many_in(
        conn: Connection, messages: Sequence[tuple[Message, int | None]], now: datetime
    ) -> None:
        """Write messages (each with the alert it carries, if any) in one statement."""
        if not messages:
            return
        conn.execute(
            insert(outbox),
            [
                {
                    "message_key": m.key,
                    "user_id": m.user_id,
                    "request_id": str(m.request_id) if m.request_id else None,
                    "url": m.url,
                    "body": m.body,
                    "created_at": now,
                    "next_attempt_at": now,
                    "attempts": 0,
                    "ordering_key": m.ordering_key,
                    "alert_id": alert_id,
                    "bulk": m.bulk,
                }
                for m, alert_id in messages
            ],
        )

    def claim(self, now: datetime, limit: int, lease: timedelta) -> list[tuple[int, Message]]:
        free = or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
        # An ordered message waits while an older one with its key is undelivered.
        earlier = outbox.alias("earlier")
        first_in_line = or_(
            outbox.c.ordering_key.is_(None),
            ~exists()
            .where(earlier.c.ordering_key == outbox.c.ordering_key)
            .where(earlier.c.delivered_at.is_(None))
            .where(earlier.c.id < outbox.c.id),
        )
        # Look in a read first (a snapshot, no lock): an idle deliverer's polls and its last,
        # empty, claim take no write lock and commit nothing.
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.delivered_at.is_(None))
                # Read in (bulk, id) order straight off ix_outbox_bulk: comparing the time
                # through coalesce() keeps the planner off the (delivered_at, next_attempt_at)
                # index, with which SQLite sorted the whole backlog for every claim.
                .where(func.coalesce(outbox.c.next_attempt_at, outbox.c.next_attempt_at) <= now)
                .where(free)
                .where(first_in_line)
                .order_by(outbox.c.bulk, outbox.c.id)
                .limit(limit)
            ).all()
        if not rows:
            return []
        return write(self.engine, self.group, lambda conn: self._lease(conn, rows, now, lease))

    @staticmethod
    def _lease(
        conn: Connection, rows: Sequence[Any], now: datetime, lease: timedelta
    ) -> list[tuple[int, Message]]:
        free = or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
        claimed = []
        for row in rows:
            won = conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .where(outbox.c.delivered_at.is_(None))  # read above, outside this one
                .where(free)
                .values(lease_until=now + lease)
            )
            if won.rowcount == 1:
                request_id = RequestId.parse(row.request_id) if row.request_id else None
                claimed.append(
                    (
                        row.id,
                        Message(
                            row.message_key,
                            row.user_id,
                            row.url,
                            row.body,
                            request_id,
                            row.ordering_key,
                            bool(row.bulk),
                        ),
                    )
                )
        return claimed

    def delivered(self, row_id: int, message: Message, now: datetime) -> None:
        self.delivered_all([(row_id, message)], now)

    def delivered_all(self, items: list[tuple[int, Message]], now: datetime) -> None:
        """Mark messages delivered, and the requests they answer DELIVERED, in one commit."""
        write(self.engine, self.group, lambda conn: self._delivered_in(conn, items, now))

    def _delivered_in(
        self, conn: Connection, items: list[tuple[int, Message]], now: datetime
    ) -> None:
        for row_id, message in items:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(delivered_at=now, lease_until=None, attempts=outbox.c.attempts + 1)
            )
            if message.request_id is None:
                continue
            state = self.requests.state_in(conn, message.request_id)
            if state is not RequestState.DELIVERED:  # one read: moved from what it read
                self.requests.advance_in(
                    conn, message.request_id, state, [RequestState.DELIVERED], now=now
                )

    def failed(
        self, row_id: int, attempts: int, error: str, now: datetime, *, permanent: bool = False
    ) -> bool:
        """Record a failed attempt (the ``attempts`` before it); True when that was the last
        the policy allows and the message is now a dead letter."""
        with self.engine.begin() as conn:
            if self.policy.gives_up(attempts + 1, permanent=permanent):
                return bury_in(conn, row_id, attempts + 1, error, now, permanent=permanent)
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(
                    attempts=attempts + 1,
                    next_attempt_at=now + backoff(attempts + 1),
                    lease_until=None,
                    last_error=error[:512],
                )
            )
        return False

    def attempts(self, row_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(outbox.c.attempts).where(outbox.c.id == row_id)).scalar_one()
            )

    def release_all(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox).where(outbox.c.lease_until.is_not(None)).values(lease_until=None)
            )

    def undelivered(self) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
            return int(conn.execute(query).scalar_one())


class Deliverer:
    """Posts due outbox messages; one asyncio task, many POSTs in flight."""

    def __init__(
        self,
        box: Outbox,
        clock: Clock,
        *,
        concurrency: int = 128,  # messages claimed, posted and recorded together
        poll: float = 0.2,
        client_factory: Callable[[], HttpClient] | None = None,
    ) -> None:
        self.box = box
        self.clock = clock
        self.concurrency = concurrency
        self.poll = poll
        self.wake = asyncio.Event()
        self._client_factory = client_factory or (lambda: HttpClient(timeout_s=DELIVERY_TIMEOUT))

    async def run(self) -> None:
        lease = timedelta(seconds=DELIVERY_TIMEOUT * 3)
        recording: asyncio.Task[None] | None = None  # the last batch's deliveries being written
        async with self._client_factory() as client:
            try:
                while True:
                    try:
                        batch = await asyncio.to_thread(
                            self.box.claim, self.clock.now(), self.concurrency, lease
                        )
                    except Exception:
                        log.exception("claiming outbox messages failed; trying again shortly")
                        await asyncio.sleep(self.poll)
                        continue
                    if batch:
                        posted = await asyncio.gather(*(self._post(client, i, m) for i, m in batch))
                        taken = [item for item in posted if item is not None]
                        # Written while the next batch is claimed and posted (their leases
                        # keep them from being claimed again meanwhile); one write at a time.
                        if recording is not None:
                            await recording
                        recording = asyncio.create_task(self._record(taken)) if taken else None
                        continue
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), self.poll)
            finally:
                if recording is not None:
                    await asyncio.shield(recording)

    async def _record(self, taken: list[tuple[int, Message]]) -> None:
        try:
            await asyncio.to_thread(self.box.delivered_all, taken, self.clock.now())
        except Exception:
            # The leases run out and these go again: at least once.
            log.exception("recording %d deliveries failed", len(taken))

    async def _post(
        self, client: HttpClient, row_id: int, message: Message
    ) -> tuple[int, Message] | None:
        """POST one message; the message when the User took it, else None (retry recorded)."""
        headers = (("Content-Type", "application/xml"), ("X-DCC-Message-ID", message.key))
        status: int | None = None
        try:
            answer = await client.post(message.url, message.body, headers=headers)
            ok, status = answer.ok, answer.status
            error = "" if ok else f"HTTP {answer.status}"
        except HttpError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if ok:
            return row_id, message
        try:
            attempts = await asyncio.to_thread(self.box.attempts, row_id)
            dead = await asyncio.to_thread(
                functools.partial(
                    self.box.failed,
                    row_id,
                    attempts,
                    error,
                    self.clock.now(),
                    permanent=is_permanent(status),
                )
            )
            if dead:
                log.warning(
                    "delivery of %s to %s failed %d times (%s): dead-lettered",
                    message.key,
                    message.url,
                    attempts + 1,
                    error,
                )
            else:
                log.info(
                    "delivery of %s to %s failed (%s); retrying", message.key, message.url, error
                )
        except Exception:
            # Recording the outcome failed: the lease runs out and the message goes again
            # (at least once; the User de-duplicates by its key).
            log.exception("recording the failed delivery of %s failed", message.key)
        return None
