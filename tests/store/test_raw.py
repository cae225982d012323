"""The accept's precompiled SQL (``store.raw``) writes exactly the rows the Core path writes.

Compared as the database holds them (read back with driver SQL, no type processing): SQLite keeps
date-times as text in SQLAlchemy's format, and a row the raw path wrote in any other form would
sort, compare and read back differently from the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.dialects import sqlite as sqlite_dialect

from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.store.audit import AuditLog, AuditRecord
from opendcc.store.raw import RawInsert, sqlite_utc_text
from opendcc.store.requests import NewRequest, RequestStore
from opendcc.store.tables import UtcDateTime, audit_log

S = RequestState
T0 = datetime(2026, 1, 1, 12, 30, 5, 120, tzinfo=UTC)
CORE, RAW = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"
DEVICE = "00-DB-12-34-56-78-90-A0"


def requests(user: str) -> list[tuple[NewRequest, RequestState, datetime]]:
    def rid(counter: int) -> RequestId:
        return RequestId.parse(f"{user}:{DEVICE}:{counter}")

    return [
        (NewRequest(rid(7), "4.1.1", 1, b"<signed/>"), S.ACCEPTED, T0),
        (
            NewRequest(rid(9), "6.15.1", 2, b"\x00\xff<doc>\n", T0 + timedelta(days=3), rid(7)),
            S.QUARANTINED,
            T0.astimezone(UTC) + timedelta(microseconds=1),
        ),
        (
            NewRequest(rid(8), "4.1.1", 3, b"x" * 5000, datetime(2030, 1, 1, tzinfo=UTC)),
            S.ACCEPTED,
            T0,
        ),
    ]


def stored(engine: Engine, user: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row the accept wrote for ``user``, its User ID blanked so both paths compare."""
    queries = {
        "service_requests": "SELECT request_id, originator, target, counter, srv, command_variant,"
        " state, received_at, updated_at, execute_at, document, response_code,"
        " preceding_request_id FROM service_requests WHERE originator = '{u}'"
        " ORDER BY request_id",
        "request_transitions": "SELECT request_id, source, target, at FROM request_transitions"
        " WHERE substr(request_id, 1, 23) = '{u}' ORDER BY request_id, id",
        "accepted_counters": "SELECT user_id, counter FROM accepted_counters WHERE user_id = '{u}'"
        " ORDER BY counter",
        "originator_counters": "SELECT user_id, last_counter FROM originator_counters"
        " WHERE user_id = '{u}'",
    }
    out = {}
    with engine.connect() as conn:
        for table, sql in queries.items():
            rows = conn.exec_driver_sql(sql.format(u=user)).all()
            out[table] = [
                tuple(
                    str(v).replace(user, "USER")
                    if isinstance(v, str)
                    else bytes(v)
                    if isinstance(v, memoryview)
                    else v
                    for v in row
                )
                for row in rows
            ]
    return out


def test_a_raw_batch_stores_the_rows_the_core_path_stores(engine: Engine) -> None:
    store = RequestStore(engine)
    for new, state, now in requests(CORE):
        store.accept(new, now, state)  # the Core path, one transaction each
    with engine.begin() as conn:
        answers = store.accept_many_in(conn, requests(RAW))
    assert answers == [None, None, None]
    core, raw = stored(engine, CORE), stored(engine, RAW)
    assert all(core.values())
    assert raw == core


def test_raw_audit_rows_equal_core_rows_and_chain(engine: Engine) -> None:
    records = [
        AuditRecord(
            T0, "serviceS", "I99", "accepted", "ab" * 32, f"{CORE}:{DEVICE}:1", CORE, "4.1.1"
        ),
        # Longer than the column: the chain is over the reason as stored.
        AuditRecord(T0 + timedelta(seconds=1), "serviceD", "HTTP400", "x" * 600, "cd" * 32),
    ]
    core = AuditLog(engine)
    with engine.begin() as conn:
        for record in records:
            core.append(conn, record)  # the Core path, a row at a time
    shared = AuditLog(engine, shared=True)
    with engine.begin() as conn:
        shared.append_many(conn, records)  # the raw path, reading the head back raw
    assert shared.verify_chain() is None
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT at, endpoint, outcome, reason, request_id, originator, srv, digest"
            " FROM audit_log ORDER BY id"
        ).all()
    assert [tuple(r) for r in rows[:2]] == [tuple(r) for r in rows[2:]]
    assert shared.records()[2:] == core.records()[:2]


