"""The head-end simulator's control channel: what consumers and the world do to meters, over HTTP.

Some things happen at a SMETS1 meter that no head-end command causes. Here: a consumer keys a
UTRN (Unique Transaction Reference Number) into the meter's keypad; or the world makes events
happen (an outage, tamper ...). The meter takes it exactly
as it takes one delivered over the air by SRV 2.2 Top Up Device (``MeterState.take_utrn``) and
alerts ``UTRN_ACCEPTED_AT_KEYPAD`` through its head-end's own protocol, so the S1SP (SMETS1
Service Provider) can reconcile its ledger; a refused UTRN only shows on the meter's display.

A simulated head-end process serves this small API beside its wire protocol
(``python -m opendcc.sim.headends --control-port``), so tests, the demo and
``opendcc sim keypad`` can play the consumer:

``POST /keypad`` ``{"device": EUI-64, "utrn": digits}``
    200 ``{"accepted": true, "amount_p": n, "counter": n}``: credited, alert pushed;
    422 ``{"accepted": false, "reason": r, "detail": text}``: refused, nothing changed and
    nothing sent (``r`` is a ``Rejection``: format, check_digit, authentication, replay,
    amount; or the meter's own ``Reason``, e.g. wrong_payment_mode);
    404 a device the head-end does not serve; 400 a body that is not that JSON.
``GET /meters/{device}/balance``
    200 ``{"device", "payment_mode", "balance_p"}``, as 4.18 Read Meter Balance reads it; 404.
``POST /meters/{device}/events`` ``{"event": name, "count": n}``
    the event (a ``HeadEndCore.inject`` name: power_outage, power_restore, tamper,
    consumer_enable, firmware_failed, low_credit) happens ``count`` times (1..10000, default
    1); 200 ``{"device", "event", "alerts"}``: the number of alerts pushed; 404 an unknown
    device; 400 an unknown event or a bad body; 409 the meter refused (``reason``, ``detail``),
    after the alerts of the times it did not.
``GET /meters/{device}/restriction``
    200 ``{"device", "restricted", "since", "set_by", "reason", "notices"}``: what the DCC's
    restriction notices (SRV 99.1) told the head-end about MP169 restricted mode (``since`` an
    ISO 8601 date-time or null before any notice; ``notices``: how many it carried out); 404.
``GET /meters/{device}/alerts-config``
    200 ``{"disabled": ["8101", ...]}``: the alert codes 6.22 Configure Alert Behaviour
    switched off, four upper-case hex digits in order; 404.

It is a simulator's test fixture, not a head-end interface: it has no authentication, so it
listens on the loopback address unless told otherwise.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from opendcc.core.eui import Eui64
from opendcc.s1sp.transports.http import HttpListener
from opendcc.sim.headends.core import EVENTS, HeadEndCore
from opendcc.sim.state import MeterError, MeterState, UtrnRefused

KEYPAD_PATH = "/keypad"
MAX_EVENTS = 10_000  # events one POST may make happen


def _answer(status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _device(text: object) -> Eui64 | None:
    try:
        return Eui64.parse(str(text))
    except ValueError:
        return None


def _event_order(body: bytes) -> tuple[str, int] | None:
    """The event name and count of a ``POST /meters/{device}/events`` body, if well formed."""
    try:
        entry = json.loads(body)
        event, count = entry["event"], entry.get("count", 1)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    valid = isinstance(event, str) and type(count) is int and 1 <= count <= MAX_EVENTS
    return (event, count) if valid else None


def _refusal(exc: MeterError) -> JSONResponse:
    reason = exc.rejection.value if isinstance(exc, UtrnRefused) else exc.reason.value
    return _answer(422, accepted=False, reason=reason, detail=exc.detail)


def control_app(core: HeadEndCore) -> Starlette:
    """The control API of the head-end around ``core``."""

    async def keypad(request: Request) -> JSONResponse:
        try:
            entry = json.loads(await request.body())
            device, utrn = _device(entry["device"]), entry["utrn"]
        except (ValueError, KeyError, TypeError):
            return _answer(400, error='expected {"device": EUI-64, "utrn": digits}')
        if device is None or not isinstance(utrn, str):
            return _answer(400, error="device is an EUI-64 and utrn a string of digits")
        if not core.serves(device):
            return _answer(404, error=f"no device {device} here")
        try:
            credit = core.key_in(device, utrn)
        except MeterError as exc:
            return _refusal(exc)
        return _answer(200, accepted=True, amount_p=credit.amount_p, counter=credit.counter)

    def meter_of(request: Request) -> MeterState | JSONResponse:
        device = _device(request.path_params["device"])
        meter = None if device is None else core.meter(device)
        if meter is None:
            return _answer(404, error=f"no device {request.path_params['device']} here")
        return meter

    async def balance(request: Request) -> JSONResponse:
        meter = meter_of(request)
        if isinstance(meter, JSONResponse):
            return meter
        try:
            balance_p = meter.meter_balance(core.clock.now())
            mode = meter.payment_mode
        except MeterError as exc:
            return _answer(409, reason=exc.reason.value, detail=exc.detail)
        return _answer(
            200, device=str(meter.device_id), payment_mode=mode.value, balance_p=balance_p
        )

    async def events(request: Request) -> JSONResponse:
        meter = meter_of(request)
        if isinstance(meter, JSONResponse):
            return meter
        order = _event_order(await request.body())
        if order is None:
            return _answer(400, error='expected {"event": name, "count": 1..10000}')
        event, count = order
        if event not in EVENTS:
            return _answer(400, error=f"no event {event!r}: one of {', '.join(EVENTS)}")
        pushed = 0
        try:
            for _ in range(count):
                pushed += core.inject(meter.device_id, event)
        except MeterError as exc:
            return _answer(409, reason=exc.reason.value, detail=exc.detail, alerts=pushed)
        return _answer(200, device=str(meter.device_id), event=event, alerts=pushed)

    async def restriction(request: Request) -> JSONResponse:
        meter = meter_of(request)
        if isinstance(meter, JSONResponse):
            return meter
        record = meter.restriction
        return _answer(
            200,
            device=str(meter.device_id),
            restricted=record.restricted,
            since=None if record.since is None else record.since.isoformat(),
            set_by=record.set_by,
            reason=record.reason,
            notices=meter.restriction_notices,
        )

    async def alerts_config(request: Request) -> JSONResponse:
        meter = meter_of(request)
        if isinstance(meter, JSONResponse):
            return meter
        try:
            disabled = sorted(meter.disabled_alerts)
        except MeterError as exc:
            return _answer(409, reason=exc.reason.value, detail=exc.detail)
        return _answer(200, disabled=[f"{code:04X}" for code in disabled])

    return Starlette(
        routes=[
            Route(KEYPAD_PATH, keypad, methods=["POST"]),
            Route("/meters/{device}/balance", balance, methods=["GET"]),
            Route("/meters/{device}/events", events, methods=["POST"]),
            Route("/meters/{device}/restriction", restriction, methods=["GET"]),
            Route("/meters/{device}/alerts-config", alerts_config, methods=["GET"]),
        ]
    )


class ControlServer:
    """The control API served by uvicorn in the running event loop (port 0: a free one)."""

    def __init__(self, core: HeadEndCore, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = HttpListener(control_app(core), host, port)

    @property
    def url(self) -> str:
        return self._listener.base_url

    async def start(self) -> None:
        await self._listener.start()

    async def aclose(self) -> None:
        await self._listener.stop()
