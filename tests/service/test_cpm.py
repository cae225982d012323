"""CPM1/CPM2: on-demand and future-dated responses within target, per month, SRV family and
cohort; restricted-mode refusals (E71) and in-flight requests not counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from opendcc.service import cpm
from opendcc.store import upgrade
from opendcc.store.tables import request_transitions, service_requests

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
METER = "00-DB-12-34-56-78-90-A0"


def _request(conn, n: int, srv: str, outcome: str, after_s: float, **extra: object) -> None:  # type: ignore[no-untyped-def]
    rid = f"90-B3-D5-1F-30-01-00-00:{METER}:{n:020d}"
    conn.execute(
        insert(service_requests).values(
            request_id=rid,
            originator="90-B3-D5-1F-30-01-00-00",
            target=METER,
            counter=f"{n:020d}",
            srv=srv,
            command_variant=extra.pop("cv", 1),
            state=outcome,
            received_at=T0,
            updated_at=T0,
            document=b"x",
            **extra,
        )
    )
    base = extra.get("execute_at") or T0
    assert isinstance(base, datetime)
    conn.execute(
        insert(request_transitions).values(request_id=rid, source=None, target="received", at=T0)
    )
    if outcome != "accepted":
        conn.execute(
            insert(request_transitions).values(
                request_id=rid,
                source="sent_to_s1sp",
                target=outcome,
                at=base + timedelta(seconds=after_s),
            )
        )


def test_cpm_from_the_store(engine: Engine) -> None:
    """In SQL, on both databases: times from acceptance (CPM1) or the execution time (CPM2)."""
    upgrade(engine)
    with engine.begin() as conn:
        _request(conn, 1, "4.1.1", "responded", 5)  # within 30 s
        _request(conn, 2, "4.1.1", "responded", 3600)  # late
        _request(conn, 3, "4.1.1", "failed", 1)  # failed: outside
        _request(conn, 4, "4.1.1", "failed", 1, response_code="E71")  # restricted: not counted
        _request(conn, 5, "4.1.1", "accepted", 0)  # in flight: not counted
        _request(conn, 6, "8.2", "responded", 0, cv=8)  # non-device: not counted
        _request(conn, 7, "7.2", "responded", 2, execute_at=T0 + timedelta(hours=2))  # CPM2
    day = timedelta(days=1)
    tallies = cpm.tallies(engine, T0 - day, T0 + day, {"4.1.1": 30.0}, 30.0)
    figures = {(m.measure, m.group): (m.counted, m.within) for m in cpm.measures(tallies)}
    assert figures[("CPM1", "all")] == (3, 1)
    assert figures[("CPM1", "family 4")] == (3, 1)
    assert figures[("CPM1", "cohort -")] == (3, 1)
    assert figures[("CPM2", "all")] == (1, 1)
    assert ("CPM2", "family 4") not in figures


def test_measures_are_pure_and_grouped() -> None:
    s = [
        cpm.Tally("2026-05", "4.1.1", "aclara", False, 1, 1),
        cpm.Tally("2026-05", "2.2", "edmi", False, 1, 0),
        cpm.Tally("2026-06", "2.2", "edmi", False, 1, 0),
    ]
    m = {(x.month, x.group): x for x in cpm.measures(s)}
    assert m[("2026-05", "all")].percent == 50.0
    assert m[("2026-05", "family 2")].percent == 0.0
    assert m[("2026-06", "cohort edmi")].counted == 1
