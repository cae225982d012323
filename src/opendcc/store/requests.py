"""Service Requests in the store: accepted once, then moved only along the lifecycle table.

Replay protection (see docs/access-control.md): a User's originator counter is accepted at most
once (the seen-set ``accepted_counters``, whose primary key settles even two racing
transactions), and a counter at or below the User's newest accepted counter minus
``REPLAY_WINDOW`` is refused as too old; inside the window, counters may arrive in any order (a
User sending over several connections at once). Accepting a request, recording its counter and
raising the User's newest happen in one transaction, so a replayed or duplicate request changes
nothing. Each transition is a conditional UPDATE
(``WHERE state = <expected>``) plus a history row, committed together: two workers racing on
one request cannot both move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from opendcc.core.errors import DuisError
from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import UNFINISHED, RequestState, Transition, advance
from opendcc.store.raw import RawInsert, dbapi_cursor, placeholders, query
from opendcc.store.tables import (
    accepted_counters,
    originator_counters,
    request_transitions,
    service_requests,
    u64_text,
)

# The hot path's statements, built once: executing a prebuilt statement with parameters skips
# building and cache-keying a new one each time (about ten times cheaper per execute).
_sr, _oc, _ac = service_requests.c, originator_counters.c, accepted_counters.c
_INSERT_REQUEST = insert(service_requests)
_INSERT_HISTORY = insert(request_transitions)
_INSERT_SEEN = insert(accepted_counters)
_INSERT_NEWEST = insert(originator_counters)
_NEWEST = select(_oc.last_counter).where(_oc.user_id == bindparam("user"))
_RAISE_NEWEST = (
    update(originator_counters)
    .where(_oc.user_id == bindparam("user"))
    .where(_oc.last_counter < bindparam("counter"))
    .values(last_counter=bindparam("counter"))
)
_STATE = select(_sr.state).where(_sr.request_id == bindparam("key"))
_MOVE = (
    update(service_requests)
    .where(_sr.request_id == bindparam("key"))
    .where(_sr.state == bindparam("current"))
    .values(state=bindparam("new_state"), updated_at=bindparam("now"))
)
_MOVE_ANSWERED = _MOVE.values(response_code=bindparam("code"))


class StoreError(DuisError):
    """Base of the store's errors."""


class Replay(StoreError):
    """The originator counter was accepted before, or is too old (outside the replay window)."""


# How far below a User's newest accepted counter a counter may still arrive (and be accepted,
# once). Counters in DUIS only have to increase; a User numbering requests as it creates them
# and sending them over N connections delivers them up to about N out of order.
REPLAY_WINDOW = 4096
# Seen-set rows below the window are pruned for a User every this many of its accepts.
PRUNE_EVERY = 512


class UnknownRequest(StoreError):
    """No stored request has that RequestID."""


class ConcurrentTransition(StoreError):
    """Another worker moved the request first."""


@dataclass(frozen=True, slots=True)
class NewRequest:
    request_id: RequestId
    srv: str
    command_variant: int
    document: bytes
    execute_at: datetime | None = None
    preceding_request_id: RequestId | None = None


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """What is known of a stored request: who sent it, where it is, how it was answered."""

    request_id: RequestId
    state: RequestState
    response_code: str | None
    execute_at: datetime | None
    preceding_request_id: RequestId | None

    @property
    def succeeded(self) -> bool:
        """Answered with success: a device request RESPONDED with I0, or a non-device request
        the DSP answered itself (no code, or I0/I99)."""
        answered = self.state in (RequestState.RESPONDED, RequestState.DELIVERED)
        return answered and self.response_code in (None, "I0", "I99", "8F66")


@dataclass(frozen=True, slots=True)
class Loaded:
    """A stored request as a worker needs it: its outcome so far and its signed document, read
    together (one statement, one read transaction)."""

    outcome: StoredOutcome
    document: bytes


