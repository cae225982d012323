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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

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


@dataclass(frozen=True)
class CohortProfile:
    """What one cohort is, as data: its services, devices and WAN traits."""

    name: str  # registry key, lower case
    manufacturer: str
    protocol: str  # the wire protocol package under opendcc.s1sp.protocols
    supported_srvs: frozenset[str]
    device_models: tuple[str, ...]
    wan_latency_ms: tuple[int, int]  # (min, max) one-way head-end to meter and back
    failure_rate: float = 0.0  # share of instructions the WAN typically loses
    instruction_timeout_s: float = 30.0  # after this an instruction is NO_RESPONSE
    s1sp: str = ""  # the S1SP's name, as SRV 8.2 reports it (default: the manufacturer)

    def __post_init__(self) -> None:
        low, high = self.wan_latency_ms
        if not 0 <= low <= high:
            raise ValueError(f"wan_latency_ms must be 0 <= min <= max, got {self.wan_latency_ms}")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within 0..1, got {self.failure_rate}")
        if self.instruction_timeout_s <= 0:
            raise ValueError("instruction_timeout_s must be positive")
        if not self.name or self.name != self.name.lower():
            raise ValueError(f"a cohort name is non-empty lower case, got {self.name!r}")


class S1spAdapter(Protocol):
    """One cohort's way to its head-end."""

    profile: CohortProfile

    async def submit(self, instruction: Instruction) -> Outcome:
        """Carry out ``instruction``; idempotent per ``request_id``."""
        ...

    async def health(self) -> bool:
        """Whether the head-end answers now."""
        ...

    async def aclose(self) -> None:
        """Release the connection; the adapter may not be used afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a head-end listens: ``tcp://host:port``."""

    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise InvalidEndpoint(f"bad port in {url!r}") from exc
        if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path:
            raise InvalidEndpoint(f"not tcp://host:port: {url!r}")
        return cls(parts.hostname, port)

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}"


AdapterFactory = Callable[[Endpoint], S1spAdapter]


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

    def adapter_for(self, cohort_name: str, endpoint: str) -> S1spAdapter:
        return self._entry(cohort_name)[1](Endpoint.parse(endpoint))

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


def adapter_for(cohort_name: str, endpoint: str) -> S1spAdapter:
    """A new adapter for ``cohort_name``'s head-end at ``endpoint`` (``tcp://host:port``)."""
    return DEFAULT_REGISTRY.adapter_for(cohort_name, endpoint)
