"""The firmware library: images enter only for an Active CPL entry, one image per version."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, func, select
from tests.firmware.rig import IMAGE, IMAGE_V3, SINCE, cpl_entries

from opendcc.firmware import DuplicateFirmware, FirmwareLibrary, NotOnCpl
from opendcc.inventory import CplStatus, CplStore
from opendcc.store.tables import firmware_images


@pytest.fixture
def library(engine: Engine) -> FirmwareLibrary:
    cpl = CplStore(engine)
    cpl.put(cpl_entries())
    return FirmwareLibrary(engine, cpl)


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(firmware_images)).scalar_one())


def test_an_image_on_the_cpl_is_stored_with_its_sha256(library: FirmwareLibrary) -> None:
    entry = library.add(manufacturer="Acme", model="E100", version="2.0", image=IMAGE, now=SINCE)
    assert entry.image_hash == hashlib.sha256(IMAGE).hexdigest()
    assert entry.image_hash == entry.image_hash.lower()
    assert (entry.size, entry.added_at) == (len(IMAGE), SINCE)
    assert library.by_hash(entry.image_hash.upper()) == entry
    assert library.content(entry.image_hash) == IMAGE
    assert library.images("E100") == [entry]
    assert library.images("E200") == []
    # The same image again changes nothing.
    again = library.add(manufacturer="Acme", model="E100", version="2.0", image=IMAGE, now=SINCE)
    assert again == entry
    assert stored(library.engine) == 1


@pytest.mark.parametrize(
    ("model", "version"), [("E100", "9.9"), ("E999", "2.0")], ids=["version", "model"]
)
def test_an_image_not_on_the_cpl_is_refused(
    library: FirmwareLibrary, model: str, version: str
) -> None:
    with pytest.raises(NotOnCpl, match="not on the CPL"):
        library.add(manufacturer="Acme", model=model, version=version, image=IMAGE, now=SINCE)
    assert stored(library.engine) == 0


def test_an_image_whose_cpl_entry_is_not_active_is_refused(library: FirmwareLibrary) -> None:
    library.cpl.set_status("Acme", "E100", "2.0", CplStatus.WITHDRAWN)
    with pytest.raises(NotOnCpl, match="Withdrawn"):
        library.add(manufacturer="Acme", model="E100", version="2.0", image=IMAGE, now=SINCE)
    assert stored(library.engine) == 0


def test_a_second_image_for_a_version_is_refused(library: FirmwareLibrary) -> None:
    first = library.add(manufacturer="Acme", model="E100", version="2.0", image=IMAGE, now=SINCE)
    with pytest.raises(DuplicateFirmware, match="another image"):
        library.add(manufacturer="Acme", model="E100", version="2.0", image=IMAGE_V3, now=SINCE)
    # Nor may the same bytes stand for another model's version.
    with pytest.raises(DuplicateFirmware, match=r"already in the library as Acme/E100 2\.0"):
        library.add(manufacturer="Acme", model="E200", version="2.0", image=IMAGE, now=SINCE)
    assert library.images() == [first]
    third = library.add(manufacturer="Acme", model="E100", version="3.0", image=IMAGE_V3, now=SINCE)
    assert [i.version for i in library.images("E100")] == ["2.0", "3.0"]
    assert library.by_hash(third.image_hash) == third
