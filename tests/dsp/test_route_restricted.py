"""A meter restricted after a consumption read was accepted does not get the read: the router
checks the restriction again before instructing, and answers E71."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.reference import KEYS, NOW

from opendcc.config import load
from opendcc.core.clock import FixedClock
from opendcc.core.request_id import RequestId
from opendcc.dsp.access import Endpoint
from opendcc.dsp.lifecycle import RequestState
from opendcc.duis.xml import parse_xml, sr
from opendcc.hub import Hub
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials
from opendcc.store.tables import outbox

METER = scenario.METERS[0].device_id


def test_a_read_accepted_before_the_restriction_is_refused_at_dispatch(tmp_path: Path) -> None:
    profile = register_all(Registry()).profiles()[0]
    scheme = "tcp" if profile.protocol == "apdu" else "http"
    config = scenario.write_config(
        tmp_path / "hub.toml",
        keys=KEYS,
        cohort=profile.name,
        headend=f"{scheme}://127.0.0.1:9",  # never reached: the router refuses first
        callback_url="http://127.0.0.1:9/duis",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
    )
    hub = Hub(load(config), FixedClock(NOW))
    hub.seed()
    key = scenario.SUPPLIER_KEY
    supplier = SimulatedUser(
        SigningCredentials.from_files(KEYS / f"{key}.key", KEYS / f"{key}.pem")
    )
    body = supplier.request("4.1.1", METER)
    accepted = hub.front_door.handle(Endpoint.SEND, body)
    assert accepted.code == "I99"
    rid = RequestId.parse(parse_xml(body).findtext(f"{sr('Header')}/{sr('RequestID')}") or "")

    hub.restrict(METER, restricted=True, by=supplier.user_id, reason="consumer refused")
    hub.restrictions._flags.clear()
    asyncio.run(hub.dispatcher.process(rid))

    assert hub.requests.state(rid) is RequestState.FAILED
    with hub.engine.connect() as conn:
        bodies = conn.execute(outbox.select().where(outbox.c.request_id == str(rid))).all()
    assert len(bodies) == 1
    answer = parse_xml(bodies[0].body)
    assert answer.findtext(f"{sr('Header')}/{sr('ResponseCode')}") == "E71"
    assert hub.jobs.pending() == 0
    hub.engine.dispose()
