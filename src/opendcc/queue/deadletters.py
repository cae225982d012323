"""Dead letters: outbox messages a User's endpoint could not be made to take.

The outbox retries each message with backoff, but not for ever (``DeliveryPolicy``): a message
refused permanently (a 4xx that says the message itself is unwelcome: 400, 404, 405, 410, 413,
414, 415, 422) is tried ``permanent_attempts`` times, any other failure (no connection, a 5xx,
408, 429, 401/403 ...) ``max_attempts`` times. Then the message is **dead-lettered**: moved out
of the outbox (so it holds up nothing, not even a device's later alerts, which are ordered
behind it) into ``dead_letters``, where it is kept, with its attempts and last error, until it
is **redriven**: put back in the outbox as a fresh message under the same key (so the User
de-duplicates it as before), to the User's callback URL now (the User may have mended it).

Who sees and redrives: the service desk, every User's (``opendcc deadletters``, and the admin
API with a desk key); a User, its own (the admin API with its own key). ``list_dead`` and
``count_by_user`` are what the SSI (Self Service Interface) shows (``/ssi/dead-letters``), and
``dead_since`` is what the service monitor raises a User's incident from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, case, delete, func, insert, select

from opendcc.store.raw import RawStatement
from opendcc.store.tables import dead_letters, outbox

# 4xx answers that say the message will never be taken as it is; 408 (timeout) and 429 (too
# many requests) say "later", and 401/403 are usually the User's own configuration, mended
# without the message changing: those are retried like a 5xx.
PERMANENT_STATUSES = frozenset({400, 404, 405, 410, 413, 414, 415, 422})


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How many times a message is tried before it is dead-lettered."""

    max_attempts: int = 100  # any failure: about 48 minutes once backoff reaches its 30 s cap
    permanent_attempts: int = 3  # a permanent refusal (PERMANENT_STATUSES)

    def gives_up(self, attempts: int, *, permanent: bool) -> bool:
        """Whether a message that has now failed ``attempts`` times is dead-lettered."""
        return attempts >= (self.permanent_attempts if permanent else self.max_attempts)


def is_permanent(status: int | None) -> bool:
    return status in PERMANENT_STATUSES


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    message_key: str
    user_id: str
    request_id: str | None
    url: str
    created_at: datetime
    dead_at: datetime
    attempts: int
    last_error: str
    permanent: bool
    alert_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_key": self.message_key,
            "user_id": self.user_id,
            "request_id": self.request_id,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "dead_at": self.dead_at.isoformat(),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "permanent": self.permanent,
            "kind": "alert" if self.message_key.startswith("alert:") else "response",
        }


_COLUMNS = (
    dead_letters.c.id,
    dead_letters.c.message_key,
    dead_letters.c.user_id,
    dead_letters.c.request_id,
    dead_letters.c.url,
    dead_letters.c.created_at,
    dead_letters.c.dead_at,
    dead_letters.c.attempts,
    dead_letters.c.last_error,
    dead_letters.c.permanent,
    dead_letters.c.alert_id,
)


_o = outbox.c
# Move an undelivered outbox row to the dead letters: copied in SQL (the row's own values, as
# stored), then deleted. On the DBAPI cursor (``store.raw``): the deliverer's batch records its
# failures in the group commit.
_BURY = RawStatement(
    insert(dead_letters).from_select(
        [
            "message_key",
            "user_id",
            "request_id",
            "url",
            "body",
            "created_at",
            "dead_at",
            "attempts",
            "last_error",
            "permanent",
            "ordering_key",
            "alert_id",
            "bulk",
        ],
        select(
            _o.message_key,
            _o.user_id,
            _o.request_id,
            _o.url,
            _o.body,
            _o.created_at,
            bindparam("now", type_=dead_letters.c.dead_at.type),
            bindparam("attempts", type_=dead_letters.c.attempts.type),
            bindparam("error", type_=dead_letters.c.last_error.type),
            bindparam("permanent", type_=dead_letters.c.permanent.type),
            _o.ordering_key,
            _o.alert_id,
            _o.bulk,
        )
        .where(_o.id == bindparam("id"))
        .where(_o.delivered_at.is_(None)),
    )
)
_UNQUEUE = RawStatement(delete(outbox).where(_o.id == bindparam("id")))


def bury_in(
    conn: Connection, row_id: int, attempts: int, error: str, now: datetime, *, permanent: bool
) -> bool:
    """Move outbox row ``row_id`` to the dead letters (``attempts`` made, the last ``error``);
    False if it is no longer in the outbox undelivered."""
    values = {
        "id": row_id,
        "now": now,
        "attempts": attempts,
        "error": error[:512],
        "permanent": permanent,
    }
    if _BURY.run(conn, [values]) != 1:
        return False
    _UNQUEUE.run(conn, [{"id": row_id}])
    return True


