"""The accept's precompiled SQL (``store.raw``) writes exactly the rows the Core path writes.

Compared as the database holds them (read back with driver SQL, no type processing): SQLite keeps
date-times as text in SQLAlchemy's format, and a row the raw path wrote in any other form would
sort, compare and read back differently from the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.store.audit import AuditLog, AuditRecord
from opendcc.store.raw import RawInsert
from opendcc.store.requests import NewRequest, RequestStore
from opendcc.store.tables import audit_log

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
    from opendcc.dsp.frontdoor import _RAW_JOB
    from opendcc.queue.jobs import JobQueue

    store = RequestStore(engine)
    (core, *_), (raw, *_) = requests(CORE)[1], requests(RAW)[1]
    for new in (core, raw):
        store.accept(new, T0)
    run_after = T0 + timedelta(hours=1, microseconds=5)
    with engine.begin() as conn:
        JobQueue.enqueue_many_in(conn, [(core.request_id, run_after, 3, core.request_id)])
        _RAW_JOB.run(conn, [(str(raw.request_id), run_after, 0, 3, str(raw.request_id))])
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT request_id, run_after, lease_owner, lease_until, attempts, priority, waits_for"
            " FROM jobs ORDER BY request_id"
        ).all()
    blank = [tuple(str(v).replace(CORE, "U").replace(RAW, "U") for v in row) for row in rows]
    assert len(blank) == 2
    assert blank[0] == blank[1]
