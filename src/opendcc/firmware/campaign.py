"""A firmware campaign: how far a device model's move to one firmware version has got.

The report counts the model's devices in service (the inventory, withdrawn and decommissioned
devices left out), how many already run the version (as the inventory records it: read from
the device or set on activation), and the distribution rows for that model and version by
state, with the failures grouped by what went wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from opendcc.firmware.distributions import Distributions, DistributionState
from opendcc.inventory import SmiStatus
from opendcc.store.tables import devices

OUT_OF_SERVICE = (SmiStatus.WITHDRAWN.value, SmiStatus.DECOMMISSIONED.value)


@dataclass(frozen=True, slots=True)
class CampaignReport:
    model: str
    version: str
    devices: int  # of the model, in service
    on_version: int  # of those, already running the version
    states: Mapping[DistributionState, int] = field(default_factory=dict)  # every state
    failures: Mapping[str, int] = field(default_factory=dict)  # detail -> devices

    @property
    def sent(self) -> int:
        """Devices the campaign's 11.1 requests took on (every row)."""
        return sum(self.states.values())

    @property
    def activated(self) -> int:
        return self.states.get(DistributionState.ACTIVATED, 0)

    @property
    def in_flight(self) -> int:
        """Rows still waiting for distribution or activation."""
        done = (DistributionState.ACTIVATED, DistributionState.FAILED)
        return sum(n for state, n in self.states.items() if state not in done)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "devices": self.devices,
            "on_version": self.on_version,
            "sent": self.sent,
            "states": {state.value: n for state, n in self.states.items()},
            "failures": dict(self.failures),
        }


def campaign(engine: Engine, model: str, version: str) -> CampaignReport:
    in_service = (
        select(func.count(), func.count().filter(devices.c.firmware_version == version))
        .where(devices.c.model == model)
        .where(devices.c.smi_status.not_in(OUT_OF_SERVICE))
    )
    with engine.connect() as conn:
        total, on_version = conn.execute(in_service).one()
    rows = Distributions(engine).of_model(model, version)
    by_state = Counter(r.state for r in rows)
    failed = DistributionState.FAILED
    failures = Counter(r.detail or "(no detail)" for r in rows if r.state is failed)
    return CampaignReport(
        model,
        version,
        int(total),
        int(on_version),
        {state: by_state.get(state, 0) for state in DistributionState},
        dict(failures.most_common()),
    )