class DeadLetters:
    """Listing and redriving dead letters (the service desk: ``user`` None, every User's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list_dead(
        self, user: str | None = None, *, after: int = 0, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead letters oldest first, a page at a time (``after`` the last id seen)."""
        query = select(*_COLUMNS).where(dead_letters.c.id > after)
        if user is not None:
            query = query.where(dead_letters.c.user_id == user)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(dead_letters.c.id).limit(limit)).all()
        return [_letter(row) for row in rows]

    def get(self, letter_id: int, user: str | None = None) -> tuple[DeadLetter, bytes] | None:
        """One dead letter and the signed document it carries (``user``'s own only)."""
        query = select(*_COLUMNS, dead_letters.c.body).where(dead_letters.c.id == letter_id)
        if user is not None:
            query = query.where(dead_letters.c.user_id == user)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (_letter(row), bytes(row.body))

    def count_by_user(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(dead_letters.c.user_id, func.count()).group_by(dead_letters.c.user_id)
            ).all()
        return {str(user): int(count) for user, count in rows}

    def dead_since(
        self, after_id: int, since: datetime | None = None
    ) -> tuple[dict[str, tuple[int, int]], int]:
        """Each User's dead letters with an id past ``after_id`` (and dead at ``since`` or later,
        if given): how many, how many refused for good; and the id to pass next time.

        By id, so a monitor looking every few seconds reads only the new rows (the primary
        key), however many dead letters wait to be redriven; ``since`` is for its first look.
        Only those still dead count: one redriven at once is no longer the User's problem."""
        d = dead_letters.c
        with self.engine.connect() as conn:
            top = conn.execute(select(func.max(d.id))).scalar_one_or_none()
            if top is None or top <= after_id:
                return {}, max(after_id, int(top or 0))
            query = (
                select(d.user_id, func.count(), func.sum(case((d.permanent, 1), else_=0)))
                .where(d.id > after_id, d.id <= top)
                .group_by(d.user_id)
            )
            if since is not None:
                query = query.where(d.dead_at >= since)
            rows = conn.execute(query).all()
        counts = {str(user): (int(n), int(permanent or 0)) for user, n, permanent in rows}
        return counts, int(top)

    def for_requests(self, request_ids: Sequence[str], user: str | None = None) -> int:
        """How many dead letters carry Responses to these requests (``user``'s own only)."""
        if not request_ids:
            return 0
        query = select(func.count()).where(dead_letters.c.request_id.in_(list(request_ids)))
        if user is not None:
            query = query.where(dead_letters.c.user_id == user)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def redrive(
        self,
        ids: Sequence[int] | None,
        now: datetime,
        *,
        user: str | None = None,
        url_of: Callable[[str], str | None] = lambda user: None,
    ) -> list[str]:
        """Put dead letters back in the outbox, to be delivered at once; the keys redriven.

        ``ids`` None: every one (of ``user``, if given). Each goes to ``url_of(User)`` when
        that names a URL (the User's callback now), else where it was going."""
        query = select(dead_letters)
        if ids is not None:
            query = query.where(dead_letters.c.id.in_(list(ids)))
        if user is not None:
            query = query.where(dead_letters.c.user_id == user)
        with self.engine.begin() as conn:
            rows = conn.execute(query.order_by(dead_letters.c.id)).all()
            if not rows:
                return []
            conn.execute(
                insert(outbox),
                [
                    {
                        "message_key": row.message_key,
                        "user_id": row.user_id,
                        "request_id": row.request_id,
                        "url": url_of(row.user_id) or row.url,
                        "body": row.body,
                        "created_at": row.created_at,
                        # Due at once whatever the hub's clock says (the CLI's may differ).
                        "next_attempt_at": min(now, row.created_at),
                        "attempts": 0,
                        "ordering_key": row.ordering_key,
                        "alert_id": row.alert_id,
                        "bulk": row.bulk,
                    }
                    for row in rows
                ],
            )
            conn.execute(delete(dead_letters).where(dead_letters.c.id.in_([r.id for r in rows])))
        return [row.message_key for row in rows]


def _letter(row: Any) -> DeadLetter:
    return DeadLetter(
        id=int(row.id),
        message_key=row.message_key,
        user_id=row.user_id,
        request_id=row.request_id,
        url=row.url,
        created_at=row.created_at,
        dead_at=row.dead_at,
        attempts=int(row.attempts),
        last_error=row.last_error,
        permanent=bool(row.permanent),
        alert_id=row.alert_id,
    )
