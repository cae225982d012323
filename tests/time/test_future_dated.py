"""Future-dated requests and sequencing through the running hub, with time moved by the test.

DSP pattern: the hub holds the request until its ExecutionDateTime, then carries it out; a
request still waiting can be cancelled; one the hub could not send in time (it was down past
the grace) is answered E30 and never reaches the meter. Sequencing: a request waits for its
predecessor and is answered E31 when the predecessor fails. DUIS's own cancel (the same SRV
with ExecutionDateTime 3000-12-31) cancels the User's waiting requests like it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.reference import XSD_V54
from tests.time.rig import Rig, at, code_of, timed_estate, wait_until
from typer.testing import CliRunner

from opendcc.cli import app
from opendcc.dsp.future import CANCEL_AT, CancelRefused
from opendcc.dsp.lifecycle import RequestState
from opendcc.duis.schema import load_schema
from opendcc.duis.xml import ra
from opendcc.sim.headends.core import Faults
from opendcc.store.tables import jobs, service_requests

S = RequestState
COHORT = "aclara"  # its head-end does not date commands: the DSP holds them


def _read(execute: str | None = None) -> str:
    when = f"<sr:ExecutionDateTime>{execute}</sr:ExecutionDateTime>" if execute else ""
    return f"<sr:ReadInstantaneousImportRegisters>{when}</sr:ReadInstantaneousImportRegisters>"


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    with timed_estate(tmp_path, "[future_dated]\ngrace_seconds = 600\n") as running:
        yield running  # type: ignore[misc]


def test_a_dsp_held_read_runs_at_its_execution_time_not_before(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    core = rig.core(COHORT)
    before = core.executions[device]
    rid, answer = rig.send("4.1.1", device, _read(at(rig.clock.now() + timedelta(hours=1))))
    assert answer.code == "I99"

    rig.advance(timedelta(minutes=59))
    assert not wait_until(lambda: core.executions[device] > before, timeout=1.5)
    assert rig.state(rid) is S.ACCEPTED
    assert not rig.keys_for(rid)

    rig.advance(timedelta(minutes=1))
    root = rig.response_to(rid)
    assert code_of(root) == "I0"
    assert core.executions[device] == before + 1
    load_schema(XSD_V54).validate(root.getroottree())
    assert wait_until(lambda: rig.state(rid) is S.DELIVERED)


def test_a_waiting_request_can_be_cancelled_and_never_runs(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    core = rig.core(COHORT)
    before = core.executions[device]
    rid, _ = rig.send("4.1.1", device, _read(at(rig.clock.now() + timedelta(hours=2))))
    hub = rig.running

    with pytest.raises(CancelRefused):  # only its User may cancel it
        rig.call(hub.future.cancel(rid, rig.installs[COHORT].devices["ESME"]))
    cancelled = rig.call(hub.future.cancel(rid, rig.supplier.user_id))
    assert cancelled.was is S.ACCEPTED
    assert rig.state(rid) is S.DELIVERED
    assert hub.requests.outcome(rid).response_code == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(CancelRefused):  # nothing left to cancel
        rig.call(hub.future.cancel(rid, rig.supplier.user_id))

    rig.advance(timedelta(hours=3))
    assert not wait_until(lambda: core.executions[device] > before, timeout=1.5)
    assert hub.jobs.pending() == 0

    # The User reads the same from the command line; another User finds nothing.
    show = ["requests", "show", str(rid), "--config", str(rig.config_path), "--json"]
    shown = CliRunner().invoke(app, [*show, "--as", str(rig.supplier.user_id)])
    assert shown.exit_code == 0, shown.output
    described = json.loads(shown.output)
    assert (described["state"], described["response_code"]) == ("delivered", "cancelled")
    assert "accepted" in [step["state"] for step in described["steps"]]
    other = str(rig.installs[COHORT].devices["ESME"])
    assert CliRunner().invoke(app, [*show, "--as", other]).exit_code != 0


def test_duis_cancel_cancels_the_users_waiting_requests_like_it(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    core = rig.core(COHORT)
    before = core.executions[device]
    soon, later = (at(rig.clock.now() + timedelta(hours=h)) for h in (1, 5))
    waiting = [rig.send("4.1.1", device, _read(when))[0] for when in (soon, later)]
    now_read, _ = rig.send("4.1.1", device, _read())  # not future-dated: not cancelled
    assert code_of(rig.response_to(now_read)) == "I0"

    rid, answer = rig.send("4.1.1", device, _read(at(CANCEL_AT)))
    assert answer.code == "I99"
    root = rig.response_to(rid)
    assert code_of(root) == "I0"
    load_schema(XSD_V54).validate(root.getroottree())
    entries = root.findall(f".//{ra('SMETS1Response')}")
    assert [entry.get("ResponseCode") for entry in entries] == ["0", "0"]
    texts = [entry.findtext(ra("Error")) or "" for entry in entries]
    assert [str(w) in text for w, text in zip(waiting, texts, strict=True)] == [True, True]
    hub = rig.running
    for each in waiting:
        assert rig.state(each) is S.DELIVERED  # before the cancel was answered
        assert hub.requests.outcome(each).response_code == "cancelled"  # type: ignore[union-attr]
    assert hub.requests.outcome(now_read).response_code == "I0"  # type: ignore[union-attr]

    rig.advance(timedelta(hours=6))  # neither runs, nor does the cancel itself
    assert not wait_until(lambda: core.executions[device] > before + 1, timeout=1.5)
    assert hub.jobs.pending() == 0

    # Sent again, nothing waits: answered I0 all the same, saying so.
    again, _ = rig.send("4.1.1", device, _read(at(CANCEL_AT)))
    answered = rig.response_to(again)
    assert code_of(answered) == "I0"
    assert "nothing to cancel" in (answered.findtext(f".//{ra('Error')}") or "")


def test_a_request_the_hub_could_not_send_in_time_is_answered_e30(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    core = rig.core(COHORT)
    before = core.executions[device]
    rid, _ = rig.send("4.1.1", device, _read(at(rig.clock.now() + timedelta(minutes=30))))
    rig.stop()  # the hub is down past the execution time and the 10 minute grace
    rig.advance(timedelta(hours=1))
    rig.start()

    root = rig.response_to(rid)
    assert code_of(root) == "E30"
    load_schema(XSD_V54).validate(root.getroottree())
    assert core.executions[device] == before
    assert wait_until(lambda: rig.state(rid) is S.DELIVERED)
    assert rig.running.requests.history(rid)[-2][0] is S.EXPIRED


def test_a_dsp_held_request_survives_a_restart_and_runs_on_time(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    rid, _ = rig.send("4.1.1", device, _read(at(rig.clock.now() + timedelta(minutes=30))))
    rig.restart()
    rig.advance(timedelta(minutes=31))
    assert code_of(rig.response_to(rid)) == "I0"


def test_a_sequenced_request_waits_for_its_predecessor(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    later = at(rig.clock.now() + timedelta(hours=1))
    first, answer = rig.send("4.1.1", device, _read(later), first=True)
    assert answer.code == "I99"
    second, answer = rig.send("4.1.1", device, _read(), preceding=first)
    assert answer.code == "I99"
    # The second is due now but waits for the first, which waits for its time.
    assert not wait_until(lambda: bool(rig.keys_for(second)), timeout=1.5)

    rig.advance(timedelta(hours=1))
    assert code_of(rig.response_to(first)) == "I0"
    assert code_of(rig.response_to(second)) == "I0"
    hub = rig.running
    first_done = hub.requests.history(first)[-2][1]
    second_sent = next(at for state, at in hub.requests.history(second) if state is S.INSTRUCTED)
    assert second_sent >= first_done


def test_a_failed_predecessor_cancels_its_successor_with_e31(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    rig.core(COHORT).meter_faults[device] = Faults(unreachable=True)
    later = at(rig.clock.now() + timedelta(minutes=5))
    first, _ = rig.send("4.1.1", device, _read(later), first=True)
    second, _ = rig.send("4.1.1", device, _read(), preceding=first)
    third, _ = rig.send("4.1.1", device, _read(), preceding=second)

    rig.advance(timedelta(minutes=5))
    assert code_of(rig.response_to(first)) == "E20"
    assert code_of(rig.response_to(second)) == "E31"
    assert code_of(rig.response_to(third)) == "E31"  # the failure runs down the sequence
    # Once the predecessor has failed, a new successor is refused at the door, whether or not
    # the failure's Response has been delivered yet.
    _, answer = rig.send("4.1.1", device, _read(), preceding=first)
    assert (answer.code, answer.status) == ("E31", 200)


def test_a_predecessor_answered_but_not_yet_delivered_is_not_waited_for(rig: Rig) -> None:
    """Its outcome is known: a successor of a failed one is refused E31 at the door at once,
    a successor of one answered I0 goes on at once (neither is parked on it)."""
    device, _ = rig.meter_of(COHORT)
    first, _ = rig.send("4.1.1", device, _read(), first=True)
    assert wait_until(lambda: rig.state(first) is S.DELIVERED)
    hub = rig.running

    def undelivered(state: S, code: str) -> None:  # as between the end and the delivery
        with hub.engine.begin() as conn:
            conn.execute(
                service_requests.update()
                .where(service_requests.c.request_id == str(first))
                .values(state=state.value, response_code=code)
            )

    undelivered(S.FAILED, "E20")
    _, answer = rig.send("4.1.1", device, _read(), preceding=first)
    assert (answer.code, answer.status) == ("E31", 200)

    undelivered(S.RESPONDED, "I0")
    second, answer = rig.send("4.1.1", device, _read(), preceding=first)
    assert answer.code == "I99"
    with hub.engine.connect() as conn:
        waits = conn.execute(select(jobs.c.waits_for).where(jobs.c.request_id == str(second)))
        assert waits.scalar_one_or_none() is None  # not parked (or already run)
    assert code_of(rig.response_to(second)) == "I0"


def test_a_predecessor_that_is_not_the_users_is_refused_e31(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    stranger = rig.supplier.request("4.1.1", device, body=_read())
    from opendcc.core.request_id import RequestId

    unknown = RequestId(rig.supplier.user_id, device, 1)
    _, answer = rig.send("4.1.1", device, _read(), preceding=unknown)
    assert answer.code == "E31"
    assert stranger  # built, never sent: its RequestID is unknown to the hub
    _, answer = rig.send("4.1.1", device, _read(), preceding=unknown, first=True)
    assert answer.status == 400  # naming a predecessor and being first contradict each other
