from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from tests.reference import NOW

from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.queue.outbox import Message, Outbox, backoff
from opendcc.store.requests import NewRequest, RequestStore

RID = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7")
LEASE = timedelta(seconds=30)


def responded(engine: Engine) -> tuple[RequestStore, Outbox]:
    requests = RequestStore(engine)
    requests.accept(NewRequest(RID, "4.1.1", 1, b"<doc/>"), NOW)
    box = Outbox(engine, requests)
    with engine.begin() as conn:
        requests.transition_in(conn, RID, RequestState.RESPONDED, NOW)
        box.put_in(conn, Message("R:x", "u", "http://127.0.0.1:9/", b"<r/>", RID), NOW)
    return requests, box


def test_backoff_doubles_up_to_a_ceiling() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [0.5, 1, 2, 4]
    assert backoff(30) == timedelta(seconds=30)


def test_a_failed_delivery_waits_then_is_claimed_again(engine: Engine) -> None:
    _, box = responded(engine)
    [(row, message)] = box.claim(NOW, 10, LEASE)
    assert message.request_id == RID
    assert box.claim(NOW, 10, LEASE) == []  # leased
    box.failed(row, box.attempts(row), "HTTP 503", NOW)
    assert box.claim(NOW, 10, LEASE) == []  # backing off
    assert len(box.claim(NOW + timedelta(seconds=1), 10, LEASE)) == 1
    assert box.undelivered() == 1


def test_delivery_moves_the_request_to_delivered(engine: Engine) -> None:
    requests, box = responded(engine)
    [(row, message)] = box.claim(NOW, 10, LEASE)
    box.delivered(row, message, NOW)
    assert requests.state(RID) is RequestState.DELIVERED
    assert box.undelivered() == 0
    # At least once: a second delivery of the same message changes nothing.
    box.delivered(row, message, NOW)
    assert requests.state(RID) is RequestState.DELIVERED


def test_release_all_frees_leases_of_a_dead_process(engine: Engine) -> None:
    _, box = responded(engine)
    box.claim(NOW, 10, LEASE)
    box.release_all()
    assert len(box.claim(NOW, 10, LEASE)) == 1
