"""The event catalogue: every code has a spec, and alert codes sit in the GBCS ranges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opendcc.core.eui import Eui64
from opendcc.sim.state import EVENTS, Alert, EventCode, LogKind


def test_every_code_is_catalogued_once() -> None:
    assert set(EVENTS) == set(EventCode)
    assert len({int(code) for code in EventCode}) == len(EventCode)


@pytest.mark.parametrize("code", list(EventCode), ids=lambda c: c.name)
def test_codes_follow_the_gbcs_layout(code: EventCode) -> None:
    spec = EVENTS[code]
    assert 0 <= code <= 0xFFFF and spec.text
    if spec.alert:
        assert code >> 8 in (0x8F, 0x81)
    else:
        assert code >> 8 == 0x80
    assert code.critical == (code >> 8 == 0x8F)


def test_security_relevant_events_go_to_the_security_log() -> None:
    for code in (
        EventCode.CLOCK_ADJUSTED,
        EventCode.TAMPER_DETECTED,
        EventCode.FIRMWARE_VERIFICATION_FAILED,
        EventCode.DEVICE_JOINED,
    ):
        assert EVENTS[code].log is LogKind.SECURITY
    assert EVENTS[EventCode.SUPPLY_DISABLED_CREDIT].log is LogKind.EVENT


def test_alert_values_are_looked_up_by_name() -> None:
    alert = Alert(EventCode.LOW_CREDIT, Eui64(1), datetime(2024, 1, 1, tzinfo=UTC), (("a", 1),))
    assert alert.value("a") == 1
    assert not alert.critical
    with pytest.raises(KeyError):
        alert.value("b")
