"""The fake meter execution every transport test module uses, answering its module's RESULT."""

from __future__ import annotations

import pytest
from tests.s1sp.transports.rig import Executions

import opendcc.sim.headends.core as core_module


@pytest.fixture
def executions(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Executions:
    fake = Executions(request.module.RESULT)
    monkeypatch.setattr(core_module, "execute", fake)
    return fake