def test_the_statement_is_compiled_for_the_dialect(engine: Engine) -> None:
    insert = RawInsert(audit_log, ("at", "endpoint"))
    sql = insert.sql(engine.dialect)
    assert sql.startswith("INSERT INTO audit_log (at, endpoint) VALUES")
    assert "RETURNING" not in sql  # nothing read back per row


def test_a_raw_job_row_is_the_queues(engine: Engine) -> None:
    from opendcc.queue.jobs import JobQueue

    store = RequestStore(engine)
    (core, *_), (raw, *_) = requests(CORE)[1], requests(RAW)[1]
    for new in (core, raw):
        store.accept(new, T0)
    run_after = T0 + timedelta(hours=1, microseconds=5)
    with engine.begin() as conn:
        # enqueue_in through SQLAlchemy Core; enqueue_many_in (the accepts') on the raw path
        JobQueue.enqueue_in(conn, core.request_id, run_after, 3, waits_for=core.request_id)
        JobQueue.enqueue_many_in(conn, [(raw.request_id, run_after, 3, raw.request_id)])
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT request_id, run_after, lease_owner, lease_until, attempts, priority, waits_for"
            " FROM jobs ORDER BY request_id"
        ).all()
    blank = [tuple(str(v).replace(CORE, "U").replace(RAW, "U") for v in row) for row in rows]
    assert len(blank) == 2
    assert blank[0] == blank[1]


def test_the_routes_and_the_deliverers_raw_writes_are_the_core_writes(engine: Engine) -> None:
    """A request advanced, ended (``dsp.ending``), claimed and delivered (``queue.outbox``) on
    the raw path leaves the rows the same steps leave written through SQLAlchemy Core."""
    from sqlalchemy import insert, update

    from opendcc.dsp.ending import Advance, End
    from opendcc.queue.jobs import JobQueue
    from opendcc.queue.outbox import Message, Outbox
    from opendcc.store.tables import outbox

    store = RequestStore(engine)
    sent = [S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP]
    t1, t2, t3 = (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=2, microseconds=7),
        T0.replace(hour=13),
    )
    mine: dict[str, list[RequestId]] = {}
    for user in (CORE, RAW):
        made = requests(user)
        for new, state, now in made:
            store.accept(new, now, state)
        first, _, second = (new.request_id for new, _, _ in made)
        mine[user] = [first, second]
        with engine.begin() as conn:
            for rid in mine[user]:
                JobQueue.enqueue_in(conn, rid, T0)
            JobQueue.enqueue_in(conn, made[1][0].request_id, T0, waits_for=first)

    def message(rid: RequestId) -> Message:
        return Message(f"R:{rid}", str(rid.originator), "https://u/cb", f"<{rid}/>".encode(), rid)

    with engine.begin() as conn:  # Core, a statement at a time
        for rid in mine[CORE]:
            store.advance_in(conn, rid, S.ACCEPTED, sent, now=t1)
    with engine.begin() as conn:
        for rid in mine[CORE]:
            store.advance_in(conn, rid, S.SENT_TO_S1SP, [S.RESPONDED], now=t2, code="I0")
            m = message(rid)
            conn.execute(
                insert(outbox),
                {
                    "message_key": m.key,
                    "user_id": m.user_id,
                    "request_id": str(rid),
                    "url": m.url,
                    "body": m.body,
                    "created_at": t2,
                    "next_attempt_at": t2,
                    "attempts": 0,
                    "ordering_key": None,
                    "alert_id": None,
                    "bulk": False,
                },
            )
            JobQueue.complete_in(conn, rid)
            JobQueue.release_waiting_in(conn, rid)
    with engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.user_id == CORE)
            .values(delivered_at=t3, lease_until=None, attempts=outbox.c.attempts + 1)
        )
        for rid in mine[CORE]:
            store.advance_in(conn, rid, S.RESPONDED, [S.DELIVERED], now=t3)

    with engine.begin() as conn:  # the raw path, a batch at a time
        Advance.run_many(conn, [Advance(rid, S.ACCEPTED, tuple(sent), t1) for rid in mine[RAW]])
    with engine.begin() as conn:
        ends = [
            End(rid, S.SENT_TO_S1SP, S.RESPONDED, "I0", t2, (message(rid),)) for rid in mine[RAW]
        ]
        End.run_many(conn, ends)
    box = Outbox(engine, store)
    claimed = box.claim_batch(t3, 10, timedelta(seconds=30))
    assert [c.message.request_id for c in claimed] == mine[RAW]  # the Core ones delivered
    with engine.connect() as conn:
        leases = conn.execute(select(outbox.c.lease_until).where(outbox.c.user_id == RAW)).scalars()
        assert list(leases) == [t3 + timedelta(seconds=30)] * 2
    box.record([(c.row_id, c.message) for c in claimed], [], t3)

    core, raw = stored(engine, CORE), stored(engine, RAW)
    assert raw == core
    states = [S.DELIVERED.value, S.DELIVERED.value, S.QUARANTINED.value]  # counters 7, 8, 9
    assert [row[6] for row in core["service_requests"]] == states
    with engine.connect() as conn:
        rows = {
            user: [
                tuple(str(v).replace(user, "USER") for v in row)
                for row in conn.exec_driver_sql(
                    "SELECT message_key, user_id, request_id, url, body, created_at,"
                    " next_attempt_at, attempts, ordering_key, alert_id, bulk, delivered_at,"
                    f" lease_until, last_error FROM outbox WHERE user_id = '{user}'"
                    " ORDER BY request_id"
                ).all()
            ]
            + [
                tuple(str(v).replace(user, "USER") for v in row)
                for row in conn.exec_driver_sql(
                    "SELECT request_id, run_after, lease_owner, lease_until, attempts, priority,"
                    f" waits_for FROM jobs WHERE substr(request_id, 1, 23) = '{user}'"
                ).all()
            ]
            for user in (CORE, RAW)
        }
    assert len(rows[CORE]) == 3  # two messages, the waiting job left and released
    assert rows[RAW] == rows[CORE]


