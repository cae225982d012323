"""Mutations of real inputs for fuzzing: signed DUIS requests and the JSON APIs' bodies, changed
the ways attackers and broken clients change them. Driven by a ``random.Random`` (so
``scripts/fuzz.py`` runs millions cheaply) or by hypothesis (which draws the Random's seed and
shrinks it), and an ASGI call without a client library, for speed."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message

# Text that has broken parsers and converters: huge and unicode digits, odd dates, markup.
NASTY_TEXT = [
    "9" * 5000,
    "9" * 25,
    str(1 << 64),
    str((1 << 64) - 1),
    "-1",
    "²³",
    "٣",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-02-30T00:00:00Z",
    "2024-06-01T24:00:00Z",
    "NaN",
    "INF",
    "1e999",
    "",
    " ",
    "x" * 3000,
    "&amp;",
    "&lt;sr:Body&gt;",
    "\u202e",
    "00-DB-12-34-56-78-99-99",
    "4.1.1",
    "7.4",
    "8",
    "0",
]
NASTY_VALUES: list[Any] = [
    *NASTY_TEXT,
    10**30,
    -(10**30),
    -1,
    0,
    1.5,
    True,
    False,
    None,
    [],
    {},
    [[[[]]]],
    {"a": {"b": {"c": {}}}},
]
_TAG = re.compile(rb"<(/?)([A-Za-z:]+)")


def mutate_xml(rng: random.Random, seed: bytes) -> bytes:
    """One to three mutations of a document: its texts, its tags, its bytes."""
    data = seed
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(_XML_MUTATIONS)(rng, data)
    return data


def _text_at(rng: random.Random, data: bytes) -> tuple[int, int] | None:
    """The span of an element's text (between ``>`` and ``<``) at or after a random place."""
    start = data.find(b">", rng.randrange(len(data))) if data else -1
    end = data.find(b"<", start + 1) if start >= 0 else -1
    return None if end < 0 else (start + 1, end)


def _tag_at(rng: random.Random, data: bytes) -> tuple[int, int] | None:
    """The span of a tag's name at or after a random place."""
    found = _TAG.search(data, rng.randrange(len(data))) if data else None
    return None if found is None else found.span(2)


def _replace_text(rng: random.Random, data: bytes) -> bytes:
    span = _text_at(rng, data)
    if span is None:
        return data
    return data[: span[0]] + rng.choice(NASTY_TEXT).encode() + data[span[1] :]


def _rename_tag(rng: random.Random, data: bytes) -> bytes:
    span, other = _tag_at(rng, data), _tag_at(rng, data)
    if span is None or other is None:
        return data
    return data[: span[0]] + data[other[0] : other[1]] + data[span[1] :]


def _flip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]


def _splice(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 200))
    piece = data[start:end]
    at = rng.randrange(len(data))
    return data[:at] + piece * rng.randint(1, 50) + data[at:]


def _cut(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 100) :]


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _prefix(rng: random.Random, data: bytes) -> bytes:
    prefixes = [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>',
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd">',
        b"\xef\xbb\xbf",
        b'<?xml version="1.0" encoding="UTF-16"?>',
        b"<!-- -->",
    ]
    body = data.split(b"?>", 1)[-1]
    return rng.choice(prefixes) + body


def _nest(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice([10, 70, 300, 3000])
    at = data.find(b"</sr:Body>")
    if at < 0:
        return data
    return data[:at] + b"<sr:x>" * depth + b"</sr:x>" * depth + data[at:]


_XML_MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _replace_text,
    _replace_text,
    _replace_text,
    _rename_tag,
    _flip,
    _splice,
    _cut,
    _truncate,
    _prefix,
    _nest,
]


def mutate_json(rng: random.Random, seed: Mapping[str, Any]) -> bytes:
    """A JSON body: a field replaced, added or dropped, or the text itself broken."""
    body: dict[str, Any] = dict(seed)
    choice = rng.random()
    if choice < 0.5 and body:
        body[rng.choice(sorted(body))] = rng.choice(NASTY_VALUES)
    elif choice < 0.6 and body:
        del body[rng.choice(sorted(body))]
    elif choice < 0.7:
        body[rng.choice(["x", "amount_p", "wait_s", "route", "choice", "restricted"])] = rng.choice(
            NASTY_VALUES
        )
    text = json.dumps(body).encode()
    if choice >= 0.7:
        broken = [
            lambda t: t.replace(b"5", b"NaN", 1),
            lambda t: t.replace(b"5", b"1e999", 1),
            lambda t: t.replace(b"5", b"9" * 5000, 1),
            lambda t: b"[" * rng.choice([100, 1000, 7000]) + t,
            lambda t: b'{"a":' * rng.choice([10, 2000]) + t + b"}" * 10,
            lambda t: t[: rng.randrange(len(t) + 1)],
            lambda t: _flip(rng, t),
            lambda t: t.replace(b'"', b"'", 1),
        ]
        text = rng.choice(broken)(text)
    return text


async def asgi_status(
    app: ASGIApp,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    query: bytes = b"",
) -> int:
    """One request straight into the ASGI app (no client library): its HTTP status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status: list[int] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))

    await app(scope, receive, send)
    assert status, f"no answer to {method} {path}"
    return status[0]
