"""The scheduler process: the work that time or a head-end starts, not a User's request: the
head-ends' alerts, S1SP notices, future-dated time-outs, one-step top-ups' resumption, firmware
distribution and DCC schedules' runs. One runs (it alone takes the head-ends' alerts), so it
also runs the hub's one service monitor (``service.hub_monitor``): the gateways' SSI reads what
it records."""

from __future__ import annotations

from opendcc.config import HubConfig
from opendcc.hub import Hub, Role
from opendcc.processes.run import run_roles
from opendcc.processes.wake import Wakes
from opendcc.service.hub_monitor import hub_monitor
from opendcc.service.incidents import Incidents
from opendcc.service.status import ServiceStatus


async def monitor(hub: Hub) -> None:
    await hub_monitor(hub, Incidents(hub.engine), ServiceStatus(hub.engine)).run()


def main(config: HubConfig, wakes: Wakes | None = None) -> None:
    run_roles(config, frozenset({Role.SCHEDULER}), "scheduler", beside=monitor, wakes=wakes)
