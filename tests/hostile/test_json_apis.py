"""Every route of the UTRN service and the admin API, fed hostile paths, queries and bodies:
each answered with a 4xx and a reason (never a 5xx), and nothing changed but the call's one
audit record. In process (the ASGI app of an unstarted hub): the answers come from the same
code a running hub serves, thousands of times faster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opendcc.sim import scenario
from tests.hostile.rig import METER, Rig, changed, make_rig

SUPPLIER = str(scenario.SUPPLIER)
PAN = "9826000000000000025"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    made = make_rig(Path(tmp_path_factory.mktemp("json")), xsd=False)
    yield made
    made.hub.engine.dispose()


NAN = object()  # written as the bare NaN that Python's json module would accept


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body).replace('"__NaN__"', "NaN").encode()


# Text that str.isdigit() accepts but int() or the database does not, numbers past every
# range, the wrong JSON types, and out-of-range instants.
HOSTILE_TEXT = ["²", "٣", "9" * 25, "9" * 5000, "-1", "0x10", " 1", "", "x" * 5000, "\x00", "ü"]
HOSTILE_VALUES: list[Any] = [
    "__NaN__",
    10**30,
    -1,
    True,
    None,
    [],
    {},
    [1, 2],
    "²",
    "9" * 25,
    "x" * 5000,
    "",
    {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
]
DEEP = [b"[" * 8000 + b"]" * 8000, b'{"a":' * 2500 + b"1" + b"}" * 2500]
BODIES = [
    *DEEP,
    b"NaN",
    b"[]",
    b'"abc"',
    b"\xff\xfe",
    b'{"a": 1e999999}',
    b'{"amount_p": ' + b"9" * 5000 + b"}",
    b'{"a": Infinity}',
    b"{" * 100,
]


def check(rig: Rig, method: str, path: str, kind: str, body: Any = None, **params: str) -> None:
    before = rig.counts()
    answer = rig.call(
        method,
        path,
        content=None if body is None else _encode(body),
        headers={**rig.bearer(kind), "Content-Type": "application/json"},
        params=params or None,
    )
    assert 400 <= answer.status_code < 500, (method, path, body, params, answer.text[:300])
    assert answer.headers["content-type"].startswith(("application/json", "text/plain"))
    if answer.headers["content-type"].startswith("application/json"):
        assert answer.json()["error"]
    after = rig.counts()
    assert changed(before, after) == {}, (method, path, body, params)
    assert after["audit_log"] - before["audit_log"] <= 1


UTRN_BODY = {"device": str(METER), "amount_p": 5, "route": "one-step", "wait_s": 1}


@pytest.mark.parametrize("field", sorted(UTRN_BODY))
def test_issue_validates_every_field_before_issuing(rig: Rig, field: str) -> None:
    for value in HOSTILE_VALUES:
        if field == "wait_s" and value in (None,):  # absent: the default wait, a valid call
            continue
        check(rig, "POST", "/utrn/v1/utrns", "supplier", {**UTRN_BODY, field: value})


def test_a_bad_last_field_issues_nothing(rig: Rig) -> None:
    # The issue's exact case: a valid top-up whose wait_s is not a number.
    for wait in ["abc", [], "__NaN__", -5, 10**400]:
        check(rig, "POST", "/utrn/v1/utrns", "supplier", {**UTRN_BODY, "wait_s": wait})
    assert rig.counts()["utrns"] == 0


def test_issue_names_the_reference_and_targets_strictly(rig: Rig) -> None:
    base = {"device": str(METER), "amount_p": 5}
    for value in HOSTILE_VALUES:
        if value is None or (isinstance(value, str) and 0 < len(value) <= 64):
            continue  # absent, or a valid reference (any text of 1-64 characters)
        check(rig, "POST", "/utrn/v1/utrns", "supplier", {**base, "reference": value})
    for name in ("mpxn", "pan"):
        for value in [v for v in HOSTILE_VALUES if v is not None]:
            check(rig, "POST", "/utrn/v1/utrns", "supplier", {"amount_p": 5, name: value})


ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/utrn/v1/utrns", "supplier"),
    ("GET", "/utrn/v1/utrns", "supplier"),
    ("GET", "/utrn/v1/utrns/{x}", "supplier"),
    ("POST", "/utrn/v1/utrns/{x}/cancel", "supplier"),
    ("GET", "/utrn/v1/psps", "psp"),
    ("PUT", "/utrn/v1/psps/{x}", "supplier"),
    ("DELETE", "/utrn/v1/psps/{x}", "supplier"),
    ("GET", "/utrn/v1/pans/{x}", "supplier"),
    ("PUT", "/utrn/v1/pans/{x}", "supplier"),
    ("PUT", "/admin/v1/devices/{x}/restriction", "user"),
    ("GET", "/admin/v1/devices/{x}/restriction", "user"),
    ("GET", "/admin/v1/devices", "psp"),
    ("GET", "/admin/v1/extract", "psp"),
    ("GET", "/admin/v1/alerts", "psp"),
    ("GET", "/admin/v1/alerts/{x}", "user"),
    ("GET", "/admin/v1/alert-subscriptions", "psp"),
    ("PUT", "/admin/v1/alert-subscriptions/{x}", "user"),
    ("DELETE", "/admin/v1/alert-subscriptions/{x}", "user"),
    ("GET", "/admin/v1/firmware-watch", "psp"),
    ("GET", "/admin/v1/performance", "psp"),
    ("GET", "/admin/v1/requests/{x}", "user"),
    ("DELETE", "/admin/v1/requests/{x}", "user"),
]


@pytest.mark.parametrize(("method", "path", "kind"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_refuses_hostile_paths_and_bodies(
    rig: Rig, method: str, path: str, kind: str
) -> None:
    for text in HOSTILE_TEXT:
        if "psps" in path and text.isascii() and 0 < len(text) <= 64 and " " not in text:
            continue  # a valid PSP id: letters, digits, "-" ...
        if "{x}" in path and text and "\x00" not in text:
            check(rig, method, path.replace("{x}", text.replace("/", "")), kind)
    target = path.replace("{x}", str(METER) if "devices" in path else "1")
    for body in BODIES:
        check(rig, method, target, kind, body)
    # Anonymous and with a key of the wrong kind: refused before anything is read.
    before = rig.counts()
    answer = rig.call(method, target, headers={"Authorization": "Bearer odcc_" + "9" * 5000})
    assert answer.status_code == 401
    assert changed(before, rig.counts()) == {}


QUERIES = {
    "/admin/v1/devices": ["limit", "after", "restricted", "type", "mpxn"],
    "/admin/v1/alerts": ["since", "limit"],
    "/admin/v1/performance": ["from", "to"],
    "/admin/v1/extract": ["format"],
    "/utrn/v1/utrns": ["device"],
}
INSTANTS = [
    "0001-01-01T00:00:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59",
    "2024-02-30T00:00:00",
    "2024-06-01T25:00:00",
]


@pytest.mark.parametrize("path", sorted(QUERIES))
def test_query_parameters(rig: Rig, path: str) -> None:
    kind = "supplier" if path.startswith("/utrn") else "user"
    for name in QUERIES[path]:
        for text in [*HOSTILE_TEXT, *INSTANTS]:
            if text == "" or name == "mpxn":
                continue  # empty means "not given"; any MPxN is a valid (empty) search
            check(rig, "GET", path, kind, **{name: text})
    if path == "/admin/v1/performance":
        check(
            rig, "GET", path, kind, **{"from": "2024-06-02T00:00:00", "to": "2024-06-01T00:00:00"}
        )
