"""The cohort contract: every core SMETS1 service on every cohort, through the running hub.

For each cohort and each core SRV (and, where the SRV takes a gas meter, on the GSME too, by
its cohort's gas path), a real signed DUIS request goes over HTTP to the hub process, through
access control, the DCO and the cohort's adapter, over the cohort's own wire protocol to its
simulated head-end, and back to the supplier's callback as a signed DUIS Response. The test
then checks the Response against the meter itself:

- the MMC element equals the one built from the meter's own answer, computed independently on
  a copy of the meter taken just before, at the head-ends' fixed instant;
- a write changed the meter: a read that shows it differs before and after.

Critical SRVs go through the transform flow (CV 4 pre-command, CV 5 signed pre-command).
Request bodies come from the RTDS templates: the first one the target meter accepts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from tests.s1sp.contract.estate import PROFILES, Estate, estate, response_code, smets_data
from tests.s1sp.services.harness import request_body, templates_for

from opendcc.catalogue import DeviceType, default_catalogue
from opendcc.core.eui import Eui64
from opendcc.duis.xml import sr
from opendcc.s1sp import services
from opendcc.s1sp.services import CORE_SRVS
from opendcc.sim.headends.core import to_hundredths
from opendcc.sim.services import execute
from opendcc.sim.state import DeviceType as HanType
from opendcc.sim.state import MeterError, MeterState, PaymentMode, Supply
from opendcc.sim.state.device import Alerts

CATALOGUE = default_catalogue()


def _targets(srv: str) -> list[str]:
    types = CATALOGUE.get(srv).device_types
    chosen = [kind for kind in ("ESME", "GSME") if DeviceType(kind) in types]
    if not chosen:
        chosen = [next(k for k in ("CHF", "GPF") if DeviceType(k) in types)]
    return chosen


# 2.2 needs a UTRN the ledger issued: tests/prepayment/test_topup.py; 11.3 needs its image
# distributed first: tests/time/test_firmware_flow.py, tests/sim/test_firmware_headend.py
NOT_FROM_TEMPLATES = frozenset({"2.2", "11.3"})

CASES = [
    (profile.name, srv, kind)
    for profile in PROFILES
    for srv in sorted(
        (CORE_SRVS & profile.supported_srvs) - NOT_FROM_TEMPLATES,
        key=lambda s: tuple(map(int, s.split("."))),
    )
    for kind in _targets(srv)
]

# What shows that a write took effect: something read from the meter before and after.
Observe = Callable[[MeterState, datetime], Any]


def _read(srv: str) -> Observe:
    return lambda meter, now: execute(copy.deepcopy(meter), srv, {}, now)[0]


WRITE_SHOWS: dict[str, Observe] = {
    "1.1.1": _read("4.11.1"),
    "1.2.1": _read("4.11.1"),
    "1.5": _read("4.18"),
    "1.6": _read("6.2.9"),
    "2.1": _read("4.13"),
    "2.3": _read("4.3"),
    "2.5": _read("4.3"),
    "3.1": lambda m, now: m.displayed_message,
    "3.2": lambda m, now: m.restricted_before,
    "3.4": lambda m, now: m.supplier_name,
    "6.8": _read("6.2.3"),
    "6.11": lambda m, now: m.clock(now),
    "6.20.1": _read("6.2.7"),
    "7.1": _read("7.4"),
    "7.2": _read("7.4"),
    "7.3": _read("7.4"),
    "8.7.2": _read("8.9"),
    "8.8.2": _read("8.9"),
    "8.11": _read("8.9"),
    "1.7": lambda m, now: m.counter_reset_at("tariff block counter matrix"),
    "3.3": lambda m, now: m.event_log(now),
    "3.5": lambda m, now: m.privacy_pin,
    "6.4.1": lambda m, now: m.setting("load limiting"),
    "6.4.2": lambda m, now: m.counter_reset_at("load limit counter"),
    "6.5": _read("6.2.1"),
    "6.6": _read("6.2.8"),
    "6.7": lambda m, now: m.setting("gas flow"),
    "6.12": lambda m, now: m.setting("instantaneous power thresholds"),
    "6.18.1": lambda m, now: m.setting("maximum demand period"),
    "6.18.2": lambda m, now: m.counter_reset_at("MaxDemandActivePowerImportValue"),
    "6.25": lambda m, now: m.setting("supply tamper state"),
    "6.26": lambda m, now: m.setting("daily block counter reset"),
    "6.27": lambda m, now: m.counter_reset_at("RMS voltage counters"),
    "7.12": lambda m, now: m.setting("randomised offset limit"),
    "8.1.1": lambda m, now: m.security_log(now),  # logged even when 6.11 set it just now
    "8.7.1": _read("8.9"),
    "8.8.1": _read("8.9"),
}


def _prepayment(meter: MeterState, now: datetime) -> None:
    if meter.payment_mode is not PaymentMode.PREPAYMENT:
        meter.update_payment_mode(now, PaymentMode.PREPAYMENT)


def _credit_then_prepayment(meter: MeterState, now: datetime) -> None:
    _prepayment(meter, now)  # the first template asks for credit mode: a change


def _low_balance(meter: MeterState, now: datetime) -> None:
    """Prepayment, and the balance under the emergency-credit threshold."""
    _prepayment(meter, now)
    below = meter.prepay_config.emergency_credit_threshold_p - 1
    if (balance := meter.meter_balance(now)) > below:
        meter.adjust_balance(now, below - balance)


def _disabled(meter: MeterState, now: datetime) -> None:
    if meter.supply_state(now) is Supply.ENABLED:
        meter.disable_supply(now)


def _joined(device: str) -> Callable[[MeterState, datetime], None]:
    def join(meter: MeterState, now: datetime) -> None:
        if Eui64.parse(device) not in {d.device for d in meter.han_devices}:
            meter.join_device(now, Eui64.parse(device), HanType.IHD)

    return join


# The state a write needs to show its effect (the test owns the simulators, as a field
# engineer owns a test rig): a balance adjusts and emergency credit activates in prepayment
# mode, enabling needs a disabled supply, unjoining a joined device.
BEFORE: dict[str, Callable[[MeterState, datetime], None]] = {
    "1.5": _prepayment,
    "1.6": _credit_then_prepayment,
    "2.5": _low_balance,
    "7.1": _disabled,
    "8.8.2": _joined("01-02-03-04-05-06-07-08"),
    "8.8.1": _joined("00-DB-12-34-56-78-90-99"),
    "8.11": _joined("00-DB-12-34-56-78-90-A0"),
}


def _change_of_supplier(element: etree._Element, mpxn: str) -> etree._Element:
    """6.23 as its registered supplier sends it: the RTDS CoS body for this installation's
    metering point, carrying the supplier's own certificates (those of the RTDS 6.15.1
    supplier-by-supplier body; the RTDS CoS body carries another supplier's)."""
    (krp,) = [p for p in templates_for("6.15.1") if "SupplierBySupplier_6.15.1_IMMEDIATE" in p.name]
    own = request_body(krp).find(f"{sr('ReplacementCertificates')}/*")
    assert own is not None
    replacement = element.find(sr("SupplierReplacementCertificates"))
    assert replacement is not None
    for certificate in replacement:
        mine = own.find(certificate.tag)
        assert mine is not None
        certificate.text = mine.text
    mpxn_element = element.find(sr("ImportMPxN"))
    assert mpxn_element is not None
    mpxn_element.text = mpxn
    return element


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(Path(tmp_path_factory.mktemp("cohorts"))) as running:
        yield running