class RequestStore:
    def __init__(self, engine: Engine, replay_window: int = REPLAY_WINDOW) -> None:
        self.engine = engine
        self.replay_window = replay_window
        self._accepts = 0  # since the last pruning (approximate under threads: harmless)

    def accept(
        self,
        request: NewRequest,
        now: datetime,
        state: RequestState = RequestState.ACCEPTED,
    ) -> None:
        """Record a request that passed access control: RECEIVED then ``state``, durably.

        Raises ``Replay`` (and stores nothing) if its counter was accepted before or is older
        than the replay window.
        """
        with self.engine.begin() as conn:
            self.accept_in(conn, request, now, state)

    def accept_in(
        self,
        conn: Connection,
        request: NewRequest,
        now: datetime,
        state: RequestState = RequestState.ACCEPTED,
    ) -> None:
        """``accept`` inside the caller's transaction, so other rows commit with it."""
        rid = request.request_id
        self.admit_counter_in(conn, str(rid.originator), rid.counter)
        conn.execute(_INSERT_REQUEST, _request_row(request, state, now))
        step = advance(RequestState.RECEIVED, state, now)
        conn.execute(
            _INSERT_HISTORY,
            [
                {"request_id": str(rid), "source": None, "target": "received", "at": now},
                _row(str(rid), step),
            ],
        )

    def admit_counter_in(self, conn: Connection, user: str, counter: int) -> None:
        """Record ``counter`` as accepted from ``user``, or raise ``Replay``: seen before, or at
        or below the User's newest minus the window. Raises the newest when it is above it."""
        newest = conn.execute(_NEWEST, {"user": user}).scalar_one_or_none()
        if newest is None:
            try:
                # The User's first request. Another may insert the row first: then look again.
                with conn.begin_nested():
                    conn.execute(
                        _INSERT_NEWEST, {"user_id": user, "last_counter": u64_text(counter)}
                    )
            except IntegrityError:
                self.admit_counter_in(conn, user, counter)
                return
        elif counter <= int(newest) - self.replay_window:
            raise Replay(
                f"counter {counter} is too old: at or below {int(newest)} (the newest accepted"
                f" from {user}) minus the replay window of {self.replay_window}"
            )
        elif counter > int(newest):
            # Conditional: a racing transaction may have raised it further already.
            conn.execute(_RAISE_NEWEST, {"user": user, "counter": u64_text(counter)})
        try:
            conn.execute(_INSERT_SEEN, {"user_id": user, "counter": u64_text(counter)})
        except IntegrityError:
            raise Replay(f"counter {counter} was accepted from {user} before") from None
        self._accepts += 1
        if self._accepts >= PRUNE_EVERY:
            self._accepts = 0
            self._prune_in(conn, user, max(counter, int(newest or 0)))

    def accept_many_in(
        self, conn: Connection, items: list[tuple[NewRequest, RequestState, datetime]]
    ) -> list[Replay | None]:
        """``accept_in`` for a batch, in a fixed handful of statements (each ``executemany``,
        precompiled and run on the DBAPI cursor: ``store.raw``) whatever its size: the group
        commit's path for concurrent accepts. Returns, item by item, the ``Replay`` that refuses
        it or None; refused items store nothing. A counter another process accepts meanwhile
        fails the batch with the DBAPI's ``IntegrityError`` (the caller then accepts the items
        one by one)."""
        dialect = conn.dialect
        c_users = sorted({str(new.request_id.originator) for new, _, _ in items})
        newest = {
            user: int(last)
            for user, last in query(
                conn,
                "SELECT user_id, last_counter FROM originator_counters"  # noqa: S608 - only
                f" WHERE user_id IN ({placeholders(dialect, len(c_users))})",  # placeholders
                c_users,
            )
        }
        wanted = sorted({u64_text(new.request_id.counter) for new, _, _ in items})
        seen = {
            (user, int(counter))
            for user, counter in query(
                conn,
                "SELECT user_id, counter FROM accepted_counters"  # noqa: S608 - placeholders
                f" WHERE user_id IN ({placeholders(dialect, len(c_users))})"
                f" AND counter IN ({placeholders(dialect, len(wanted))})",
                [*c_users, *wanted],
            )
        }
        known = set(newest)
        answers: list[Replay | None] = []
        taken: list[tuple[NewRequest, RequestState, datetime]] = []
        for new, state, now in items:
            user, counter = str(new.request_id.originator), new.request_id.counter
            if (user, counter) in seen:
                answers.append(Replay(f"counter {counter} was accepted from {user} before"))
                continue
            if user in newest and counter <= newest[user] - self.replay_window:
                answers.append(
                    Replay(
                        f"counter {counter} is too old: at or below {newest[user]} (the newest"
                        f" accepted from {user}) minus the replay window of {self.replay_window}"
                    )
                )
                continue
            seen.add((user, counter))
            newest[user] = max(counter, newest.get(user, counter))
            answers.append(None)
            taken.append((new, state, now))
        if not taken:
            return answers
        raised = sorted({str(new.request_id.originator) for new, _, _ in taken})
        _RAW_NEWEST.run(conn, [(u, u64_text(newest[u])) for u in raised if u not in known])
        rising = [(u64_text(newest[u]), u, u64_text(newest[u])) for u in raised if u in known]
        if rising:
            cursor = dbapi_cursor(conn)
            try:
                mark = placeholders(dialect, 1)
                cursor.executemany(
                    f"UPDATE originator_counters SET last_counter = {mark}"  # noqa: S608
                    f" WHERE user_id = {mark} AND last_counter < {mark}",
                    rising,
                )
            finally:
                cursor.close()
        _RAW_SEEN.run(
            conn,
            [(str(n.request_id.originator), u64_text(n.request_id.counter)) for n, _, _ in taken],
        )
        _RAW_REQUEST.run(conn, [_request_values(n, s, at) for n, s, at in taken])
        history: list[tuple[object, ...]] = []
        for new, state, now in taken:
            key = str(new.request_id)
            step = advance(RequestState.RECEIVED, state, now)
            history.append((key, None, RequestState.RECEIVED.value, now))
            history.append((key, step.source.value, step.target.value, step.at))
        _RAW_HISTORY.run(conn, history)
        self._accepts += len(taken)
        if self._accepts >= PRUNE_EVERY:
            self._accepts = 0
            for user in raised:
                self._prune_in(conn, user, newest[user])
        return answers

    def _prune_in(self, conn: Connection, user: str, newest: int) -> None:
        """Drop the User's seen counters below the window: they are refused as too old."""
        floor = newest - self.replay_window
        if floor > 0:
            conn.execute(
                delete(accepted_counters)
                .where(accepted_counters.c.user_id == user)
                .where(accepted_counters.c.counter <= u64_text(floor))
            )

    def transition(self, request_id: RequestId, target: RequestState, now: datetime) -> Transition:
        with self.engine.begin() as conn:
            return self.transition_in(conn, request_id, target, now)

    def answered_in(self, conn: Connection, request_id: RequestId, code: str) -> None:
        """Record the DUIS code the request was answered with (performance reporting)."""
        conn.execute(
            update(service_requests)
            .where(service_requests.c.request_id == str(request_id))
            .values(response_code=str(code))
        )

    def transition_in(
        self,
        conn: Connection,
        request_id: RequestId,
        target: RequestState,
        now: datetime,
        *,
        code: str | None = None,
    ) -> Transition:
        """``transition`` inside the caller's transaction (``code``: also record the DUIS code
        the request was answered with, in the same UPDATE)."""
        key = str(request_id)
        current = _state(conn, key)
        step = advance(current, target, now)
        _move(conn, key, current, target, now=now, code=code)
        conn.execute(_INSERT_HISTORY, _row(key, step))
        return step

    def document(self, request_id: RequestId) -> bytes:
        with self.engine.connect() as conn:
            doc = conn.execute(
                select(service_requests.c.document).where(
                    service_requests.c.request_id == str(request_id)
                )
            ).scalar_one_or_none()
        if doc is None:
            raise UnknownRequest(f"no request {request_id}")
        return bytes(doc)

    def load(self, request_id: RequestId) -> Loaded | None:
        c = service_requests.c
        query = select(
            c.state, c.response_code, c.execute_at, c.preceding_request_id, c.document
        ).where(c.request_id == str(request_id))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        preceding = RequestId.parse(row.preceding_request_id) if row.preceding_request_id else None
        outcome = StoredOutcome(
            request_id, RequestState(row.state), row.response_code, row.execute_at, preceding
        )
        return Loaded(outcome, bytes(row.document))

    def advance_in(
        self,
        conn: Connection,
        request_id: RequestId,
        current: RequestState,
        targets: list[RequestState],
        *,
        now: datetime,
        code: str | None = None,
    ) -> None:
        """Move a request from ``current`` (as read) along ``targets`` in one UPDATE and one
        INSERT of its history rows (``code``: the DUIS code it was answered with, if any)."""
        key, steps, state = str(request_id), [], current
        for target in targets:
            steps.append(_row(key, advance(state, target, now)))
            state = target
        _move(conn, key, current, state, now=now, code=code)
        conn.execute(_INSERT_HISTORY, steps)

    def outcome(self, request_id: RequestId) -> StoredOutcome | None:
        with self.engine.connect() as conn:
            return self.outcome_in(conn, request_id)

    @staticmethod
    def outcome_in(conn: Connection, request_id: RequestId) -> StoredOutcome | None:
        c = service_requests.c
        row = conn.execute(
            select(c.state, c.response_code, c.execute_at, c.preceding_request_id).where(
                c.request_id == str(request_id)
            )
        ).first()
        if row is None:
            return None
        preceding = RequestId.parse(row.preceding_request_id) if row.preceding_request_id else None
        return StoredOutcome(
            request_id, RequestState(row.state), row.response_code, row.execute_at, preceding
        )

    def held_until(self, before: datetime) -> list[RequestId]:
        """Requests a head-end holds (future-dated, Device pattern) whose execution time is
        before ``before``."""
        c = service_requests.c
        query = (
            select(c.request_id)
            .where(c.state == RequestState.HELD.value)
            .where(c.execute_at < before)
            .order_by(c.execute_at)
        )
        with self.engine.connect() as conn:
            return [RequestId.parse(rid) for (rid,) in conn.execute(query)]

    def pending_future(self, like: RequestId, srv: str, before: datetime) -> list[RequestId]:
        """The future-dated requests of ``like``'s User for ``like``'s device and this SRV that
        still wait (in the queue or at the head-end), executing before ``before``; oldest first.
        DUIS's own cancel (``opendcc.dsp.future``) cancels them."""
        c = service_requests.c
        query = (
            select(c.request_id)
            .where(c.state.in_([RequestState.ACCEPTED.value, RequestState.HELD.value]))
            .where(c.originator == str(like.originator))
            .where(c.target == str(like.target))
            .where(c.srv == srv)
            .where(c.execute_at.is_not(None))
            .where(c.execute_at < before)
            .where(c.request_id != str(like))
            .order_by(c.received_at)
        )
        with self.engine.connect() as conn:
            return [RequestId.parse(rid) for (rid,) in conn.execute(query)]

    def state(self, request_id: RequestId) -> RequestState:
        with self.engine.connect() as conn:
            return _state(conn, str(request_id))

    @staticmethod
    def state_in(conn: Connection, request_id: RequestId) -> RequestState:
        return _state(conn, str(request_id))

    def history(self, request_id: RequestId) -> list[tuple[RequestState, datetime]]:
        query = (
            select(request_transitions.c.target, request_transitions.c.at)
            .where(request_transitions.c.request_id == str(request_id))
            .order_by(request_transitions.c.id)
        )
        with self.engine.connect() as conn:
            return [(RequestState(target), at) for target, at in conn.execute(query)]

    def unfinished(self) -> list[RequestId]:
        """Requests a restarted hub owes work on, oldest first."""
        query = (
            select(service_requests.c.request_id)
            .where(service_requests.c.state.in_([s.value for s in UNFINISHED]))
            .order_by(service_requests.c.received_at)
        )
        with self.engine.connect() as conn:
            return [RequestId.parse(rid) for (rid,) in conn.execute(query)]


