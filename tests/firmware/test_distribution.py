"""Distribution: each pending device is sent the image once per pass; success leaves it
distributed or staged, failures are retried with backoff and finally fail with a schema-valid
DCC alert N14 to the User, written with the state change."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

from lxml import etree
from tests.firmware.rig import APPLICABLE, APPLICABLE_TOO, IMAGE, SUPPLIER, Rig

from opendcc.core.request_id import RequestId
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import SR_NS
from opendcc.firmware import DistributionState, FirmwareSettings, image_hash
from opendcc.s1sp.contract import Outcome, OutcomeStatus

NS = {"sr": SR_NS}


def test_success_leaves_each_device_distributed_or_staged(rig: Rig) -> None:
    request = rig.request([APPLICABLE, APPLICABLE_TOO])
    rig.answer(request)
    # acme is one-stage and says nothing: staged; beta says "distributed".
    rig.s1sp.script[APPLICABLE_TOO] = [Outcome("", OutcomeStatus.SUCCESS, {"stage": "distributed"})]
    rig.s1sp.script[APPLICABLE] = [Outcome("", OutcomeStatus.SUCCESS)]

    assert asyncio.run(rig.firmware.distribute_due()) == 2

    states = {d: r.state for d, r in rig.rows(request).items()}
    assert states == {
        APPLICABLE: DistributionState.STAGED,
        APPLICABLE_TOO: DistributionState.DISTRIBUTED,
    }
    sent = {i.device_id: (cohort, i) for cohort, i in rig.s1sp.sent}
    cohort, instruction = sent[APPLICABLE]
    assert (cohort, instruction.srv) == ("acme", "11.1")
    assert instruction.parameters["version"] == "2.0"
    assert instruction.parameters["hash"] == image_hash(IMAGE)
    assert base64.b64decode(instruction.parameters["image"]) == IMAGE
    assert sent[APPLICABLE_TOO][0] == "beta"
    assert instruction.request_id != sent[APPLICABLE_TOO][1].request_id
    # Nothing is due any more; no alert was written.
    assert asyncio.run(rig.firmware.distribute_due()) == 0
    assert len(rig.s1sp.sent) == 2
    assert rig.outbox_bodies() == []


def test_a_stage_the_outcome_names_wins_over_the_cohorts_mode(rig: Rig) -> None:
    request = rig.request([APPLICABLE])
    rig.answer(request)
    rig.s1sp.script[APPLICABLE] = [Outcome("", OutcomeStatus.SUCCESS, {"stage": "two-stage"})]
    asyncio.run(rig.firmware.distribute_due())
    assert rig.rows(request)[APPLICABLE].state is DistributionState.DISTRIBUTED


def test_failures_are_retried_then_fail_with_n14(rig: Rig, schema: DuisSchema) -> None:
    request = rig.request([APPLICABLE, APPLICABLE_TOO])
    rig.answer(request)
    unreachable = Outcome("", OutcomeStatus.DEVICE_UNREACHABLE, detail="no WAN")
    rig.s1sp.script[APPLICABLE] = [unreachable, ConnectionError("head-end down"), unreachable]
    rig.s1sp.script[APPLICABLE_TOO] = [unreachable, Outcome("", OutcomeStatus.SUCCESS)]

    assert asyncio.run(rig.firmware.distribute_due()) == 0
    row = rig.rows(request)[APPLICABLE]
    assert (row.state, row.attempts) == (DistributionState.PENDING, 1)
    assert row.next_attempt_at == rig.clock.now() + timedelta(seconds=30)
    assert row.detail == "device_unreachable: no WAN"
    # Not due before the backoff has passed.
    rig.clock.advance(timedelta(seconds=29))
    assert asyncio.run(rig.firmware.distribute_due()) == 0
    assert len(rig.s1sp.sent) == 2

    rig.clock.advance(timedelta(seconds=1))
    assert asyncio.run(rig.firmware.distribute_due()) == 1  # APPLICABLE_TOO got through
    row = rig.rows(request)[APPLICABLE]
    assert (row.state, row.attempts) == (DistributionState.PENDING, 2)
    assert row.detail == "ConnectionError: head-end down"
    assert row.next_attempt_at == rig.clock.now() + timedelta(seconds=60)  # doubled
    assert rig.outbox_bodies() == []

    rig.clock.advance(timedelta(seconds=60))
    assert asyncio.run(rig.firmware.distribute_due()) == 0
    rows = rig.rows(request)
    assert (rows[APPLICABLE].state, rows[APPLICABLE].attempts) == (DistributionState.FAILED, 3)
    assert rows[APPLICABLE_TOO].state is DistributionState.DISTRIBUTED  # beta is two-stage
    # Every attempt was the same instruction (the head-end carries it out once).
    ids = {i.request_id for _, i in rig.s1sp.sent if i.device_id == APPLICABLE}
    assert len(ids) == 1

    # N14 to the User, schema-valid, naming the request and the meter.
    (body,) = rig.outbox_bodies()
    alert = etree.fromstring(body)
    schema.validate(alert)
    assert alert.findtext("sr:Body/sr:DCCAlertMessage/sr:DCCAlertCode", namespaces=NS) == "N14"
    failure = alert.find(".//sr:DCCAlert/sr:FirmwareDistributionFailure", NS)
    assert failure is not None
    assert failure.findtext("sr:UpdateFirmwareRequestID", namespaces=NS) == str(request.request_id)
    assert failure.findtext("sr:MeterIDs", namespaces=NS) == str(APPLICABLE)
    response_id = RequestId.parse(alert.findtext("sr:Header/sr:ResponseID", namespaces=NS) or "")
    assert response_id.target == SUPPLIER
    assert rig.outbox_woken == [True]
    # A failed row is never sent again.
    rig.clock.advance(timedelta(hours=1))
    assert asyncio.run(rig.firmware.distribute_due()) == 0
    assert len(rig.s1sp.sent) == 5


def test_devices_failing_in_one_pass_share_one_n14(rig: Rig, schema: DuisSchema) -> None:
    rig.firmware.settings = FirmwareSettings(attempts=1)
    request = rig.request([APPLICABLE, APPLICABLE_TOO])
    rig.answer(request)
    rejected = Outcome("", OutcomeStatus.REJECTED, detail="image refused")
    rig.s1sp.script = {APPLICABLE: [rejected], APPLICABLE_TOO: [rejected]}
    asyncio.run(rig.firmware.distribute_due())
    (body,) = rig.outbox_bodies()
    alert = etree.fromstring(body)
    schema.validate(alert)
    meters = alert.findtext(".//sr:FirmwareDistributionFailure/sr:MeterIDs", namespaces=NS)
    assert sorted((meters or "").split(",")) == sorted([str(APPLICABLE), str(APPLICABLE_TOO)])
