"""The S1SP contract: values, the registry, and one contract test over every registered cohort."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest
from tests.s1sp.dco_key import DCO, OPTIONS

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.s1sp import (
    CohortProfile,
    DuplicateCohort,
    Endpoint,
    Instruction,
    InvalidEndpoint,
    OutcomeStatus,
    Registry,
    S1spAdapter,
    S1spError,
    UnknownCohort,
    UnsupportedService,
)
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import AdapterOptions, FirmwareMode, NotCountersigned, Sealed
from opendcc.s1sp.services import CORE_SRVS, GBCS_ALERTS

DEVICE = Eui64.parse("00-DB-12-34-56-78-90-A0")
REGISTRY = register_all(Registry())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_outcome_statuses_are_the_contract_s() -> None:
    assert [s.value for s in OutcomeStatus] == [
        "success",
        "device_unreachable",
        "no_response",
        "rejected",
        "keys_missing",
        "han_error",
        "unknown_device",
    ]


def test_errors_are_duis_errors() -> None:
    assert issubclass(S1spError, DuisError)
    assert UnsupportedService("x").code is ResponseCode.SRV_NOT_FOR_DEVICE_TYPE


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [("tcp://127.0.0.1:9001", Endpoint("127.0.0.1", 9001)), ("tcp://[::1]:1", Endpoint("::1", 1))],
)
def test_endpoints_parse(url: str, endpoint: Endpoint) -> None:
    assert Endpoint.parse(url) == endpoint


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1:9001", "tcp://127.0.0.1", "tcp://:9001", "tcp://h:99999", "tcp://h:1/x"],
)
def test_bad_endpoints_are_refused(url: str) -> None:
    with pytest.raises(InvalidEndpoint):
        Endpoint.parse(url)


def test_two_registrations_under_one_name_are_an_error() -> None:
    registry = register_all(Registry())
    profile = registry.profiles()[0]

    def factory(endpoint: Endpoint, options: AdapterOptions) -> S1spAdapter:
        raise AssertionError("never called")

    with pytest.raises(DuplicateCohort):
        registry.register(profile, factory)
    with pytest.raises(DuplicateCohort):
        register_all(registry)


def test_unknown_cohorts_are_an_error() -> None:
    with pytest.raises(UnknownCohort):
        REGISTRY.adapter_for("nobody", "tcp://127.0.0.1:1")


def test_http_endpoints_keep_their_base_path() -> None:
    endpoint = Endpoint.parse("http://127.0.0.1:9001/he/")
    assert (endpoint.scheme, endpoint.path, endpoint.base_url) == (
        "http",
        "/he",
        "http://127.0.0.1:9001/he",
    )


def test_profiles_validate_their_traits() -> None:
    profile = REGISTRY.profiles()[0]
    for bad in (
        {"instruction_timeout_s": 0.0},
        {"name": "Upper"},
        {"elective_srvs": frozenset({"99.9"})},
        {"commands": {"4.1.1": "x"}},  # no command for the other SRVs
    ):
        with pytest.raises(ValueError):
            replace(profile, **bad)  # type: ignore[arg-type]
    for wan in ({"latency_p50_ms": 5, "latency_p99_ms": 1}, {"failure_rate": 1.5}):
        with pytest.raises(ValueError):
            replace(profile.wan, **wan)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- every cohort


@pytest.fixture(params=REGISTRY.profiles(), ids=lambda profile: profile.name)
def profile(request: pytest.FixtureRequest) -> CohortProfile:
    chosen: CohortProfile = request.param
    return chosen


def test_every_cohort_declares_its_profile(profile: CohortProfile) -> None:
    assert profile.device_models and profile.gas_models
    assert profile.manufacturer
    assert profile.protocol in {"apdu", "restjson", "soapxml"}
    assert profile.utrn_algorithm in {"gbcs", "hmac-sha256", "sts"}
    assert profile.supported_srvs >= CORE_SRVS  # every core service, on every cohort
    assert profile.elective_srvs <= profile.supported_srvs
    names = [profile.command(srv) for srv in profile.supported_srvs]
    assert len(set(names)) == len(names)  # one head-end command per SRV
    assert all(profile.srv_of(profile.command(srv)) == srv for srv in profile.supported_srvs)


def test_every_cohort_maps_its_alert_codes_onto_gbcs_ones(profile: CohortProfile) -> None:
    own = [profile.cohort_alert(code) for code in GBCS_ALERTS]
    assert len(set(own)) == len(own)
    assert [profile.gbcs_alert(code) for code in own] == list(GBCS_ALERTS)


def test_the_cohorts_differ_where_real_cohorts_do() -> None:
    profiles = REGISTRY.profiles()
    assert len(profiles) == 6
    assert len({p.protocol for p in profiles}) >= 3
    assert {p.firmware_mode for p in profiles} == set(FirmwareMode)
    assert any(p.wan.sms_wake_ms for p in profiles) and any(p.alert_codes for p in profiles)


def _endpoint(profile: CohortProfile) -> str:
    scheme = "tcp" if profile.protocol == "apdu" else "http"
    return f"{scheme}://127.0.0.1:{closed_port()}"


def test_every_cohort_translates_an_absent_head_end_into_an_outcome(
    profile: CohortProfile,
) -> None:
    async def scenario() -> None:
        adapter: S1spAdapter = REGISTRY.adapter_for(profile.name, _endpoint(profile), OPTIONS)
        try:
            assert adapter.profile is profile
            assert not await adapter.health()
            srv = sorted(profile.supported_srvs)[0]
            outcome = await adapter.submit(DCO.seal(Instruction("R1", srv, DEVICE)))
            assert outcome.request_id == "R1"
            assert outcome.status is OutcomeStatus.DEVICE_UNREACHABLE
            with pytest.raises(UnsupportedService):
                await adapter.submit(DCO.seal(Instruction("R2", "999.9", DEVICE)))
            unsealed = Sealed(Instruction("R3", srv, DEVICE), b"")
            with pytest.raises(NotCountersigned):
                await adapter.submit(unsealed)
            forged = Sealed(
                Instruction("R4", srv, DEVICE), DCO.seal(Instruction("R5", srv, DEVICE)).seal
            )
            with pytest.raises(NotCountersigned):
                await adapter.submit(forged)
        finally:
            await adapter.aclose()

    asyncio.run(scenario())
