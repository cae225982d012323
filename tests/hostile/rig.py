"""An in-process hub for hostile input: the scenario's configuration (its Users, keys and
devices) on a fresh SQLite file, the app driven over ASGI, and the row count of every table.

The hub is not started (no workers, no adapters): the front door, the UTRN service and the
admin API answer on their own, which is all a refusal needs, and it keeps thousands of
examples fast. The cases that need a real process and real sockets use ``tests.gateway``'s
estate instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, MetaData, func, select
from starlette.applications import Starlette

from opendcc.config import load
from opendcc.core.clock import FixedClock
from opendcc.gateway.app import create_app
from opendcc.hub import Hub
from opendcc.prepayment.registers import Kind
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from tests.gateway.harness import user
from tests.reference import KEYS, NOW, XSD_V54

METER = scenario.METERS[0].device_id


_REFLECTED: dict[str, MetaData] = {}

# What a running hub writes on its own, whatever its requests: heartbeats, the service monitor's
# looks, and the outages, incidents and audit records ("service" endpoint) it raises when a
# look fails (a head-end's health check timing out on a loaded box, say). A refusal is judged
# on everything else.
SELF_WATCH = "audit_log (service)"
BACKGROUND = frozenset(
    {
        "hub_processes",
        "component_checks",
        "component_outages",
        "incidents",
        "incident_events",
        "incident_parties",
        "incident_targets",
        SELF_WATCH,
    }
)


def table_counts(engine: Engine) -> dict[str, int]:
    """The number of rows in every table of the database (whatever migrations made it); the
    audit log's records of the hub's own monitor counted apart, as ``SELF_WATCH``."""
    key = engine.url.render_as_string(hide_password=False)
    if (meta := _REFLECTED.get(key)) is None:
        meta = _REFLECTED[key] = MetaData()
        meta.reflect(engine)
    with engine.connect() as conn:
        counts = {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in sorted(meta.tables.items())
        }
        if (audit := meta.tables.get("audit_log")) is not None:
            own = select(func.count()).select_from(audit).where(audit.c.endpoint == "service")
            counts[SELF_WATCH] = int(conn.execute(own).scalar_one())
            counts["audit_log"] -= counts[SELF_WATCH]
        return counts


def changed(
    before: Mapping[str, int], after: Mapping[str, int], allowed: Iterable[str] = ("audit_log",)
) -> dict[str, tuple[int, int]]:
    """Tables whose row count moved, except ``allowed`` ones (a refusal's one audit record)
    and what the hub writes on its own (``BACKGROUND``)."""
    skip = set(allowed) | BACKGROUND
    return {
        name: (before.get(name, 0), count)
        for name, count in after.items()
        if name not in skip and before.get(name, 0) != count
    }


@dataclass
class Rig:
    hub: Hub
    app: Starlette
    keys: dict[str, str] = field(default_factory=dict)  # bearer key by principal kind
    supplier: SimulatedUser = field(default_factory=lambda: user(scenario.SUPPLIER_KEY))

    def counts(self) -> dict[str, int]:
        return table_counts(self.hub.engine)

    async def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.request(
                method, path, content=content, headers=dict(headers or {}), params=params
            )

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return asyncio.run(self.send(method, path, **kwargs))

    def duis(self, body: bytes, endpoint: str = "serviceS") -> httpx.Response:
        return self.call(
            "POST",
            f"/api/v1/{endpoint}",
            content=body,
            headers={"Content-Type": "application/xml"},
        )

    def bearer(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[kind]}"}


def make_rig(directory: Path, *, xsd: bool = True) -> Rig:
    """A hub on the scenario's configuration in ``directory``, with a UTRN service key for
    the supplier and a PSP, and an admin key for the supplier; its clock fixed at NOW."""
    config = scenario.write_config(
        directory / "hub.toml",
        keys=KEYS,
        cohort=_cohort(),
        headend="http://127.0.0.1:9",  # never reached: the hub is not started
        callback_url="http://127.0.0.1:9/callback",
        database_url=f"sqlite:///{directory / 'hub.db'}",
        xsd=XSD_V54 if xsd else None,
    )
    hub = Hub(load(config), FixedClock(NOW))
    hub.seed(NOW)
    registers = hub.prepayment.registers
    supplier = str(scenario.SUPPLIER)
    keys = {
        "supplier": registers.make_key(supplier, Kind.SUPPLIER, NOW),
        "user": registers.make_key(supplier, Kind.USER, NOW),
        "psp": registers.make_key("psp-hostile", Kind.PSP, NOW),
    }
    return Rig(hub, create_app(hub), keys)


def _cohort() -> str:
    from tests.gateway.harness import cohort

    return cohort()


def resign(document: bytes, who: SimulatedUser, *edits: tuple[bytes, bytes]) -> bytes:
    """``document`` with each (old, new) edit made once, then signed again by ``who``: a
    correctly signed request carrying whatever the edits put there."""
    from lxml import etree

    from opendcc.duis.xmldsig import sign

    for old, new in edits:
        assert old in document, old
        document = document.replace(old, new, 1)
    tree = etree.fromstring(document)
    signature = tree.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    if signature is not None:
        tree.remove(signature)
    sign(tree, who.credentials)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
