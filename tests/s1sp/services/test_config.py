"""The configuration, supply and HAN services: RTDS requests, simulated meters, MMC responses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from tests.s1sp.services.harness import (
    ESME_ID,
    GSME_ID,
    NOW,
    request_body,
    templates_for,
    validate_mmc,
)

from opendcc.core.eui import Eui64
from opendcc.duis.response import format_datetime
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra
from opendcc.s1sp.services.base import InvalidParameters, Parameters, Result, Service
from opendcc.s1sp.services.config import SERVICES
from opendcc.sim.services.config import EXECUTORS
from opendcc.sim.state import (
    BillingCalendar,
    BillingPeriod,
    DeviceType,
    Esme,
    EventCode,
    Gsme,
    HanDevice,
    MeterError,
    MeterState,
    Reason,
    Supply,
)
from opendcc.sim.state.device import Alerts
from opendcc.smki import SigningCredentials

BY_SRV = {service.srv: service for service in SERVICES}
OTHER = Eui64.parse("00-DB-12-34-56-78-90-93")
PPMID = Eui64.parse("00-DB-12-34-56-78-90-9C")

# What each RTDS template of these SRVs reads as, by file name.
# A template's parameters, or (a string) the words of its refusal at the door.
TEMPLATE_PARAMETERS: dict[str, dict[str, str] | str] = {
    "ECS10_3.1_SUCCESS_REQUEST_DUIS.XML": {"message": "Reset"},
    "GCS07_3.1_SUCCESS_REQUEST_DUIS.XML": {"message": "Reset"},
    "ECS12_3.2_SUCCESS_REQUEST_DUIS.XML": {"restriction_date_time": "2014-03-27T15:45:32.000Z"},
    "GCS09_3.2_SUCCESS_REQUEST_DUIS.XML": {"restriction_date_time": "2015-02-01T00:00:00.000Z"},
    "ECS16_3.4_SUCCESS_REQUEST_DUIS.XML": {
        "supplier_name": "E-ON",
        "supplier_telephone_number": "0333 202 4650",
    },
    "GCS44_3.4_SUCCESS_REQUEST_DUIS.XML": {
        "supplier_name": "E-ON",
        "supplier_telephone_number": "0333 202 4650",
    },
    "ECS26b_6.2.1_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS26k_6.2.1_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS26d_6.2.3_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS26l_6.2.3_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS21d_6.2.3_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS21k_6.2.3_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS26e_6.2.4_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS26i_6.2.4_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS26m_6.2.4_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS26n_6.2.4_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS21e_6.2.4_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS21m_6.2.4_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS40_6.2.7_SINGLE_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS40_6.2.7_TWIN_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS46_6.2.7_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS21a_6.2.8_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS30_6.8_SUCCESS_REQUEST_DUIS.XML": {
        "fuel": "electricity",
        "billing_time": "12:00:00",
        "periodicity": "Monthly",
        "day_of_month": "1",
    },
    "ECS30a_6.8_SUCCESS_REQUEST_DUIS.XML": {
        "fuel": "electricity",
        "billing_time": "00:00:00",
        "periodicity": "Quarterly",
        "day_of_month": "1",
        "start_month": "1",
    },
    "GCS25_6.8_SUCCESS_REQUEST_DUIS.XML": {
        "fuel": "gas",
        "billing_period_start": "2015-02-01T00:00:00.000Z",
        "periodicity": "Monthly",
    },
    "GCS25a_6.8_SUCCESS_REQUEST_DUIS.XML": {
        "fuel": "gas",
        "billing_period_start": "2015-01-01T00:00:00.000Z",
        "periodicity": "SixMonthly",
    },
    "ECS70_6.11_SUCCESS_REQUEST_DUIS.XML": {
        "current_date_time": "2014-12-31T23:59:10.000Z",
        "tolerance_period_s": "60",
    },
    "GCS28_6.11_SUCCESS_REQUEST_DUIS.XML": {
        "current_date_time": "2014-12-31T23:30:00.000Z",
        "tolerance_period_s": "3600",
    },
    "ECS39a_6.20.1_SINGLE_SUCCESS_REQUEST_DUIS.XML": {
        "fuel": "electricity",
        "import_mpxn": "1312345678333",
    },
    # Refused at the door (E11): the migrated SMETS1 electricity meters are single-element.
    "ECS39a_6.20.1_TWIN_SUCCESS_REQUEST_DUIS.XML": "single-element: no secondary element to give",
    "GCS41_6.20.1_SUCCESS_REQUEST_DUIS.XML": {"fuel": "gas", "import_mpxn": "1234567890"},
    "ECS42_7.1_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS43_7.2_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS32_7.2_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS44_7.3_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS39_7.3_SUCCESS_REQUEST_DUIS.XML": {},
    "ECS45_7.4_SUCCESS_REQUEST_DUIS.XML": {},
    "GCS33_7.4_SUCCESS_REQUEST_DUIS.XML": {},
    "CS03A2NonCritical_8.7.2_SUCCESS_REQUEST_DUIS.XML": {
        "other_device_id": "00-DB-12-34-56-78-90-93"
    },
    "CS03B_8.7.2_SUCCESS_REQUEST_DUIS.XML": {"other_device_id": "00-DB-12-34-56-78-90-9C"},
    "CS03CNonCritical_8.7.2_SUCCESS_REQUEST_DUIS.XML": {
        "other_device_id": "00-DB-12-34-56-78-90-94"
    },
    "CS04ACNonCritical_8.8.2_SUCCESS_REQUEST_DUIS.XML": {
        "other_device_id": "01-02-03-04-05-06-07-08"
    },
    "CS04B_8.8.2_SUCCESS_REQUEST_DUIS.XML": {"other_device_id": "01-02-03-04-05-06-07-08"},
    "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML": {
        "device_id": "00-DB-12-34-56-78-90-A0",
        "request_type": "Add",
        "join_time_period_s": "90",
        "install_code": "30313233343536373839414243444546",
        "import_mpxn": "1312345678111",
        "secondary_import_mpan": "1312345678222",
    },
    "CCS02_8.11_SUCCESS_REQUEST_DUIS.XML": {
        "device_id": "00-DB-12-34-56-78-90-A0",
        "request_type": "Remove",
    },
}

TEMPLATES = [(service, path) for service in SERVICES for path in templates_for(service.srv)]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def esme() -> Esme:
    return Esme.for_device(ESME_ID, commissioned=NOW - timedelta(days=40))


@pytest.fixture
def gsme() -> Gsme:
    return Gsme.for_device(GSME_ID, commissioned=NOW - timedelta(days=40))


def run(srv: str, meter: MeterState, parameters: Parameters, now: datetime = NOW) -> Result:
    result, _ = EXECUTORS[srv](meter, parameters, now)
    return result


def run_with_alerts(srv: str, meter: MeterState, parameters: Parameters) -> tuple[Result, Alerts]:
    return EXECUTORS[srv](meter, parameters, NOW)


def template(name: str) -> dict[str, str]:
    expected = TEMPLATE_PARAMETERS[name]
    assert isinstance(expected, dict), f"{name} is refused at the door"
    return dict(expected)


BuildChecked = Callable[[str, Result], etree._Element]


@pytest.fixture
def mmc(schema: DuisSchema, s1sp_credentials: SigningCredentials) -> BuildChecked:
    """The MMC element of a Result, checked against the schema inside a SMETS1 Response."""

    def build(srv: str, result: Result) -> etree._Element:
        element = BY_SRV[srv].response(result)
        validate_mmc(element, srv, schema, s1sp_credentials)
        assert element.get("MessageSuccess") == "true"
        return element

    return build


def at(element: etree._Element, *path: str) -> etree._Element:
    found = element.find("/".join(ra(p) for p in path))
    assert found is not None, path
    return found


def text(element: etree._Element, *path: str) -> str | None:
    return at(element, *path).text


def refused(srv: str, meter: MeterState, parameters: Parameters, reason: Reason) -> None:
    with pytest.raises(MeterError) as caught:
        run(srv, meter, parameters)
    assert caught.value.reason is reason


# --------------------------------------------------------------------------- the table


def test_the_family_is_these_eighteen_srvs() -> None:
    assert set(BY_SRV) == {
        *("3.1", "3.2", "3.4", "6.2.1", "6.2.3", "6.2.4", "6.2.7", "6.2.8", "6.8", "6.11"),
        *("6.20.1", "7.1", "7.2", "7.3", "7.4", "8.7.2", "8.8.2", "8.11"),
    }
    assert set(EXECUTORS) == set(BY_SRV)
    assert len({s.command for s in SERVICES}) == len(SERVICES)
    reads = {"6.2.1", "6.2.3", "6.2.4", "6.2.7", "6.2.8", "7.4"}
    assert {s.srv for s in SERVICES if not s.writes} == reads


def test_every_template_has_its_expected_parameters() -> None:
    assert {path.name for _, path in TEMPLATES} == set(TEMPLATE_PARAMETERS)


@pytest.mark.parametrize(("service", "path"), TEMPLATES, ids=[p.name for _, p in TEMPLATES])
def test_templates_parse(service: Service, path: Path) -> None:
    expected = TEMPLATE_PARAMETERS[path.name]
    if isinstance(expected, str):
        with pytest.raises(InvalidParameters, match=expected):
            service.parameters(request_body(path))
        return
    assert service.parameters(request_body(path)) == expected


def test_builders_refuse_a_result_without_their_values() -> None:
    with pytest.raises(TypeError):
        BY_SRV["7.4"].response({})
    with pytest.raises(TypeError):
        BY_SRV["6.2.8"].response({"calorific_value_kj_m3": "39.5", "conversion_factor_e5": 1})


# --------------------------------------------------------------------------- 3.x


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_display_message(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    result = run("3.1", meter, template("ECS10_3.1_SUCCESS_REQUEST_DUIS.XML"))
    assert result == {}
    assert meter.displayed_message == "Reset"
    for bad in ("", "caf\u00e9", "x" * 161):
        refused("3.1", meter, {"message": bad}, Reason.INVALID_VALUE)
    assert meter.displayed_message == "Reset"
    assert mmc("3.1", result).tag == ra("DisplayMessageRsp")


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_restrict_access_for_change_of_tenancy(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    before = NOW - timedelta(days=10)
    parameters = {"restriction_date_time": format_datetime(before)}
    result = run("3.2", meter, parameters)
    assert meter.restricted_before == before
    assert all(r.at >= before for r in meter.daily_reads(NOW))
    future = {"restriction_date_time": format_datetime(NOW + timedelta(days=1))}
    refused("3.2", meter, future, Reason.INVALID_VALUE)
    assert meter.restricted_before == before
    element = mmc("3.2", result)
    assert element.tag == ra("RestrictAccessForChangeOfTenancyRsp")


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_update_supplier_name(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    result = run("3.4", meter, template("GCS44_3.4_SUCCESS_REQUEST_DUIS.XML"))
    assert meter.supplier_name == "E-ON"
    bad_phone = {"supplier_name": "Other", "supplier_telephone_number": "call us"}
    refused("3.4", meter, bad_phone, Reason.INVALID_VALUE)
    long_name = {"supplier_name": "x" * 41, "supplier_telephone_number": "0800 000"}
    refused("3.4", meter, long_name, Reason.INVALID_VALUE)
    assert meter.supplier_name == "E-ON"
    assert mmc("3.4", result).tag == ra("UpdateSupplierNameRsp")


# --------------------------------------------------------------------------- 6.2.x reads


def test_read_voltage_configuration(esme: Esme, gsme: Gsme, mmc: BuildChecked) -> None:
    result = run("6.2.1", esme, {})
    config = esme.voltage_config
    assert result == {
        "over_voltage_threshold_dv": config.over_voltage_dv,
        "under_voltage_threshold_dv": config.under_voltage_dv,
        "measurement_period_s": config.measurement_period_s,
    }
    element = mmc("6.2.1", result)
    settings = ("SinglePhaseVoltageSettings",)
    over = text(element, *settings, "AverageRMSOverVoltageThreshold")
    assert over == str(round(config.over_voltage_dv / 10))
    under = text(element, *settings, "AverageRMSUnderVoltageThreshold")
    assert under == str(round(config.under_voltage_dv / 10))
    refused("6.2.1", gsme, {}, Reason.UNSUPPORTED)


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_read_billing_calendar(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    result = run("6.2.3", meter, {})
    calendar = meter.billing_calendar
    assert result == {
        "fuel": "gas" if meter.gas else "electricity",
        "billing_period_start": calendar.start,
        "periodicity": calendar.period.value.capitalize(),
    }
    element = mmc("6.2.3", result)
    if meter.gas:
        gas = ("BillingCalendar", "GasBillingCalendar")
        assert text(element, *gas, "BillingPeriodStart") == format_datetime(calendar.start)
        assert text(element, *gas, "Periodicity") == "Monthly"
    else:
        elec = ("BillingCalendar", "ElectricityBillingCalendar")
        assert text(element, *elec, "BillingTime") == f"{calendar.start:%H:%M:%S}Z"
        assert text(element, *elec, "Monthly") == str(calendar.start.day)


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_read_identity(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    result = run("6.2.4", meter, {})
    identity = meter.identity
    assert result == {
        "device_id": str(meter.device_id),
        "manufacturer": identity.manufacturer,
        "model": identity.model,
        "serial": identity.serial,
    }
    element = mmc("6.2.4", result)
    assert text(element, "DeviceIdentifier") == str(meter.device_id)
    assert text(element, "ModelType") == identity.model[:8]  # all the MMC has room for
    assert text(element, "ManufacturerIdentifier") == identity.manufacturer


@pytest.mark.parametrize(
    ("fuel", "mpxn", "local"),
    [("esme", "1312345678333", "ImportMPAN"), ("gsme", "1234567890", "MPRN")],
)
def test_read_mpxn(
    fuel: str,
    mpxn: str,
    local: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    wrapper = "Gas" if meter.gas else "Electricity"
    unset = run("6.2.7", meter, {})
    assert unset == {"fuel": wrapper.lower()}
    assert len(at(mmc("6.2.7", unset), wrapper)) == 0
    meter.set_mpxn(NOW, mpxn)
    result = run("6.2.7", meter, {})
    assert result == {"fuel": wrapper.lower(), "import_mpxn": meter.mpxn}
    assert text(mmc("6.2.7", result), wrapper, local) == mpxn


def test_read_gas_configuration(esme: Esme, gsme: Gsme, mmc: BuildChecked) -> None:
    result = run("6.2.8", gsme, {})
    config = gsme.gas_config
    assert result == {
        "calorific_value_kj_m3": config.calorific_value_kj_m3,
        "conversion_factor_e5": config.conversion_factor_e5,
    }
    element = mmc("6.2.8", result)
    assert float(text(element, "CalorificValue") or "") * 1000 == config.calorific_value_kj_m3
    factor = float(text(element, "ConversionFactor") or "")
    assert round(factor * 100_000) == config.conversion_factor_e5
    refused("6.2.8", esme, {}, Reason.UNSUPPORTED)


# --------------------------------------------------------------------------- 6.8 and 6.11


ELECTRICITY_RULES = [
    pytest.param({"periodicity": "Daily"}, BillingPeriod.DAILY, {"Daily": None}, id="daily"),
    pytest.param(
        {"periodicity": "Weekly", "day_of_week": "3"},
        BillingPeriod.WEEKLY,
        {"Weekly": "3"},
        id="weekly",
    ),
    pytest.param(
        {"periodicity": "Monthly", "day_of_month": "15"},
        BillingPeriod.MONTHLY,
        {"Monthly": "15"},
        id="monthly",
    ),
    pytest.param(
        {"periodicity": "Quarterly", "day_of_month": "2", "start_month": "5"},
        BillingPeriod.QUARTERLY,
        {"Quarterly/DayOfMonth": "2", "Quarterly/BillingPeriodStartMonth": "5"},
        id="quarterly",
    ),
    pytest.param(
        {"periodicity": "SixMonthly", "day_of_month": "3", "start_month": "4"},
        BillingPeriod.SIX_MONTHLY,
        {"SixMonthly/DayOfMonth": "3", "SixMonthly/BillingPeriodStartMonth": "4"},
        id="six-monthly",
    ),
    pytest.param(
        {"periodicity": "Yearly", "day_of_month": "28", "start_month": "2"},
        BillingPeriod.YEARLY,
        {"Yearly/DayOfMonth": "28", "Yearly/BillingPeriodStartMonth": "2"},
        id="yearly",
    ),
]


@pytest.mark.parametrize(("rule", "period", "expected"), ELECTRICITY_RULES)
def test_update_electricity_billing_calendar_reads_back(
    rule: dict[str, str],
    period: BillingPeriod,
    expected: dict[str, str | None],
    esme: Esme,
    mmc: BuildChecked,
) -> None:
    parameters = {"fuel": "electricity", "billing_time": "06:30:00", **rule}
    result = run("6.8", esme, parameters)
    calendar = esme.billing_calendar
    assert calendar.period is period
    assert calendar.start < NOW
    assert (calendar.start.hour, calendar.start.minute) == (6, 30)
    first = calendar.next_after(NOW)
    assert first > NOW
    assert first.day == int(rule.get("day_of_month", first.day))
    assert first.isoweekday() == int(rule.get("day_of_week", first.isoweekday()))
    element = mmc("6.8", result)
    assert element.tag == ra("UpdateDeviceConfigurationBillingCalendarRsp")
    read = mmc("6.2.3", run("6.2.3", esme, {}))
    elec = ("BillingCalendar", "ElectricityBillingCalendar")
    assert text(read, *elec, "BillingTime") == "06:30:00Z"
    for path, value in expected.items():
        assert text(read, *elec, *path.split("/")) == value


def test_update_gas_billing_calendar(gsme: Gsme, esme: Esme, mmc: BuildChecked) -> None:
    run("6.8", gsme, template("GCS25_6.8_SUCCESS_REQUEST_DUIS.XML"))
    start = datetime(2015, 2, 1, tzinfo=UTC)
    assert gsme.billing_calendar == BillingCalendar(start, BillingPeriod.MONTHLY)
    read = mmc("6.2.3", run("6.2.3", gsme, {}))
    gas = ("BillingCalendar", "GasBillingCalendar")
    assert text(read, *gas, "BillingPeriodStart") == "2015-02-01T00:00:00.000Z"
    # A six-monthly calendar bills every six months from its start; the gas form does not fit
    # an ESME.
    run("6.8", gsme, template("GCS25a_6.8_SUCCESS_REQUEST_DUIS.XML"))
    six = BillingCalendar(datetime(2015, 1, 1, tzinfo=UTC), BillingPeriod.SIX_MONTHLY)
    assert gsme.billing_calendar == six
    assert six.next_after(datetime(2024, 3, 5, tzinfo=UTC)) == datetime(2024, 7, 1, tzinfo=UTC)
    assert text(mmc("6.2.3", run("6.2.3", gsme, {})), *gas, "Periodicity") == "SixMonthly"
    before = esme.billing_calendar
    refused("6.8", esme, template("GCS25_6.8_SUCCESS_REQUEST_DUIS.XML"), Reason.INVALID_VALUE)
    bad_day = {"fuel": "electricity", "billing_time": "00:00:00", "periodicity": "Weekly"}
    refused("6.8", esme, {**bad_day, "day_of_week": "8"}, Reason.INVALID_VALUE)
    assert esme.billing_calendar == before


def test_synchronise_clock_electricity(mmc: BuildChecked) -> None:
    meter = Esme.for_device(ESME_ID, commissioned=NOW - timedelta(days=40), clock_drift_ppm=100.0)
    drifted = meter.clock(NOW)
    assert drifted != NOW
    refused("6.11", meter, template("ECS70_6.11_SUCCESS_REQUEST_DUIS.XML"), Reason.INVALID_VALUE)
    assert meter.clock(NOW) == drifted
    sent = {
        "current_date_time": format_datetime(NOW - timedelta(seconds=5)),
        "tolerance_period_s": "60",
    }
    result, alerts = run_with_alerts("6.11", meter, sent)
    assert meter.clock(NOW) == NOW
    assert result == {
        "fuel": "electricity",
        "device_time": meter.clock(NOW),
        "clock_status": "reliable",
    }
    assert EventCode.CLOCK_ADJUSTED in {alert.code for alert in alerts}
    element = mmc("6.11", result)
    assert text(element, "DeviceTime") == format_datetime(NOW)
    status = ("Electricity", "ElecClockTimeStatus")
    assert at(element, *status).get("TimeStatusCode") == "0"
    assert text(element, *status, "TimeStatus") == "reliable"


def test_synchronise_clock_gas(mmc: BuildChecked) -> None:
    meter = Gsme.for_device(GSME_ID, commissioned=NOW - timedelta(days=40), clock_drift_ppm=-50.0)
    sent = {"current_date_time": format_datetime(NOW), "tolerance_period_s": "3600"}
    result = run("6.11", meter, sent)
    assert meter.clock(NOW) == NOW == result["device_time"]
    element = mmc("6.11", result)
    assert at(element, "Gas", "GasClockTimeStatus").get("ResponseCode") == "0"
    assert text(element, "Gas", "GasClockTimeStatus", "ASN1Status") == "reliable"


# --------------------------------------------------------------------------- 6.20.1


@pytest.mark.parametrize(
    ("fuel", "name", "mpxn"),
    [
        ("esme", "ECS39a_6.20.1_SINGLE_SUCCESS_REQUEST_DUIS.XML", "1312345678333"),
        ("gsme", "GCS41_6.20.1_SUCCESS_REQUEST_DUIS.XML", "1234567890"),
    ],
)
def test_set_import_mpxn(
    fuel: str,
    name: str,
    mpxn: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    result = run("6.20.1", meter, template(name))
    assert meter.mpxn == mpxn
    malformed = {**template(name), "import_mpxn": "12"}
    refused("6.20.1", meter, malformed, Reason.INVALID_VALUE)
    assert meter.mpxn == mpxn
    element = mmc("6.20.1", result)
    assert element.tag == ra("SetDeviceConfigurationImportMPxNRsp")


def test_set_import_mpxn_refuses_what_the_meter_cannot_hold(esme: Esme, gsme: Gsme) -> None:
    # The door refuses a twin-element request; were one to come, the meter refuses it too.
    twin = {"fuel": "electricity", "import_mpxn": "1312345678111"}
    twin["secondary_import_mpan"] = "1312345678222"
    refused("6.20.1", esme, twin, Reason.UNSUPPORTED)
    refused("6.20.1", esme, template("GCS41_6.20.1_SUCCESS_REQUEST_DUIS.XML"), Reason.INVALID_VALUE)
    refused("6.20.1", gsme, twin, Reason.INVALID_VALUE)
    assert esme.mpxn == gsme.mpxn == ""


# --------------------------------------------------------------------------- 7.x supply


def test_supply_switching_on_an_esme(esme: Esme, mmc: BuildChecked) -> None:
    refused("7.3", esme, {}, Reason.ILLEGAL_SUPPLY_TRANSITION)  # arming an enabled supply
    assert esme.supply_state(NOW) is Supply.ENABLED
    for srv, state, local in [
        ("7.2", Supply.DISABLED, "DisableSupplyRsp"),
        ("7.3", Supply.ARMED, "ArmSupplyRsp"),
        ("7.1", Supply.ENABLED, "EnableSupplyRsp"),
    ]:
        result = run(srv, esme, {})
        assert esme.supply_state(NOW) is state
        assert mmc(srv, result).tag == ra(local)


def test_supply_switching_on_a_gsme(gsme: Gsme) -> None:
    refused("7.1", gsme, {}, Reason.UNSUPPORTED)
    run("7.2", gsme, {})
    assert gsme.supply_state(NOW) is Supply.DISABLED
    refused("7.1", gsme, {}, Reason.UNSUPPORTED)
    assert gsme.supply_state(NOW) is Supply.DISABLED
    run("7.3", gsme, {})
    assert gsme.supply_state(NOW) is Supply.ARMED


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_read_supply_status(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    assert run("7.4", meter, {}) == {"supply_state": "Enabled"}
    meter.disable_supply(NOW)
    assert meter.supply_state(NOW) is Supply.DISABLED
    result = run("7.4", meter, {})
    assert result == {"supply_state": "Disabled"}
    assert text(mmc("7.4", result), "SupplyState") == "Disabled"


# --------------------------------------------------------------------------- 8.x HAN


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_join_service(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    parameters = template("CS03A2NonCritical_8.7.2_SUCCESS_REQUEST_DUIS.XML")
    result = run("8.7.2", meter, parameters)
    assert meter.han_devices == (HanDevice(OTHER, DeviceType.IHD),)
    assert result == {
        "other_device_id": str(OTHER),
        "other_device_type": "IHD",
        "response": "success",
    }
    refused("8.7.2", meter, parameters, Reason.ALREADY_JOINED)
    refused("8.7.2", meter, {"other_device_id": str(meter.device_id)}, Reason.INVALID_VALUE)
    assert meter.han_devices == (HanDevice(OTHER, DeviceType.IHD),)
    typed = {"other_device_id": str(PPMID), "other_device_type": "PPMID"}
    run("8.7.2", meter, typed)
    assert meter.han_devices[-1] == HanDevice(PPMID, DeviceType.PPMID)
    element = mmc("8.7.2", result)
    assert at(element, "joinResponseCode").get("ResponseCode") == "0"
    assert text(element, "joinResponseCode", "ASN1Status") == "success"


@pytest.mark.parametrize("fuel", ["esme", "gsme"])
def test_unjoin_service(
    fuel: str,
    request: pytest.FixtureRequest,
    mmc: BuildChecked,
) -> None:
    meter: MeterState = request.getfixturevalue(fuel)
    parameters = template("CS04B_8.8.2_SUCCESS_REQUEST_DUIS.XML")
    refused("8.8.2", meter, parameters, Reason.NOT_JOINED)
    device = Eui64.parse(parameters["other_device_id"])
    meter.join_device(NOW, device, DeviceType.CAD)
    meter.join_device(NOW, OTHER, DeviceType.IHD)
    result = run("8.8.2", meter, parameters)
    assert meter.han_devices == (HanDevice(OTHER, DeviceType.IHD),)
    assert result == {"other_device_id": str(device), "response": "success"}
    element = mmc("8.8.2", result)
    assert at(element, "unjoinResponseCode").get("ResponseCode") == "0"
    assert text(element, "unjoinResponseCode", "ASN1Status") == "success"


def test_update_han_device_log_adds_and_removes(esme: Esme, mmc: BuildChecked) -> None:
    add = {"device_id": str(OTHER), "request_type": "Add", "install_code": "00112233"}
    result = run("8.11", esme, add)
    assert result == {"device_id": str(OTHER), "request_type": "Add", "device_type": "IHD"}
    assert esme.han_devices == (HanDevice(OTHER, DeviceType.IHD),)
    gas = {"device_id": str(GSME_ID), "request_type": "Add", "import_mpxn": "1234567890"}
    run("8.11", esme, gas)
    assert esme.han_devices[-1] == HanDevice(GSME_ID, DeviceType.GSME)
    refused("8.11", esme, add, Reason.ALREADY_JOINED)
    remove = {"device_id": str(OTHER), "request_type": "Remove"}
    removed = run("8.11", esme, remove)
    assert removed == {"device_id": str(OTHER), "request_type": "Remove"}
    assert esme.han_devices == (HanDevice(GSME_ID, DeviceType.GSME),)
    refused("8.11", esme, remove, Reason.NOT_JOINED)
    element = mmc("8.11", result)
    assert element.tag == ra("UpdateHANDeviceLogRsp")


def test_update_han_device_log_and_the_meter_itself(esme: Esme) -> None:
    # RTDS whitelists the ESME itself: a meter is always on its own HAN.
    result = run("8.11", esme, template("CCS01_8.11_SUCCESS_REQUEST_DUIS.XML"))
    assert result == {"device_id": str(ESME_ID), "request_type": "Add"}
    assert esme.han_devices == ()
    refused("8.11", esme, template("CCS02_8.11_SUCCESS_REQUEST_DUIS.XML"), Reason.INVALID_VALUE)
    other_esme = {"device_id": str(OTHER), "request_type": "Add", "import_mpxn": "1312345678111"}
    refused("8.11", esme, other_esme, Reason.INVALID_VALUE)
    assert esme.han_devices == ()
