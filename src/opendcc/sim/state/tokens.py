"""How a simulated SMETS1 prepayment meter reads UTRNs (Unique Transaction Reference Numbers).

A UTRN reaches a SMETS1 (Smart Metering Equipment Technical Specifications, first edition)
prepayment meter two ways: over the air, in SRV (Service Reference Variant) 2.2 Top Up Device,
or keyed in by the consumer at the meter's keypad. Both take the same path
(``MeterState.take_utrn``): the meter authenticates the 20 digits with its cohort's algorithm
and its own keys, then checks the counter against its memory of the counters it has used
(``CounterCache``), and only then credits the amount as a top-up and remembers the counter.

The ``TokenReader`` is what the meter needs for that: the algorithm its cohort uses, its
cohort's key material (``CohortKeys``) and its counter memory. The meter model holds one
(``MeterState.install_token_reader``), so the memory lives and is copied with the meter; the
head-end simulator installs it when it builds its fleet (``opendcc.sim.headends.core_for_fleet``
picks ``algorithm(profile.utrn_algorithm)`` and ``CohortKeys(profile.name, seed)``), from the same
seed the S1SP (SMETS1 Service Provider) issues tokens with.

A refused token changes nothing and raises ``UtrnRefused``: a ``MeterError`` whose detail
starts ``UTRN <rejection>: `` (``Rejection``: format, check_digit, authentication, replay,
amount). The S1SP reads that prefix back from the head-end's refusal: a replay refusal means
this very token was credited before.
"""

from __future__ import annotations

from typing import Self

from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import CounterCache, Credit, Rejection, TokenRejected, UtrnAlgorithm
from opendcc.sim.state.errors import MeterError, Reason


class UtrnRefused(MeterError):
    """The meter refused a UTRN; ``rejection`` says why (the detail starts ``UTRN <why>: ``)."""

    def __init__(self, rejection: Rejection, detail: str) -> None:
        super().__init__(Reason.INVALID_VALUE, f"UTRN {rejection.value}: {detail}")
        self.rejection = rejection


class TokenReader:
    """One meter's way to read UTRNs: its cohort's algorithm and keys, its used counters."""

    def __init__(
        self, algorithm: UtrnAlgorithm, keys: CohortKeys, cache: CounterCache | None = None
    ) -> None:
        self.algorithm = algorithm
        self.keys = keys
        self.cache = cache if cache is not None else CounterCache()

    def read(self, device: Eui64, utrn: str) -> Credit:
        """What ``utrn`` credits meter ``device``, changing nothing: authenticated first, then
        the replay check (so a replay refusal means an authentic token already used)."""
        try:
            credit = self.algorithm.accept(self.keys, device, utrn, tuple(self.cache.counters))
            self.cache.check(credit.counter)
        except TokenRejected as exc:
            raise UtrnRefused(exc.reason, exc.detail) from None
        if credit.amount_p <= 0:
            raise UtrnRefused(Rejection.AMOUNT, f"a top-up is positive, not {credit.amount_p}p")
        return credit

    def remember(self, credit: Credit) -> None:
        """The meter has credited ``credit``: its counter is used from now on."""
        self.cache.remember(credit.counter)

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        # The algorithm and the keys are immutable and shared; the memory is the meter's own.
        del memo
        cache = CounterCache(self.cache.size, list(self.cache.counters))
        return type(self)(self.algorithm, self.keys, cache)
