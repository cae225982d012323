"""The S1SP adapter contract: how the hub hands a SMETS1 instruction to a cohort's head-end.

An S1SP (SMETS1 Service Provider) runs the head-end system of one cohort of first-generation
smart meters. The DSP (Data Service Provider) turns each DUIS Service Request for a SMETS1
device into an ``Instruction``; the cohort's adapter carries it over that head-end's own wire
protocol and answers with an ``Outcome``. Everything a cohort does differently is declared as
data in its ``CohortProfile``; each cohort package registers its profile and adapter factory
here, explicitly, through ``opendcc.s1sp.cohorts.register_all``.

Adapters translate transport failures into outcomes (``DEVICE_UNREACHABLE``, ``NO_RESPONSE``)
at their boundary; only caller mistakes raise, as an ``S1spError``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64


class OutcomeStatus(StrEnum):
    """How an instruction ended, as far as the S1SP can tell."""

    SUCCESS = "success"
    DEVICE_UNREACHABLE = "device_unreachable"  # DUIS E20
    NO_RESPONSE = "no_response"  # DUIS E21
    REJECTED = "rejected"  # the head-end or device refused it
    KEYS_MISSING = "keys_missing"  # the S1SP holds no security credentials for the device
    HAN_ERROR = "han_error"  # the comms hub could not reach the device over its HAN
    UNKNOWN_DEVICE = "unknown_device"  # the head-end does not serve this device


@dataclass(frozen=True, slots=True)
class Instruction:
    """One SMETS1 instruction for one device, as the DSP routes it to the S1SP."""

    request_id: str  # the DUIS RequestID text; the idempotency key end to end
    srv: str  # Service Reference Variant, e.g. "4.1.1"
    device_id: Eui64
    parameters: Mapping[str, str] = field(default_factory=dict)

    def canonical(self) -> bytes:
        """The bytes the DSP and the DCO sign: one JSON form, keys sorted."""
        return json.dumps(
            {
                "request_id": self.request_id,
                "srv": self.srv,
                "device_id": str(self.device_id),
                "parameters": dict(sorted(self.parameters.items())),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The S1SP's answer to an instruction; ``data`` holds SRV-specific result values."""

    request_id: str
    status: OutcomeStatus
    data: Mapping[str, Any] = field(default_factory=dict)
    detail: str = ""


class S1spError(DuisError):
    """Base exception of the s1sp room: a caller's mistake, never a transport failure."""


class UnsupportedService(S1spError):
    """The cohort does not offer this SRV for SMETS1 devices (the DSP should have checked)."""

    code = ResponseCode.SRV_NOT_FOR_DEVICE_TYPE


class ConflictingInstruction(S1spError):
    """A RequestID was reused for a different instruction."""


class UnknownCohort(S1spError):
    """No cohort of that name is registered."""


class DuplicateCohort(S1spError):
    """A second registration under a name already taken."""


class InvalidEndpoint(S1spError, ValueError):
    """A head-end endpoint that is not ``tcp://host:port``."""


class FirmwareMode(StrEnum):
    """How a cohort's meters take new firmware."""

    ONE_STAGE = "one-stage"  # distribution activates the image at once
    TWO_STAGE = "two-stage"  # distribute (11.1), then activate (11.3)


@dataclass(frozen=True, slots=True)
class WanTraits:
    """The cohort's wide area network as its head-end sees it."""

    latency_p50_ms: int  # median one-way head-end to meter and back
    latency_p99_ms: int  # the slow tail (log-normal between the two)
    failure_rate: float = 0.0  # share of instructions the WAN typically loses
    sms_wake_ms: int = 0  # > 0: an idle comms hub must first be woken by SMS, taking this long
    awake_s: float = 300.0  # how long a woken comms hub stays on the WAN
    gas_wake_ms: int = 0  # the battery gas meter answers on its next HAN wake-up

    def __post_init__(self) -> None:
        if not 0 <= self.latency_p50_ms <= self.latency_p99_ms:
            raise ValueError("WAN latency must be 0 <= p50 <= p99")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within 0..1, got {self.failure_rate}")
        if min(self.sms_wake_ms, self.gas_wake_ms) < 0 or self.awake_s <= 0:
            raise ValueError("wake times are not negative and a comms hub stays awake a while")


