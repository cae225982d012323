"""UTRN (Unique Transaction Reference Number) algorithms: 20-digit prepayment top-up tokens.

A UTRN credits one meter (its *target*) with an amount, once. Every algorithm here does the
same three things, so the S1SP and the simulated meters share one contract:

- ``issue`` makes the token for a target, a replay counter and an amount in pence;
- ``accept`` is what a meter does with 20 keyed-in or delivered digits: it authenticates them
  with its own keys and recovers the amount and the counter, or raises ``TokenRejected``
  (the counter is then checked against the meter's memory of used counters: see
  ``CounterCache``);
- ``next_counter`` picks the counter of a target's next token from its last one.

``algorithm(name)`` is the one a cohort profile names (``CohortProfile.utrn_algorithm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Protocol

from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys


class Rejection(StrEnum):
    """Why a meter refused a token."""

    FORMAT = "format"  # not 20 decimal digits, or out of the algorithm's range
    CHECK_DIGIT = "check_digit"  # a keying mistake the check digit catches
    AUTHENTICATION = "authentication"  # not made for this meter with its keys
    REPLAY = "replay"  # its counter was used already, or is too old to tell
    AMOUNT = "amount"  # an amount the meter cannot take


class TokenRejected(Exception):
    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class AmountNotRepresentable(ValueError):
    """The algorithm cannot carry this amount (e.g. GBCS above £81.91 unless whole pounds)."""


@dataclass(frozen=True, slots=True)
class Credit:
    """What a token carries, once authenticated."""

    amount_p: int
    counter: int


class UtrnAlgorithm(Protocol):
    name: str

    def issue(self, keys: CohortKeys, target: Eui64, counter: int, amount_p: int) -> str:
        """The 20-digit UTRN; ``AmountNotRepresentable`` if the amount cannot be carried."""
        ...

    def accept(
        self, keys: CohortKeys, target: Eui64, utrn: str, used: Sequence[int] = ()
    ) -> Credit:
        """Authenticate ``utrn`` as meter ``target`` would; ``used`` are the counters the
        meter remembers (some algorithms need them to rebuild the full counter)."""
        ...

    def next_counter(self, last: int | None, now: datetime) -> int:
        """The counter for a target's next token, after ``last`` (None: its first)."""
        ...


@dataclass(slots=True)
class CounterCache:
    """A meter's memory of the counters it has accepted (GBCS's UTRN counter cache).

    A counter is accepted if it is not remembered and, once the cache is full, is above the
    lowest remembered one; accepting it forgets the lowest. So tokens may be keyed in out of
    order within the cache's window, and never twice.
    """

    size: int = 5
    counters: list[int] = field(default_factory=list)

    def check(self, counter: int) -> None:
        if counter in self.counters:
            raise TokenRejected(Rejection.REPLAY, f"counter {counter} was used already")
        if len(self.counters) >= self.size and counter < min(self.counters):
            raise TokenRejected(Rejection.REPLAY, f"counter {counter} is older than the window")

    def remember(self, counter: int) -> None:
        self.check(counter)
        self.counters.append(counter)
        self.counters.sort()
        del self.counters[: max(0, len(self.counters) - self.size)]


def algorithm(name: str) -> UtrnAlgorithm:
    """The algorithm a cohort profile names (``CohortProfile.utrn_algorithm``)."""
    try:
        return algorithms()[name]
    except KeyError:
        raise ValueError(f"no UTRN algorithm is called {name!r}") from None


@cache
def algorithms() -> dict[str, UtrnAlgorithm]:
    """Every algorithm by name (imported on first use: the modules import this one)."""
    from opendcc.prepayment.utrn.gbcs import GBCS
    from opendcc.prepayment.utrn.hmac import HMAC_SHA256
    from opendcc.prepayment.utrn.sts import STS

    return {a.name: a for a in (GBCS, HMAC_SHA256, STS)}
