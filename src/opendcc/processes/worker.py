"""The worker process: claims jobs (from the job table, or the broker's lanes in scale mode)
and carries each request through ``dsp.route``: the DCO's check, the S1SP adapter, the head-end,
the signed response into the outbox. Any number may run; each renews the leases it holds."""

from __future__ import annotations

from opendcc.config import HubConfig
from opendcc.hub import Role
from opendcc.processes.run import run_roles
from opendcc.processes.wake import Wakes


def main(config: HubConfig, wakes: Wakes | None = None) -> None:
    run_roles(config, frozenset({Role.WORKER}), "worker", wakes=wakes)