@dataclass(frozen=True, slots=True)
class ClockTraits:
    """How the cohort's meter clocks behave."""

    drift_ppm: float = 0.0  # parts per million the meter clock runs fast (negative: slow)
    sync_window_s: int = 10  # 6.11 Synchronise Clock leaves the clock within this of true time


@dataclass(frozen=True)
class CohortProfile:
    """What one cohort is, as data: its services, devices, quirks and WAN.

    ``commands`` names each SRV the way the cohort's head-end API does (a command name, or an
    OBIS code for the binary protocol); ``supported_srvs`` is every SRV it carries, the
    ``elective_srvs`` among them being the cohort-specific extras. ``alert_codes`` maps the
    head-end's own alert codes to the GBCS-style codes DUIS Device Alerts carry.
    """

    name: str  # registry key, lower case
    manufacturer: str
    protocol: str  # the wire protocol package under opendcc.s1sp.protocols
    supported_srvs: frozenset[str]
    device_models: tuple[str, ...]
    wan: WanTraits
    commands: Mapping[str, str] = field(default_factory=dict)
    elective_srvs: frozenset[str] = frozenset()
    firmware_mode: FirmwareMode = FirmwareMode.TWO_STAGE
    # The head-end holds a future-dated instruction (its ``execute_at`` parameter) and carries it
    # out at that time (the DUIS Device pattern); otherwise the DSP holds it until it is due.
    device_future_dating: bool = False
    utrn_algorithm: str = "gbcs"  # the prepayment room's algorithm name
    alert_codes: Mapping[int, int] = field(default_factory=dict)
    clock: ClockTraits = ClockTraits()
    gas_models: tuple[str, ...] = ()
    instruction_timeout_s: float = 30.0  # the longest any instruction may take on this WAN
    s1sp: str = ""  # the S1SP's name, as SRV 8.2 reports it (default: the manufacturer)
    # Why this cohort does not offer an SRV its meters' kind otherwise could (what its meters
    # lack), for the published SMETS1 service catalogue (``opendcc.dsp.offering``).
    withheld: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.instruction_timeout_s <= 0:
            raise ValueError("instruction_timeout_s must be positive")
        if not self.name or self.name != self.name.lower():
            raise ValueError(f"a cohort name is non-empty lower case, got {self.name!r}")
        if not self.elective_srvs <= self.supported_srvs:
            raise ValueError("elective SRVs are among the supported ones")
        if self.supported_srvs & set(self.withheld):
            raise ValueError("an SRV is either supported or withheld, not both")
        missing = self.supported_srvs - set(self.commands)
        if self.commands and missing:
            raise ValueError(f"no command for SRVs {sorted(missing)}")

    @property
    def wan_latency_ms(self) -> tuple[int, int]:
        return (self.wan.latency_p50_ms, self.wan.latency_p99_ms)

    @property
    def failure_rate(self) -> float:
        return self.wan.failure_rate

    def command(self, srv: str) -> str:
        """The head-end's name for ``srv``."""
        try:
            return self.commands[srv]
        except KeyError:
            raise UnsupportedService(f"{self.name} does not offer SRV {srv}") from None

    def srv_of(self, command: str) -> str | None:
        """The SRV the head-end's ``command`` carries out, if any."""
        return next((srv for srv, name in self.commands.items() if name == command), None)

    def gbcs_alert(self, cohort_code: int) -> int:
        """The GBCS-style code of the head-end's alert code (unmapped codes pass unchanged)."""
        return self.alert_codes.get(cohort_code, cohort_code)

    def cohort_alert(self, gbcs_code: int) -> int:
        """The head-end's own code for a GBCS-style alert code."""
        return next((own for own, gbcs in self.alert_codes.items() if gbcs == gbcs_code), gbcs_code)


@dataclass(frozen=True, slots=True)
class DeviceAlert:
    """An alert a meter raised, as the cohort's head-end pushed it (GBCS-style code)."""

    device_id: Eui64
    code: int
    raised_at: datetime
    values: Mapping[str, Any] = field(default_factory=dict)
    # The head-end's own id of the alert (its AlertId, or its push sequence), the same each
    # time it offers the alert again: the hub takes a redelivered alert once by it.
    alert_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sealed:
    """An instruction the DCO (Dual Control Organisation) checked and countersigned.

    ``seal`` is the DCO's ECDSA (P-256, SHA-256) signature over ``instruction.canonical()``;
    adapters refuse an instruction whose seal does not verify with the DCO's key.
    """

    instruction: Instruction
    seal: bytes


