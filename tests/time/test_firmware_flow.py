"""Firmware through the running hub: 11.1 distributes, 11.3 activates (now or later), and the
meter's firmware really changes, on every cohort, two-stage and one-stage alike (11.3 is
critical: its pre-command is GBCS CS06, signed with the supplier's GBCS key).

Two-stage cohorts (itron, landis, secure, edmi) put the image on the meter at 11.1 and switch
to it at 11.3; one-stage cohorts (aclara, elster) keep the image at the S1SP and distribute
and activate in one step at 11.3, behind the same DUIS flow. The inventory's firmware version
follows the meter's activation alert (0x8F1D); an image for a version not on the CPL is never
taken. An activation the device holds for later is withdrawn by DUIS's cancel
(ExecutionDateTime 3000-12-31).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.s1sp.contract.estate import PROFILES
from tests.time.rig import Rig, at, code_of, timed_estate, wait_until

from opendcc.catalogue import DeviceType
from opendcc.core.request_id import RequestId
from opendcc.dsp.access import Endpoint
from opendcc.dsp.future import CANCEL_AT
from opendcc.dsp.lifecycle import RequestState
from opendcc.duis.xml import ra
from opendcc.firmware import campaign
from opendcc.firmware.library import NotOnCpl
from opendcc.inventory.cpl import CplEntry
from opendcc.s1sp.contract import FirmwareMode
from opendcc.sim import fleet
from opendcc.sim.state import MeterState
from opendcc.store.tables import firmware_distributions

VERSION = "2.0"


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    with timed_estate(tmp_path) as running:
        yield running  # type: ignore[misc]


def _image(cohort: str) -> bytes:
    return f"opendcc test firmware {VERSION} for {cohort}".encode()


def _on_cpl(rig: Rig, cohort: str) -> tuple[str, str]:
    """Put VERSION of the cohort's ESME model on the CPL and its image in the library."""
    hub = rig.running
    models = fleet.Models.of(rig.installs[cohort].profile)
    entry = CplEntry(DeviceType.ESME, models.manufacturer, models.esme, VERSION, rig.clock.now())
    hub.cpl.put([entry])
    hub.firmware_library.add(
        manufacturer=models.manufacturer,
        model=models.esme,
        version=VERSION,
        image=_image(cohort),
        now=rig.clock.now(),
    )
    return models.manufacturer, models.esme


def _update(rig: Rig, cohort: str, image: bytes) -> str:
    device, _ = rig.meter_of(cohort)
    body = (
        "<sr:UpdateFirmware>"
        f"<sr:FirmwareImage>{base64.b64encode(image).decode()}</sr:FirmwareImage>"
        f"<sr:FirmwareVersion>{VERSION}</sr:FirmwareVersion>"
        f"<sr:DeviceIDList>{device}</sr:DeviceIDList>"
        "</sr:UpdateFirmware>"
    )
    answer = rig.post(Endpoint.NON_DEVICE, rig.supplier.request("11.1", device, cv=8, body=body))
    return answer.code


def _state(rig: Rig, cohort: str) -> str | None:
    device, _ = rig.meter_of(cohort)
    with rig.running.engine.connect() as conn:
        return conn.execute(
            select(firmware_distributions.c.state).where(
                firmware_distributions.c.device_id == str(device)
            )
        ).scalar_one_or_none()


def _activate(rig: Rig, cohort: str, execute: str | None = None) -> str:
    device, _ = rig.meter_of(cohort)
    digest = hashlib.sha256(_image(cohort)).hexdigest().upper()
    when = f"<sr:ExecutionDateTime>{execute}</sr:ExecutionDateTime>" if execute else ""
    hashed = f"<sr:FirmwareHash>{digest}</sr:FirmwareHash>"
    body = f"<sr:ActivateFirmware>{when}{hashed}</sr:ActivateFirmware>"
    rid, answer = rig.send("11.3", device, body, critical=True)
    assert answer.code == "I99", (answer.code, answer.reason)
    return str(rid)


def _inventory_version(rig: Rig, cohort: str) -> str | None:
    device, _ = rig.meter_of(cohort)
    found = rig.running.inventory.devices([device]).get(device)
    return found.firmware_version if found else None