def _shape(element: etree._Element) -> tuple[Any, ...]:
    """An element's content without namespace prefixes or whitespace."""
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        (element.text or "").strip(),
        tuple(_shape(child) for child in element),
    )


def _body_for(
    srv: str, meter: MeterState, now: datetime, mpxn: str = ""
) -> tuple[str, dict[str, str], tuple[Any, Alerts]]:
    """The first RTDS body of ``srv`` the meter accepts, its parameters and the expected
    execution (on a copy of the meter)."""
    refusals = []
    for path in templates_for(srv):
        element = request_body(path)
        if srv == "6.23":
            element = _change_of_supplier(element, mpxn)
        for dated in element.findall(sr("ExecutionDateTime")):
            element.remove(dated)  # at once: future dating is tested in tests/time
        try:
            parameters = services.parameters(srv, element)
            expected = execute(copy.deepcopy(meter), srv, parameters, now)
        except (MeterError, services.InvalidParameters) as exc:
            refusals.append(f"{path.name}: {exc}")
            continue
        return etree.tostring(element, encoding="unicode"), parameters, expected
    if srv in {"6.11", "8.1.1"}:
        return _clock_sync(meter, now, srv)
    raise AssertionError(f"no RTDS body of {srv} suits the meter: {refusals}")


def _clock_sync(
    meter: MeterState, now: datetime, srv: str
) -> tuple[str, dict[str, str], tuple[Any, Alerts]]:
    """6.11 and 8.1.1 carry the current time: the templates' 2014 instants are long past."""
    local = "SynchroniseClock" if srv == "6.11" else "CommissionDeviceSynchroniseClock"
    text = (
        f'<sr:{local} xmlns:sr="{sr("x")[1:].split("}")[0]}">'
        f"<sr:CurrentDateTime>{now.strftime('%Y-%m-%dT%H:%M:%SZ')}</sr:CurrentDateTime>"
        f"<sr:TolerancePeriod>60</sr:TolerancePeriod></sr:{local}>"
    )
    element = etree.fromstring(text)
    parameters = services.parameters(srv, element)
    expected = execute(copy.deepcopy(meter), srv, parameters, now)
    return text, parameters, expected


