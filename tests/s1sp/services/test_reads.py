"""The reads and logs family: RTDS templates to parameters, meter model to Result, Result to MMC.

Each SRV's templates must read as the expected parameters; executing on simulated ESME and GSME
meters with 40 days of history must answer what the ``opendcc.sim.state`` API reads; and the
MMC (Message Mapping Catalogue) element built from each Result must be schema-valid and carry
the Result's values where the schema puts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

import pytest
from lxml import etree
from tests.s1sp.services.harness import (
    ESME_ID,
    GSME_ID,
    NOW,
    template_body,
    templates_for,
    validate_mmc,
)

from opendcc.catalogue import default_catalogue
from opendcc.core.eui import Eui64
from opendcc.duis.response import format_datetime
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra, sr
from opendcc.s1sp.services.base import InvalidParameters, Result, Service
from opendcc.s1sp.services.reads import SERVICES
from opendcc.sim.services.reads import EXECUTORS
from opendcc.sim.state import (
    DeviceType,
    Esme,
    EventCode,
    Gsme,
    MeterError,
    MeterState,
    PaymentMode,
    Reason,
    Tariff,
)
from opendcc.smki import SigningCredentials

SRVS = ("4.1.1", "4.1.2", "4.4.2", "4.4.3", "4.6.1", "4.8.1", "4.10", "4.17", "6.13", "8.9", "11.2")
SERVICE: Mapping[str, Service] = {service.srv: service for service in SERVICES}
IHD_ID = Eui64.parse("00-DB-12-34-56-78-90-C1")
PPMID_ID = Eui64.parse("00-DB-12-34-56-78-90-C2")
COMMISSIONED = NOW - timedelta(days=40)
DAY = timedelta(days=1)
EVERYTHING = {"start": format_datetime(COMMISSIONED - DAY), "end": format_datetime(NOW)}


def period(start: str, end: str, **more: str) -> dict[str, str]:
    return {"start": start, "end": end, **more}


# Every RTDS template of the family and what it reads as (None: refused as not for SMETS1).
TEMPLATES: tuple[tuple[str, str, dict[str, str] | None], ...] = (
    ("4.1.1", "ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML", {}),
    ("4.1.1", "ECS17b_4.1.1_REQUEST_DUIS.XML", {}),
    ("4.1.1", "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.1.1", "ECS17b_4.1.1_TWIN_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.1.1", "GCS13a_4.1.1_SUCCESS_RELIABLE_GPF_REQUEST_DUIS.XML", {}),
    ("4.1.1", "GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_REQUEST_DUIS.XML", {}),
    ("4.1.1", "GCS13a_4.1.1_SUCCESS_UNRELIABLE_REQUEST_DUIS.XML", {}),
    ("4.1.2", "ECS17d_4.1.2_SINGLE_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.1.2", "ECS17d_4.1.2_TWIN_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.1.2", "GCS13c_4.1.2_SUCCESS_RELIABLE_GPF_REQUEST_DUIS.XML", {}),
    ("4.1.2", "GCS13c_4.1.2_SUCCESS_RELIABLE_GSME_REQUEST_DUIS.XML", {}),
    ("4.1.2", "GCS13c_4.1.2_SUCCESS_UNRELIABLE_REQUEST_DUIS.XML", {}),
    (
        "4.4.2",
        "ECS20b_4.4.2_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        period("2014-10-02T09:00:00.000Z", "2015-03-01T09:00:00.000Z"),
    ),
    (
        "4.4.2",
        "ECS20b_4.4.2_TWIN_SUCCESS_REQUEST_DUIS.XML",
        period("2014-10-02T09:00:00.000Z", "2015-03-01T09:00:00.000Z"),
    ),
    (
        "4.4.2",
        "GCS15b_4.4.2_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-01T00:00:00.000Z", "2015-11-01T00:00:00.000Z"),
    ),
    (
        "4.4.3",
        "ECS20c_4.4.3_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        period("2014-11-02T09:00:00.000Z", "2015-03-01T09:00:00.000Z"),
    ),
    (
        "4.4.3",
        "ECS20c_4.4.3_TWIN_SUCCESS_REQUEST_DUIS.XML",
        period("2014-11-02T09:00:00.000Z", "2015-03-01T09:00:00.000Z"),
    ),
    (
        "4.4.3",
        "GCS15c_4.4.3_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-01T00:00:00.000Z", "2015-11-01T00:00:00.000Z"),
    ),
    (
        "4.6.1",
        "ECS21a_4.6.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        period("2014-03-09T00:00:00.000Z", "2014-03-11T00:00:00.000Z"),
    ),
    (
        "4.6.1",
        "ECS21a_4.6.1_TWIN_SUCCESS_REQUEST_DUIS.XML",
        period("2014-03-09T00:00:00.000Z", "2014-03-11T00:00:00.000Z"),
    ),
    (
        "4.6.1",
        "GCS16a_4.6.1_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-30T00:00:04.000Z", "2016-01-01T00:00:03.000Z"),
    ),
    (
        "4.8.1",
        "ECS22b_4.8.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2015-01-01T00:00:00.000Z"),
    ),
    (
        "4.8.1",
        "ECS22b_4.8.1_TWIN_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2015-01-01T00:00:00.000Z"),
    ),
    (
        "4.8.1",
        "GCS17_4.8.1_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-30T00:00:00.000Z", "2015-01-01T00:00:00.000Z"),
    ),
    (
        "4.10",
        "ECS23_4.10_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-29T23:59:00.000Z", "2015-01-01T00:00:00.000Z"),
    ),
    (
        "4.10",
        "ECS23b_4.10_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-29T23:59:00.000Z", "2015-01-01T00:00:00.000Z"),
    ),
    (
        "4.10",
        "GCS18_4.10_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T20:00:00.000Z", "2015-01-01T00:00:00.000Z"),
    ),
    (
        "4.17",
        "ECS66_4.17_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-01T09:00:00.000Z", "2014-12-05T11:05:00.000Z"),
    ),
    (
        "4.17",
        "GCS61_4.17_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-10T00:00:00.000Z", "2014-12-20T00:00:00.000Z"),
    ),
    (
        "6.13",
        "CS10a_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2030-01-01T00:00:00.000Z", log="event"),
    ),
    (
        "6.13",
        "CS10b_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2015-01-01T00:00:00.000Z", log="security"),
    ),
    (
        "6.13",
        "ECS35a_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2015-01-01T00:00:00.000Z", log="event"),
    ),
    (
        "6.13",
        "ECS35b_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2015-01-01T00:00:00.000Z", log="security"),
    ),
    (
        "6.13",
        "ECS35c_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2014-12-31T09:00:00.000Z", log="event"),
    ),
    (
        "6.13",
        "ECS35d_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2014-12-31T09:00:00.000Z", log="security"),
    ),
    (
        "6.13",
        "ECS35e_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-31T00:00:00.000Z", "2015-01-01T00:00:00.000Z", log="power"),
    ),
    (
        "6.13",
        "ECS35f_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-15T00:00:00.000Z", "2015-01-01T00:00:00.000Z", log="alcs"),
    ),
    (
        "6.13",
        "ECS35g_6.13_SUCCESS_REQUEST_DUIS.XML",
        period("2014-12-15T00:00:00.000Z", "2015-01-01T00:00:00.000Z", log="alcs"),
    ),
    ("8.9", "CCS05CCS04_8.9_SUCCESS_REQUEST_DUIS.XML", {}),
    ("8.9", "CCS06_8.9_SUCCESS_REQUEST_DUIS.XML", {}),
    ("8.9", "CCS07_8.9_SUCCESS_REQUEST_DUIS.XML", None),  # a hub's ReadSecurityDetails
    ("8.9", "CS07_8.9_SUCCESS_REQUEST_DUIS.XML", {}),
    ("11.2", "CS08_11.2_SUCCESS_REQUEST_DUIS.XML", {}),
    ("11.2", "ECS52_11.2_SUCCESS_REQUEST_DUIS.XML", {}),
    ("11.2", "GCS38_11.2_SUCCESS_REQUEST_DUIS.XML", {}),
)


# --------------------------------------------------------------------------- meters


def with_history(meter: MeterState) -> MeterState:
    """Tariff and payment mode changes, power cut (ESME), tamper, HAN joins, new firmware."""
    meter.update_tariff(NOW - 20 * DAY, Tariff.time_of_use([18_000, 30_000, 42_000, 33_000]))
    meter.update_payment_mode(NOW - 10 * DAY, PaymentMode.CREDIT)
    if not meter.gas:
        meter.power_outage(NOW - 5 * DAY)
        meter.power_restore(NOW - 5 * DAY + timedelta(hours=2))
    meter.tamper(NOW - 3 * DAY)
    meter.join_device(NOW - 2 * DAY, IHD_ID, DeviceType.IHD)
    meter.join_device(NOW - 2 * DAY, PPMID_ID, DeviceType.PPMID)
    meter.update_firmware(NOW - DAY, version="2.0.1", image=b"opendcc test firmware 2.0.1")
    return meter


@pytest.fixture(scope="module")
def esme() -> Esme:
    meter = Esme.for_device(
        ESME_ID, commissioned=COMMISSIONED, payment_mode=PaymentMode.PREPAYMENT, balance_p=50_000
    )
    with_history(meter)
    return meter


@pytest.fixture(scope="module")
def gsme() -> Gsme:
    meter = Gsme.for_device(
        GSME_ID, commissioned=COMMISSIONED, payment_mode=PaymentMode.PREPAYMENT, balance_p=50_000
    )
    with_history(meter)
    return meter


@pytest.fixture(params=["esme", "gsme"])
def meter(request: pytest.FixtureRequest) -> MeterState:
    found: MeterState = request.getfixturevalue(request.param)
    return found


def run(meter: MeterState, srv: str, parameters: Mapping[str, str] | None = None) -> Result:
    result, alerts = EXECUTORS[srv](meter, parameters or {}, NOW)
    assert alerts == ()
    return result


def m3(litres: int) -> str:
    return f"{litres // 1000}.{litres % 1000:03d}"


def quantity(meter: MeterState, amount: int) -> str:
    """How the MMC writes a quantity: Wh, or m3 of gas."""
    return m3(amount) if meter.gas else str(amount)


def fuel(meter: MeterState) -> str:
    return "gas" if meter.gas else "electricity"


def records(result: Result, key: str) -> list[tuple[Any, ...]]:
    value = result[key]
    assert isinstance(value, tuple)
    return [cast(tuple[Any, ...], record) for record in value]


def find(element: etree._Element, *path: str) -> list[etree._Element]:
    return list(element.iterfind("/".join(ra(p) for p in path)))


def texts(element: etree._Element, *path: str) -> list[str]:
    return [e.text or "" for e in find(element, *path)]


def indexed(element: etree._Element, *path: str) -> list[tuple[str, str]]:
    return [(e.get("index", ""), e.text or "") for e in find(element, *path)]


def numbered(values: Sequence[int | str]) -> list[tuple[str, str]]:
    return [(str(i), str(v)) for i, v in enumerate(values, start=1)]


def build(
    srv: str, result: Result, schema: DuisSchema, credentials: SigningCredentials
) -> etree._Element:
    element = SERVICE[srv].response(result)
    validate_mmc(element, srv, schema, credentials)
    return element


# --------------------------------------------------------------------------- the table


def test_one_service_and_one_executor_per_srv() -> None:
    assert tuple(service.srv for service in SERVICES) == SRVS
    assert set(EXECUTORS) == set(SRVS)
    assert not any(service.writes for service in SERVICES)
    for service in SERVICES:  # the neutral command name is the body element's, lowerCamelCase
        element = default_catalogue().get(service.srv).body_element
        assert element is not None
        assert service.command == element[0].lower() + element[1:]


def test_the_table_names_every_template_of_the_family() -> None:
    named = {(srv, name) for srv, name, _ in TEMPLATES}
    assert named == {(srv, path.name) for srv in SRVS for path in templates_for(srv)}


@pytest.mark.parametrize(("srv", "name", "expected"), TEMPLATES, ids=[t[1] for t in TEMPLATES])
def test_templates_read_as_parameters(srv: str, name: str, expected: dict[str, str] | None) -> None:
    index = [path.name for path in templates_for(srv)].index(name)
    body = template_body(srv, index)
    if expected is None:
        with pytest.raises(InvalidParameters):
            SERVICE[srv].parameters(body)
    else:
        assert SERVICE[srv].parameters(body) == expected


def log_period_body(start: str, end: str) -> etree._Element:
    body = etree.Element(sr("ReadActiveImportProfileData"))
    log_period = etree.SubElement(body, sr("ReadLogPeriod"))
    etree.SubElement(log_period, sr("StartDateTime")).text = start
    etree.SubElement(log_period, sr("EndDateTime")).text = end
    return body


def test_log_periods_are_read_in_utc() -> None:
    body = log_period_body("2024-06-01T01:00:00+01:00", "2024-06-01T12:30:00.5Z")
    assert SERVICE["4.8.1"].parameters(body) == period(
        "2024-06-01T00:00:00.000Z", "2024-06-01T12:30:00.500Z"
    )


@pytest.mark.parametrize("start", ["2024-06-01T00:00:00", "yesterday"])
def test_a_log_period_needs_zoned_date_times(start: str) -> None:
    with pytest.raises(InvalidParameters):
        SERVICE["4.8.1"].parameters(log_period_body(start, "2024-06-01T12:00:00.000Z"))


# --------------------------------------------------------------------------- 4.1.1 and 4.1.2


def test_4_1_1_reads_the_import_registers(
    meter: MeterState, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    registers = meter.import_registers(NOW)
    result = run(meter, "4.1.1")
    element = build("4.1.1", result, schema, s1sp_credentials)
    if isinstance(meter, Esme):
        assert result == {
            "fuel": "electricity",
            "import_register": registers.total,
            "reactive_import_varh": meter.reactive_import_varh(NOW),
        }
        assert texts(element, "Electricity", "ActiveImportRegister", "Value") == [
            str(registers.total)
        ]
        assert texts(element, "Electricity", "ReactiveImportRegister", "Value") == [
            str(meter.reactive_import_varh(NOW))
        ]
    else:
        assert isinstance(meter, Gsme)
        assert result == {"fuel": "gas", "import_register": meter.volume_l(NOW)}
        assert texts(element, "Gas", "ConsumptionRegister", "Value") == [m3(meter.volume_l(NOW))]
        assert texts(element, "Gas", "ConsumptionRegister", "Unit") == ["m3"]


def test_4_1_2_reads_a_register_per_tou_rate(
    meter: MeterState, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    tou = meter.import_registers(NOW).tou
    result = run(meter, "4.1.2")
    element = build("4.1.2", result, schema, s1sp_credentials)
    if meter.gas:
        assert result == {"fuel": "gas", "tou_registers": tou[:4]}  # a GSME has 4 TOU rates
        path = ("Gas", "TariffTOURegisterMatrix", "TOURegisterMatrixValue")
        assert indexed(element, *path) == numbered([m3(v) for v in tou[:4]])
    else:
        assert result == {"fuel": "electricity", "tou_registers": tou}
        path = ("Electricity", "TariffTOURegisterCollection", "TOUPrimaryRegisterValue")
        assert indexed(element, *path) == numbered(tou)


# --------------------------------------------------------------------------- 4.4.2 and 4.4.3


@pytest.mark.parametrize("srv", ["4.4.2", "4.4.3"])
def test_billing_logs_hold_the_meters_snapshots(
    meter: MeterState, srv: str, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    log = meter.triggered_billing_log(NOW) if srv == "4.4.2" else meter.calendar_billing_log(NOW)
    assert len(log) == 2  # tariff and mode changes; the 1st of May and of June
    rates = 4 if meter.gas else 8
    result = run(meter, srv, EVERYTHING)
    assert result["fuel"] == fuel(meter)
    assert result["billing_log"] == tuple(
        (
            b.at,
            b.registers.total,
            b.registers.tou[:rates],
            b.registers.blocks,
            b.registers.matrix[:rates],
            b.prepay.balance_p,
            b.prepay.emergency_credit_p,
            b.prepay.accumulated_debt_p,
            b.prepay.payment_debt_p,
            *b.prepay.time_debts_p,
        )
        for b in log
    )
    element = build(srv, result, schema, s1sp_credentials)
    side = "Gas" if meter.gas else "Electricity"
    consumption, totals, prepayment = {
        ("4.4.2", False): (
            "LogEntryConsumptionAndTariffRegistersData",
            "ActiveImportRegisterConsumption",
            "LogEntryPrepaymentData",
        ),
        ("4.4.2", True): (
            "LogEntryConsumptionRegister",
            "ConsumptionRegister",
            "LogEntryPrepaymentData",
        ),
        ("4.4.3", False): (
            "ESMEBillingDataLogEntry",
            "ActiveImportRegisterValueConsumption",
            "ESMEBillingPrepaymentDataLogEntry",
        ),
        ("4.4.3", True): (
            "GSMEBillingDataLogEntry",
            "ActiveImportRegisterValueConsumption",
            "GSMEBillingPrepaymentDataLogEntry",
        ),
    }[srv, meter.gas]
    assert texts(element, side, consumption, totals) == [
        quantity(meter, b.registers.total) for b in log
    ]
    assert texts(element, side, consumption, "Timestamp") == [format_datetime(b.at) for b in log]
    newest = find(element, side, consumption)[0]
    tou = indexed(newest, "TariffTOURegisterMatrixValue")
    assert tou == numbered([quantity(meter, v) for v in log[0].registers.tou[:rates]])
    if not meter.gas:
        block_2 = indexed(newest, "TariffTOUBlock2RegisterMatrixValue")
        assert block_2 == numbered([row[1] for row in log[0].registers.matrix])
    assert texts(element, side, prepayment, "MeterBalance") == [
        str(b.prepay.balance_p * 1000)
        for b in log  # the MMC states milli-pence
    ]
    assert texts(element, side, prepayment, "Timestamp") == [format_datetime(b.at) for b in log]


def test_a_billing_log_keeps_the_period_asked_for(esme: Esme) -> None:
    first, second = reversed(esme.triggered_billing_log(NOW))
    asked = period(format_datetime(first.at), format_datetime(second.at - timedelta(seconds=1)))
    assert [record[0] for record in records(run(esme, "4.4.2", asked), "billing_log")] == [first.at]


def test_a_billing_log_read_at_an_empty_period_is_valid(
    gsme: Gsme, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    result = run(gsme, "4.4.3", period("2014-12-01T00:00:00.000Z", "2015-11-01T00:00:00.000Z"))
    assert result == {"fuel": "gas", "billing_log": ()}
    build("4.4.3", result, schema, s1sp_credentials)


# --------------------------------------------------------------------------- 4.6.1 and 4.17


def test_4_6_1_reads_the_newest_31_midnights(
    meter: MeterState, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    reads = meter.daily_reads(NOW)
    assert len(reads) == 40
    rates = 4 if meter.gas else 8
    result = run(meter, "4.6.1", EVERYTHING)
    expected = tuple((r.at, r.total, r.tou[:rates]) for r in reads[:31])
    assert result == {"fuel": fuel(meter), "daily_reads": expected}
    element = build("4.6.1", result, schema, s1sp_credentials)
    assert texts(element, "LogEntry", "Timestamp") == [format_datetime(r.at) for r in reads[:31]]
    if meter.gas:
        values = texts(element, "LogEntry", "Gas", "GasActiveImportRegisterConsumption")
        tou = indexed(find(element, "LogEntry", "Gas")[0], "TariffTOURegisterMatrix")
    else:
        values = texts(element, "LogEntry", "Electricity", "ElecActiveImportRegisterConsumption")
        tou = indexed(find(element, "LogEntry", "Electricity")[0], "TariffTOURegisterMatrixValue")
    assert values == [quantity(meter, r.total) for r in reads[:31]]
    assert tou == numbered([quantity(meter, v) for v in reads[0].tou[:rates]])


def test_4_6_1_keeps_the_period_asked_for(gsme: Gsme) -> None:
    asked = period(format_datetime(NOW - 3 * DAY), format_datetime(NOW - DAY))
    result = run(gsme, "4.6.1", asked)
    days = [record[0] for record in records(result, "daily_reads")]
    assert days == [NOW.replace(hour=0) - timedelta(days=n) for n in (1, 2)]


def test_4_17_reads_whole_days(
    meter: MeterState, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    asked = period(format_datetime(NOW - 7 * DAY), format_datetime(NOW))
    start = NOW - 7 * DAY
    expected = tuple((d.day, d.amount) for d in meter.daily_consumption(NOW) if d.day >= start)
    assert len(expected) == 6
    result = run(meter, "4.17", asked)
    assert result == {"fuel": fuel(meter), "daily_consumption": expected}
    element = build("4.17", result, schema, s1sp_credentials)
    side = "Gas" if meter.gas else "Electricity"
    assert texts(element, side, "LogEntry", "Value") == [quantity(meter, a) for _, a in expected]
    assert texts(element, side, "LogEntry", "Timestamp") == [
        format_datetime(d) for d, _ in expected
    ]


# --------------------------------------------------------------------------- 4.8.1 and 4.10


def test_4_8_1_reads_the_half_hours_asked_for(
    meter: MeterState, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    start, end = NOW - 6 * DAY, NOW - 4 * DAY  # the ESME lost power for two hours in there
    profile = meter.profile(NOW, start=start, end=end)
    assert len(profile) == 96
    result = run(meter, "4.8.1", period(format_datetime(start), format_datetime(end)))
    assert result == {"fuel": fuel(meter), "profile": tuple((e.start, e.amount) for e in profile)}
    element = build("4.8.1", result, schema, s1sp_credentials)
    side = "Gas" if meter.gas else "Electricity"
    assert texts(element, "LogEntry", "Timestamp") == [format_datetime(e.start) for e in profile]
    assert texts(element, "LogEntry", side, "PrimaryValue") == [
        quantity(meter, e.amount) for e in profile
    ]


def test_4_10_reads_an_esmes_voltage_profile(
    esme: Esme, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    start = NOW - DAY
    result = run(esme, "4.10", period(format_datetime(start), format_datetime(NOW)))
    config = esme.voltage_config
    step = timedelta(seconds=config.measurement_period_s)
    voltages = records(result, "voltage_profile")
    assert [at for at, _ in voltages] == [start + n * step for n in range(DAY // step)]
    # Derived: the household's voltage at each period's start, drawing its half hour's average.
    drawn = {e.start: 2 * e.amount for e in esme.profile(NOW, start=start, end=NOW)}
    for at, decivolts in voltages:
        slot = at.replace(minute=at.minute - at.minute % 30)
        assert decivolts == esme.household.voltage_dv(ESME_ID, at, drawing_w=drawn[slot])
    values = [v for _, v in voltages]
    assert result["over_voltage_count"] == sum(v > config.over_voltage_dv for v in values)
    assert result["under_voltage_count"] == sum(v < config.under_voltage_dv for v in values)
    assert result["measurement_period_s"] == config.measurement_period_s
    element = build("4.10", result, schema, s1sp_credentials)
    log = ("Electricity", "SinglePhaseESME", "AvgRMSVoltageProfileDataLog")
    assert texts(element, *log, "LogEntry", "Value") == [f"{v // 10}.{v % 10}" for v in values]
    assert texts(element, *log, "MeasurementPeriod") == [str(config.measurement_period_s)]
    counter = ("Electricity", "SinglePhaseESME", "AvgRMSOverVoltageCounter", "Value")
    assert texts(element, *counter) == [str(result["over_voltage_count"])]


def test_4_10_reads_a_gsmes_midnight_volumes(
    gsme: Gsme, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    reads = gsme.daily_reads(NOW)
    result = run(gsme, "4.10", EVERYTHING)
    assert result == {"fuel": "gas", "network_log": tuple((r.at, r.total) for r in reads)}
    element = build("4.10", result, schema, s1sp_credentials)
    log = ("Gas", "NetworkDataLog", "LogEntry")
    assert texts(element, *log, "Value") == [m3(r.total) for r in reads]
    assert texts(element, *log, "Timestamp") == [format_datetime(r.at) for r in reads]


# --------------------------------------------------------------------------- 6.13, 8.9, 11.2


@pytest.mark.parametrize("log", ["event", "security", "power"])
def test_6_13_reads_the_log_asked_for(
    meter: MeterState,
    log: str,
    schema: DuisSchema,
    s1sp_credentials: SigningCredentials,
) -> None:
    entries = meter.security_log(NOW) if log == "security" else meter.event_log(NOW)
    if log == "power":
        entries = tuple(
            e for e in entries if e.code in {EventCode.POWER_OUTAGE, EventCode.POWER_RESTORED}
        )
    assert bool(entries) is not (meter.gas and log == "power")  # a GSME has no mains to lose
    result = run(meter, "6.13", {**EVERYTHING, "log": log})
    expected = tuple((e.at, int(e.code), e.text) for e in entries)
    assert result == {"log": log, "log_entries": expected}
    element = build("6.13", result, schema, s1sp_credentials)
    assert texts(element, "Log", "LogEntry", "Timestamp") == [
        format_datetime(e.at) for e in entries
    ]
    assert texts(element, "Log", "LogEntry", "LogCode") == [f"{e.code:04X}" for e in entries]
    assert texts(element, "Log", "LogEntry", "LogMeaning") == [e.text for e in entries]


def test_6_13_keeps_the_period_asked_for(esme: Esme) -> None:
    asked = period(format_datetime(NOW - 4 * DAY), format_datetime(NOW), log="security")
    codes = [record[1] for record in records(run(esme, "6.13", asked), "log_entries")]
    assert codes == [
        EventCode.FIRMWARE_ACTIVATED,
        EventCode.FIRMWARE_DISTRIBUTED,
        EventCode.DEVICE_JOINED,
        EventCode.DEVICE_JOINED,
        EventCode.TAMPER_DETECTED,
    ]


def test_6_13_refuses_a_log_the_meter_lacks(esme: Esme, gsme: Gsme) -> None:
    with pytest.raises(MeterError) as refused:
        run(esme, "6.13", {**EVERYTHING, "log": "billing"})
    assert refused.value.reason is Reason.INVALID_VALUE
    with pytest.raises(MeterError) as refused:
        run(gsme, "6.13", {**EVERYTHING, "log": "alcs"})  # a gas meter has no switches
    assert refused.value.reason is Reason.UNSUPPORTED


def test_8_9_reads_the_han_device_log(
    meter: MeterState, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    devices = meter.han_devices
    result = run(meter, "8.9")
    assert result == {"han_devices": tuple((str(d.device), d.device_type.value) for d in devices)}
    assert result["han_devices"] == ((str(IHD_ID), "IHD"), (str(PPMID_ID), "PPMID"))
    element = build("8.9", result, schema, s1sp_credentials)
    entries = ("DeviceLogEntries", "LogEntry")
    assert texts(element, *entries, "DeviceID") == [str(IHD_ID), str(PPMID_ID)]
    assert texts(element, *entries, "DeviceType") == ["Type2", "PPMID"]  # an IHD is Type 2


def test_11_2_reads_the_active_firmware(
    meter: MeterState, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    result = run(meter, "11.2")
    assert result == {"firmware_version": meter.firmware.version}
    assert meter.firmware.version == "2.0.1"
    element = build("11.2", result, schema, s1sp_credentials)
    assert texts(element, "FirmwareVersion") == ["2.0.1"]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("srv", SRVS)
def test_a_decommissioned_meter_refuses_every_read(srv: str) -> None:
    meter = Esme.for_device(ESME_ID, commissioned=COMMISSIONED)
    meter.decommission(NOW - DAY)
    with pytest.raises(MeterError) as refused:
        run(meter, srv, {**EVERYTHING, "log": "event"})
    assert refused.value.reason is Reason.DECOMMISSIONED


def test_reads_change_nothing(esme: Esme) -> None:
    before = (esme.event_log(NOW), esme.daily_reads(NOW), esme.import_registers(NOW))
    for srv in SRVS:
        run(esme, srv, {**EVERYTHING, "log": "event"})
    assert (esme.event_log(NOW), esme.daily_reads(NOW), esme.import_registers(NOW)) == before


def test_a_malformed_period_is_refused(esme: Esme) -> None:
    with pytest.raises(MeterError) as refused:
        run(esme, "4.8.1", {"start": "yesterday", "end": format_datetime(NOW)})
    assert refused.value.reason is Reason.INVALID_VALUE
