"""Head-end simulators take firmware: 11.1 distribution and 11.3 Activate Firmware.

How depends on the cohort's ``FirmwareMode`` (``opendcc.s1sp.services.firmware`` describes the
parameters and Results):

- two-stage (``EXECUTORS``, the meter's own way): 11.1 hands the image to the meter
  (``MeterState.distribute_firmware``), which keeps it pending; one that does not match its hash
  is kept nowhere, the meter raises 0x8F1C and the head-end answers REJECTED (the alert still
  pushed, ``RefusedAfterAlerts``). 11.3 has the meter activate the pending image with that hash
  (0x8F1D firmware activated).
- one-stage (``StagedImages``, the head-end's way): the meter only takes an image and activates
  it at once, so the head-end keeps each verified image for its device (by device and hash) and
  leaves the meter alone; an image that does not match its hash is REJECTED and kept nowhere.
  11.3 takes the staged image and updates the meter in one step
  (``MeterState.update_firmware``: distributed and activated, 0x8F1D), then forgets it.

Either way, 11.3 for an image the meter (or the head-end) does not hold is refused with
``FIRMWARE_NOT_DISTRIBUTED`` and a detail that starts ``not distributed``, and its Result is
``firmware_version``: the version now active, as 11.2 Read Firmware Version reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.core.eui import Eui64
from opendcc.s1sp.services.base import InvalidParameters, Parameters, Result
from opendcc.s1sp.services.firmware import (
    ACTIVATE_FIRMWARE,
    FIRMWARE_DISTRIBUTION,
    NOT_DISTRIBUTED,
    STAGE_DISTRIBUTED,
    STAGE_STAGED,
    FirmwareDistribution,
    hash_parameter,
)
from opendcc.sim.services.base import Execute, RefusedAfterAlerts
from opendcc.sim.state import MeterError, MeterState, Reason
from opendcc.sim.state.device import Alerts

MISMATCH = "the firmware image does not match its hash"


def _distribution(parameters: Parameters) -> FirmwareDistribution:
    try:
        return FirmwareDistribution.from_parameters(parameters)
    except InvalidParameters as exc:
        raise MeterError(Reason.INVALID_VALUE, str(exc)) from None


def _hash(parameters: Parameters) -> bytes:
    try:
        return hash_parameter(parameters)
    except InvalidParameters as exc:
        raise MeterError(Reason.INVALID_VALUE, str(exc)) from None


def _activated(meter: MeterState, alerts: Alerts) -> tuple[Result, Alerts]:
    return {"firmware_version": meter.firmware.version}, alerts


def distribute_firmware(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """11.1, two-stage: the meter keeps the verified image pending (``stage`` distributed)."""
    distribution = _distribution(parameters)
    alerts = meter.distribute_firmware(
        now,
        version=distribution.version,
        image=distribution.image,
        image_hash=bytes.fromhex(distribution.hash),
    )
    if not distribution.verified:  # the meter kept nothing and raised 0x8F1C
        raise RefusedAfterAlerts(Reason.INVALID_VALUE, MISMATCH, alerts)
    return {"stage": STAGE_DISTRIBUTED}, alerts


def activate_firmware(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """11.3, two-stage: the meter activates its pending image with that hash."""
    digest = _hash(parameters)
    try:
        alerts = meter.activate_firmware(now, image_hash=digest)
    except MeterError as exc:
        if exc.reason is not Reason.FIRMWARE_NOT_DISTRIBUTED:
            raise
        detail = f"{NOT_DISTRIBUTED}: the meter holds no image with hash {digest.hex()}"
        raise MeterError(Reason.FIRMWARE_NOT_DISTRIBUTED, detail) from None
    return _activated(meter, alerts)


class StagedImages:
    """The images a one-stage head-end keeps for its devices until 11.3 activates them."""

    def __init__(self) -> None:
        self._images: dict[tuple[Eui64, bytes], FirmwareDistribution] = {}

    def holds(self, device: Eui64, image_hash: bytes) -> bool:
        return (device, image_hash) in self._images

    def stage(
        self, meter: MeterState, parameters: Parameters, now: datetime
    ) -> tuple[Result, Alerts]:
        """11.1, one-stage: keep the verified image for the meter (``stage`` staged)."""
        del now  # the meter is not involved
        distribution = _distribution(parameters)
        if not distribution.verified:
            raise MeterError(Reason.INVALID_VALUE, MISMATCH)
        self._images[(meter.device_id, bytes.fromhex(distribution.hash))] = distribution
        return {"stage": STAGE_STAGED}, ()

    def activate(
        self, meter: MeterState, parameters: Parameters, now: datetime
    ) -> tuple[Result, Alerts]:
        """11.3, one-stage: the staged image is distributed to the meter and activated."""
        key = (meter.device_id, _hash(parameters))
        staged = self._images.get(key)
        if staged is None:
            detail = f"{NOT_DISTRIBUTED}: no image with hash {key[1].hex()} staged for the meter"
            raise MeterError(Reason.FIRMWARE_NOT_DISTRIBUTED, detail)
        alerts = meter.update_firmware(now, version=staged.version, image=staged.image)
        del self._images[key]
        return _activated(meter, alerts)

    @property
    def executors(self) -> Mapping[str, Execute]:
        """The one-stage way of 11.1 and 11.3, in place of ``EXECUTORS``."""
        return {FIRMWARE_DISTRIBUTION: self.stage, ACTIVATE_FIRMWARE: self.activate}


EXECUTORS: Mapping[str, Execute] = {
    FIRMWARE_DISTRIBUTION: distribute_firmware,
    ACTIVATE_FIRMWARE: activate_firmware,
}
