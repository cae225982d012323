"""The deliverer process: POSTs the outbox's signed responses and alerts to Users' callbacks
until each is taken (at least once, with backoff)."""

from __future__ import annotations

from opendcc.config import HubConfig
from opendcc.hub import Role
from opendcc.processes.run import run_roles
from opendcc.processes.wake import Wakes


def main(config: HubConfig, wakes: Wakes | None = None) -> None:
    run_roles(config, frozenset({Role.DELIVERER}), "deliverer", wakes=wakes)
