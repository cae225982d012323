"""The protocol-neutral heart of a simulated cohort head-end: meters, WAN, faults, alerts.

A head-end server (one per wire protocol, in this package) decodes a command from its wire,
asks ``HeadEndCore.execute`` to carry it out, waits ``delay_s`` (the simulated WAN) and encodes
the ``Reply``. The core holds one ``MeterState`` per device (ESME or GSME), addressed also
through its comms hub (CHF) and gas proxy (GPF) EUI-64s, executes the SRV with
``opendcc.sim.services`` at the clock's instant, and publishes every alert the meter raised,
with the cohort's own alert code, to the servers that push or queue them.

Like a real head-end it is idempotent per request id: a command it already carried out is
answered again from memory, without acting on the meter a second time.

The world acts on meters too: ``inject`` (an outage, tamper, the consumer's button, and two test
hooks: a firmware image that fails verification and a low credit alert whatever the credit)
and ``key_in`` (a consumer keys a UTRN, Unique Transaction Reference Number, into a meter's
keypad); their alerts are published like any other.

Faults are injected for the whole head-end or one meter: an unreachable device, a slow WAN,
a corrupted reply (the server damages its frame), lost commands, missing keys, a HAN error.
``down`` is the server's business (it stops listening).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist

from opendcc.core.clock import Clock, SystemClock
from opendcc.core.eui import Eui64
from opendcc.prepayment.utrn import Credit
from opendcc.s1sp.contract import CohortProfile, OutcomeStatus
from opendcc.s1sp.services.base import Datum, Parameters, Result
from opendcc.sim.services import execute
from opendcc.sim.state import Alert, MeterError, MeterState

_NORMAL = NormalDist()
REMEMBERED = 1_000_000  # answers kept for repeated request ids
_Z99 = _NORMAL.inv_cdf(0.99)
# The made-up image an injected ``firmware_failed`` delivers: it never matches its hash.
INJECTED_FIRMWARE_VERSION = "0.0.0-injected"
_NO_HASH = b""


def _firmware_failed(meter: MeterState, now: datetime) -> tuple[Alert, ...]:
    image = b"opendcc injected firmware image"
    return meter.distribute_firmware(
        now, version=INJECTED_FIRMWARE_VERSION, image=image, image_hash=_NO_HASH
    )


# What happens to a meter in the world, by the name ``inject`` takes.
EVENTS: Mapping[str, Callable[[MeterState, datetime], tuple[Alert, ...]]] = {
    "power_outage": lambda meter, now: meter.power_outage(now),
    "power_restore": lambda meter, now: meter.power_restore(now),
    "tamper": lambda meter, now: meter.tamper(now),
    "consumer_enable": lambda meter, now: meter.consumer_enable(now),
    "firmware_failed": _firmware_failed,  # 0x8F1C FIRMWARE_VERIFICATION_FAILED
    "low_credit": lambda meter, now: meter.flag_low_credit(now),  # 0x8101, credit low or not
}


@dataclass(frozen=True, slots=True)
class Faults:
    """Injected faults, for the whole head-end or one meter."""

    latency_ms: int = 0  # added WAN latency before each answer
    unreachable: bool = False  # the WAN cannot reach the meter: DEVICE_UNREACHABLE
    corrupt: bool = False  # the reply is damaged in transit
    failure_rate: float = 0.0  # share of request ids, chosen by hash, answered NO_RESPONSE
    keys_missing: bool = False  # the S1SP holds no security credentials for the device
    han_error: bool = False  # the comms hub cannot reach the device over the HAN

    def loses(self, request_id: str) -> bool:
        return _fraction(request_id, "lose") < self.failure_rate


@dataclass(frozen=True, slots=True)
class Reply:
    """What the head-end answers for one command."""

    status: OutcomeStatus
    result: Result = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PushedAlert:
    """An alert as the head-end pushes it: the cohort's own code, the meter's timestamp."""

    device: Eui64
    code: int
    raised_at: datetime
    values: Mapping[str, Datum]


def to_hundredths(result: Result) -> Result:
    """``result`` with its date-times to the hundredth of a second, as head-ends report time
    (the binary protocol carries no finer)."""

    def settle(datum: Datum) -> Datum:
        if isinstance(datum, datetime):
            return datum.replace(microsecond=datum.microsecond // 10_000 * 10_000)
        if isinstance(datum, tuple):
            return tuple(settle(item) for item in datum)
        return datum

    return {name: settle(value) for name, value in result.items()}


def _fraction(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / (1 << 64)


class HeadEndCore:
    """One cohort's head-end state; servers wrap it in their wire protocol."""

    def __init__(
        self,
        profile: CohortProfile,
        meters: Iterable[MeterState],
        *,
        clock: Clock | None = None,
        faults: Faults | None = None,
        meter_faults: Mapping[Eui64, Faults] | None = None,
        aliases: Mapping[Eui64, Eui64] | None = None,
        realistic_wan: bool = False,
    ) -> None:
        self.profile = profile
        self.meters: dict[Eui64, MeterState] = {m.device_id: m for m in meters}
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or Faults()
        self.meter_faults = dict(meter_faults or {})
        # Comms hub (CHF) and gas proxy (GPF) ids, each answered by the meter it serves.
        self.aliases = dict(aliases or {})
        self.realistic_wan = realistic_wan
        self.executions: Counter[Eui64] = Counter()  # commands that reached each meter
        # The answers already given, by request id: the newest REMEMBERED, so a long-running
        # simulator's memory stays bounded.
        self._answered: OrderedDict[
            str, tuple[tuple[Eui64, str, tuple[tuple[str, str], ...]], Reply]
        ] = OrderedDict()
        self._subscribers: list[Callable[[PushedAlert], None]] = []
        self._awake_until: dict[Eui64, datetime] = {}

    # ------------------------------------------------------------------ lookups

    def meter(self, device: Eui64) -> MeterState | None:
        return self.meters.get(self.aliases.get(device, device))

    def serves(self, device: Eui64) -> bool:
        return self.meter(device) is not None

    def faults_for(self, device: Eui64) -> Faults:
        return self.meter_faults.get(self.aliases.get(device, device), self.faults)

    # ------------------------------------------------------------------ commands

    def execute(self, request_id: str, device: Eui64, srv: str, parameters: Parameters) -> Reply:
        """Carry out ``srv`` on ``device`` now; the same request id is answered from memory."""
        key = (device, srv, tuple(sorted(parameters.items())))
        if (done := self._answered.get(request_id)) is not None:
            if done[0] != key:
                return Reply(OutcomeStatus.REJECTED, detail="request id reused for another command")
            return done[1]
        meter = self.meter(device)
        if meter is None:
            return Reply(OutcomeStatus.UNKNOWN_DEVICE, detail=f"no device {device} here")
        refusal = self._refusal(request_id, device)
        if refusal is not None:
            return Reply(refusal, detail=f"injected fault: {refusal}")
        now = self.clock.now()
        self.executions[meter.device_id] += 1
        try:
            result, alerts = execute(meter, srv, parameters, now)
        except MeterError as exc:
            reply = Reply(OutcomeStatus.REJECTED, detail=f"meter refused: {exc}")
        else:
            reply = Reply(OutcomeStatus.SUCCESS, to_hundredths(result))
            self.publish(alerts)
        self._answered[request_id] = (key, reply)
        if len(self._answered) > REMEMBERED:
            self._answered.popitem(last=False)
        return reply

    def _refusal(self, request_id: str, device: Eui64) -> OutcomeStatus | None:
        faults = self.faults_for(device)
        injected = (
            (faults.unreachable, OutcomeStatus.DEVICE_UNREACHABLE),
            (faults.keys_missing, OutcomeStatus.KEYS_MISSING),
            (faults.han_error, OutcomeStatus.HAN_ERROR),
            (faults.loses(request_id), OutcomeStatus.NO_RESPONSE),
            (self.realistic_wan and self._wan_loses(request_id), OutcomeStatus.NO_RESPONSE),
        )
        return next((status for applies, status in injected if applies), None)

    def _wan_loses(self, request_id: str) -> bool:
        return _fraction(request_id, "wan") < self.profile.wan.failure_rate

    # ------------------------------------------------------------------ the WAN

    def delay_s(self, request_id: str, device: Eui64) -> float:
        """How long the WAN takes to answer this command: injected latency, and with a realistic
        WAN the cohort's latency distribution, SMS wake-up of an idle comms hub and the gas
        meter's HAN wake-up."""
        delay_ms = float(self.faults_for(device).latency_ms)
        if self.realistic_wan:
            delay_ms += self._latency_ms(request_id) + self._wake_ms(device)
        return delay_ms / 1000

    def _latency_ms(self, request_id: str) -> float:
        """Log-normal with the profile's median and 99th percentile, drawn by request id."""
        wan = self.profile.wan
        if wan.latency_p50_ms == 0:
            return 0.0
        sigma = math.log(max(wan.latency_p99_ms, 1) / wan.latency_p50_ms) / _Z99
        u = min(max(_fraction(request_id, "latency"), 1e-9), 1 - 1e-9)
        return wan.latency_p50_ms * math.exp(sigma * _NORMAL.inv_cdf(u))

    def _wake_ms(self, device: Eui64) -> float:
        wan = self.profile.wan
        meter = self.meter(device)
        extra = float(wan.gas_wake_ms if meter is not None and meter.gas else 0)
        if wan.sms_wake_ms:
            hub = self.aliases.get(device, device)
            now = self.clock.now()
            if self._awake_until.get(hub, now) <= now:
                extra += wan.sms_wake_ms
            self._awake_until[hub] = now + timedelta(seconds=wan.awake_s)
        return extra

    # ------------------------------------------------------------------ alerts

    def subscribe(self, callback: Callable[[PushedAlert], None]) -> None:
        self._subscribers.append(callback)

    def publish(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            pushed = PushedAlert(
                alert.device,
                self.profile.cohort_alert(int(alert.code)),
                alert.at,
                dict(alert.values),
            )
            for callback in self._subscribers:
                callback(pushed)

    def inject(self, device: Eui64, event: str) -> int:
        """Something happens to a meter in the world (an ``EVENTS`` name); its alerts are
        pushed. Answers how many; an unknown device or event is a ``KeyError``, and a meter
        that refuses (a decommissioned one) raises its ``MeterError``."""
        meter = self.meter(device)
        if meter is None:
            raise KeyError(f"no device {device} here")
        if event not in EVENTS:
            raise KeyError(f"no event {event!r}: one of {', '.join(EVENTS)}")
        alerts = EVENTS[event](meter, self.clock.now())
        self.publish(alerts)
        return len(alerts)

    def key_in(self, device: Eui64, utrn: str) -> Credit:
        """A consumer keys ``utrn`` into a meter (its keypad): credited as 2.2 would credit it,
        and the meter's ``UTRN_ACCEPTED_AT_KEYPAD`` alert pushed. A refused UTRN raises the
        meter's ``MeterError`` (``UtrnRefused``) and pushes nothing: only its display says so."""
        meter = self.meter(device)
        if meter is None:
            raise KeyError(f"no device {device} here")
        credit, alerts = meter.take_utrn(self.clock.now(), utrn, keypad=True)
        self.publish(alerts)
        return credit

    def advance(self) -> None:
        """Let time pass on every meter; alerts it raised (low credit ...) are pushed."""
        now = self.clock.now()
        for meter in self.meters.values():
            self.publish(meter.advance(now))
