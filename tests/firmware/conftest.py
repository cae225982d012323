"""The firmware rig on every configured database (see ``tests/firmware/rig.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from tests.firmware.rig import Rig, build

from opendcc.firmware import FirmwareSettings
from opendcc.smki import SigningCredentials


@pytest.fixture
def rig(
    engine: Engine,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
    supplier_credentials: SigningCredentials,
) -> Rig:
    settings = FirmwareSettings(attempts=3)
    return build(engine, dcc_credentials, s1sp_credentials, supplier_credentials, settings)
