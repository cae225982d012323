"""The Service Request lifecycle: the one table of states a request moves through.

Every step is a transition in this table; the store records each as a committed row change
with its time, so an illegal step is a bug that raises rather than a silent state. Sans-IO: the
table and ``advance`` are pure; the store calls them.

    RECEIVED ─▶ ACCEPTED ─▶ DISPATCHED ─▶ INSTRUCTED ─▶ SENT_TO_S1SP ─▶ RESPONDED ─▶ DELIVERED
       │           │  └──────────── non-device (CV 8) ─────────────────────▲
       ▼           └──▶ CANCELLED / EXPIRED / FAILED ──────────────────────▶ DELIVERED
    REJECTED      QUARANTINED (from RECEIVED: anomaly detection held it back)

- RECEIVED: parsed and authenticated, not yet through access control.
- ACCEPTED: passed access control and committed; the User has its I99 acknowledgement.
- DISPATCHED: handed to a worker (a worker that dies leaves it here, to be resumed).
- INSTRUCTED: the countersigned instruction passed the DCO (Dual Control Organisation) check.
- SENT_TO_S1SP: the cohort's head-end has the instruction.
- HELD: a future-dated request (Device pattern) the head-end acknowledged and holds until its
  execution time; the User has the acknowledging Response, and the outcome comes as alert
  0x8F66 (executed) or 0x8F67 (failed), or as E30 when neither arrives in time.
- RESPONDED / CANCELLED / EXPIRED / FAILED: the outcome is known and a signed Response (or
  alert) waits in the outbox; DELIVERED once the User's endpoint has taken it.
- REJECTED: refused by access control and answered synchronously; nothing more to deliver.
- QUARANTINED: over a User's anomaly-detection threshold; held, never executed, and the User
  told by a DCC alert. Terminal for now: release by the DCC service desk comes with the SSI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RequestState(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    INSTRUCTED = "instructed"
    SENT_TO_S1SP = "sent_to_s1sp"
    HELD = "held"  # future-dated (Device pattern): the head-end holds it until its time
    RESPONDED = "responded"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"
    DELIVERED = "delivered"


S = RequestState
_OUTCOMES = {S.CANCELLED, S.EXPIRED, S.FAILED}

TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.QUARANTINED}),
    # A non-device request (CV 8) is answered by the DSP itself, without a device round trip.
    S.ACCEPTED: frozenset({S.DISPATCHED, S.RESPONDED, *_OUTCOMES}),
    # DISPATCHED -> DISPATCHED: a worker died and another picked the request up again.
    S.DISPATCHED: frozenset({S.DISPATCHED, S.INSTRUCTED, *_OUTCOMES}),
    S.INSTRUCTED: frozenset({S.SENT_TO_S1SP, *_OUTCOMES}),
    S.SENT_TO_S1SP: frozenset({S.RESPONDED, S.HELD, S.EXPIRED, S.FAILED}),
    # The execution outcome (alert 0x8F66/0x8F67), the E30 time-out, or the User's cancel.
    S.HELD: frozenset({S.RESPONDED, S.FAILED, S.EXPIRED, S.CANCELLED}),
    S.RESPONDED: frozenset({S.DELIVERED}),
    S.CANCELLED: frozenset({S.DELIVERED}),
    S.EXPIRED: frozenset({S.DELIVERED}),
    S.FAILED: frozenset({S.DELIVERED}),
    S.REJECTED: frozenset(),
    S.QUARANTINED: frozenset(),
    S.DELIVERED: frozenset(),
}

TERMINAL = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
# States a restarted hub must pick up again: work is owed to the User.
UNFINISHED = frozenset(TRANSITIONS) - TERMINAL - {S.RECEIVED}


class IllegalTransition(RuntimeError):
    """A step the lifecycle does not allow: a bug in the caller, never a User's error."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded step: what the store writes as a row."""

    source: RequestState
    target: RequestState
    at: datetime


def advance(current: RequestState, target: RequestState, at: datetime) -> Transition:
    """Check a step against the table and return it to be recorded, or raise."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (terminal)"
        raise IllegalTransition(f"{current} -> {target} is not allowed; from {current}: {allowed}")
    if at.tzinfo is None:
        raise ValueError("lifecycle times are timezone-aware")
    return Transition(current, target, at)
