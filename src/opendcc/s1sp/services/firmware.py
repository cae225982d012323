"""Firmware for SMETS1 meters: 11.1 distribution (the DCC's own) and 11.3 Activate Firmware.

DUIS (DCC User Interface Specification) 11.1 Update Firmware is a non-device request: a
Supplier sends the image once (``sr:UpdateFirmware``: the image in base64, its version and the
list of devices), and the DCC distributes it. For SMETS1 the hub turns it into one instruction
per device with SRV (Service Reference Variant) ``11.1``, built with ``FirmwareDistribution``:

- ``version``: the image's version, 1 to 8 characters (``sr:FirmwareVersion``);
- ``image``: the image bytes in base64;
- ``hash``: the SHA-256 hash of the image, 64 lower-case hex digits.

So the hub and the head-end read the same parameters; no DUIS response answers the instruction
itself (the DSP answers 11.1), so its ``Service.response`` is a bare ``FirmwareDistributionAck``
in no namespace, which a DUIS Response refuses to carry. Like the DCC's notices it is offered by
every cohort and never elective (``S1SP_NOTICES``). How the head-end takes it depends on the
cohort's ``FirmwareMode``: a two-stage cohort hands it to the meter, which keeps it pending; a
one-stage cohort keeps it itself until 11.3. Its Result is ``stage``: ``distributed`` (on the
meter) or ``staged`` (at the head-end). An image that does not match its hash is REJECTED: on a
two-stage cohort the meter also raises its 0x8F1C firmware verification failed alert.

11.3 Activate Firmware (a critical device SRV) names the image by its hash: ``sr:FirmwareHash``
(hexBinary, 32 bytes) reads as the parameter ``hash`` (lower-case hex); its optional
``sr:ExecutionDateTime`` is the hub's business (``opendcc.s1sp.services.future``). The meter
activates the image it holds (two-stage), or the head-end distributes and activates the one it
staged (one-stage); no such image is REJECTED (``not distributed``). The Result is
``firmware_version``, the now active version, and the answer is ``ra:ActivateFirmwareRsp`` with
``ActivateImageResponseCode`` success and that version; an answer without it (a future-dated
activation the head-end holds) is the bare element, as the MMC schema says of future-dated
processing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Self

from lxml import etree

from opendcc.duis.xml import ra, sr
from opendcc.s1sp.services.base import InvalidParameters, Parameters, Result, Service, str_of
from opendcc.s1sp.services.xml import add, response_element

FIRMWARE_DISTRIBUTION = "11.1"
ACTIVATE_FIRMWARE = "11.3"
VERSION_LIMIT = 8  # sr:FirmwareVersion and ra:FirmwareVersion
STAGE_DISTRIBUTED = "distributed"  # two-stage: the meter holds the image, pending
STAGE_STAGED = "staged"  # one-stage: the head-end holds the image for the device
NOT_DISTRIBUTED = "not distributed"  # the REJECTED detail of 11.3 without its image
_HASH = re.compile(r"[0-9a-f]{64}")


def image_hash(image: bytes) -> str:
    """The SHA-256 hash of ``image`` as the parameters carry it: lower-case hex."""
    return hashlib.sha256(image).hexdigest()


def _hash_text(text: str) -> str:
    if not _HASH.fullmatch(text):
        raise InvalidParameters(f"a firmware hash is 64 lower-case hex digits, not {text!r}")
    return text


@dataclass(frozen=True, slots=True)
class FirmwareDistribution:
    """What an 11.1 instruction carries: an image, its version and the hash it should have."""

    version: str
    image: bytes
    hash: str  # lower-case hex SHA-256, as sent (it may not match the image)

    def __post_init__(self) -> None:
        if not 1 <= len(self.version) <= VERSION_LIMIT:
            raise InvalidParameters(f"a firmware version is 1..{VERSION_LIMIT} characters")
        _hash_text(self.hash)

    @classmethod
    def of(cls, version: str, image: bytes) -> Self:
        """The distribution of ``image`` with its own hash."""
        return cls(version, image, image_hash(image))

    @property
    def verified(self) -> bool:
        """Whether the image matches the hash it came with."""
        return image_hash(self.image) == self.hash

    def parameters(self) -> dict[str, str]:
        """The instruction parameters of this distribution."""
        return {
            "version": self.version,
            "image": base64.b64encode(self.image).decode("ascii"),
            "hash": self.hash,
        }

    @classmethod
    def from_parameters(cls, parameters: Parameters) -> Self:
        """The distribution an instruction's parameters carry; ``InvalidParameters`` if not."""
        try:
            version, image, digest = (parameters[k] for k in ("version", "image", "hash"))
        except KeyError as exc:
            raise InvalidParameters(f"a firmware distribution has no {exc.args[0]}") from None
        try:
            data = base64.b64decode(image, validate=True)
        except binascii.Error as exc:
            raise InvalidParameters(f"the firmware image is not base64: {exc}") from None
        return cls(version, data, digest)

    @classmethod
    def from_update_firmware(cls, body: etree._Element) -> tuple[Self, tuple[str, ...]]:
        """The distribution an ``sr:UpdateFirmware`` body asks for (the hash computed from the
        image) and the device ids of its ``DeviceIDList``, as written."""
        texts = {
            local: (body.findtext(sr(local)) or "").strip()
            for local in ("FirmwareImage", "FirmwareVersion", "DeviceIDList")
        }
        try:
            image = base64.b64decode(texts["FirmwareImage"], validate=True)
        except binascii.Error as exc:
            raise InvalidParameters(f"the firmware image is not base64: {exc}") from None
        devices = tuple(part.strip() for part in texts["DeviceIDList"].split(",") if part.strip())
        return cls.of(texts["FirmwareVersion"], image), devices


