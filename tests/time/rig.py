"""A running hub whose time the test moves: six cohorts' head-ends, the hub and one clock.

The hub runs in this process on its own event loop thread (workers, deliverer, alert intake,
the future-dated sweep, the schedule and firmware runners), with the injected ``FixedClock``
the head-ends share, so a test moves time for both and never sleeps through it. Everything
else is real: each cohort's head-end on its own socket speaking its wire protocol, the SQLite
store, signed DUIS in and out, and the supplier's callback server taking the signed answers
over HTTP. Requests go straight to the hub's front door (the HTTP gateway in front of it is
tested elsewhere).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree
from tests.reference import KEYS
from tests.s1sp.contract.estate import (
    HeadEnds,
    Installation,
    hub_config,
    installations,
    supplier_gbcs_key,
)

from opendcc.config import load
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.access import Endpoint
from opendcc.dsp.frontdoor import Answer
from opendcc.dsp.lifecycle import RequestState
from opendcc.duis.response import format_datetime
from opendcc.duis.xml import parse_xml, sr
from opendcc.hub import Hub
from opendcc.sim import scenario
from opendcc.sim.headends.core import HeadEndCore
from opendcc.sim.state import MeterState
from opendcc.sim.user import CallbackServer, SimulatedUser
from opendcc.smki import SigningCredentials

T = TypeVar("T")
START = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # a Monday, half past midnight


def request_id_of(document: bytes) -> RequestId:
    text = parse_xml(document).getroot().findtext(f"{sr('Header')}/{sr('RequestID')}") or ""
    return RequestId.parse(text)


def code_of(root: etree._Element) -> str:
    return root.findtext(f"{sr('Header')}/{sr('ResponseCode')}") or ""


@dataclass
class Rig:
    directory: Path
    clock: FixedClock
    headends: HeadEnds
    callback: CallbackServer
    supplier: SimulatedUser
    installs: dict[str, Installation]
    config_path: Path
    hub: Hub | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    sent: list[bytes] = field(default_factory=list)

    # ------------------------------------------------------------------ the hub

    def start(self) -> Hub:
        hub = Hub(load(self.config_path), self.clock)
        hub.seed()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(hub.start(), loop).result(30)
        self.hub, self._loop, self._thread = hub, loop, thread
        return hub

    def stop(self) -> None:
        if self.hub is None or self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.hub.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self.hub = self._loop = self._thread = None

    def restart(self) -> Hub:
        self.stop()
        return self.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the hub's event loop and wait for its result."""
        assert self._loop is not None, "the hub is not running"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    @property
    def running(self) -> Hub:
        assert self.hub is not None, "the hub is not running"
        return self.hub

    # ------------------------------------------------------------------ the world

    def meter_of(self, cohort: str, kind: str = "ESME") -> tuple[Eui64, MeterState]:
        device = self.installs[cohort].devices[kind]
        meter = self.core(cohort).meter(device)
        assert meter is not None
        return device, meter

    def core(self, cohort: str) -> HeadEndCore:
        return self.headends.core(cohort)

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    # ------------------------------------------------------------------ requests

    def post(self, endpoint: Endpoint, body: bytes) -> Answer:
        self.sent.append(body)
        return self.running.front_door.handle(endpoint, body)

    def send(
        self,
        srv: str,
        target: Eui64,
        body: str,
        *,
        critical: bool = False,
        preceding: RequestId | None = None,
        first: bool | None = None,
    ) -> tuple[RequestId, Answer]:
        """Send ``srv`` as the supplier (through the transform flow when critical): the
        RequestID the outcome answers, and the front door's answer to the (last) request."""
        sequence = {"first_in_sequence": first, "preceding": str(preceding) if preceding else None}
        if not critical:
            request = self.supplier.request(srv, target, cv=1, body=body, **sequence)
            return request_id_of(request), self.post(Endpoint.SEND, request)
        transform = self.supplier.request(srv, target, cv=4, body=body)
        answer = self.post(Endpoint.TRANSFORM, transform)
        assert answer.code == "I0", (answer.code, answer.reason)
        root = parse_xml(answer.body).getroot()
        payload = root.findtext(f".//{sr('PreCommand')}/{sr('GBCSPayload')}") or ""
        signed = self.supplier.signed_precommand(srv, target, base64.b64decode(payload))
        if preceding is not None or first is not None:
            raise NotImplementedError("sequencing a critical request is not needed here")
        return request_id_of(signed), self.post(Endpoint.SEND, signed)

    def state(self, rid: RequestId) -> RequestState:
        return self.running.requests.state(rid)

    # ------------------------------------------------------------------ answers

    def delivered(self, key: str, timeout: float = 20.0) -> etree._Element:
        assert self.callback.wait_for({key}, timeout), f"nothing delivered as {key}"
        return parse_xml(self.callback.body_of(key)).getroot()

    def response_to(self, rid: RequestId, timeout: float = 20.0) -> etree._Element:
        return self.delivered(f"R:{rid.response_id()}", timeout)

    def delivered_keys(self) -> set[str]:
        """The message keys the supplier's callback has taken."""
        return set(self.callback.keys())

    def keys_for(self, rid: RequestId) -> set[str]:
        return {k for k in self.delivered_keys() if str(rid.response_id()) in k}


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def at(instant: datetime) -> str:
    return format_datetime(instant)


@contextmanager
def timed_estate(directory: Path, extra_config: str = "") -> Iterator[Rig]:
    directory.mkdir(parents=True, exist_ok=True)
    installs = installations()
    clock = FixedClock(START)
    headends = HeadEnds(installs, clock)
    try:
        with CallbackServer() as callback:
            config = hub_config(
                directory, installs, headends, callback.url, extra_config=extra_config
            )
            key = scenario.SUPPLIER_KEY
            supplier = SimulatedUser(
                SigningCredentials.from_files(KEYS / f"{key}.key", KEYS / f"{key}.pem"),
                gbcs_key=supplier_gbcs_key(),
            )
            rig = Rig(
                directory,
                clock,
                headends,
                callback,
                supplier,
                {i.profile.name: i for i in installs},
                config,
            )
            try:
                rig.start()
                yield rig
            finally:
                rig.stop()
    finally:
        headends.close()
