"""The firmware library: the images opendcc may send to devices, each known by its hash.

A manufacturer's firmware image enters the library only when the CPL (Central Products List)
lists that manufacturer, model and firmware version with status Active: the DCC distributes
nothing that has not passed assurance. Each image is stored with the SHA-256 hash of its bytes
(lower-case hex), which is how 11.1 Update Firmware finds it again (a User sends the image, the
DCC hashes it) and how 11.3 Activate Firmware names it (``FirmwareHash``).

One model and version has one image: adding the same image again changes nothing, adding a
different image under a version already held is refused, and so is the same image under a
second model (the hash names one entry).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from opendcc.core.errors import DuisError
from opendcc.inventory.cpl import CplStatus, CplStore, model_key
from opendcc.store.tables import firmware_images

_META = (
    firmware_images.c.image_hash,
    firmware_images.c.manufacturer,
    firmware_images.c.model,
    firmware_images.c.version,
    firmware_images.c.size,
    firmware_images.c.added_at,
)


class FirmwareError(DuisError):
    """Base exception of the firmware room."""


class NotOnCpl(FirmwareError):
    """The image's manufacturer, model and version is not an Active CPL entry."""


class DuplicateFirmware(FirmwareError):
    """The library already holds a different image for that model and version (or this image
    under another model)."""


def image_hash(image: bytes) -> str:
    """SHA-256 of the image, lower-case hex: how the library and 11.3 name an image."""
    return hashlib.sha256(image).hexdigest()


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    """One library entry, without its bytes (``FirmwareLibrary.content`` reads them)."""

    image_hash: str
    manufacturer: str
    model: str
    version: str
    size: int
    added_at: datetime

    @property
    def model_key(self) -> str:
        return model_key(self.manufacturer, self.model)


class FirmwareLibrary:
    def __init__(self, engine: Engine, cpl: CplStore) -> None:
        self.engine = engine
        self.cpl = cpl

    def add(
        self, *, manufacturer: str, model: str, version: str, image: bytes, now: datetime
    ) -> FirmwareImage:
        """Store ``image`` for the CPL entry (manufacturer, model, version); returns the entry.

        Raises ``NotOnCpl`` unless the CPL lists it as Active and ``DuplicateFirmware`` when the
        version (or the image) is already held otherwise. Adding the same image again is a no-op.
        """
        status = self.cpl.snapshot().firmware_status(manufacturer, model, version)
        if status is not CplStatus.ACTIVE:
            why = "not on the CPL" if status is None else f"{status} on the CPL"
            raise NotOnCpl(f"{model_key(manufacturer, model)} {version} is {why}")
        if not image:
            raise FirmwareError("an empty firmware image")
        digest = image_hash(image)
        entry = FirmwareImage(digest, manufacturer, model, version, len(image), now)
        held = self._held(entry)
        if held is not None:
            return held
        with self.engine.begin() as conn:
            conn.execute(
                insert(firmware_images).values(
                    image_hash=digest,
                    manufacturer=manufacturer,
                    model=model,
                    version=version,
                    size=len(image),
                    image=image,
                    added_at=now,
                )
            )
        return entry

    def _held(self, entry: FirmwareImage) -> FirmwareImage | None:
        """The same entry already stored, or None; raises on a conflicting one."""
        same_version = (
            select(*_META)
            .where(firmware_images.c.manufacturer == entry.manufacturer)
            .where(firmware_images.c.model == entry.model)
            .where(firmware_images.c.version == entry.version)
        )
        with self.engine.connect() as conn:
            by_version = conn.execute(same_version).first()
            by_hash = conn.execute(
                select(*_META).where(firmware_images.c.image_hash == entry.image_hash)
            ).first()
        if by_version is not None and by_version.image_hash != entry.image_hash:
            raise DuplicateFirmware(
                f"{entry.model_key} {entry.version} is already in the library with another image"
                f" (sha256 {by_version.image_hash})"
            )
        if by_hash is not None and by_version is None:
            other = _image_of(by_hash)
            raise DuplicateFirmware(
                f"this image is already in the library as {other.model_key} {other.version}"
            )
        return None if by_hash is None else _image_of(by_hash)

    def by_hash(self, hex_hash: str) -> FirmwareImage | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_META).where(firmware_images.c.image_hash == hex_hash.lower())
            ).first()
        return None if row is None else _image_of(row)

    def content(self, hex_hash: str) -> bytes | None:
        """The image's bytes."""
        query = select(firmware_images.c.image).where(
            firmware_images.c.image_hash == hex_hash.lower()
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return None if found is None else bytes(found)

    def images(self, model: str | None = None) -> list[FirmwareImage]:
        """Every entry (of ``model`` when given), by manufacturer, model and version."""
        query = select(*_META).order_by(
            firmware_images.c.manufacturer, firmware_images.c.model, firmware_images.c.version
        )
        if model is not None:
            query = query.where(firmware_images.c.model == model)
        with self.engine.connect() as conn:
            return [_image_of(row) for row in conn.execute(query)]


def _image_of(row: Any) -> FirmwareImage:  # a row of _META
    return FirmwareImage(
        row.image_hash, row.manufacturer, row.model, row.version, row.size, row.added_at
    )
