"""The projections a head-end keeps between commands, for the meters it reads most.

A read projects a meter from its settled ledger (its last operation, often days back) to now
(``walk``); the projection, about 22 KB for a month of daily records, is too big to keep for
every meter of a third-of-a-million-meter fleet. ``Projections`` keeps the newest ``size`` of
them, across all the meters of a head-end, so that the next read of a kept meter walks on
from its last read instead (``MeterCore.resume_view``). Memory is bounded by ``size``, not by
the fleet.

A projection is kept only for a meter read before and not forgotten since: the ``ghosts``
meters last read without being kept (or pushed out) are remembered by reference alone, as
2Q's A1out queue does. So a pass over the whole fleet, each meter read once, keeps nothing and
does not push out the meters read again and again.
"""

from __future__ import annotations

from collections import OrderedDict

from opendcc.sim.state.core import MeterCore, View

KEPT = 64
GHOSTS = 128


class Projections:
    """The newest projections of the meters read more than once: ``lend`` before a command,
    ``keep`` after it."""

    def __init__(self, size: int = KEPT, ghosts: int = GHOSTS) -> None:
        self.size = size
        self.ghosts = ghosts
        self._kept: OrderedDict[MeterCore, View] = OrderedDict()
        self._ghosts: dict[MeterCore, None] = {}  # oldest first

    def __len__(self) -> int:
        return len(self._kept)

    def lend(self, meter: MeterCore) -> None:
        """Give ``meter`` back its kept projection, if any, to walk on from."""
        view = self._kept.get(meter)
        if view is not None:
            meter.resume_view(view)

    def keep(self, meter: MeterCore) -> None:
        """Take ``meter``'s projection: kept if it was read lately, else only remembered."""
        view = meter.take_view()
        if view is None:  # an operation settled the meter: what was kept is out of date
            self._kept.pop(meter, None)
            return
        if meter not in self._kept and meter not in self._ghosts:
            self._remember(meter)  # read once lately: only its reference is kept
            return
        self._ghosts.pop(meter, None)
        self._kept[meter] = view
        self._kept.move_to_end(meter)
        if len(self._kept) > self.size:
            evicted, _ = self._kept.popitem(last=False)
            self._remember(evicted)

    def _remember(self, meter: MeterCore) -> None:
        self._ghosts.pop(meter, None)
        self._ghosts[meter] = None
        if len(self._ghosts) > self.ghosts:
            del self._ghosts[next(iter(self._ghosts))]
