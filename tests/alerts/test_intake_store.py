"""The durable alert intake: a batch in one commit, a redelivered alert taken once, values back
exactly as they came, each alert routed once, what a killed hub left unrouted found again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from tests.reference import NOW

from opendcc.alerts.intake_store import IntakeStore, decode_values, encode_values
from opendcc.core.eui import Eui64
from opendcc.s1sp.contract import DeviceAlert

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
VALUES = {"when": NOW, "count": 3, "name": "x", "rows": ((NOW, 1), (NOW, 2))}


def alert(alert_id: str | None, code: int = 0x8F20) -> DeviceAlert:
    return DeviceAlert(METER, code, NOW, VALUES, alert_id)


def test_values_come_back_as_they_went() -> None:
    assert decode_values(encode_values(VALUES)) == VALUES


def test_a_redelivered_alert_is_taken_once(engine: Engine) -> None:
    store = IntakeStore(engine)
    first = store.take([("itron", alert("a-1")), ("itron", alert("a-2"))], NOW)
    assert all(isinstance(i, int) for i in first)
    # Again, twice in one batch, and once from another cohort (its own numbering).
    again = store.take(
        [("itron", alert("a-1")), ("itron", alert("a-3")), ("itron", alert("a-3"))], NOW
    )
    assert again[0] is None and isinstance(again[1], int) and again[2] is None
    assert isinstance(store.take([("landis", alert("a-1"))], NOW)[0], int)
    # Without a head-end id nothing is recognised.
    assert all(isinstance(i, int) for i in store.take([("x", alert(None))] * 2, NOW))
    assert store.pending() == 6


def test_unrouted_alerts_come_back_and_each_is_routed_once(engine: Engine) -> None:
    store = IntakeStore(engine)
    ids = store.take([("itron", alert(f"a-{n}")) for n in range(5)], NOW)
    boundary = store.last_id()
    with engine.begin() as conn:
        IntakeStore.routed_in(conn, [i for i in ids[:2] if i is not None], NOW)
    left = store.unrouted(0, boundary, 10)
    assert [row_id for row_id, _, _ in left] == ids[2:]
    _, cohort, back = left[0]
    assert cohort == "itron" and back == alert("a-2")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        IntakeStore.routed_in(conn, [i for i in ids[1:3] if i is not None], NOW)
    assert store.pending() == 3  # that transaction rolled back
    assert store.prune(NOW + timedelta(days=3)) == 2
    assert store.take([("itron", alert("a-0"))], NOW)[0] is not None  # forgotten: new again
