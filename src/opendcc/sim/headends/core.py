"""The protocol-neutral heart of a simulated cohort head-end: meters, WAN, faults, alerts.

A head-end server (one per wire protocol, in this package) decodes a command from its wire,
asks ``HeadEndCore.execute`` to carry it out, waits ``delay_s`` (the simulated WAN) and encodes
the ``Reply``. The core holds one ``MeterState`` per device (ESME or GSME), addressed also
through its comms hub (CHF) and gas proxy (GPF) EUI-64s, executes the SRV with
``opendcc.sim.services`` at the clock's instant, and publishes every alert the meter raised,
with the cohort's own alert code, to the servers that push or queue them.

Like a real head-end it is idempotent per request id: a command it already carried out is
answered again from memory, without acting on the meter a second time.

Future dating (``opendcc.s1sp.services.future``): a head-end whose profile has
``device_future_dating`` holds a command whose ``execute_at`` is later than its clock's now
(after the usual checks: the device is known and reachable) and answers ``held_until`` at once;
``release_due`` carries out every held command whose time has come, with ``execute_at``
stripped, exactly as it would have been carried out at once, and pushes its outcome as the
0x8F66 (executed) or 0x8F67 (failed) alert of the meter. Servers run it every
``RELEASE_EVERY_S`` while they serve (``Releaser``). Other head-ends ignore ``execute_at``. The
DCC's cancel notice (99.2) drops a held command (``not held`` otherwise). Held commands live in
memory only. Firmware (11.1, 11.3) follows the profile's ``FirmwareMode``
(``opendcc.sim.services.firmware``): a one-stage head-end keeps distributed images itself.

The world acts on meters too: ``inject`` (an outage, tamper, the consumer's button, and two test
hooks: a firmware image that fails verification and a low credit alert whatever the credit)
and ``key_in`` (a consumer keys a UTRN, Unique Transaction Reference Number, into a meter's
keypad); their alerts are published like any other.

Faults are injected for the whole head-end or one meter: an unreachable device, a slow WAN,
a corrupted reply (the server damages its frame), lost commands, missing keys, a HAN error.
``down`` is the server's business (it stops listening).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist

from opendcc.core.clock import Clock, SystemClock
from opendcc.core.eui import Eui64
from opendcc.prepayment.utrn import Credit
from opendcc.s1sp.contract import CohortProfile, FirmwareMode, OutcomeStatus
from opendcc.s1sp.services import future
from opendcc.s1sp.services.base import Datum, InvalidParameters, Parameters, Result
from opendcc.s1sp.services.notices import CANCEL_NOTICE, NOT_HELD, CancelNotice
from opendcc.sim.services import Execute, execute
from opendcc.sim.services.base import RefusedAfterAlerts
from opendcc.sim.services.firmware import StagedImages
from opendcc.sim.state import Alert, MeterError, MeterState
from opendcc.sim.state.projections import Projections

log = logging.getLogger(__name__)

_NORMAL = NormalDist()
# Answers kept for repeated request ids. A repeat comes within the hub's lease (minutes); a
# read-log answer holds tens of KB, and a million of them filled a 24 GB machine (measured with
# the million-schedule benchmark), so the newest 50,000 are kept.
REMEMBERED = 50_000
_Z99 = _NORMAL.inv_cdf(0.99)
# The made-up image an injected ``firmware_failed`` delivers: it never matches its hash.
INJECTED_FIRMWARE_VERSION = "0.0.0-injected"
_NO_HASH = b""
RELEASE_EVERY_S = 0.05  # how often a serving head-end carries out the held commands now due


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
        # A fraction is never below 0: no rate, no hash to work out.
        return self.failure_rate > 0 and _fraction(request_id, "lose") < self.failure_rate


@dataclass(frozen=True, slots=True)
class Reply:
    """What the head-end answers for one command."""

    status: OutcomeStatus
    result: Result = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Held:
    """A future-dated command the head-end holds until ``execute_at``."""

    request_id: str
    device: Eui64  # the meter's own id (not a comms hub or gas proxy alias)
    srv: str
    parameters: Mapping[str, str]  # without ``execute_at``
    execute_at: datetime


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
        # The projections of the meters read most, walked on from by their next read.
        self.projections = Projections()
        # The answers already given, by request id: the newest REMEMBERED, so a long-running
        # simulator's memory stays bounded.
        self._answered: OrderedDict[
            str, tuple[tuple[Eui64, str, tuple[tuple[str, str], ...]], Reply]
        ] = OrderedDict()
        self._subscribers: list[Callable[[PushedAlert], None]] = []
        self._awake_until: dict[Eui64, datetime] = {}
        # Future-dated commands held, by request id, and their release order (a heap whose
        # entries of cancelled commands are skipped when they come up).
        self._held: dict[str, Held] = {}
        self._due: list[tuple[datetime, str]] = []
        # A one-stage head-end keeps distributed firmware images itself.
        self.staged_images = StagedImages()
        self._own_services: Mapping[str, Execute] = (
            self.staged_images.executors if profile.firmware_mode is FirmwareMode.ONE_STAGE else {}
        )

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
        reply = self._take(request_id, meter, srv, parameters)
        self._answered[request_id] = (key, reply)
        if len(self._answered) > REMEMBERED:
            self._answered.popitem(last=False)
        return reply

    def _take(self, request_id: str, meter: MeterState, srv: str, parameters: Parameters) -> Reply:
        """A command for a reachable meter: cancel, hold or carry it out now."""
        if srv == CANCEL_NOTICE:
            return self._cancel(meter, parameters)
        own = future.without_execute_at(parameters)
        now = self.clock.now()
        if self.profile.device_future_dating:
            try:
                execute_at = future.execute_at(parameters)
            except InvalidParameters as exc:
                return Reply(OutcomeStatus.REJECTED, detail=str(exc))
            if execute_at is not None and execute_at > now:
                self._hold(Held(request_id, meter.device_id, srv, own, execute_at))
                return Reply(OutcomeStatus.SUCCESS, future.held_result(execute_at))
        return self._carry_out(meter, srv, own, now)

    def _carry_out(
        self, meter: MeterState, srv: str, parameters: Parameters, now: datetime
    ) -> Reply:
        """Carry out ``srv`` on ``meter`` at ``now``; publish the alerts it raised."""
        self.executions[meter.device_id] += 1
        run = self._own_services.get(srv)
        # A fleet's worth of cached projections would fill the machine: the meter hands its
        # back after each command and the newest few are kept (``Projections``).
        self.projections.lend(meter)
        try:
            if run is not None:
                result, alerts = run(meter, parameters, now)
            else:
                result, alerts = execute(meter, srv, parameters, now)
        except MeterError as exc:
            self.projections.keep(meter)
            if isinstance(exc, RefusedAfterAlerts):
                self.publish(exc.alerts)
            return Reply(OutcomeStatus.REJECTED, detail=f"meter refused: {exc}")
        self.projections.keep(meter)
        self.publish(alerts)
        return Reply(OutcomeStatus.SUCCESS, to_hundredths(result))

    # ------------------------------------------------------------------ future dating

    def _hold(self, held: Held) -> None:
        self._held[held.request_id] = held
        heapq.heappush(self._due, (held.execute_at, held.request_id))

    def _cancel(self, meter: MeterState, parameters: Parameters) -> Reply:
        """99.2: drop the held command the notice names, if it is still held for ``meter``."""
        try:
            notice = CancelNotice.from_parameters(parameters)
        except InvalidParameters as exc:
            return Reply(OutcomeStatus.REJECTED, detail=str(exc))
        held = self._held.get(notice.request_id)
        if held is None or held.device != meter.device_id:
            return Reply(OutcomeStatus.REJECTED, detail=NOT_HELD)
        del self._held[notice.request_id]  # its heap entry is skipped when it comes up
        return Reply(OutcomeStatus.SUCCESS, {"cancelled": 1})

    def held(self, device: Eui64 | None = None) -> list[Held]:
        """The commands held now (for ``device``'s meter only, if given), soonest first."""
        meter = None if device is None else self.meter(device)
        if device is not None and meter is None:
            return []
        chosen = [h for h in self._held.values() if meter is None or h.device == meter.device_id]
        return sorted(chosen, key=lambda h: (h.execute_at, h.request_id))

    def release_due(self) -> int:
        """Carry out every held command whose time has come, soonest first, and push each one's
        outcome alert (0x8F66 executed, 0x8F67 failed); answers how many."""
        now = self.clock.now()
        released = 0
        while self._due and self._due[0][0] <= now:
            _, request_id = heapq.heappop(self._due)
            held = self._held.pop(request_id, None)
            if held is None:
                continue  # cancelled
            released += 1
            self._release(held, now)
        return released

    def _release(self, held: Held, now: datetime) -> None:
        meter = self.meters[held.device]
        reply = self._carry_out(meter, held.srv, held.parameters, now)
        values: dict[str, Datum] = {"request_id": held.request_id, "srv": held.srv}
        if reply.status is OutcomeStatus.SUCCESS:
            code = future.FUTURE_DATED_EXECUTED
            values = {**reply.result, **values, "outcome": future.OUTCOME_SUCCESS}
        else:
            code = future.FUTURE_DATED_FAILED
            values.update(outcome=future.OUTCOME_FAILED, detail=reply.detail)
        self._push(PushedAlert(held.device, self.profile.cohort_alert(code), now, values))

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
        rate = self.profile.wan.failure_rate
        return rate > 0 and _fraction(request_id, "wan") < rate

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
            self._push(pushed)

    def _push(self, pushed: PushedAlert) -> None:
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


class Releaser:
    """Runs ``core.release_due`` every ``every_s`` seconds of real time while a server serves:
    ``start`` when it listens, ``stop`` when it goes down."""

    def __init__(self, core: HeadEndCore, every_s: float = RELEASE_EVERY_S) -> None:
        self.core = core
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                self.core.release_due()
            except Exception:  # the simulator's own bug: keep releasing the others
                log.exception("releasing held commands failed")
            await asyncio.sleep(self.every_s)
