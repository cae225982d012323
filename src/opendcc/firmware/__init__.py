"""The firmware room: the firmware library, 11.1 Update Firmware, distribution to the S1SPs,
the 11.3 Activate Firmware check, activation outcomes and campaign reports.

- ``library``: images per device model, each tied to an Active CPL entry, known by SHA-256.
- ``update``: 11.1's body and how each listed device is classified (DSPUpdateFirmwareWarning).
- ``distributions``: the per-device rows and their states.
- ``messages``: DCC alert N14 (firmware could not be distributed).
- ``service``: ``Firmware``, what the hub wires (handler, loop, vet, outcomes).
- ``campaign``: how far a model's move to a firmware version has got.
"""

from opendcc.firmware.campaign import CampaignReport, campaign
from opendcc.firmware.distributions import Distribution, Distributions, DistributionState
from opendcc.firmware.library import (
    DuplicateFirmware,
    FirmwareError,
    FirmwareImage,
    FirmwareLibrary,
    NotOnCpl,
    image_hash,
)
from opendcc.firmware.service import Firmware, FirmwareSettings, Submit
from opendcc.firmware.update import CheckDevice

__all__ = [
    "CampaignReport",
    "CheckDevice",
    "Distribution",
    "DistributionState",
    "Distributions",
    "DuplicateFirmware",
    "Firmware",
    "FirmwareError",
    "FirmwareImage",
    "FirmwareLibrary",
    "FirmwareSettings",
    "NotOnCpl",
    "Submit",
    "campaign",
    "image_hash",
]
