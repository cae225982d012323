"""Code Performance Measures in the DCC's style, for SMETS1 device requests.

- **CPM1**: the share of *on-demand* responses (no execution date-time) delivered within the
  SRV's target response time, from the front door's acceptance to the S1SP's response
  (``responded``).
- **CPM2**: the same for *future-dated* responses, measured from the execution date-time.

Per month, SRV family (the SRV's first number: 4 = reads, 2 = prepayment ...), cohort and
overall. Counted: device requests (``serviceS``, not CV 4 or 8) that got an answer
(responded, failed or expired); not counted: restricted-mode refusals (E71, MP169 requirement
6) and requests still in flight. A failed request counts as outside the target.
Target response times are the S1SP services' (``s1sp.services``), scaled as the hub is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from opendcc.store.tables import devices, request_transitions, service_requests

ANSWERED = ("responded",)
FINISHED = ("responded", "failed", "expired")
RESTRICTED = "E71"
NOT_DEVICE_CVS = (4, 8)


@dataclass(frozen=True, slots=True)
class Sample:
    """One answered device request."""

    month: str
    srv: str
    cohort: str
    future_dated: bool
    seconds: float | None  # None: failed, never in target
    target_s: float

    @property
    def within(self) -> bool:
        return self.seconds is not None and self.seconds <= self.target_s


@dataclass(frozen=True, slots=True)
class Measure:
    measure: str  # CPM1 | CPM2
    month: str
    group: str  # "family 4", "cohort aclara", "all"
    counted: int
    within: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.within / self.counted if self.counted else None


def family(srv: str) -> str:
    return srv.split(".", 1)[0]


def measures(samples: Iterable[Sample]) -> list[Measure]:
    """Pure: CPM1 and CPM2 by month for every SRV family, every cohort and overall."""
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in samples:
        name = "CPM2" if s.future_dated else "CPM1"
        for group in ("all", f"family {family(s.srv)}", f"cohort {s.cohort}"):
            slot = counts[(name, s.month, group)]
            slot[0] += 1
            slot[1] += int(s.within)
    return [
        Measure(name, month, group, c, w)
        for (name, month, group), (c, w) in sorted(counts.items(), key=lambda kv: _order(kv[0]))
    ]


def _order(key: tuple[str, str, str]) -> tuple[str, str, int, str]:
    name, month, group = key
    return (name, month, 0 if group == "all" else 1 if group.startswith("family") else 2, group)


def samples(
    engine: Engine, start: datetime, end: datetime, target_s: Callable[[str], float]
) -> list[Sample]:
    """The answered device requests received in ``[start, end)``, E71 refusals left out."""
    s, t, d = service_requests, request_transitions, devices
    query = (
        select(
            s.c.request_id,
            s.c.srv,
            s.c.received_at,
            s.c.execute_at,
            s.c.response_code,
            d.c.cohort,
            t.c.target,
            t.c.at,
        )
        .select_from(
            s.join(t, t.c.request_id == s.c.request_id).outerjoin(d, d.c.device_id == s.c.target)
        )
        .where(s.c.received_at >= start, s.c.received_at < end)
        .where(s.c.command_variant.not_in(NOT_DEVICE_CVS))
        .where(t.c.target.in_(FINISHED))
    )
    out: list[Sample] = []
    with engine.connect() as conn:
        for row in conn.execute(query):
            if row.response_code == RESTRICTED:
                continue
            base = row.execute_at or row.received_at
            seconds = (row.at - base).total_seconds() if row.target in ANSWERED else None
            out.append(
                Sample(
                    f"{row.received_at:%Y-%m}",
                    row.srv,
                    row.cohort or "-",
                    row.execute_at is not None,
                    max(seconds, 0.0) if seconds is not None else None,
                    target_s(row.srv),
                )
            )
    return out
