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
``GET /meters/{device}/held``
    200 ``[{"request_id", "srv", "execute_at"}, ...]``: the future-dated commands the head-end
    holds for the meter, soonest first (``execute_at`` in UTC with milliseconds and ``Z``); 404.
``GET /meters/{device}/alerts-config``
    200 ``{"disabled": ["8101", ...]}``: the alert codes 6.22 Configure Alert Behaviour
    switched off, four upper-case hex digits in order; 404.
``POST /alerts`` ``{"alerts": [{"device": EUI-64, "code": "8F20", "values": {name: value}}]}``
    a synthetic alert source (1..5000 a call): each alert is published as the head-end
    publishes a meter's, in the cohort's own code and stamped with the head-end clock's now,
    whether or not the head-end holds a model of the device (a real head-end forwards alerts
    for its whole estate; the simulator holds a few meters). ``code`` is a GBCS-style code a
    meter raises as an alert (``sim.state.EVENTS``), ``values`` (optional) text or integers.
    200 ``{"published": n}``; 400 a body that is not that JSON.

It is a simulator's test fixture, not a head-end interface: it has no authentication, so it
listens on the loopback address unless told otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from opendcc.core.eui import Eui64
from opendcc.duis.response import format_datetime
from opendcc.s1sp.transports.http import HttpListener
from opendcc.sim.headends.core import EVENTS, HeadEndCore
from opendcc.sim.state import EVENTS as METER_EVENTS
from opendcc.sim.state import Alert, EventCode, MeterError, MeterState, UtrnRefused

KEYPAD_PATH = "/keypad"
ALERTS_PATH = "/alerts"
MAX_EVENTS = 10_000  # events one POST may make happen
MAX_ALERTS = 5_000  # synthetic alerts one POST may publish
# The codes a meter raises as alerts, by their four hex digits.
ALERT_CODES: Mapping[str, EventCode] = {
    f"{code:04X}": code for code, spec in METER_EVENTS.items() if spec.alert
}


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


def _synthetic_alert(entry: object, core: HeadEndCore) -> Alert | None:
    """One ``POST /alerts`` entry as the meter's alert, stamped now; None if malformed."""
    if not isinstance(entry, dict):
        return None
    device = _device(entry.get("device"))
    code = ALERT_CODES.get(str(entry.get("code", "")).upper())
    values = entry.get("values", {})
    if device is None or code is None or not isinstance(values, dict):
        return None
    # Text or integers only (bool is an int to Python, not to the wires).
    if not all(type(value) in (str, int) and name for name, value in values.items()):
        return None
    return Alert(code, device, core.clock.now(), tuple(values.items()))


def _alert_order(body: bytes, core: HeadEndCore) -> list[Alert] | None:
    """The alerts of a ``POST /alerts`` body, if every one is well formed."""
    try:
        entries = json.loads(body)["alerts"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ALERTS:
        return None
    alerts = [_synthetic_alert(entry, core) for entry in entries]
    return [alert for alert in alerts if alert is not None] if None not in alerts else None


def _refusal(exc: MeterError) -> JSONResponse:
    reason = exc.rejection.value if isinstance(exc, UtrnRefused) else exc.reason.value
    return _answer(422, accepted=False, reason=reason, detail=exc.detail)


def _held(core: HeadEndCore, device_text: str) -> JSONResponse:
    """``GET /meters/{device}/held``: the future-dated commands held for the meter."""
    device = _device(device_text)
    meter = None if device is None else core.meter(device)
    if meter is None:
        return _answer(404, error=f"no device {device_text} here")
    commands = [
        {"request_id": h.request_id, "srv": h.srv, "execute_at": format_datetime(h.execute_at)}
        for h in core.held(meter.device_id)
    ]
    return JSONResponse(commands)


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

    async def held(request: Request) -> JSONResponse:
        return _held(core, request.path_params["device"])

    async def alerts_config(request: Request) -> JSONResponse:
        meter = meter_of(request)
        if isinstance(meter, JSONResponse):
            return meter
        try:
            disabled = sorted(meter.disabled_alerts)
        except MeterError as exc:
            return _answer(409, reason=exc.reason.value, detail=exc.detail)
        return _answer(200, disabled=[f"{code:04X}" for code in disabled])

    async def synthetic_alerts(request: Request) -> JSONResponse:
        alerts = _alert_order(await request.body(), core)
        if alerts is None:
            return _answer(
                400,
                error=f'expected {{"alerts": [{{"device": EUI-64, "code": one of'
                f' {", ".join(ALERT_CODES)}, "values": {{name: text or integer}}}}]}},'
                f" 1..{MAX_ALERTS} of them",
            )
        core.publish(alerts)
        return _answer(200, published=len(alerts))

    return Starlette(
        routes=[
            Route(KEYPAD_PATH, keypad, methods=["POST"]),
            Route(ALERTS_PATH, synthetic_alerts, methods=["POST"]),
            Route("/meters/{device}/balance", balance, methods=["GET"]),
            Route("/meters/{device}/events", events, methods=["POST"]),
            Route("/meters/{device}/restriction", restriction, methods=["GET"]),
            Route("/meters/{device}/held", held, methods=["GET"]),
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
