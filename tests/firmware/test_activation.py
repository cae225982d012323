"""11.3 Activate Firmware's check (``vet``), activation outcomes and the campaign report."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tests.firmware.rig import APPLICABLE, APPLICABLE_TOO, IMAGE, IMAGE_V3, WRONG_MODEL, Rig

from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessDenied
from opendcc.firmware import DistributionState, campaign, image_hash
from opendcc.inventory import CplStatus
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus

HASH = image_hash(IMAGE)


def activate(device_id: Eui64, digest: str = HASH) -> Instruction:
    return Instruction("rid", "11.3", device_id, {"hash": digest})


def refused(rig: Rig, instruction: Instruction) -> str:
    with pytest.raises(AccessDenied) as denied:
        rig.firmware.vet(instruction)
    assert denied.value.code is ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
    return str(denied.value)


def distributed(rig: Rig, *devices: Eui64) -> None:
    rig.answer(rig.request(devices))
    for device in devices:
        rig.s1sp.script[device] = [Outcome("", OutcomeStatus.SUCCESS, {"stage": "distributed"})]
    asyncio.run(rig.firmware.distribute_due())


def test_vet_refuses_an_image_not_in_the_library(rig: Rig) -> None:
    distributed(rig, APPLICABLE)
    assert "not an image in the DCC's library" in refused(rig, activate(APPLICABLE, "ab" * 32))
    assert "not an image" in refused(rig, Instruction("rid", "11.3", APPLICABLE, {}))


def test_vet_refuses_a_version_off_the_cpl(rig: Rig) -> None:
    distributed(rig, APPLICABLE)
    rig.firmware.vet(activate(APPLICABLE))  # fine while Active
    rig.cpl.set_status("Acme", "E100", "2.0", CplStatus.EXPIRED)
    assert "not Active on the CPL" in refused(rig, activate(APPLICABLE))


def test_vet_refuses_a_device_that_was_not_sent_the_image(rig: Rig) -> None:
    assert "send 11.1 first" in refused(rig, activate(APPLICABLE))  # never sent
    rig.answer(rig.request([APPLICABLE]))
    assert "send 11.1 first" in refused(rig, activate(APPLICABLE))  # still pending
    # A device of another model may not take the image at all.
    assert "not Active on the CPL for Acme/E200" in refused(rig, activate(WRONG_MODEL))


def test_vet_accepts_a_distributed_or_staged_image(rig: Rig) -> None:
    distributed(rig, APPLICABLE)
    rig.firmware.vet(activate(APPLICABLE))
    rig.firmware.vet(activate(APPLICABLE, HASH.upper()))  # hex in any case
    # Other SRVs pass untouched.
    rig.firmware.vet(Instruction("rid", "4.1.1", APPLICABLE, {}))


def test_activation_records_the_version_and_the_row(rig: Rig) -> None:
    distributed(rig, APPLICABLE, APPLICABLE_TOO)
    rig.clock.advance(timedelta(minutes=5))
    rig.firmware.activated(APPLICABLE, rig.clock.now(), version="2.0")
    rig.firmware.activated(APPLICABLE_TOO, rig.clock.now(), image_hash=HASH)

    for device_id in (APPLICABLE, APPLICABLE_TOO):
        device = rig.inventory.device(device_id)
        assert device is not None
        assert device.firmware_version == "2.0"
    rows = {r.device_id: r for r in rig.firmware.store.of_model("E100", "2.0")}
    assert {rows[d].state for d in (APPLICABLE, APPLICABLE_TOO)} == {DistributionState.ACTIVATED}
    assert rows[APPLICABLE].updated_at == rig.clock.now()
    # Once activated, 11.3 for it again is refused: nothing awaits activation.
    assert "send 11.1 first" in refused(rig, activate(APPLICABLE))


def test_activation_of_another_version_leaves_the_row_alone(rig: Rig) -> None:
    distributed(rig, APPLICABLE)
    rig.firmware.activated(APPLICABLE, rig.clock.now(), version="1.5")
    device = rig.inventory.device(APPLICABLE)
    assert device is not None and device.firmware_version == "1.5"
    (row,) = rig.firmware.store.of_model("E100", "2.0")
    assert row.state is DistributionState.DISTRIBUTED


def test_a_failed_activation_fails_the_row(rig: Rig) -> None:
    distributed(rig, APPLICABLE)
    rig.firmware.failed_activation(APPLICABLE, rig.clock.now(), "0x8F1C verification failed")
    (row,) = rig.firmware.store.of_model("E100", "2.0")
    assert (row.state, row.detail) == (DistributionState.FAILED, "0x8F1C verification failed")
    device = rig.inventory.device(APPLICABLE)
    assert device is not None and device.firmware_version == "1.0"


def test_the_campaign_report_counts_devices_and_outcomes(rig: Rig) -> None:
    rig.library.add(
        manufacturer="Acme", model="E100", version="3.0", image=IMAGE_V3, now=rig.clock.now()
    )
    distributed(rig, APPLICABLE, APPLICABLE_TOO)
    rig.firmware.activated(APPLICABLE, rig.clock.now(), version="2.0")
    rig.firmware.failed_activation(APPLICABLE_TOO, rig.clock.now(), "verification failed")

    report = campaign(rig.engine, "E100", "2.0")
    # E100s in service: APPLICABLE, APPLICABLE_TOO, NOT_THEIRS, NOT_COMMISSIONED, BUSY.
    assert (report.devices, report.on_version, report.sent) == (5, 1, 2)
    assert report.states == {
        DistributionState.PENDING: 0,
        DistributionState.DISTRIBUTED: 0,
        DistributionState.STAGED: 0,
        DistributionState.ACTIVATED: 1,
        DistributionState.FAILED: 1,
    }
    assert report.failures == {"verification failed": 1}
    assert (report.activated, report.in_flight) == (1, 0)
    assert report.to_json()["states"]["activated"] == 1
    other = campaign(rig.engine, "E100", "3.0")
    assert (other.devices, other.on_version, other.sent) == (5, 0, 0)
