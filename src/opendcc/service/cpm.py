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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, String, and_, case, cast, extract, func, literal, or_, select

from opendcc.store.tables import devices, request_transitions, service_requests

ANSWERED = ("responded",)
FINISHED = ("responded", "failed", "expired")
RESTRICTED = "E71"
NOT_DEVICE_CVS = (4, 8)


@dataclass(frozen=True, slots=True)
class Tally:
    """Answered device requests of one month, SRV, cohort and kind, and how many in target."""

    month: str
    srv: str
    cohort: str
    future_dated: bool
    counted: int
    within: int


@dataclass(frozen=True, slots=True)
class Measure:
    measure: str  # CPM1 | CPM2
    month: str
    group: str  # "family 4", "cohort <name>", "all"
    counted: int
    within: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.within / self.counted if self.counted else None


def family(srv: str) -> str:
    return srv.split(".", 1)[0]


def measures(tallies: Iterable[Tally]) -> list[Measure]:
    """Pure: CPM1 and CPM2 by month for every SRV family, every cohort and overall."""
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for t in tallies:
        name = "CPM2" if t.future_dated else "CPM1"
        for group in ("all", f"family {family(t.srv)}", f"cohort {t.cohort}"):
            slot = counts[(name, t.month, group)]
            slot[0] += t.counted
            slot[1] += t.within
    return [
        Measure(name, month, group, c, w)
        for (name, month, group), (c, w) in sorted(counts.items(), key=lambda kv: _order(kv[0]))
    ]


def _order(key: tuple[str, str, str]) -> tuple[str, str, int, str]:
    name, month, group = key
    return (name, month, 0 if group == "all" else 1 if group.startswith("family") else 2, group)


def _seconds(engine: Engine, end: Any, start: Any) -> Any:
    """``end - start`` in seconds, in the database's own terms."""
    if engine.dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return extract("epoch", end - start)


def tallies(
    engine: Engine, start: datetime, end: datetime, targets: Mapping[str, float], default: float
) -> list[Tally]:
    """The answered device requests received in ``[start, end)``, E71 refusals left out,
    counted in a few SQL aggregates (never row by row): ``targets`` is each SRV's target
    response time in seconds, ``default`` the rest's."""
    s, t, d = service_requests, request_transitions, devices
    base = func.coalesce(s.c.execute_at, s.c.received_at)
    target = case(dict(targets), value=s.c.srv, else_=default) if targets else literal(default)
    within = case(
        (and_(t.c.target.in_(ANSWERED), _seconds(engine, t.c.at, base) <= target), 1), else_=0
    )
    month = func.substr(cast(s.c.received_at, String(32)), 1, 7)
    future = s.c.execute_at.is_not(None)
    cohort = func.coalesce(d.c.cohort, "-")
    query = (
        select(month, s.c.srv, cohort, future, func.count(), func.sum(within))
        .select_from(
            s.join(t, t.c.request_id == s.c.request_id).outerjoin(d, d.c.device_id == s.c.target)
        )
        .where(s.c.received_at >= start, s.c.received_at < end)
        .where(s.c.command_variant.not_in(NOT_DEVICE_CVS))
        .where(t.c.target.in_(FINISHED))
        .where(or_(s.c.response_code.is_(None), s.c.response_code != RESTRICTED))
        .group_by(month, s.c.srv, cohort, future)
    )
    with engine.connect() as conn:
        return [
            Tally(str(m), str(srv), str(c), bool(f), int(n), int(w or 0))
            for m, srv, c, f, n, w in conn.execute(query)
        ]
