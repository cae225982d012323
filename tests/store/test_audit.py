from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, update
from tests.reference import NOW

from opendcc.store.audit import AuditLog, AuditRecord, digest
from opendcc.store.tables import audit_log


def record(n: int, outcome: str = "I99") -> AuditRecord:
    return AuditRecord(
        NOW + timedelta(seconds=n),
        "serviceS",
        outcome,
        f"reason {n}",
        digest(b"%d" % n),
        f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{n}",
        "90-B3-D5-1F-30-01-00-00",
        "4.1.1",
    )


def test_records_chain_and_survive_a_new_log_object(engine: Engine) -> None:
    log = AuditLog(engine)
    for n in range(3):
        log.record(record(n))
    # A restarted process reads the head from the table and keeps the chain going.
    AuditLog(engine).record(record(3, "E19"))
    assert [r.outcome for r in log.records()] == ["I99", "I99", "I99", "E19"]
    assert log.verify_chain() is None
    assert len(log.records(record(1).request_id)) == 1


def test_an_edited_record_breaks_the_chain_from_there(engine: Engine) -> None:
    log = AuditLog(engine)
    for n in range(4):
        log.record(record(n))
    with engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 3).values(outcome="I0"))
    assert log.verify_chain() == 3


def test_a_rolled_back_append_leaves_the_chain_whole(engine: Engine) -> None:
    log = AuditLog(engine)
    log.record(record(0))
    try:
        with engine.begin() as conn:
            log.append(conn, record(1))
            raise RuntimeError("the request's own insert failed")
    except RuntimeError:
        log.forget_head()
    log.record(record(2))
    assert log.verify_chain() is None
    assert len(log.records()) == 2


def test_verifying_from_a_point_checks_only_what_came_after(engine: Engine) -> None:
    log = AuditLog(engine)
    for n in range(3):
        log.record(record(n))
    last, chain, broken = log.verify_from()
    assert (last, broken) == (3, None)
    for n in range(3, 5):
        log.record(record(n))
    assert log.verify_from(last, chain)[::2] == (5, None)
    assert log.verify_from(last, "f" * 64)[2] == 4  # a wrong predecessor: the next one breaks
    with engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 5).values(outcome="I0"))
    assert log.verify_from(last, chain) == (4, log.verify_from(0, limit=4)[1], 5)


def test_two_writers_on_sqlite_append_to_one_chain(engine: Engine) -> None:
    """A gateway and the scheduler's monitor, each with its own log over one SQLite file."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL keeps one writer process per database (see store.audit)
    gateway, scheduler = AuditLog(engine), AuditLog(engine)
    for n in range(6):
        (gateway if n % 2 else scheduler).record(record(n))
    assert engine.dialect.name == "sqlite" and gateway.verify_chain() is None
