from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.core.eui import Eui64
from opendcc.core.request_id import COUNTER_MAX, InvalidRequestId, RequestId

euis = st.integers(min_value=0, max_value=(1 << 64) - 1).map(Eui64)
counters = st.integers(min_value=0, max_value=COUNTER_MAX)


def test_parses_the_duis_form() -> None:
    rid = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-db-12-34-56-78-90-a0:1000")
    assert rid.originator == Eui64.parse("90B3D51F30010000")
    assert rid.target == Eui64.parse("00DB1234567890A0")
    assert rid.counter == 1000
    assert str(rid) == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000"


def test_response_id_swaps_originator_and_target() -> None:
    rid = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7")
    assert str(rid.response_id()) == "00-DB-12-34-56-78-90-A0:90-B3-D5-1F-30-01-00-00:7"


def test_counter_limits() -> None:
    top = f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{COUNTER_MAX}"
    assert RequestId.parse(top).counter == 2**64 - 1
    with pytest.raises(InvalidRequestId):
        RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{COUNTER_MAX + 1}")


@pytest.mark.parametrize(
    "text",
    [
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1:2",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:-1",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:+1",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:01",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1e3",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:١٢",  # non-ASCII digits
        "nope:00-DB-12-34-56-78-90-A0:1",
    ],
)
def test_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidRequestId):
        RequestId.parse(text)


@given(euis, euis, counters)
def test_round_trip(originator: Eui64, target: Eui64, counter: int) -> None:
    rid = RequestId(originator, target, counter)
    assert RequestId.parse(str(rid)) == rid
    assert rid.response_id().response_id() == rid


@given(st.text(max_size=80))
def test_parse_fails_only_with_invalid_request_id(text: str) -> None:
    with contextlib.suppress(InvalidRequestId):
        RequestId.parse(text)
