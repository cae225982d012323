"""The alerts a simulated head-end has offered and its client (the hub) has not acknowledged.

A real head-end keeps an alert until its client says it has it, and offers it again until then:
on the next connection or subscription, and after a while without an answer. ``Unacknowledged``
is that memory, shared by the three servers (APDU: ALERT-ACK; REST/JSON: a 2xx to the push;
SOAP/XML: a poll whose ``Since`` is past the alert). It is bounded: past ``capacity`` the oldest
un-acknowledged alert is dropped and counted (``dropped``), as a head-end's own store would
overflow. ``acknowledged`` keeps the newest ``record`` acknowledged alerts, for tests to check
that each reached a User.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from opendcc.sim.headends.core import PushedAlert

Item = TypeVar("Item")

CAPACITY = 100_000  # un-acknowledged alerts one head-end keeps
RECORD = 20_000  # acknowledged alerts remembered for inspection (tests), a few MB
RESEND_S = 10.0  # an alert offered this long ago without an answer is offered again


@dataclass
class _Offered(Generic[Item]):
    item: Item
    pushed: PushedAlert
    offered_at: float  # the event loop's clock; -inf: never offered yet


class Unacknowledged(Generic[Item]):
    """Alerts by the head-end's id, oldest first, until acknowledged."""

    def __init__(
        self, capacity: int = CAPACITY, record: int = RECORD, resend_s: float = RESEND_S
    ) -> None:
        self.capacity = capacity
        self.resend_s = resend_s
        self._waiting: OrderedDict[str, _Offered[Item]] = OrderedDict()
        self.acknowledged: deque[tuple[str, PushedAlert]] = deque(maxlen=record)
        self.dropped = 0
        self.refused = 0  # refused for good by the client (unreadable to it)

    def __len__(self) -> int:
        return len(self._waiting)

    def keep(self, alert_id: str, item: Item, pushed: PushedAlert) -> None:
        """Hold a new alert until it is acknowledged."""
        self._waiting[alert_id] = _Offered(item, pushed, float("-inf"))
        while len(self._waiting) > self.capacity:
            self._waiting.popitem(last=False)
            self.dropped += 1

    def offered(self, alert_id: str, now: float) -> None:
        if (entry := self._waiting.get(alert_id)) is not None:
            entry.offered_at = now

    def acknowledge(self, alert_id: str) -> bool:
        entry = self._waiting.pop(alert_id, None)
        if entry is None:
            return False
        self.acknowledged.append((alert_id, entry.pushed))
        return True

    def refuse(self, alert_id: str) -> None:
        if self._waiting.pop(alert_id, None) is not None:
            self.refused += 1

    def acknowledge_where(self, taken: Callable[[Item], bool]) -> int:
        """Acknowledge every alert ``taken`` says the client has; how many."""
        done = [alert_id for alert_id, entry in self._waiting.items() if taken(entry.item)]
        for alert_id in done:
            self.acknowledge(alert_id)
        return len(done)

    def items(self) -> list[tuple[str, Item]]:
        """Every alert waiting, oldest first."""
        return [(alert_id, entry.item) for alert_id, entry in self._waiting.items()]

    def due(self, now: float) -> list[tuple[str, Item]]:
        """The alerts to offer (again) now: never offered, or offered ``resend_s`` ago."""
        return [
            (alert_id, entry.item)
            for alert_id, entry in self._waiting.items()
            if now - entry.offered_at >= self.resend_s
        ]