def _move(
    conn: Connection,
    key: str,
    current: RequestState,
    target: RequestState,
    *,
    now: datetime,
    code: str | None,
) -> None:
    """The conditional UPDATE of a transition: only from ``current``, else another moved it."""
    params = {"key": key, "current": current.value, "new_state": target.value, "now": now}
    if code is None:
        moved = conn.execute(_MOVE, params)
    else:
        moved = conn.execute(_MOVE_ANSWERED, {**params, "code": str(code)})
    if moved.rowcount != 1:
        raise ConcurrentTransition(f"{key} left {current} before this step")


def _request_row(request: NewRequest, state: RequestState, now: datetime) -> dict[str, object]:
    rid = request.request_id
    preceding = request.preceding_request_id
    return {
        "request_id": str(rid),
        "originator": str(rid.originator),
        "target": str(rid.target),
        "counter": u64_text(rid.counter),
        "srv": request.srv,
        "command_variant": request.command_variant,
        "state": state.value,
        "received_at": now,
        "updated_at": now,
        "execute_at": request.execute_at,
        "preceding_request_id": str(preceding) if preceding else None,
        "document": request.document,
    }


_REQUEST_COLUMNS = (
    "request_id",
    "originator",
    "target",
    "counter",
    "srv",
    "command_variant",
    "state",
    "received_at",
    "updated_at",
    "execute_at",
    "preceding_request_id",
    "document",
)
_RAW_REQUEST = RawInsert(service_requests, _REQUEST_COLUMNS)
_RAW_HISTORY = RawInsert(request_transitions, ("request_id", "source", "target", "at"))
_RAW_SEEN = RawInsert(accepted_counters, ("user_id", "counter"))
_RAW_NEWEST = RawInsert(originator_counters, ("user_id", "last_counter"))


def _request_values(request: NewRequest, state: RequestState, now: datetime) -> tuple[object, ...]:
    """``_request_row``'s values in ``_REQUEST_COLUMNS`` order."""
    row = _request_row(request, state, now)
    return tuple(row[name] for name in _REQUEST_COLUMNS)


def _state(conn: Connection, key: str) -> RequestState:
    state = conn.execute(_STATE, {"key": key}).scalar_one_or_none()
    if state is None:
        raise UnknownRequest(f"no request {key}")
    return RequestState(state)


def _row(key: str, step: Transition) -> dict[str, object]:
    return {
        "request_id": key,
        "source": step.source.value,
        "target": step.target.value,
        "at": step.at,
    }