_SQLITE = sqlite_dialect.dialect()
_CORE_UTC_TEXT = UtcDateTime().dialect_impl(_SQLITE).bind_processor(_SQLITE)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.one_of(
            st.just(UTC),
            st.builds(timezone, st.timedeltas(-timedelta(hours=23), timedelta(hours=23))),
            st.timezones(),
        ),
    )
)
def test_the_fast_date_time_text_is_sqlalchemys(value: datetime) -> None:
    """The hot path's own formatter (``sqlite_utc_text``, isoformat for UTC values) writes
    exactly the text SQLAlchemy's ``UtcDateTime`` and SQLite DATETIME processors write."""
    assert _CORE_UTC_TEXT is not None
    assert sqlite_utc_text(value) == _CORE_UTC_TEXT(value)


def test_the_fast_date_time_text_takes_none_and_refuses_a_naive_value() -> None:
    assert sqlite_utc_text(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        sqlite_utc_text(datetime(2026, 1, 1))


def test_the_claims_raw_lease_is_the_core_lease(engine: Engine) -> None:
    """``JobQueue.claim_loaded``'s lease on the raw path (``queue.jobs.lease_of``) wins and
    writes what the same UPDATE through SQLAlchemy Core does: of each User's three jobs, the
    free due one is won, the one another worker holds and the one not yet due are not."""
    from sqlalchemy import bindparam, or_, update

    from opendcc.queue.jobs import JobQueue, lease_of
    from opendcc.store.tables import jobs

    store = RequestStore(engine)
    later, held = T0 + timedelta(hours=1), T0 + timedelta(minutes=5, microseconds=3)
    keys: dict[str, list[str]] = {}
    for user in (CORE, RAW):
        made = requests(user)
        for new, state, now in made:
            store.accept(new, now, state)
        free, taken, future = (str(new.request_id) for new, _, _ in made)
        keys[user] = [free, taken, future]
        with engine.begin() as conn:
            JobQueue.enqueue_in(conn, made[0][0].request_id, T0, 2)
            JobQueue.enqueue_in(conn, made[1][0].request_id, T0)
            JobQueue.enqueue_in(conn, made[2][0].request_id, later)
            conn.execute(
                update(jobs)
                .where(jobs.c.request_id == taken)
                .values(lease_owner="other", lease_until=held)
            )
    core_lease = (
        update(jobs)
        .where(jobs.c.request_id.in_(keys[CORE]))
        .where(jobs.c.run_after <= T0)
        .where(jobs.c.waits_for.is_(None))
        .where(or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < bindparam("now")))
        .values(lease_owner="w1", lease_until=held, attempts=jobs.c.attempts + 1)
        .returning(jobs.c.request_id)
    )
    raw_params = {f"k{i}": key for i, key in enumerate(keys[RAW])}
    raw_params.update(now=T0, owner="w1", until=held)
    with engine.begin() as conn:
        won_core = set(conn.execute(core_lease, {"now": T0}).scalars())
        won_raw = {key for (key,) in lease_of(3).fetch(conn, raw_params)}
    assert won_core == {keys[CORE][0]} and won_raw == {keys[RAW][0]}
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT request_id, run_after, lease_owner, lease_until, attempts, priority, waits_for"
            " FROM jobs ORDER BY request_id"
        ).all()
    blank = [tuple(str(v).replace(CORE, "U").replace(RAW, "U") for v in row) for row in rows]
    assert blank[:3] == blank[3:]
    leased = {row[0]: (row[2], row[4]) for row in rows}
    assert leased[keys[RAW][0]] == ("w1", 1) and leased[keys[RAW][1]] == ("other", 0)


