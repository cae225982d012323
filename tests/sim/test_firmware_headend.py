"""Firmware on the simulated head-ends: 11.1 distribution, 11.3 Activate Firmware, 11.2 reads it.

A two-stage cohort hands the image to the meter (pending) and 11.3 activates it; a one-stage
cohort keeps the image itself and 11.3 updates the meter in one step. Either way the meter's
active version really changes only at 11.3 (11.2 reads it) and the meter alerts 0x8F1D. A wrong
hash is refused (a two-stage meter alerts 0x8F1C); 11.3 without its image is REJECTED. The
parameters come from the RTDS templates, the 11.3 answer validates against the MMC schema, and
both modes are also driven over a real wire protocol.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from tests.s1sp.dco_key import DCO
from tests.s1sp.services.harness import template_body, validate_mmc
from tests.s1sp.transports.rig import Seen

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.duis.schema import DuisSchema
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import (
    AdapterOptions,
    FirmwareMode,
    Instruction,
    OutcomeStatus,
    Registry,
)
from opendcc.s1sp.services import (
    ACTIVATE_FIRMWARE,
    CORE_SRVS,
    FIRMWARE_DISTRIBUTION,
    S1SP_NOTICES,
    InvalidParameters,
    parameters,
    response_element,
    service,
)
from opendcc.s1sp.services.firmware import FirmwareDistribution, image_hash
from opendcc.sim.headends import FleetMeter, core_for_fleet, start_headend
from opendcc.sim.headends.core import HeadEndCore, PushedAlert
from opendcc.sim.services import execute
from opendcc.sim.state import Esme
from opendcc.smki import SigningCredentials

REGISTRY = register_all(Registry())
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
OTHER = Eui64.parse("00-DB-12-34-56-78-90-A2")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
IMAGE = b"opendcc firmware 2.0.0 " * 40
NEW = FirmwareDistribution.of("2.0.0", IMAGE)
ACTIVATE = {"hash": NEW.hash}
READS = itertools.count(1)
TWO_STAGE = ["landis", "itron", "edmi", "secure"]
ONE_STAGE = ["aclara", "elster"]


def head_end(cohort: str) -> tuple[HeadEndCore, list[PushedAlert]]:
    core = core_for_fleet(
        REGISTRY.profile(cohort),
        [FleetMeter(METER), FleetMeter(OTHER)],
        commissioned=NOW - timedelta(days=2),
        clock=FixedClock(NOW),
    )
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)
    return core, pushed


def version(core: HeadEndCore, device: Eui64 = METER) -> object:
    reply = core.execute(f"READ-{next(READS)}", device, "11.2", {})
    assert reply.status is OutcomeStatus.SUCCESS
    return reply.result["firmware_version"]


def gbcs(core: HeadEndCore, pushed: list[PushedAlert]) -> list[int]:
    return [core.profile.gbcs_alert(alert.code) for alert in pushed]


# --------------------------------------------------------------------------- the services


def test_every_cohort_offers_distribution_and_activation() -> None:
    assert FIRMWARE_DISTRIBUTION in S1SP_NOTICES and ACTIVATE_FIRMWARE in CORE_SRVS
    modes = {p.name: p.firmware_mode for p in REGISTRY.profiles()}
    assert sorted(n for n, m in modes.items() if m is FirmwareMode.ONE_STAGE) == ONE_STAGE
    for profile in REGISTRY.profiles():
        for srv in (FIRMWARE_DISTRIBUTION, ACTIVATE_FIRMWARE):
            assert srv in profile.supported_srvs and srv not in profile.elective_srvs
            assert profile.srv_of(profile.command(srv)) == srv
    assert REGISTRY.profile("elster").command(ACTIVATE_FIRMWARE) == "exActivateFirmware"
    assert REGISTRY.profile("secure").command(FIRMWARE_DISTRIBUTION) == "0.128.11.1.0.255"


def test_distribution_parameters_round_trip_and_are_checked() -> None:
    sent = NEW.parameters()
    assert sent["hash"] == image_hash(IMAGE) and len(sent["hash"]) == 64
    assert FirmwareDistribution.from_parameters(sent) == NEW and NEW.verified
    assert not FirmwareDistribution("2.0.0", IMAGE, "00" * 32).verified
    for broken in (
        {"version": "123456789"},  # longer than sr:FirmwareVersion's 8
        {"version": ""},
        {"image": "not base64!"},
        {"hash": NEW.hash.upper()},
        {"hash": "abc"},
    ):
        with pytest.raises(InvalidParameters):
            FirmwareDistribution.from_parameters({**sent, **broken})
    with pytest.raises(InvalidParameters):
        FirmwareDistribution.from_parameters({"version": "2.0.0"})


def test_the_rtds_requests_read_as_instruction_parameters() -> None:
    assert parameters(ACTIVATE_FIRMWARE, template_body(ACTIVATE_FIRMWARE)) == {
        "hash": "aa758690730934ff0685aa758690730934ff0685657788990011223344556677"
    }
    distribution, devices = FirmwareDistribution.from_update_firmware(
        template_body(FIRMWARE_DISTRIBUTION)
    )
    assert (distribution.version, devices) == ("00000000", ("00-DB-12-34-56-78-90-A0",))
    assert distribution.verified and distribution.image.startswith(b"\x1e\xf1")
    # 11.1 reaches a device only as the DCC's own instruction, never from a request body
    with pytest.raises(InvalidParameters):
        parameters(FIRMWARE_DISTRIBUTION, template_body(FIRMWARE_DISTRIBUTION))


def test_the_activation_answer_is_valid_mmc(
    schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    element = response_element(ACTIVATE_FIRMWARE, {"firmware_version": "2.0.0"})
    validate_mmc(element, ACTIVATE_FIRMWARE, schema, s1sp_credentials)
    assert [child.text for child in element.iter() if child.text] == ["success", "2.0.0"]
    held = response_element(ACTIVATE_FIRMWARE, {"held_until": "2024-06-01T14:00:00.000Z"})
    validate_mmc(held, ACTIVATE_FIRMWARE, schema, s1sp_credentials)  # future-dated: no details
    assert len(held) == 0
    assert service(FIRMWARE_DISTRIBUTION).response({}).tag == "FirmwareDistributionAck"


# --------------------------------------------------------------------------- on HeadEndCore


@pytest.mark.parametrize("cohort", TWO_STAGE)
def test_two_stage_distribute_then_activate(cohort: str) -> None:
    core, pushed = head_end(cohort)
    distributed = core.execute("D1", METER, FIRMWARE_DISTRIBUTION, NEW.parameters())
    assert (distributed.status, distributed.result) == (
        OutcomeStatus.SUCCESS,
        {"stage": "distributed"},
    )
    meter = core.meter(METER)
    assert meter is not None and meter.pending_firmware is not None
    assert meter.pending_firmware.version == "2.0.0"
    assert version(core) == "1.0.0"  # distributed, not active

    activated = core.execute("A1", METER, ACTIVATE_FIRMWARE, ACTIVATE)
    assert (activated.status, activated.result) == (
        OutcomeStatus.SUCCESS,
        {"firmware_version": "2.0.0"},
    )
    assert version(core) == "2.0.0" and version(core, OTHER) == "1.0.0"
    assert meter.pending_firmware is None
    assert gbcs(core, pushed) == [0x8F1D]
    assert pushed[0].values == {"version": "2.0.0", "previous": "1.0.0"}


@pytest.mark.parametrize("cohort", ONE_STAGE)
def test_one_stage_stages_at_the_head_end_then_updates_the_meter(cohort: str) -> None:
    core, pushed = head_end(cohort)
    staged = core.execute("D1", METER, FIRMWARE_DISTRIBUTION, NEW.parameters())
    assert (staged.status, staged.result) == (OutcomeStatus.SUCCESS, {"stage": "staged"})
    meter = core.meter(METER)
    assert meter is not None and meter.pending_firmware is None  # the meter is untouched
    assert version(core) == "1.0.0" and pushed == []
    assert core.staged_images.holds(METER, bytes.fromhex(NEW.hash))

    # staged for METER only
    elsewhere = core.execute("A0", OTHER, ACTIVATE_FIRMWARE, ACTIVATE)
    assert elsewhere.status is OutcomeStatus.REJECTED and "not distributed" in elsewhere.detail

    activated = core.execute("A1", METER, ACTIVATE_FIRMWARE, ACTIVATE)
    assert (activated.status, activated.result) == (
        OutcomeStatus.SUCCESS,
        {"firmware_version": "2.0.0"},
    )
    assert version(core) == "2.0.0" and version(core, OTHER) == "1.0.0"
    assert gbcs(core, pushed) == [0x8F1D]
    assert not core.staged_images.holds(METER, bytes.fromhex(NEW.hash))
    again = core.execute("A2", METER, ACTIVATE_FIRMWARE, ACTIVATE)  # used up
    assert again.status is OutcomeStatus.REJECTED


@pytest.mark.parametrize("cohort", ["landis", "aclara"])
def test_a_wrong_hash_is_refused(cohort: str) -> None:
    core, pushed = head_end(cohort)
    wrong = FirmwareDistribution("2.0.0", IMAGE, image_hash(b"another image"))
    refused = core.execute("D1", METER, FIRMWARE_DISTRIBUTION, wrong.parameters())
    assert refused.status is OutcomeStatus.REJECTED and "hash" in refused.detail
    meter = core.meter(METER)
    assert meter is not None and meter.pending_firmware is None
    two_stage = core.profile.firmware_mode is FirmwareMode.TWO_STAGE
    # the two-stage meter verified it and alerted; the one-stage head-end kept it from the meter
    assert gbcs(core, pushed) == ([0x8F1C] if two_stage else [])
    activate = core.execute("A1", METER, ACTIVATE_FIRMWARE, {"hash": wrong.hash})
    assert activate.status is OutcomeStatus.REJECTED
    assert version(core) == "1.0.0"


@pytest.mark.parametrize("cohort", ["secure", "elster"])
def test_activation_without_distribution_is_rejected(cohort: str) -> None:
    core, pushed = head_end(cohort)
    reply = core.execute("A1", METER, ACTIVATE_FIRMWARE, ACTIVATE)
    assert reply.status is OutcomeStatus.REJECTED
    assert "not distributed" in reply.detail
    malformed = core.execute("A2", METER, ACTIVATE_FIRMWARE, {"hash": "zz"})
    assert malformed.status is OutcomeStatus.REJECTED
    assert version(core) == "1.0.0" and pushed == []


def test_the_meter_executors_are_the_two_stage_way() -> None:
    meter = Esme.for_device(METER, commissioned=NOW - timedelta(days=1))
    assert execute(meter, FIRMWARE_DISTRIBUTION, NEW.parameters(), NOW)[0] == {
        "stage": "distributed"
    }
    result, alerts = execute(meter, ACTIVATE_FIRMWARE, ACTIVATE, NOW)
    assert result == {"firmware_version": "2.0.0"} and [int(a.code) for a in alerts] == [0x8F1D]
    assert execute(meter, "11.2", {}, NOW)[0] == {"firmware_version": "2.0.0"}


# --------------------------------------------------------------------------- over the wire


async def over_the_wire(cohort: str) -> list[object]:
    core, _ = head_end(cohort)
    server = await start_headend(core)
    seen = Seen()
    options = AdapterOptions(dco_key=DCO.public_key, on_alert=seen.on_alert)
    adapter = REGISTRY.adapter_for(cohort, server.endpoint, options)
    await adapter.listen()
    steps: list[object] = []

    async def submit(request_id: str, srv: str, parameters: dict[str, str]) -> None:
        outcome = await adapter.submit(DCO.seal(Instruction(request_id, srv, METER, parameters)))
        steps.append((outcome.status, dict(outcome.data)))

    try:
        await submit("A0", ACTIVATE_FIRMWARE, ACTIVATE)  # nothing distributed yet
        await submit("D1", FIRMWARE_DISTRIBUTION, NEW.parameters())
        await submit("V1", "11.2", {})
        await submit("A1", ACTIVATE_FIRMWARE, ACTIVATE)
        await submit("V2", "11.2", {})
        poll = getattr(adapter, "poll_alerts", None)
        for _ in range(250):
            if poll is not None:
                await poll()
            if seen.alerts:
                break
            await asyncio.sleep(0.02)
        steps.append([(alert.device_id, alert.code) for alert in seen.alerts])
    finally:
        await adapter.aclose()
        await server.aclose()
    return steps


@pytest.mark.parametrize(("cohort", "stage"), [("landis", "distributed"), ("elster", "staged")])
def test_firmware_over_a_real_protocol(cohort: str, stage: str) -> None:
    steps = asyncio.run(over_the_wire(cohort))
    assert steps == [
        (OutcomeStatus.REJECTED, {}),
        (OutcomeStatus.SUCCESS, {"stage": stage}),
        (OutcomeStatus.SUCCESS, {"firmware_version": "1.0.0"}),
        (OutcomeStatus.SUCCESS, {"firmware_version": "2.0.0"}),
        (OutcomeStatus.SUCCESS, {"firmware_version": "2.0.0"}),
        [(METER, 0x8F1D)],
    ]
