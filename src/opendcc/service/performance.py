"""The performance report: per SRV (Service Reference Variant), what became of the device
requests the DCC received over a period.

MP169 (restricted mode), requirement 6: performance reporting excludes rejected consumption
requests to restricted devices. A consumer who refused smart functionality makes every
consumption read of their meter fail by design; counting those would charge the service with
failures it was told to produce.

Definitions (period ``[start, end)``, by the instant the front door handled the request):

- **device request**: one sent to the ``serviceS`` endpoint (Command Variants 1-3, 5-7).
  Transform (CV 4) and non-device (CV 8) requests are answered by the DSP (Data Service
  Provider) itself and are not counted; nor is a body whose SRV could not be read.
- **received**: every device request for the SRV that reached the front door: those accepted
  (stored in ``service_requests``) and those refused with a DUIS code (``audit_log`` rows whose
  outcome is an E code; the audit trail is the only record of a refusal).
- **excluded_restricted**: refused with E71 (``ResponseCode.DEVICE_RESTRICTED``) for an SRV the
  catalogue marks as a consumption read (``restricted_allowed`` false, e.g. 4.1.1). These are
  left out of every measure below; E71 for any other SRV is an ordinary refusal.
- **counted** = received - excluded_restricted: the requests the service is measured on.
- **refused**: the other front-door refusals, by DUIS code (E1, E4, E71 ...).
- **quarantined**: held by anomaly detection (AD1); never executed.
- **answered**: reached RESPONDED, answered I0 by the device.
- **failed**: accepted but ended FAILED, EXPIRED or CANCELLED (E20/E21 from the S1SP, a DCO
  refusal, a future-dated request that timed out ...).
- **excluded_after**: consumption reads accepted and then answered E71 by the router (the meter
  was restricted in between; ``service_requests.response_code``): excluded like the front
  door's, and not counted as failed.
- **in_flight**: accepted, no outcome yet.
- **success_rate** = answered / counted (None when nothing is counted).

So counted = refused + quarantined + answered + failed + in_flight. Everything is read with a
few SQL aggregates (grouped by SRV), never row by row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, Select, case, distinct, func, select

from opendcc.catalogue import Catalogue, srv_sort_key
from opendcc.core.errors import ResponseCode
from opendcc.dsp.access import Endpoint
from opendcc.dsp.lifecycle import RequestState
from opendcc.duis.request import CommandVariant
from opendcc.store.tables import audit_log, request_transitions, service_requests

DEVICE_ENDPOINT = Endpoint.SEND.value
ANSWERED_BY_DSP = (int(CommandVariant.TRANSFORM), int(CommandVariant.NON_DEVICE))
ANSWERED = (RequestState.RESPONDED.value,)
FAILED = tuple(s.value for s in (RequestState.FAILED, RequestState.EXPIRED, RequestState.CANCELLED))
QUARANTINED = (RequestState.QUARANTINED.value,)
RESTRICTED = ResponseCode.DEVICE_RESTRICTED.value
TOTAL = "total"


@dataclass(frozen=True, slots=True)
class SrvPerformance:
    """One line of the report: an SRV, or the totals (``srv`` "total")."""

    srv: str
    name: str = ""
    accepted: int = 0
    refusals: Mapping[str, int] = field(default_factory=dict)  # every code, E71 reads included
    excluded_restricted: int = 0
    quarantined: int = 0
    answered: int = 0
    failed: int = 0  # without ``excluded_after``
    # Consumption reads accepted, then answered E71 by the router: the meter was restricted
    # between acceptance and instruction. Excluded like the front door's.
    excluded_after: int = 0

    @property
    def refused(self) -> dict[str, int]:
        """Front-door refusals by code, without the excluded ones."""
        counts = dict(self.refusals)
        left = counts.get(RESTRICTED, 0) - self.excluded_restricted
        if left:
            counts[RESTRICTED] = left
        else:
            counts.pop(RESTRICTED, None)
        return dict(sorted(counts.items()))

    @property
    def received(self) -> int:
        return self.accepted + sum(self.refusals.values())

    @property
    def counted(self) -> int:
        return self.received - self.excluded_restricted - self.excluded_after

    @property
    def in_flight(self) -> int:
        return self.accepted - self.quarantined - self.answered - self.failed - self.excluded_after

    @property
    def success_rate(self) -> float | None:
        return self.answered / self.counted if self.counted else None

    def as_json(self) -> dict[str, object]:
        refused = self.refused
        return {
            "srv": self.srv,
            "name": self.name,
            "received": self.received,
            "excluded_restricted": self.excluded_restricted + self.excluded_after,
            "counted": self.counted,
            "refused": refused,
            "refused_total": sum(refused.values()),
            "quarantined": self.quarantined,
            "answered": self.answered,
            "failed": self.failed,
            "in_flight": self.in_flight,
            "success_rate": self.success_rate,
        }


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    start: datetime
    end: datetime
    lines: tuple[SrvPerformance, ...]  # by SRV, in SRV order
    total: SrvPerformance

    def line(self, srv: str) -> SrvPerformance:
        """The SRV's line; an empty one when nothing came for it."""
        return next((x for x in self.lines if x.srv == srv), SrvPerformance(srv))

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "srvs": [x.as_json() for x in self.lines],
            "total": self.total.as_json(),
        }