@pytest.mark.parametrize("cohort", [profile.name for profile in PROFILES])
def test_update_then_activate_changes_the_meters_firmware(rig: Rig, cohort: str) -> None:
    """On every cohort: 11.3 (critical) is signed the GBCS way (CS06) and activates."""
    device, meter = rig.meter_of(cohort)
    mode = rig.installs[cohort].profile.firmware_mode
    stage = "distributed" if mode is FirmwareMode.TWO_STAGE else "staged"
    old = meter.firmware.version
    _, model = _on_cpl(rig, cohort)

    assert _update(rig, cohort, _image(cohort)) == "I99"
    assert wait_until(lambda: _state(rig, cohort) == stage)
    assert meter.firmware.version == old  # nothing active yet, on either kind of cohort
    if stage == "distributed":
        assert meter.pending_firmware is not None
        assert meter.pending_firmware.version == VERSION
    else:
        assert meter.pending_firmware is None  # the S1SP holds the image until 11.3

    _activate(rig, cohort)
    assert wait_until(lambda: meter.firmware.version == VERSION)
    assert wait_until(lambda: _inventory_version(rig, cohort) == VERSION)
    assert wait_until(lambda: _state(rig, cohort) == "activated")
    report = campaign(rig.running.engine, model, VERSION)
    assert report.on_version >= 1

    # 11.2 reads the new version from the meter.
    rid, _ = rig.send("11.2", device, "<sr:ReadFirmwareVersion/>")
    root = rig.response_to(rid)
    assert code_of(root) == "I0"
    assert root.findtext(f".//{ra('FirmwareVersion')}") == VERSION


def test_an_image_for_a_version_off_the_cpl_is_never_taken(rig: Rig) -> None:
    cohort = "itron"
    _, meter = rig.meter_of(cohort)
    models = fleet.Models.of(rig.installs[cohort].profile)
    with pytest.raises(NotOnCpl):
        rig.running.firmware_library.add(
            manufacturer=models.manufacturer,
            model=models.esme,
            version="9.9",
            image=b"not on the CPL",
            now=rig.clock.now(),
        )
    assert _update(rig, cohort, b"an image nobody listed") == "E11"
    assert _state(rig, cohort) is None
    assert meter.pending_firmware is None


def _held_activation(rig: Rig, cohort: str) -> tuple[MeterState, str, RequestId]:
    """An image distributed to the cohort's meter and its activation two hours ahead, held by
    the device: the meter, its firmware version now, and the activation's RequestID."""
    _, meter = rig.meter_of(cohort)
    _on_cpl(rig, cohort)
    assert _update(rig, cohort, _image(cohort)) == "I99"
    assert wait_until(lambda: _state(rig, cohort) == "distributed")
    old = meter.firmware.version
    rid = RequestId.parse(_activate(rig, cohort, at(rig.clock.now() + timedelta(hours=2))))
    assert wait_until(lambda: rig.running.requests.state(rid) is RequestState.HELD)
    return meter, old, rid


def test_activation_at_a_future_time_happens_then(rig: Rig) -> None:
    cohort = "itron"  # its head-end dates commands on the device
    meter, old, rid = _held_activation(rig, cohort)
    hub = rig.running
    assert code_of(rig.response_to(rid)) == "I0"  # the device holds it
    rig.advance(timedelta(hours=1))
    assert not wait_until(lambda: meter.firmware.version != old, timeout=1.5)

    rig.advance(timedelta(hours=1, seconds=1))
    assert wait_until(lambda: meter.firmware.version == VERSION)
    assert wait_until(lambda: hub.requests.state(rid) is RequestState.DELIVERED)
    assert hub.requests.outcome(rid).response_code == "I0"  # type: ignore[union-attr]
    assert wait_until(lambda: _inventory_version(rig, cohort) == VERSION)


def test_duis_cancel_withdraws_an_activation_the_device_holds(rig: Rig) -> None:
    cohort = "itron"  # its head-end dates commands on the device
    meter, old, held = _held_activation(rig, cohort)
    hub = rig.running

    cancel = RequestId.parse(_activate(rig, cohort, at(CANCEL_AT)))
    root = rig.response_to(cancel)
    assert code_of(root) == "I0"
    entries = root.findall(f".//{ra('SMETS1Response')}")
    assert [entry.get("ResponseCode") for entry in entries] == ["0"]
    assert str(held) in (entries[0].findtext(ra("Error")) or "")
    assert wait_until(lambda: hub.requests.state(held) is RequestState.DELIVERED)
    assert hub.requests.outcome(held).response_code == "cancelled"  # type: ignore[union-attr]

    rig.advance(timedelta(hours=3))  # the head-end no longer holds it: nothing happens
    assert not wait_until(lambda: meter.firmware.version != old, timeout=1.5)
    assert _inventory_version(rig, cohort) != VERSION