class NotCountersigned(S1spError):
    """An instruction without a valid DCO seal: an adapter never carries it out."""


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True)
class AdapterOptions:
    """What the hub gives every adapter: the DCO's key and where pushes and late replies go."""

    dco_key: ec.EllipticCurvePublicKey | None = None  # None: every instruction is refused
    # Takes an alert; when it answers an awaitable, the alert is the hub's (committed) once
    # that completes, and only then does the adapter acknowledge it to the head-end or poll
    # past it (a failed awaitable: not acknowledged, the head-end offers it again).
    on_alert: Callable[[DeviceAlert], Awaitable[object] | None] = _ignore
    on_late: Callable[[Instruction, Outcome], None] = _ignore  # a reply after its deadline
    time_scale: float = 1.0  # multiplies every response-time target (tests, benchmarks)
    connect_timeout_s: float = 5.0
    # False: this adapter only carries instructions; another process takes the head-end's
    # alerts (no subscription, no polling; pushed alerts are let go).
    alerts: bool = True


class S1spAdapter(Protocol):
    """One cohort's way to its head-end."""

    profile: CohortProfile

    async def submit(self, sealed: Sealed) -> Outcome:
        """Carry out the sealed instruction; idempotent per ``request_id``."""
        ...

    async def health(self) -> bool:
        """Whether the head-end answers now."""
        ...

    async def listen(self) -> object:
        """Start taking the head-end's alerts now (connect, subscribe or poll), rather than on
        the first instruction; a head-end that is down is tried again later."""
        ...

    async def aclose(self) -> None:
        """Release connections; the adapter may not be used afterwards."""
        ...


SCHEMES = ("tcp", "http", "https")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a head-end listens: ``tcp://host:port`` or an ``http(s)://host:port/path`` base."""

    host: str
    port: int
    scheme: str = "tcp"
    path: str = ""

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise InvalidEndpoint(f"bad port in {url!r}") from exc
        if parts.scheme not in SCHEMES or not parts.hostname or port is None:
            raise InvalidEndpoint(f"not scheme://host:port ({'/'.join(SCHEMES)}): {url!r}")
        if parts.scheme == "tcp" and parts.path:
            raise InvalidEndpoint(f"a tcp endpoint has no path: {url!r}")
        return cls(parts.hostname, port, parts.scheme, parts.path.rstrip("/"))

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"

    def __str__(self) -> str:
        return self.base_url


AdapterFactory = Callable[[Endpoint, AdapterOptions], S1spAdapter]


class Registry:
    """Cohort profiles and adapter factories by name; one registration per name."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[CohortProfile, AdapterFactory]] = {}

    def register(self, profile: CohortProfile, adapter_factory: AdapterFactory) -> None:
        if profile.name in self._entries:
            raise DuplicateCohort(f"cohort {profile.name!r} is already registered")
        self._entries[profile.name] = (profile, adapter_factory)

    def profiles(self) -> tuple[CohortProfile, ...]:
        return tuple(profile for profile, _ in self._entries.values())

    def profile(self, cohort_name: str) -> CohortProfile:
        return self._entry(cohort_name)[0]

    def adapter_for(
        self, cohort_name: str, endpoint: str, options: AdapterOptions | None = None
    ) -> S1spAdapter:
        return self._entry(cohort_name)[1](Endpoint.parse(endpoint), options or AdapterOptions())

    def __contains__(self, cohort_name: object) -> bool:
        return cohort_name in self._entries

    def _entry(self, cohort_name: str) -> tuple[CohortProfile, AdapterFactory]:
        try:
            return self._entries[cohort_name]
        except KeyError:
            raise UnknownCohort(f"no cohort registered as {cohort_name!r}") from None


DEFAULT_REGISTRY = Registry()


def register(profile: CohortProfile, adapter_factory: AdapterFactory) -> None:
    """Register a cohort in the process-wide registry."""
    DEFAULT_REGISTRY.register(profile, adapter_factory)


def profiles() -> tuple[CohortProfile, ...]:
    """Every cohort in the process-wide registry, in registration order."""
    return DEFAULT_REGISTRY.profiles()


def adapter_for(
    cohort_name: str, endpoint: str, options: AdapterOptions | None = None
) -> S1spAdapter:
    """A new adapter for ``cohort_name``'s head-end at ``endpoint``."""
    return DEFAULT_REGISTRY.adapter_for(cohort_name, endpoint, options)
