"""Block counters, reactive and export profiles, maximum demand, load limit data: RTDS requests,
simulated meters, schema-checked MMC answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

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
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra
from opendcc.s1sp.services import SERVICES as ALL_SERVICES
from opendcc.s1sp.services.base import Parameters, Result
from opendcc.s1sp.services.registers import SERVICES
from opendcc.sim.services import EXECUTORS
from opendcc.sim.state import (
    DebtRegister,
    Esme,
    Gsme,
    MeterError,
    MeterState,
    PaymentMode,
    PrepayConfig,
    Reason,
)
from opendcc.smki import SigningCredentials

SRVS = ("4.1.3", "4.1.4", "4.4.4", "4.4.5", "4.8.2", "4.8.3", "4.12.1", "4.12.2", "4.15")
LOGS = {"4.4.4", "4.4.5", "4.8.2", "4.8.3"}
DAY = {"start": "2024-05-30T00:00:00.000Z", "end": "2024-05-31T00:00:00.000Z"}
START = datetime(2024, 5, 30, tzinfo=NOW.tzinfo)
Checked = Callable[[str, Result], etree._Element]


def run(srv: str, meter: MeterState, parameters: Parameters | None = None) -> Result:
    result, _ = EXECUTORS[srv](meter, parameters or {}, NOW)
    return result


def solar_esme() -> Esme:
    """An ESME whose household exports (a third of them have solar panels)."""
    for n in range(64):
        esme = Esme.for_device(Eui64(0x00DB123456789000 + n), commissioned=NOW - timedelta(days=40))
        if any(esme.household.export.slot_watts):
            return esme
    raise AssertionError("no exporting household among 64")


@pytest.fixture
def esme() -> Esme:
    return Esme.for_device(ESME_ID, commissioned=NOW - timedelta(days=40))


@pytest.fixture
def gsme() -> Gsme:
    return Gsme.for_device(GSME_ID, commissioned=NOW - timedelta(days=40))


@pytest.fixture
def checked(schema: DuisSchema, s1sp_credentials: SigningCredentials) -> Checked:
    def build(srv: str, result: Result) -> etree._Element:
        element = ALL_SERVICES[srv].response(result)
        validate_mmc(element, srv, schema, s1sp_credentials)
        return element

    return build


def values(element: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in element.iterfind(path, {"ra": ra("")[1:-1]})]


def test_the_family_is_these_reads_and_the_rtds_requests_read() -> None:
    assert {s.srv for s in SERVICES} == set(SRVS) <= set(EXECUTORS)
    assert not any(s.writes for s in SERVICES)
    for srv in SRVS:
        for path in templates_for(srv):
            parameters = ALL_SERVICES[srv].parameters(request_body(path))
            assert set(parameters) == ({"start", "end"} if srv in LOGS else set())


def test_block_counters_are_the_gas_meters_block_registers(gsme: Gsme, checked: Checked) -> None:
    result = run("4.1.4", gsme)
    assert result["block_counters"] == gsme.import_registers(NOW).blocks
    element = checked("4.1.4", result)
    litres = gsme.import_registers(NOW).blocks[0]
    first = values(element, "ra:ImportBlockCounters/ra:TariffBlockCounterValue")[0]
    assert first == f"{litres // 1000}.{litres % 1000:03d}"


def test_reactive_profile_is_the_import_profile_times_the_reactive_share(
    esme: Esme,
    checked: Checked,
) -> None:
    result = run("4.8.2", esme, DAY)
    active = esme.profile(NOW, start=START, end=START + timedelta(days=1))
    share = esme.household.reactive_permille
    assert result["profile"] == tuple((e.start, e.amount * share // 1000) for e in active)
    assert len(values(checked("4.8.2", result), "ra:LogEntry/ra:Timestamp")) == 48


def test_export_profile_follows_the_solar_shape(checked: Checked) -> None:
    esme = solar_esme()
    profile = run("4.8.3", esme, DAY)["profile"]
    assert isinstance(profile, tuple) and len(profile) == 48
    amounts = [record[1] for record in profile]
    assert amounts[0] == 0 and max(amounts) > 0  # nothing at midnight, something at midday
    checked("4.8.3", run("4.8.3", esme, DAY))


def test_maximum_demand_is_the_largest_half_hour_since_the_reset(
    esme: Esme,
    checked: Checked,
) -> None:
    result = run("4.12.1", esme)
    profile = esme.profile(NOW, start=esme.commissioned, end=NOW)
    assert result["import_max_wh"] == max(e.amount for e in profile)
    assert "import_reset_at" not in result
    reset_at = NOW - timedelta(hours=3)
    esme.reset_counter(reset_at, "MaxDemandActivePowerImportValue")
    after = run("4.12.1", esme)
    recent = esme.profile(NOW, start=reset_at, end=NOW)
    assert after["import_max_wh"] == max(e.amount for e in recent)
    assert after["import_reset_at"] == reset_at
    element = checked("4.12.1", after)
    assert values(element, "ra:MaxDemandActiveEnergyImport/ra:Value") == [
        str(after["import_max_wh"])
    ]
    checked("4.12.2", run("4.12.2", solar_esme()))


def test_load_limit_data_counts_half_hours_over_the_threshold(esme: Esme, checked: Checked) -> None:
    assert run("4.15", esme) == {"counter": 0}  # no threshold set
    settings = {
        "LoadLimitPeriod": "300",
        "LoadLimitPowerThreshold": "100",
        "LoadLimitRestorationPeriod": "30",
        "LoadLimitSupplyState": "Unchanged",
    }
    EXECUTORS["6.4.1"](esme, settings, NOW - timedelta(days=1))
    result = run("4.15", esme)
    profile = esme.profile(NOW, start=esme.commissioned, end=NOW)
    assert result["counter"] == sum(1 for e in profile if e.amount * 2 > 100) > 0
    assert (result["threshold_w"], result["supply_state"]) == (100, "Unchanged")
    EXECUTORS["6.4.2"](esme, {}, NOW - timedelta(hours=2))
    assert run("4.15", esme)["counter"] <= 4  # the four half hours since the reset, at most
    element = checked("4.15", result)
    assert values(element, "ra:LoadLimitPeriod") == ["300"]


def test_each_meter_refuses_the_other_fuels_registers(esme: Esme, gsme: Gsme) -> None:
    for srv, meter in (
        ("4.1.3", gsme),
        ("4.1.4", esme),
        ("4.8.2", gsme),
        ("4.12.1", gsme),
        ("4.15", gsme),
    ):
        with pytest.raises(MeterError) as refused:
            run(srv, meter, DAY)
        assert refused.value.reason is Reason.UNSUPPORTED


def test_event_and_alert_behaviours_read_back_what_6_22_switched_off(
    esme: Esme, gsme: Gsme, checked: Checked
) -> None:
    assert ALL_SERVICES["6.2.10"].parameters(request_body(templates_for("6.2.10")[0])) == {}
    EXECUTORS["6.22"](esme, {"fuel": "electricity", "alerts": "8119:off,8145:on"}, NOW)
    result = run("6.2.10", esme)
    assert result == {"fuel": "electricity", "disabled_alerts": (0x8119,)}
    element = checked("6.2.10", result)
    common = "ra:ElectricitySupplierAlertEventSettings/ra:ElectricitySupplierWANAlertSettings"
    assert values(element, f"{common}/ra:SupplierESMECommon/ra:x8119") == ["Disable"]
    assert values(element, f"{common}/ra:SupplierESMECommon/ra:x8145") == ["Enable"]
    gas = checked("6.2.10", run("6.2.10", gsme))
    flags = "ra:GasSupplierAlertEventSettings/ra:x810D"
    assert values(gas, f"{flags}/ra:WANAlert") + values(gas, f"{flags}/ra:EventLog") == [
        "Enable",
        "Enable",
    ]


def test_the_prepayment_billing_logs_hold_top_ups_and_debt_repayments(
    gsme: Gsme, checked: Checked
) -> None:
    gsme.update_payment_mode(NOW - timedelta(days=2), PaymentMode.PREPAYMENT)
    config = PrepayConfig(payment_debt_recovery_percent=25, payment_debt_recovery_cap_p=300)
    gsme.update_prepay_configuration(NOW - timedelta(days=2), config)
    gsme.update_debt(NOW - timedelta(days=2), DebtRegister.PAYMENT, adjustment_p=1_000)
    first, second = NOW - timedelta(days=1), NOW - timedelta(hours=1)
    gsme.top_up(first, 2_000)  # 25 %: 500 p, capped at 300 p, to the debt
    gsme.top_up(second, 400)  # 100 p to the debt
    period = {"start": "2024-05-01T00:00:00.000Z", "end": "2024-06-02T00:00:00.000Z"}
    credits = run("4.4.5", gsme, period)["credits"]
    payments = run("4.4.4", gsme, period)["debt_payments"]
    assert [pence for _, pence in credits] == [400, 2_000]
    assert [pence for _, pence in payments] == [100, 300]
    element = checked("4.4.4", run("4.4.4", gsme, period))
    assert values(element, "ra:PaymentBasedDebtRepayment/ra:LogEntry/ra:Amount") == [
        "100000",
        "300000",
    ]
    checked("4.4.5", run("4.4.5", gsme, period))
    recent = {"start": "2024-05-31T13:00:00.000Z", "end": "2024-06-02T00:00:00.000Z"}
    assert len(run("4.4.5", gsme, recent)["credits"]) == 1


def test_tou_with_blocks_matrices_are_the_esmes_rate_by_block_registers(
    esme: Esme, checked: Checked
) -> None:
    result = run("4.1.3", esme)
    matrix = esme.import_registers(NOW).matrix
    assert result == {"matrix": matrix}
    element = checked("4.1.3", result)
    block1 = "ra:TariffBlockTOURegisterCollection/ra:TariffBlock[@index='1']"
    assert values(element, f"{block1}/ra:RegisterMatrixTOUValue") == [str(r[0]) for r in matrix]
    assert len(values(element, "ra:TariffBlockTOURegisterCollection/ra:TariffBlock")) == 4
