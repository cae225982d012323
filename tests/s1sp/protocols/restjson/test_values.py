"""REST/JSON values: frozen forms, RFC 3339 date-times and the canonical, strict JSON bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from tests.s1sp.protocols.restjson.strategies import instants, objects, values

from opendcc.s1sp.protocols.restjson import ProtocolError, format_datetime, freeze, parse_datetime
from opendcc.s1sp.protocols.restjson.values import MAX_DEPTH, dump, freeze_object, load, thaw


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime(2024, 6, 1, 12, tzinfo=UTC), "2024-06-01T12:00:00Z"),
        (datetime(2024, 6, 1, 12, 0, 30, 250000, tzinfo=UTC), "2024-06-01T12:00:30.25Z"),
        (datetime(2024, 6, 1, 13, 0, 0, 1, tzinfo=timezone(timedelta(hours=1))),
         "2024-06-01T12:00:00.000001Z"),
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00Z"),
    ],
)  # fmt: skip
def test_date_times_are_rfc_3339_utc(instant: datetime, text: str) -> None:
    assert format_datetime(instant) == text
    assert parse_datetime(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-01T12:00:00+00:00",
        "2024-06-01t12:00:00z",
        "2024-06-01 12:00:00Z",
        "2024-06-01T12:00:00.1234567Z",
        "2024-02-30T12:00:00Z",
        "2024-06-01T23:59:60Z",
        "٢٠٢٤-06-01T12:00:00Z",  # non-ASCII digits
    ],
)
def test_other_strings_are_not_date_times(text: str) -> None:
    assert parse_datetime(text) is None
    assert freeze(text) == text


def test_freeze_refuses_what_json_cannot_carry() -> None:
    for bad in (float("nan"), float("inf"), b"bytes", {1: "a"}, "\ud800", datetime(2024, 1, 1)):
        with pytest.raises(ValueError):
            freeze(bad)
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nest"):
        freeze(deep)


def test_bodies_are_canonical() -> None:
    document = {"b": [1, 2.5, None], "a": {"y": True, "x": "é"}}
    assert dump(document) == '{"a":{"x":"é","y":true},"b":[1,2.5,null]}'.encode()


@given(values)
def test_frozen_values_survive_json(value: Any) -> None:
    frozen = freeze(value)
    assert freeze(frozen) == frozen
    assert freeze(json.loads(json.dumps(thaw(frozen)))) == frozen


@given(objects)
def test_frozen_objects_are_read_only(document: dict[str, Any]) -> None:
    frozen = freeze_object(document)
    assert isinstance(frozen, Mapping)
    with pytest.raises(TypeError):
        frozen["new"] = 1  # type: ignore[index]
    assert freeze_object(load(dump({k: thaw(v) for k, v in frozen.items()}))) == frozen


@given(instants)
def test_date_times_round_trip_to_the_microsecond(instant: datetime) -> None:
    assert parse_datetime(format_datetime(instant)) == instant


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[1]", b'{"a":NaN}', b'{"a":Infinity}', b'{"a":1,"a":1}', b"\xef\xbb\xbf{}"],
)
def test_load_takes_only_strict_json_objects(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        load(body)
