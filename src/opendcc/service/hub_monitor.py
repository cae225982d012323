"""The service monitor wired to a hub: its head-ends' adapters, the processes' heartbeats
(``service.liveness``) for the loops, the broker in scale mode, and the signal sources.

One runs per hub, where the hub's single scheduler is: the scheduler process under
``opendcc serve``, or the one process with ``--single-process``. Gateways build one only to
know the components; the SSI in each reads what the running one recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from opendcc.service.incidents import Incidents
from opendcc.service.monitor import (
    HEALTH_TIMEOUT,
    LOOPS,
    BrokerCheck,
    Monitor,
    dead_lettered,
    quarantines,
)
from opendcc.service.status import ServiceStatus

if TYPE_CHECKING:
    from opendcc.hub import Hub

PRUNE_EVERY = timedelta(minutes=1)


def hub_monitor(hub: Hub, incidents: Incidents, status: ServiceStatus) -> Monitor:
    return Monitor(
        hub.engine,
        hub.clock,
        hub.adapters,
        _heartbeats(hub),
        incidents,
        status,
        sources=[quarantines(hub.engine), dead_lettered(hub.engine)],
        audit=hub.audit,
        broker=broker_check(hub.config.broker_url, _queue_names(hub))
        if hub.config.broker_url
        else None,
    )


def _heartbeats(hub: Hub) -> Callable[[], dict[str, bool]]:
    """Each loop component's liveness from the heartbeats. For the first bound after the
    monitor's start a component not yet seen is left unjudged: the processes start together
    and one that has not beaten yet is starting, not down."""
    beats = hub.heartbeats
    pruned: list[datetime] = []
    started: list[datetime] = []

    def loops() -> dict[str, bool]:
        now = hub.clock.now()
        started[:] = started or [now]
        if not pruned or now - pruned[-1] >= PRUNE_EVERY:
            beats.prune(now)
            pruned[:] = [now]
        seen = {c: s.up for c, s in beats.seen(LOOPS, now).items()}
        if now - started[0] < beats.bound:
            return {c: up for c, up in seen.items() if up}
        return seen

    return loops


def _queue_names(hub: Hub) -> list[str]:
    names = getattr(hub.jobs, "queue_names", {})
    return sorted(names.values())


def broker_check(url: str, queues: list[str]) -> BrokerCheck:
    """Connect, and declare the lanes' queues passively (each must exist): a fresh connection
    each look, so a broker that went away and came back is seen as it is now."""

    async def check() -> tuple[bool, str]:
        import aio_pika

        connection = await aio_pika.connect(url, timeout=HEALTH_TIMEOUT)
        try:
            channel = await connection.channel()
            for name in queues:
                await channel.declare_queue(name, passive=True)
        finally:
            await connection.close()
        return True, f"answers ({len(queues)} lanes declared)" if queues else "answers"

    return check