def build(
    engine: Engine, catalogue: Catalogue, start: datetime, end: datetime
) -> PerformanceReport:
    """The report over ``[start, end)`` from the store."""
    if end <= start:
        raise ValueError("the report's period ends after it starts")
    reads = frozenset(s.srv for s in catalogue if not s.restricted_allowed)
    stored: dict[str, tuple[int, int, int, int, int]] = {}
    refusals: dict[str, dict[str, int]] = defaultdict(dict)
    with engine.connect() as conn:
        for srv, *counts in conn.execute(_stored(start, end)):
            accepted, answered, failed, quarantined, restricted = (int(c) for c in counts)
            stored[srv] = (accepted, answered, failed, quarantined, restricted)
        for srv, code, count in conn.execute(_refusals(start, end)):
            refusals[srv][code] = int(count)
    lines = []
    for srv in sorted(stored.keys() | refusals.keys(), key=_order):
        accepted, answered, failed, quarantined, restricted = stored.get(srv, (0, 0, 0, 0, 0))
        after = restricted if srv in reads else 0
        codes = refusals.get(srv, {})
        lines.append(
            SrvPerformance(
                srv,
                catalogue.get(srv).name if srv in catalogue else "",
                accepted,
                codes,
                codes.get(RESTRICTED, 0) if srv in reads else 0,
                quarantined,
                answered,
                failed - after,
                after,
            )
        )
    return PerformanceReport(start, end, tuple(lines), _total(lines))


def _stored(start: datetime, end: datetime) -> Select[str, int, int, int, int, int]:
    """Per SRV: accepted device requests, and how many reached each kind of outcome."""
    s, t = service_requests, request_transitions

    def reached(states: tuple[str, ...]) -> ColumnElement[int]:
        return func.count(distinct(case((t.c.target.in_(states), s.c.request_id))))

    return (
        select(
            s.c.srv,
            func.count(distinct(s.c.request_id)),
            reached(ANSWERED),
            reached(FAILED),
            reached(QUARANTINED),
            func.count(distinct(case((s.c.response_code == RESTRICTED, s.c.request_id)))),
        )
        .select_from(s.join(t, t.c.request_id == s.c.request_id))
        .where(s.c.received_at >= start, s.c.received_at < end)
        .where(s.c.command_variant.not_in(ANSWERED_BY_DSP))
        .group_by(s.c.srv)
    )


def _refusals(start: datetime, end: datetime) -> Select[str, str, int]:
    """Per SRV and DUIS code: device requests refused at the front door."""
    a = audit_log
    return (
        select(a.c.srv, a.c.outcome, func.count())
        .where(a.c.endpoint == DEVICE_ENDPOINT)
        .where(a.c.outcome.like("E%"))
        .where(a.c.srv.is_not(None))
        .where(a.c.at >= start, a.c.at < end)
        .group_by(a.c.srv, a.c.outcome)
    )


def _total(lines: Iterable[SrvPerformance]) -> SrvPerformance:
    refusals: dict[str, int] = defaultdict(int)
    sums = [0, 0, 0, 0, 0, 0]
    for x in lines:
        for code, count in x.refusals.items():
            refusals[code] += count
        for i, value in enumerate(
            (
                x.accepted,
                x.excluded_restricted,
                x.quarantined,
                x.answered,
                x.failed,
                x.excluded_after,
            )
        ):
            sums[i] += value
    accepted, excluded, quarantined, answered, failed, after = sums
    return SrvPerformance(
        TOTAL, "", accepted, dict(refusals), excluded, quarantined, answered, failed, after
    )


def _order(srv: str) -> tuple[int, ...]:
    try:
        return srv_sort_key(srv)
    except ValueError:  # not a dotted number: after every SRV
        return (1 << 30,)
