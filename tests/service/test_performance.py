"""The performance report: what became of each SRV's device requests, with consumption reads
refused to restricted meters (E71) excluded from every measure (MP169 requirement 6).

Requests and refusals are written through the stores as the front door and the dispatcher write
them, and once through a real front door; expected figures are counted by hand below.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.conftest import credentials
from tests.reference import KEYS
from tests.reference import NOW as CERTIFIED  # inside the ZAZ1 certificates' validity

from opendcc.catalogue import DeviceType, UserRole, default_catalogue
from opendcc.config import HeadEnd, HubConfig
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.access import Endpoint
from opendcc.dsp.lifecycle import RequestState
from opendcc.hub import Hub
from opendcc.inventory import Device, Registration, SmiStatus
from opendcc.service.performance import PerformanceReport, build
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials
from opendcc.store.audit import AuditLog, AuditRecord
from opendcc.store.requests import NewRequest, RequestStore
from opendcc.store.users import User, UserStatus

START = datetime(2026, 3, 1, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
IN = START + timedelta(minutes=5)
SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
METER = Eui64.parse("00-DB-12-00-00-00-00-01")
S = RequestState


@dataclass
class Traffic:
    """Writes requests and refusals as the front door and the dispatcher do."""

    engine: Engine
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def accepted(self, srv: str, *steps: RequestState, cv: int = 1, at: datetime = IN) -> None:
        rid = RequestId(SUPPLIER, METER, next(self.counter))
        first = S.QUARANTINED if steps[:1] == (S.QUARANTINED,) else S.ACCEPTED
        store = RequestStore(self.engine)
        store.accept(NewRequest(rid, srv, cv, b"<request/>"), at, first)
        for step in steps[1:] if first is S.QUARANTINED else steps:
            store.transition(rid, step, at)
        endpoint = {4: "serviceT", 8: "serviceD"}.get(cv, "serviceS")
        self._audit(at, endpoint, "I99", rid, srv)

    def refused(
        self, srv: str, code: str, *, endpoint: str = "serviceS", at: datetime = IN
    ) -> None:
        self._audit(at, endpoint, code, RequestId(SUPPLIER, METER, next(self.counter)), srv)

    def _audit(self, at: datetime, endpoint: str, code: str, rid: RequestId, srv: str) -> None:
        record = AuditRecord(at, endpoint, code, "test", "0" * 64, str(rid), str(SUPPLIER), srv)
        AuditLog(self.engine).record(record)

    def report(self) -> PerformanceReport:
        return build(self.engine, default_catalogue(), START, END)


ANSWERED = (S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP, S.RESPONDED)
FAILED = (S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP, S.FAILED)


@pytest.fixture
def traffic(engine: Engine) -> Traffic:
    t = Traffic(engine)
    # 4.1.1, a consumption read: 2 answered (one delivered too), 1 failed then delivered,
    # 1 quarantined, 1 in flight; refused: 2 x E71 (restricted: excluded), 1 x E4.
    t.accepted("4.1.1", *ANSWERED)
    t.accepted("4.1.1", *ANSWERED, S.DELIVERED)
    t.accepted("4.1.1", *FAILED, S.DELIVERED)
    t.accepted("4.1.1", S.QUARANTINED)
    t.accepted("4.1.1", S.DISPATCHED)
    t.refused("4.1.1", "E71")
    t.refused("4.1.1", "E71")
    t.refused("4.1.1", "E4")
    # 4.18 Read Meter Balance is no consumption read: its E71 is an ordinary refusal.
    t.accepted("4.18", *ANSWERED)
    t.refused("4.18", "E71")
    # Not device requests, not at the device endpoint, or outside the period: not counted.
    t.accepted("8.2", S.RESPONDED, S.DELIVERED, cv=8)
    t.accepted("6.15.1", S.RESPONDED, S.DELIVERED, cv=4)
    t.refused("4.1.1", "E4", endpoint="admin")
    t.refused("4.1.1", "E4", endpoint="dco")
    t.refused("4.1.1", "HTTP400")
    t.accepted("4.1.1", *ANSWERED, at=END)
    t.refused("4.1.1", "E71", at=START - timedelta(seconds=1))
    return t


def test_consumption_reads_refused_to_restricted_meters_are_excluded(traffic: Traffic) -> None:
    report = traffic.report()
    assert [line.srv for line in report.lines] == ["4.1.1", "4.18"]
    read = report.line("4.1.1").as_json()
    assert read == {
        "srv": "4.1.1",
        "name": "Read Instantaneous Import Registers",
        "received": 8,  # 5 accepted + 3 refused
        "excluded_restricted": 2,
        "counted": 6,
        "refused": {"E4": 1},
        "refused_total": 1,
        "quarantined": 1,
        "answered": 2,
        "failed": 1,
        "in_flight": 1,
        "success_rate": 2 / 6,
    }
    balance = report.line("4.18").as_json()
    assert (balance["received"], balance["excluded_restricted"], balance["counted"]) == (2, 0, 2)
    assert balance["refused"] == {"E71": 1}
    assert balance["success_rate"] == 1 / 2

    total = report.total.as_json()
    assert (total["received"], total["excluded_restricted"], total["counted"]) == (10, 2, 8)
    assert total["refused"] == {"E4": 1, "E71": 1}
    assert (total["answered"], total["failed"], total["in_flight"]) == (3, 1, 1)
    assert total["success_rate"] == 3 / 8  # not 3 / 10: the two E71 reads are left out


def test_the_denominator_moves_only_for_what_counts(traffic: Traffic) -> None:
    before = traffic.report()
    traffic.refused("4.1.1", "E71")  # one more read refused to a restricted meter
    traffic.refused("4.18", "E71")  # and one more balance read
    after = traffic.report()
    read, balance = after.line("4.1.1"), after.line("4.18")
    # 4.1.1: received and excluded both grow; counted, refused and the rate do not.
    assert (read.received, read.excluded_restricted, read.counted) == (9, 3, 6)
    assert read.success_rate == before.line("4.1.1").success_rate == 2 / 6
    # 4.18: the refusal counts against the service: 1 answered of 3 counted.
    assert (balance.counted, balance.refused, balance.success_rate) == (3, {"E71": 2}, 1 / 3)
    assert after.total.success_rate == 3 / 9


def test_an_empty_period_and_a_backwards_one(engine: Engine) -> None:
    report = build(engine, default_catalogue(), START, END)
    assert report.lines == ()
    assert (report.total.received, report.total.success_rate) == (0, None)
    with pytest.raises(ValueError, match="ends after it starts"):
        build(engine, default_catalogue(), END, START)


def test_through_the_front_door(
    tmp_path: Path, dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> None:
    """E71 refusals audited by a real front door: the 4.1.1 one excluded, the 4.18 one not."""
    now = CERTIFIED
    cohort = "aclara"
    config = HubConfig(
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        host="127.0.0.1",
        port=0,
        dsp_credentials=dcc_credentials,
        s1sp_credentials=s1sp_credentials,
        smki_repository=KEYS,
        headends=(HeadEnd(cohort, "http://127.0.0.1:9"),),  # never reached: not started
        users=(User(SUPPLIER, frozenset({UserRole.IS}), UserStatus.ACTIVE, "http://127.0.0.1:9"),),
    )
    hub = Hub(config, FixedClock(now))
    try:
        hub.seed(now)
        restricted, free = METER, Eui64.parse("00-DB-12-00-00-00-00-05")
        hub.inventory.put_devices(
            [
                Device(device, DeviceType.ESME, SmiStatus.COMMISSIONED, "A", "E", cohort, mpxn)
                for device, mpxn in ((restricted, "1900000000017"), (free, "1900000000018"))
            ],
            now - timedelta(days=1),
        )
        hub.inventory.register(
            [
                Registration(mpxn, UserRole.IS, SUPPLIER, now - timedelta(days=30))
                for mpxn in ("1900000000017", "1900000000018")
            ]
        )
        hub.restrict(restricted, restricted=True, by=SUPPLIER, reason="consumer refused")
        user = SimulatedUser(credentials(scenario.SUPPLIER_KEY))
        codes = [
            hub.front_door.handle(Endpoint.SEND, document).code
            for document in (
                user.request("4.1.1", restricted),
                user.request("4.18", restricted, body="<sr:ReadMeterBalance/>"),
                user.request("4.1.1", free),
            )
        ]
        assert codes == ["E71", "E71", "I99"]
        hour = timedelta(hours=1)
        report = build(hub.engine, hub.catalogue, now - hour, now + hour)
    finally:
        hub.engine.dispose()
    read, balance = report.line("4.1.1"), report.line("4.18")
    assert (read.received, read.excluded_restricted, read.counted, read.in_flight) == (2, 1, 1, 1)
    assert read.refused == {}
    assert (balance.received, balance.counted, balance.refused) == (1, 1, {"E71": 1})
    assert (balance.success_rate, read.success_rate) == (0.0, 0.0)