def activation_parameters(body: etree._Element) -> dict[str, str]:
    """``hash`` of an ``sr:ActivateFirmware`` body: its ``FirmwareHash`` in lower-case hex."""
    text = (body.findtext(sr("FirmwareHash")) or "").strip().lower()
    if not text:
        raise InvalidParameters(f"{etree.QName(body).localname} has no FirmwareHash")
    return {"hash": _hash_text(text)}


def hash_parameter(parameters: Parameters) -> bytes:
    """The image hash an 11.3 instruction names, as bytes; ``InvalidParameters`` if malformed."""
    return bytes.fromhex(_hash_text(parameters.get("hash", "")))


def distribution_from_body(body: etree._Element) -> dict[str, str]:
    """No DUIS device request carries 11.1 to a device: the hub builds it per device."""
    raise InvalidParameters(
        f"SRV {FIRMWARE_DISTRIBUTION} reaches a device as the DCC's own instruction,"
        f" not as {etree.QName(body).localname}"
    )


def distribution_acknowledgement(result: Result) -> etree._Element:
    """A bare ``FirmwareDistributionAck``, never part of a DUIS Response (see the module)."""
    del result
    return etree.Element("FirmwareDistributionAck")


def activation_response(result: Result) -> etree._Element:
    """11.3: ``ra:ActivateFirmwareRsp``; ``firmware_version`` (absent: held, no details)."""
    element = response_element("ActivateFirmwareRsp")
    if "firmware_version" not in result:
        return element
    status = etree.SubElement(element, ra("ActivateImageResponseCode"), ResponseCode="0")
    add(status, "ASN1Status", "success")
    version = str_of(result["firmware_version"])
    if 1 <= len(version) <= VERSION_LIMIT:  # a longer factory version has no MMC form
        add(element, "FirmwareVersion", version)
    return element


SERVICES: tuple[Service, ...] = (
    Service(
        FIRMWARE_DISTRIBUTION,
        "distributeFirmware",
        distribution_from_body,
        distribution_acknowledgement,
        writes=True,
    ),
    Service(
        ACTIVATE_FIRMWARE,
        "activateFirmware",
        activation_parameters,
        activation_response,
        writes=True,
    ),
)