@pytest.mark.parametrize(
    ("cohort", "srv", "kind"), CASES, ids=[f"{c}-{s}-{k}" for c, s, k in CASES]
)
def test_every_core_service_on_every_cohort(
    running: Estate, cohort: str, srv: str, kind: str
) -> None:
    install = running.installs[cohort]
    target: Eui64 = install.devices[kind]
    core = running.headends.core(cohort)
    meter = core.meter(target)
    assert meter is not None
    now = running.headends.clock.now()
    if srv in BEFORE:
        BEFORE[srv](meter, now)
    mpxn = install.mprn if kind == "GSME" else install.mpan
    body, _, (result, _alerts) = _body_for(srv, meter, now, mpxn)
    shows = WRITE_SHOWS.get(srv)
    before = shows(meter, now) if shows else None
    executions = core.executions[meter.device_id]

    row = CATALOGUE.get(srv)
    supplier = {r.value for r in row.eligible_roles} & {"IS", "GS"}
    user = running.supplier if supplier else running.operator  # 6.5, 6.18.x, 6.27: ED only
    response = running.send(srv, target, body, critical=row.critical, user=user)

    assert response_code(response) == "I0", etree.tostring(response)[:1500]
    assert core.executions[meter.device_id] == executions + 1  # once, however it travelled
    element = smets_data(response)
    assert element is not None
    assert _shape(element) == _shape(services.response_element(srv, to_hundredths(result)))
    if shows is not None:
        assert shows(meter, now) != before, f"{srv} did not change the meter"


ELECTIVE = "4.2"  # Read Instantaneous Export Registers: offered by some cohorts only


@pytest.mark.parametrize("cohort", [profile.name for profile in PROFILES])
def test_an_elective_service_works_only_on_the_cohorts_that_offer_it(
    running: Estate, cohort: str
) -> None:
    profile = next(p for p in PROFILES if p.name == cohort)
    target = running.installs[cohort].devices["ESME"]
    body = "<sr:ReadInstantaneousExportRegisters/>"
    if ELECTIVE not in profile.elective_srvs:
        answer = running.post("serviceS", running.operator.request(ELECTIVE, target, body=body))
        assert answer.headers.get("X-DUIS-Response-Code") == "E11"
        assert "does not offer" in answer.headers.get("X-OpenDCC-Reason", "")
        return
    meter = running.headends.core(cohort).meter(target)
    assert meter is not None
    now = running.headends.clock.now()
    result, _ = execute(copy.deepcopy(meter), ELECTIVE, {}, now)
    response = running.send(ELECTIVE, target, body, critical=False, user=running.operator)
    assert response_code(response) == "I0"
    element = smets_data(response)
    assert element is not None
    assert _shape(element) == _shape(services.response_element(ELECTIVE, to_hundredths(result)))
