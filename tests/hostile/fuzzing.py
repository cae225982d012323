"""One fuzzing step per surface, shared by the hypothesis tests (``test_fuzz.py``) and the long
run (``scripts/fuzz.py``): each takes a ``random.Random``, makes one hostile input from a real
one, sends it, and raises ``AssertionError`` if the answer is a 5xx or anything but a refusal
escapes."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from opendcc.core.errors import DuisError
from opendcc.dsp.frontdoor import _readable_header
from opendcc.sim.user import SimulatedUser
from tests.hostile.mutate import asgi_status, mutate_json, mutate_xml
from tests.hostile.rig import METER, Rig

FUTURE = (
    "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>2024-07-01T00:00:00Z"
    "</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>"
)


def signed_seeds(who: SimulatedUser) -> list[bytes]:
    """Real signed requests to mutate: a device read, a future-dated one, a non-device one."""
    return [
        who.request("4.1.1", METER),
        who.request("4.1.1", METER, body=FUTURE),
        who.request("8.2", METER, cv=8),
    ]


# (method, path, kind of key, a valid body) for every JSON route; "{x}" is filled per call.
JSON_ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/utrn/v1/utrns", "supplier", {"device": str(METER), "amount_p": 5, "wait_s": 1}),
    ("POST", "/utrn/v1/utrns", "psp", {"mpxn": "1900000000160", "amount_p": 5}),
    ("GET", "/utrn/v1/utrns/{x}", "supplier", {}),
    ("POST", "/utrn/v1/utrns/{x}/cancel", "supplier", {"reason": "typo"}),
    ("PUT", "/utrn/v1/psps/{x}", "supplier", {}),
    ("PUT", "/utrn/v1/pans/{x}", "supplier", {"mpxn": "1900000000160"}),
    ("PUT", f"/admin/v1/devices/{METER}/restriction", "user", {"restricted": False, "reason": ""}),
    ("GET", "/admin/v1/devices", "user", {}),
    ("GET", "/admin/v1/alerts", "user", {}),
    ("PUT", "/admin/v1/alert-subscriptions/{x}", "user", {"choice": "on"}),
    ("GET", "/admin/v1/requests/{x}", "user", {}),
    ("DELETE", "/admin/v1/requests/{x}", "user", {}),
    ("GET", "/admin/v1/performance", "user", {}),
]
PATH_TEXT = ["1", "²", "9" * 25, "9" * 300, "-1", "0x8F20", "8F20", "%00", "x" * 200, "psp-1"]
QUERIES = [
    b"",
    b"limit=%C2%B2",
    b"limit=" + b"9" * 5000,
    b"since=0001-01-01T00:00:00%2B01:00",
    b"from=9999-12-31T23:59:59-01:00",
    b"to=0001-01-01",
    b"after=" + b"f" * 16,
    b"restricted=maybe",
    b"type=%00",
    b"device=" + b"9" * 25,
]


@dataclass
class Fuzzer:
    rig: Rig
    seeds: list[bytes]

    def parser(self, rng: random.Random) -> None:
        """The DUIS parse step (XML, XSD, request, Header/Body agreement): DuisError or a
        request, nothing else; and a refusal can always read the header or say it cannot."""
        data = mutate_xml(rng, rng.choice(self.seeds))
        try:
            self.rig.hub.front_door._parse(data)
        except DuisError:  # refused: the refusal reads the header or says it cannot
            _readable_header(data, self.rig.hub.catalogue)

    async def duis(self, rng: random.Random) -> None:
        data = mutate_xml(rng, rng.choice(self.seeds))
        endpoint = rng.choice(["serviceS", "serviceS", "serviceT", "serviceD"])
        status = await asgi_status(self.rig.app, "POST", f"/api/v1/{endpoint}", data)
        assert status < 500, (status, data[:300])

    async def json_api(self, rng: random.Random) -> None:
        method, path, kind, body = rng.choice(JSON_ROUTES)
        path = path.replace("{x}", rng.choice(PATH_TEXT))
        data = mutate_json(rng, body) if rng.random() < 0.9 else json.dumps(body).encode()
        headers = {**self.rig.bearer(kind), "Content-Type": "application/json"}
        query = rng.choice(QUERIES) if method == "GET" else b""
        status = await asgi_status(self.rig.app, method, path, data, headers, query=query)
        assert status < 500, (status, method, path, data[:300], query)
