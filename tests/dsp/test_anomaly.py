from __future__ import annotations

from datetime import timedelta

from tests.reference import NOW, SUPPLIER

from opendcc.core.eui import Eui64
from opendcc.dsp.anomaly import AnomalyDetector
from opendcc.store.users import AnomalyThreshold

USER = Eui64.parse(SUPPLIER)
LIMIT = (AnomalyThreshold("4.1.1", 2, 60),)


def test_requests_beyond_the_threshold_in_the_window_are_refused() -> None:
    detector = AnomalyDetector()
    admitted = [detector.admit(USER, "4.1.1", LIMIT, NOW + timedelta(seconds=s)) for s in range(4)]
    assert admitted == [True, True, False, False]
    # The window rolls: 60 s after the first, one slot is free again.
    assert detector.admit(USER, "4.1.1", LIMIT, NOW + timedelta(seconds=60))
    assert not detector.admit(USER, "4.1.1", LIMIT, NOW + timedelta(seconds=60))


def test_other_srvs_and_users_without_thresholds_are_unlimited() -> None:
    detector = AnomalyDetector()
    assert all(detector.admit(USER, "8.2", LIMIT, NOW) for _ in range(100))
    assert all(detector.admit(USER, "4.1.1", (), NOW) for _ in range(100))
