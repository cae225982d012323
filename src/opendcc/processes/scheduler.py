"""The scheduler process: the work that time or a head-end starts, not a User's request: the
head-ends' alerts, S1SP notices, future-dated time-outs, one-step top-ups' resumption, firmware
distribution and DCC schedules' runs. One runs (it alone takes the head-ends' alerts)."""

from __future__ import annotations

from opendcc.config import HubConfig
from opendcc.hub import Role
from opendcc.processes.run import run_roles


def main(config: HubConfig) -> None:
    run_roles(config, frozenset({Role.SCHEDULER}), "scheduler")