def test_the_deliverers_raw_failure_and_dead_letter_writes_are_the_core_writes(
    engine: Engine,
) -> None:
    """A failed attempt recorded (``Outbox._failed_in``) and a message dead-lettered
    (``queue.deadletters.bury_in``) on the raw path leave the rows the same writes through
    SQLAlchemy Core leave; a message no longer undelivered is not buried."""
    from sqlalchemy import delete, insert, update

    from opendcc.queue.deadletters import DeliveryPolicy, bury_in
    from opendcc.queue.outbox import Failure, Message, Outbox, backoff
    from opendcc.store.tables import dead_letters, outbox

    box = Outbox(engine, RequestStore(engine), DeliveryPolicy(max_attempts=3))
    t1 = T0 + timedelta(seconds=9, microseconds=11)
    ids: dict[str, list[int]] = {}
    with engine.begin() as conn:
        for user in (CORE, RAW):
            for n, bulk in ((1, False), (2, True), (3, False)):
                message = Message(
                    f"A:{user}:{n}", user, "https://u/cb", b"\x00<a/>", None, "k", bulk
                )
                Outbox.put_in(conn, message, T0, alert_id=None)
        rows = conn.execute(select(outbox.c.id, outbox.c.user_id).order_by(outbox.c.id)).all()
        for row_id, user in rows:
            ids.setdefault(user, []).append(row_id)
        conn.execute(update(outbox).where(outbox.c.id == ids[RAW][2]).values(delivered_at=T0))
        conn.execute(update(outbox).where(outbox.c.id == ids[CORE][2]).values(delivered_at=T0))
    with engine.begin() as conn:  # Core, as the writes were before the raw path
        first, second, gone = ids[CORE]
        conn.execute(
            update(outbox)
            .where(outbox.c.id == first)
            .values(attempts=1, next_attempt_at=t1 + backoff(1), lease_until=None, last_error="e1")
        )
        row = conn.execute(select(outbox).where(outbox.c.id == second)).one()
        conn.execute(
            insert(dead_letters).values(
                message_key=row.message_key,
                user_id=row.user_id,
                request_id=row.request_id,
                url=row.url,
                body=row.body,
                created_at=row.created_at,
                dead_at=t1,
                attempts=3,
                last_error="e3",
                permanent=True,
                ordering_key=row.ordering_key,
                alert_id=row.alert_id,
                bulk=bool(row.bulk),
            )
        )
        conn.execute(delete(outbox).where(outbox.c.id == second))
    with engine.begin() as conn:  # raw
        first, second, gone = ids[RAW]
        assert not box._failed_in(conn, Failure(first, 0, "e1"), t1)
        assert box._failed_in(conn, Failure(second, 2, "e3", permanent=True), t1)
        assert not bury_in(conn, gone, 3, "e3", t1, permanent=False)  # delivered meanwhile

    def blank(table: str, order: str) -> list[tuple[str, ...]]:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {order}").all()
        return [
            tuple(str(v).replace(CORE, "U").replace(RAW, "U") for v in row[1:]) for row in found
        ]

    left, dead = blank("outbox", "id"), blank("dead_letters", "id")
    assert len(left) == 4 and left[:2] == left[2:]
    assert len(dead) == 2 and dead[0] == dead[1]
