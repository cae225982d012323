"""Which of the hub's processes are alive, seen from any one of them: each hub process writes a
heartbeat row (its host, pid, roles, the components whose loops are alive, ``last_seen``) every
``OPENDCC_HEARTBEAT_SECONDS`` (default 2), one UPSERT per beat; the service monitor judges a
component up when at least one process saw it alive within ``STALE_BEATS`` beats.

A process that stops cleanly removes its row; one killed leaves a row that goes stale (and is
pruned after ``PRUNE_AFTER``), so a killed worker shows down until another one beats.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from opendcc.store.tables import hub_processes

STALE_BEATS = 4  # missed beats before a process is taken for dead
PRUNE_AFTER = timedelta(hours=1)


def interval_from_env() -> float:
    return float(os.environ.get("OPENDCC_HEARTBEAT_SECONDS", "2"))


@dataclass(frozen=True, slots=True)
class Seen:
    """A component as the heartbeats show it: up when a live process beat for it lately."""

    up: bool
    processes: int  # processes that saw it alive within the bound
    last_seen: datetime | None  # the latest beat for it, if any


class Heartbeats:
    def __init__(self, engine: Engine, interval: float | None = None) -> None:
        self.engine = engine
        self.interval = interval if interval is not None else interval_from_env()
        self.host = socket.gethostname()[:128]
        self.pid = os.getpid()

    @property
    def bound(self) -> timedelta:
        return timedelta(seconds=self.interval * STALE_BEATS)

    def beat(self, roles: Iterable[str], alive: Iterable[str], now: datetime) -> None:
        """This process is alive, with these components' loops running (one UPSERT)."""
        values = {
            "host": self.host,
            "pid": self.pid,
            "roles": ",".join(sorted(roles))[:128],
            "alive": ",".join(sorted(alive))[:256],
            "started_at": now,
            "last_seen": now,
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        upsert = dialect.insert(hub_processes).values(**values)
        upsert = upsert.on_conflict_do_update(
            index_elements=["host", "pid"],
            set_={"roles": values["roles"], "alive": values["alive"], "last_seen": now},
        )
        with self.engine.begin() as conn:
            conn.execute(upsert)

    def leave(self) -> None:
        """This process stops cleanly: its row goes (not left to go stale)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(hub_processes)
                .where(hub_processes.c.host == self.host)
                .where(hub_processes.c.pid == self.pid)
            )

    def seen(self, components: Iterable[str], now: datetime) -> dict[str, Seen]:
        """Each component: whether some process beat for it within the bound."""
        wanted = list(components)
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(hub_processes.c.alive, hub_processes.c.last_seen)))
        fresh = now - self.bound
        found: dict[str, Seen] = {}
        for component in wanted:
            beats = [r.last_seen for r in rows if component in r.alive.split(",")]
            live = sum(1 for t in beats if t >= fresh)
            found[component] = Seen(live > 0, live, max(beats, default=None))
        return found

    def prune(self, now: datetime) -> int:
        """Forget processes not seen for ``PRUNE_AFTER`` (killed ones' rows)."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    delete(hub_processes).where(hub_processes.c.last_seen < now - PRUNE_AFTER)
                ).rowcount
            )
