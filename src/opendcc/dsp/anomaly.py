"""Anomaly detection: per-User, per-SRV thresholds over a rolling window.

A User's request beyond its threshold for that SRV (Service Reference Variant) is quarantined:
stored, never executed, and the User told by a DCC alert (AD1). Counts are kept in memory by the
process that runs the front door (the embedded hub), so they restart from zero with it; a
restart forgives a burst, it never quarantines a legitimate request. Pure apart from a lock:
``now`` is passed in.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from opendcc.core.eui import Eui64
from opendcc.store.users import AnomalyThreshold


class AnomalyDetector:
    def __init__(self) -> None:
        self._seen: dict[tuple[Eui64, str], deque[datetime]] = {}
        self._lock = threading.Lock()

    def admit(
        self, user: Eui64, srv: str, thresholds: tuple[AnomalyThreshold, ...], now: datetime
    ) -> bool:
        """Count one request; False when it breaches the User's threshold for ``srv``."""
        limit = next((t for t in thresholds if t.srv == srv), None)
        if limit is None:
            return True
        window = timedelta(seconds=limit.window_seconds)
        with self._lock:
            seen = self._seen.setdefault((user, srv), deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= limit.max_requests:
                return False  # quarantined requests do not count towards the window
            seen.append(now)
            return True
