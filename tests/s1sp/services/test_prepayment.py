"""The tariff and prepayment family: RTDS templates to parameters, meter model to Result, MMC.

Each SRV's templates must read as the expected parameters (or be refused as a tariff the meter
cannot hold); executing on simulated ESME and GSME meters with 40 days of history must answer
what the ``opendcc.sim.state`` API reads, writes must change the meter as asked and a refused
write must change nothing; and the MMC (Message Mapping Catalogue) element built from each
Result must be schema-valid and carry the Result's values (money in milli-pence).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
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

from opendcc.catalogue import default_catalogue
from opendcc.duis.response import format_datetime
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import RA_NS, ra, sr
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import algorithm
from opendcc.s1sp.services.base import InvalidParameters, Result, Service, int_of
from opendcc.s1sp.services.prepayment import SERVICES
from opendcc.sim.services.prepayment import EXECUTORS, NON_DISABLEMENT_SCHEDULE, pence
from opendcc.sim.state import (
    DebtRegister,
    Esme,
    Gsme,
    MeterError,
    MeterState,
    PaymentMode,
    PrepayConfig,
    Reason,
    Tariff,
    TokenReader,
)
from opendcc.smki import SigningCredentials

SRVS = (
    *("1.1.1", "1.2.1", "1.5", "1.6", "2.1", "2.2", "2.3", "2.5"),
    *("4.3", "4.11.1", "4.13", "4.14", "4.18", "6.2.9"),
)
WRITES = SRVS[:8]
SERVICE: Mapping[str, Service] = {service.srv: service for service in SERVICES}
COMMISSIONED = NOW - timedelta(days=40)
BALANCE_P = 50_000
FUELS = ("electricity", "gas")


def all_day(rate: int) -> str:
    return ",".join([str(rate)] * 48)


def tou_prices(*prices: int) -> dict[str, str]:
    return {f"price.{rate}": str(price) for rate, price in enumerate(prices, start=1)}


ELEC_BLOCK_TARIFF = {
    "fuel": "electricity",
    "standing_charge_mp": "20000",
    "price.8": "1361,2289,5566",
    "switching_table": all_day(8),
    "block_thresholds": "10000,20000",
    # The whole tariff, for the GBCS pre-command (season name in hex, DLMS dates)
    "seasons": "616C6C=07DF0101FF=1",
    "week_profiles": "1=1.1.1.1.1.1.1",
    "day_profiles": "1=00:00:00.00/101",
    "special_days": "",
    "threshold_matrix": ";".join(["10000,20000,4294967295"] + ["4294967295"] * 7),
}
GAS_BLOCK_TARIFF = {
    "fuel": "gas",
    "standing_charge_mp": "54794",
    "price.8": "9600,10200,10750,11000",
    "switching_table": all_day(8),
    "block_thresholds": "1000000,2000000",
    # The whole tariff, for the GBCS pre-command (ZigBee dates in hex)
    "seasons": "FF0314FF=1",
    "week_profiles": "1=1.1.1.1.1.1.1",
    "day_profiles": "1=0",
    "special_days": "",
    "threshold_matrix": "1000000,2000000,3000000",
}
ELEC_HYBRID_PRICES = {
    "fuel": "electricity",
    "standing_charge_mp": "20000",
    "price.1": "3121",
    "price.7": "5002,7969",
    "price.8": "3289,4546",
}
GAS_BLOCK_PRICES = {
    "fuel": "gas",
    "standing_charge_mp": "22465",
    "price.8": "9600,10200,10750,11000",
}
ELEC_PREPAY = {
    "fuel": "electricity",
    "debt_recovery_cap_mp": "30",
    "emergency_credit_limit_mp": "300000",
    "emergency_credit_threshold_mp": "100000",
    "low_credit_threshold_mp": "200000",
    "non_disablement_calendar": "1",
    "max_meter_balance_mp": "5000000",
    "max_credit_threshold_mp": "1000000",
    # The whole calendar, for the GBCS pre-command (DLMS dates in hex)
    "special_days": "1=FFFF071DFF,2=FFFF0819FF,3=FFFF0906FF,4=FFFF0A05FF,5=FFFF080FFF",
    "non_disablement_schedule": ";".join(
        [
            *(
                f"{s}/{days}//{at}/{start}/{end}"
                for start, end in (("07DE0A1BFF", "07DF031CFF"), ("FFFF041DFF", "FFFF0719FF"))
                for days, times in (
                    ("67", ("00:00", "09:30", "22:00")),
                    ("12345", ("00:00", "07:30", "20:00")),
                )
                for s, at in zip(
                    ("START", "STOP", "START"), (f"{t}:00.00" for t in times), strict=True
                )
            ),
            "START//1.2.5/00:00:00.00/FFFF071AFF/FFFF081FFF",
            "STOP//1.2.5/19:00:00.00/FFFF071AFF/FFFF081FFF",
            "START//3.4/01:15:00.00/FFFF0901FF/FFFF0A1AFF",
            "STOP//3.4/18:45:00.00/FFFF0901FF/FFFF0A1AFF",
        ]
    ),
}
GAS_PREPAY = {
    "fuel": "gas",
    "debt_recovery_cap_mp": "100000",
    "emergency_credit_limit_mp": "10000000",
    "emergency_credit_threshold_mp": "100000",
    "low_credit_threshold_mp": "5000000",
    "non_disablement_calendar": "1",
    "max_meter_balance_mp": "25000000",
    "max_credit_threshold_mp": "25000000",
    # The whole calendar, for the GBCS pre-command (ZigBee dates in hex)
    "day_profiles": "1=00:00:00/START,08:00:00/STOP,18:00:00/START;"
    "2=00:00:00/START,07:00:00/STOP,17:00:00/START;3=00:00:00/START",
    "week_profiles": "1=1.1.1.1.1.3.3;2=2.2.2.2.2.3.3",
    "seasons": "720A1BFF=1,73031DFF=2",
    "special_days": "730405FF=1,73081FFF=2,FF0101FF=3,FF0C19FF=1",
}
ELEC_DEBT = {
    "fuel": "electricity",
    "time_debt_1_mp": "30000",
    "time_debt_2_mp": "15000",
    "payment_debt_mp": "50000",
    "debt_recovery_per_payment_bp": "1000",
    "recovery_rate_1_mp": "30000",  # 3 x 10^-1 GBP a day
    "recovery_rate_2_mp": "150000",
}
GAS_DEBT = {
    "fuel": "gas",
    "time_debt_1_mp": "1000000",
    "time_debt_2_mp": "500000",
    "payment_debt_mp": "1000000",
    "debt_recovery_per_payment_bp": "100",
    "recovery_rate_1_mp": "50000",
    "recovery_rate_2_mp": "1200000",  # 50,000 an hour
}
ONE_DAY = "one switching table every day"
CREDIT = {"mode": "credit"}


def prepayment_mode(disabled: str, emergency: str, threshold: str) -> dict[str, str]:
    return {
        "mode": "prepayment",
        "suspend_debt_disabled": disabled,
        "suspend_debt_emergency": emergency,
        "disablement_threshold_mp": threshold,
    }


def balance(mode: str, amount: str | None = None) -> dict[str, str]:
    if amount is None:
        return {"mode": mode, "operation": "reset"}
    return {"mode": mode, "operation": "adjust", "amount_mp": amount}


ECS_PERIOD = {"start": "2014-12-25T23:30:00.000Z", "end": "2015-01-01T00:00:00.000Z"}

# Every RTDS template of the family and what it reads as (text: refused, with that reason).
TEMPLATES: tuple[tuple[str, str, dict[str, str] | str], ...] = (
    ("1.1.1", "ECS01a_1.1.1_CANCELLATION_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML", ONE_DAY),
    ("1.1.1", "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML", ONE_DAY),
    ("1.1.1", "ECS01a_1.1.1_IMMEDIATE_BLOCK_SUCCESS_REQUEST_DUIS.XML", ELEC_BLOCK_TARIFF),
    ("1.1.1", "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML", ONE_DAY),
    ("1.1.1", "GCS01a_1.1.1_CANCELLATION_BLOCK_SUCCESS_REQUEST_DUIS.XML", GAS_BLOCK_TARIFF),
    ("1.1.1", "GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_REQUEST_DUIS.XML", GAS_BLOCK_TARIFF),
    ("1.1.1", "GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML", ONE_DAY),
    ("1.2.1", "ECS01b_1.2.1_CANCELLATION_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML", ELEC_HYBRID_PRICES),
    ("1.2.1", "ECS01b_1.2.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML", ELEC_HYBRID_PRICES),
    (
        "1.2.1",
        "ECS01b_1.2.1_IMMEDIATE_BLOCK_SUCCESS_REQUEST_DUIS.XML",
        {"fuel": "electricity", "standing_charge_mp": "20000", "price.8": "2361,4289,6566"},
    ),
    (
        "1.2.1",
        "ECS01b_1.2.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML",
        {"fuel": "electricity", "standing_charge_mp": "20000", **tou_prices(3221, 4327, 5744)},
    ),
    ("1.2.1", "GCS01b_1.2.1_CANCELLATION_BLOCK_SUCCESS_REQUEST_DUIS.XML", "GBP, not ECB"),
    ("1.2.1", "GCS01b_1.2.1_FUTURE_DATED_BLOCK_SUCCESS_REQUEST_DUIS.XML", GAS_BLOCK_PRICES),
    (
        "1.2.1",
        "GCS01b_1.2.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML",
        {"fuel": "gas", "standing_charge_mp": "22465", **tou_prices(9600, 10200, 10750, 11000)},
    ),
    ("1.5", "ECS04a_1.5_SUCCESS_REQUEST_DUIS.XML", balance("prepayment", "1200000")),
    ("1.5", "ECS04b_1.5_SUCCESS_REQUEST_DUIS.XML", balance("credit")),
    ("1.5", "GCS40a_1.5_SUCCESS_REQUEST_DUIS.XML", balance("prepayment", "23130")),
    ("1.5", "GCS40b_1.5_SUCCESS_REQUEST_DUIS.XML", balance("prepayment")),
    ("1.5", "GCS40c_1.5_SUCCESS_REQUEST_DUIS.XML", balance("credit", "5000000")),
    ("1.5", "GCS40d_1.5_SUCCESS_REQUEST_DUIS.XML", balance("credit")),
    ("1.6", "ECS02_1.6_CANCELLATION_TWIN_SUCCESS_REQUEST_DUIS.XML", CREDIT),
    ("1.6", "ECS02_1.6_FUTURE_DATED_TWIN_SUCCESS_REQUEST_DUIS.XML", CREDIT),
    ("1.6", "ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML", CREDIT),
    (
        "1.6",
        "ECS03_1.6_CANCELLATION_TWIN_SUCCESS_REQUEST_DUIS.XML",
        prepayment_mode("0", "1", "556677"),
    ),
    (
        "1.6",
        "ECS03_1.6_FUTURE_DATED_TWIN_SUCCESS_REQUEST_DUIS.XML",
        prepayment_mode("1", "0", "556677"),
    ),
    (
        "1.6",
        "ECS03_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        prepayment_mode("1", "1", "556677"),
    ),
    ("1.6", "GCS02_1.6_CANCELLATION_SUCCESS_REQUEST_DUIS.XML", CREDIT),
    ("1.6", "GCS02_1.6_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML", CREDIT),
    ("1.6", "GCS02_1.6_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", CREDIT),
    ("1.6", "GCS03_1.6_CANCELLATION_SUCCESS_REQUEST_DUIS.XML", prepayment_mode("1", "0", "0")),
    ("1.6", "GCS03_1.6_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML", prepayment_mode("0", "1", "0")),
    ("1.6", "GCS03_1.6_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", prepayment_mode("0", "0", "0")),
    ("2.1", "ECS08_2.1_CANCELLATION_SUCCESS_REQUEST_DUIS.XML", ELEC_PREPAY),
    ("2.1", "ECS08_2.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML", ELEC_PREPAY),
    ("2.1", "ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", ELEC_PREPAY),
    ("2.1", "ECS08a_2.1_CANCELLATION_SUCCESS_REQUEST_DUIS.XML", ELEC_PREPAY),
    ("2.1", "ECS08a_2.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML", ELEC_PREPAY),
    ("2.1", "ECS08a_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", ELEC_PREPAY),
    ("2.1", "GCS05_2.1_CANCELLATION_SUCCESS_REQUEST_DUIS.XML", GAS_PREPAY),
    ("2.1", "GCS05_2.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML", GAS_PREPAY),
    ("2.1", "GCS05_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", GAS_PREPAY),
    ("2.2", "CS01a_2.2_SUCCESS_REQUEST_DUIS.XML", {"UTRN": "73946144332040217315"}),
    ("2.2", "CS01b_2.2_SUCCESS_REQUEST_DUIS.XML", {"UTRN": "73950067887105178605"}),
    ("2.3", "ECS07_2.3_SUCCESS_REQUEST_DUIS.XML", ELEC_DEBT),
    ("2.3", "GCS04_2.3_SUCCESS_REQUEST_DUIS.XML", GAS_DEBT),
    ("2.5", "ECS09_2.5_SUCCESS_REQUEST_DUIS.XML", {}),
    ("2.5", "GCS06_2.5_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.3", "ECS19_4.3_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.3", "GCS14_4.3_SUCCESS_RELIABLE_GPF_REQUEST_DUIS.XML", {}),
    ("4.3", "GCS14_4.3_SUCCESS_RELIABLE_GSME_REQUEST_DUIS.XML", {}),
    ("4.3", "GCS14_4.3_SUCCESS_UNRELIABLE_REQUEST_DUIS.XML", {}),
    ("4.11.1", "ECS24_4.11.1_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.11.1", "GCS21f_4.11.1_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.13", "ECS26a_4.13_SINGLE_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.13", "ECS26a_4.13_TWIN_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.13", "GCS21b_4.13_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.14", "ECS21b_4.14_KRP_SUCCESS_REQUEST_DUIS.XML", ECS_PERIOD),
    ("4.14", "ECS21b_4.14_URP_SUCCESS_REQUEST_DUIS.XML", ECS_PERIOD),
    (
        "4.14",
        "GCS16b_4.14_KRP_SUCCESS_REQUEST_DUIS.XML",
        {"start": "2014-12-29T23:00:00.000Z", "end": "2015-01-01T00:00:00.000Z"},
    ),
    (
        "4.14",
        "GCS16b_4.14_URP_SUCCESS_REQUEST_DUIS.XML",
        {"start": "2014-12-30T23:00:00.000Z", "end": "2015-01-01T00:00:00.000Z"},
    ),
    ("4.18", "ECS82_4.18_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.18", "GCS60_4.18_SUCCESS_REQUEST_DUIS.XML", {}),
    ("4.18", "GCS60a_4.18_SUCCESS_RELIABLE_GPF_REQUEST_DUIS.XML", {}),
    ("4.18", "GCS60a_4.18_SUCCESS_RELIABLE_GSME_REQUEST_DUIS.XML", {}),
    ("4.18", "GCS60a_4.18_SUCCESS_UNRELIABLE_GSME_REQUEST_DUIS.XML", {}),
    ("6.2.9", "ECS26j_6.2.9_SUCCESS_REQUEST_DUIS.XML", {}),
    ("6.2.9", "GCS21j_6.2.9_SUCCESS_REQUEST_DUIS.XML", {}),
)


# --------------------------------------------------------------------------- helpers


def meter(
    fuel: str = "electricity",
    mode: PaymentMode = PaymentMode.PREPAYMENT,
    balance_p: int = BALANCE_P,
) -> MeterState:
    kind, device = (Gsme, GSME_ID) if fuel == "gas" else (Esme, ESME_ID)
    return kind.for_device(
        device, commissioned=COMMISSIONED, payment_mode=mode, balance_p=balance_p
    )


def execute(device: MeterState, srv: str, parameters: Mapping[str, str]) -> Result:
    result, _ = EXECUTORS[srv](device, parameters, NOW)
    return result


def template_parameters(srv: str, name: str) -> dict[str, str]:
    path = next(p for p in templates_for(srv) if p.name == name)
    return SERVICE[srv].parameters(request_body(path))


def state(device: MeterState) -> tuple[object, ...]:
    """Everything the family writes, read through the model's API."""
    return (
        device.tariff,
        device.payment_mode,
        device.prepay_config,
        device.debt_recovery_rates_p,
        device.prepay_values(NOW),
        device.meter_balance(NOW),
    )


def refused(device: MeterState, srv: str, parameters: Mapping[str, str], reason: Reason) -> None:
    before = state(device)
    with pytest.raises(MeterError) as caught:
        execute(device, srv, parameters)
    assert caught.value.reason is reason
    assert state(device) == before


def texts(element: etree._Element, path: str) -> list[str]:
    """Texts at a path of ra: local names ("Gas/TOUTariff/TariffTOUPrice")."""
    steps = "/".join(f"ra:{step}" for step in path.split("/"))
    found = element.xpath(steps, namespaces={"ra": RA_NS})
    assert isinstance(found, list)
    return [node.text or "" for node in found if isinstance(node, etree._Element)]


def text(element: etree._Element, path: str) -> str:
    (value,) = texts(element, path)
    return value


@pytest.fixture
def valid(schema: DuisSchema, s1sp_credentials: SigningCredentials) -> Callable[..., None]:
    def check(element: etree._Element, srv: str) -> None:
        validate_mmc(element, srv, schema, s1sp_credentials)

    return check


# --------------------------------------------------------------------------- the family


def test_the_family_is_complete_and_named_once() -> None:
    assert tuple(SERVICE) == SRVS
    assert set(EXECUTORS) == set(SRVS)
    assert {s.srv for s in SERVICES if s.writes} == set(WRITES)
    commands = [s.command for s in SERVICES]
    assert len(set(commands)) == len(commands)
    assert all(c[0].islower() and c.isalnum() for c in commands)


def test_every_template_of_the_family_is_listed() -> None:
    listed = {(srv, name) for srv, name, _ in TEMPLATES}
    assert listed == {(srv, path.name) for srv in SRVS for path in templates_for(srv)}


@pytest.mark.parametrize(("srv", "name", "expected"), TEMPLATES, ids=[t[1] for t in TEMPLATES])
def test_a_template_reads_as_its_parameters(
    srv: str, name: str, expected: dict[str, str] | str
) -> None:
    path = next(p for p in templates_for(srv) if p.name == name)
    body = request_body(path)
    assert etree.QName(body).localname == default_catalogue().get(srv).body_element
    if isinstance(expected, str):
        with pytest.raises(InvalidParameters, match=expected):
            SERVICE[srv].parameters(body)
    else:
        assert SERVICE[srv].parameters(body) == expected


# --------------------------------------------------------------------------- tariff requests


def body_of(srv: str, name: str) -> etree._Element:
    return copy.deepcopy(request_body(next(p for p in templates_for(srv) if p.name == name)))


def on_one_day(body: etree._Element, day: str) -> etree._Element:
    """``body`` with every week day and special day on day profile ``day``."""
    for reference in body.iter(sr("ReferencedDayName")):
        reference.text = day
    return body


def one_day_tou(day: str) -> etree._Element:
    """The ECS TOU tariff template on day profile ``day`` only."""
    return on_one_day(body_of("1.1.1", "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML"), day)


def test_a_one_day_tou_tariff_wraps_the_last_switch_round_midnight() -> None:
    parameters = SERVICE["1.1.1"].parameters(one_day_tou("2"))  # 06:00 rate 3, 23:00 rate 2
    assert parameters["switching_table"] == ",".join(["2"] * 12 + ["3"] * 34 + ["2"] * 2)
    assert parameters["block_thresholds"] == ""  # a TOU tariff uses no block tariff's
    prices = {k: v for k, v in parameters.items() if k.startswith("price.")}
    assert prices == tou_prices(2121, 3127, 4744)


def set_first(local: str, value: str, attribute: str | None = None) -> Callable[..., None]:
    def edit(body: etree._Element) -> None:
        element = next(body.iter(sr(local)))
        if attribute is None:
            element.text = value
        else:
            element.set(attribute, value)

    return edit


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (set_first("PriceScale", "-6"), "finer than a milli-penny"),  # 2121e-6 GBP
        (set_first("StandingChargeScale", "-10"), "finer than a milli-penny"),
        (set_first("StartTime", "07:15:00Z"), "on the half hour"),
        (set_first("TOUPrice", "9", "index"), "8 TOU rates, not 9"),
        (set_first("TOUTariffAction", "4"), "TOU rate 4, which has no price"),
        (set_first("CurrencyUnits", "ECB"), "GBP, not ECB"),
        (set_first("ReferencedWeekName", "3"), "week profile 3, which is missing"),
    ],
)
def test_a_tariff_the_meter_cannot_hold_is_refused(
    edit: Callable[[etree._Element], None], reason: str
) -> None:
    body = one_day_tou("1")
    edit(body)
    with pytest.raises(InvalidParameters, match=reason):
        SERVICE["1.1.1"].parameters(body)


def test_block_tariffs_with_different_thresholds_are_refused() -> None:
    name = "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML"
    body = on_one_day(body_of("1.1.1", name), "1")  # block tariffs 1 and 2, thresholds differ
    with pytest.raises(InvalidParameters, match="one set of block thresholds"):
        SERVICE["1.1.1"].parameters(body)


def test_a_tou_rate_and_a_block_tariff_may_not_share_a_rate() -> None:
    body = body_of("1.2.1", "ECS01b_1.2.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML")
    next(body.iter(sr("TOUPrice"))).set("index", "8")
    with pytest.raises(InvalidParameters, match="share the meter's rate 8"):
        SERVICE["1.2.1"].parameters(body)


# --------------------------------------------------------------------------- tariff writes


def expected_tariff(parameters: Mapping[str, str]) -> Tariff:
    rows = {int(k[6:]): [int(p) for p in v.split(",")] for k, v in parameters.items() if "." in k}
    padded = {rate: tuple(row + row[-1:] * (4 - len(row))) for rate, row in rows.items()}
    return Tariff(
        switching_table=tuple(int(r) for r in parameters["switching_table"].split(",")),
        prices_mp=tuple(padded.get(rate, (0, 0, 0, 0)) for rate in range(1, 9)),
        block_thresholds=tuple(int(t) for t in parameters["block_thresholds"].split(",")),
        standing_charge_p=pence(int(parameters["standing_charge_mp"])),
    )


@pytest.mark.parametrize("parameters", [ELEC_BLOCK_TARIFF, GAS_BLOCK_TARIFF], ids=FUELS)
def test_update_import_tariff(parameters: dict[str, str], valid: Callable[..., None]) -> None:
    device = meter(parameters["fuel"])
    result = execute(device, "1.1.1", parameters)
    assert device.tariff == expected_tariff(parameters)
    assert device.tariff.price_mp(8, 4) == int(parameters["price.8"].split(",")[-1])
    assert result == {}
    element = SERVICE["1.1.1"].response(result)
    assert element.tag == ra("UpdateImportTariffPrimaryElementRsp")
    valid(element, "1.1.1")


def test_a_gas_standing_charge_is_charged_to_the_nearest_penny() -> None:
    device = meter("gas")
    execute(device, "1.1.1", GAS_BLOCK_TARIFF)
    assert device.tariff.standing_charge_p == 55  # 54.794p


@pytest.mark.parametrize(
    ("fuel", "change", "reason"),
    [
        ("gas", {}, Reason.INVALID_VALUE),  # an electricity tariff for a gas meter
        ("electricity", {"block_thresholds": "20000,10000"}, Reason.INVALID_VALUE),
        ("electricity", {"switching_table": all_day(9)}, Reason.UNKNOWN_RATE),
        ("electricity", {"price.9": "1"}, Reason.UNKNOWN_RATE),
        ("electricity", {"standing_charge_mp": "-1000"}, Reason.INVALID_VALUE),
    ],
)
def test_a_refused_tariff_changes_nothing(
    fuel: str, change: dict[str, str], reason: Reason
) -> None:
    refused(meter(fuel), "1.1.1", {**ELEC_BLOCK_TARIFF, **change}, reason)


def test_update_price_replaces_the_rates_named(valid: Callable[..., None]) -> None:
    device = meter()
    before = device.tariff
    parameters = template_parameters("1.2.1", "ECS01b_1.2.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML")
    result = execute(device, "1.2.1", parameters)
    after = device.tariff
    assert [after.price_mp(rate, 1) for rate in (1, 2, 3, 4)] == [
        3221,
        4327,
        5744,
        before.price_mp(4, 1),
    ]
    assert after.standing_charge_p == 20
    assert after.switching_table == before.switching_table
    valid(SERVICE["1.2.1"].response(result), "1.2.1")


def test_update_price_of_a_gas_block_tariff() -> None:
    device = meter("gas")
    execute(device, "1.1.1", GAS_BLOCK_TARIFF)
    execute(device, "1.2.1", {**GAS_BLOCK_PRICES, "price.8": "9700,10300,10800,11100"})
    assert device.tariff.prices_mp[7] == (9700, 10300, 10800, 11100)
    assert device.tariff.standing_charge_p == 22  # 22.465p
    assert device.tariff.block_thresholds == (1_000_000, 2_000_000)


def test_a_refused_price_changes_nothing() -> None:
    refused(meter(), "1.2.1", {**ELEC_HYBRID_PRICES, "price.1": "-5"}, Reason.INVALID_VALUE)
    refused(meter(), "1.2.1", GAS_BLOCK_PRICES, Reason.INVALID_VALUE)


# --------------------------------------------------------------------------- 4.11.1


def test_read_tariff_of_a_tou_meter(valid: Callable[..., None]) -> None:
    device = meter()
    result = execute(device, "4.11.1", {})
    tariff = device.tariff
    rate = tariff.switching_table[NOW.hour * 2 + NOW.minute // 30]
    assert result == {
        "fuel": "electricity",
        "switching_table": tariff.switching_table,
        "prices_mp": tariff.prices_mp,
        "block_thresholds": tariff.block_thresholds,
        "standing_charge_p": tariff.standing_charge_p,
        "active_rate": rate,
        "active_price_mp": tariff.price_mp(rate, 1),
    }
    element = SERVICE["4.11.1"].response(result)
    valid(element, "4.11.1")
    # 40,000 milli-pence does not fit an xs:short: prices are stated in 10^-4 GBP.
    assert text(element, "Electricity/PriceScale") == "-4"
    prices = texts(element, "Electricity/TariffTOUPriceMatrix/TariffTOUPrice")
    assert prices == [str(tariff.price_mp(r, 1) // 10) for r in range(1, 5)]
    active = text(element, "Electricity/PrimaryActiveTariffPrice")
    assert active == str(tariff.price_mp(rate, 1) // 10)
    standing = int(text(element, "Electricity/StandingCharge"))
    scale = int(text(element, "Electricity/StandingChargeScale"))
    assert standing * 10 ** (scale + 5) == tariff.standing_charge_p * 1000
    table = tariff.switching_table
    switches = [i for i in range(48) if i == 0 or table[i] != table[i - 1]]
    schedule = "Electricity/TariffSwitchingTable/DayProfiles/DayProfile/ProfileSchedule"
    starts = [f"{i // 2:02d}:{i % 2 * 30:02d}:00Z" for i in switches]
    assert texts(element, f"{schedule}/StartTime") == starts
    assert texts(element, f"{schedule}/TOUTariffAction") == [str(table[i]) for i in switches]


def test_read_tariff_of_a_block_meter(valid: Callable[..., None]) -> None:
    device = meter()
    execute(device, "1.1.1", ELEC_BLOCK_TARIFF)
    result = execute(device, "4.11.1", {})
    assert result["prices_mp"] == device.tariff.prices_mp
    assert "active_price_mp" not in result  # the block decides
    element = SERVICE["4.11.1"].response(result)
    valid(element, "4.11.1")
    base = "Electricity/TariffBlockPriceMatrix/TariffBlockPrices"
    assert element.xpath("//*[local-name()='TariffBlockPrices']/@index") == ["1"]
    assert texts(element, f"{base}/BlockPrice") == ["1361", "2289", "5566", "5566"]
    schedule = "Electricity/TariffSwitchingTable/DayProfiles/DayProfile/ProfileSchedule"
    assert texts(element, f"{schedule}/BlockTariffAction") == ["1"]  # block tariff 1 is rate 8
    thresholds = "Electricity/TariffThresholdMatrix/ElecTariffThresholds/BlockThreshold"
    assert texts(element, thresholds) == ["10000", "20000"] * 8


def test_read_tariff_of_a_gas_meter(valid: Callable[..., None]) -> None:
    device = meter("gas")
    element = SERVICE["4.11.1"].response(execute(device, "4.11.1", {}))
    valid(element, "4.11.1")
    # The default tariff switches within the day, which a GSME's switching table cannot say.
    assert texts(element, "Gas/TariffSwitchingTable") == []
    prices = texts(element, "Gas/TOUTariff/TariffTOUPrice")
    assert prices == [str(device.tariff.price_mp(r, 1)) for r in range(1, 5)]
    execute(device, "1.1.1", GAS_BLOCK_TARIFF)
    result = execute(device, "4.11.1", {})
    assert result["block_thresholds"] == device.tariff.block_thresholds
    element = SERVICE["4.11.1"].response(result)
    valid(element, "4.11.1")
    assert text(element, "Gas/StandingCharge") == "55000"
    assert texts(element, "Gas/TariffSwitchingTable/DayProfiles/DayProfile/BlockTariff") == [""]
    assert texts(element, "Gas/TariffThresholds/BlockThreshold") == ["1000000", "2000000"]
    assert texts(element, "Gas/BlockTariff/BlockPrice") == ["9600", "10200", "10750", "11000"]


# --------------------------------------------------------------------------- balance and mode


@pytest.mark.parametrize(("fuel", "amount_mp"), [("electricity", 1_200_000), ("gas", 23_130)])
def test_adjust_the_meter_balance(fuel: str, amount_mp: int, valid: Callable[..., None]) -> None:
    device = meter(fuel)
    before = device.meter_balance(NOW)
    result = execute(device, "1.5", balance("prepayment", str(amount_mp)))
    assert device.meter_balance(NOW) == before + pence(amount_mp)
    assert result == {"balance_p": device.meter_balance(NOW)}
    valid(SERVICE["1.5"].response(result), "1.5")


@pytest.mark.parametrize("mode", list(PaymentMode))
def test_reset_the_meter_balance(mode: PaymentMode) -> None:
    device = meter("gas", mode)
    assert device.meter_balance(NOW) != 0
    assert execute(device, "1.5", balance(mode.value)) == {"balance_p": 0}
    assert device.meter_balance(NOW) == 0


def test_a_refused_balance_update_changes_nothing() -> None:
    refused(meter(), "1.5", balance("credit", "1000"), Reason.WRONG_PAYMENT_MODE)
    refused(meter(), "1.5", balance("prepayment", "400"), Reason.INVALID_VALUE)  # 0.4p is 0p


@pytest.mark.parametrize("fuel", FUELS)
def test_update_payment_mode(fuel: str, valid: Callable[..., None]) -> None:
    device = meter(fuel, PaymentMode.CREDIT)
    result = execute(device, "1.6", prepayment_mode("1", "1", "556677"))
    assert result == {"payment_mode": "prepayment"}
    assert device.payment_mode is PaymentMode.PREPAYMENT
    valid(SERVICE["1.6"].response(result), "1.6")
    assert execute(device, "1.6", CREDIT) == {"payment_mode": "credit"}
    assert device.payment_mode.value == "credit"
    refused(device, "1.6", {"mode": "barter"}, Reason.INVALID_VALUE)


@pytest.mark.parametrize("fuel", FUELS)
@pytest.mark.parametrize("mode", list(PaymentMode))
def test_read_payment_mode(fuel: str, mode: PaymentMode, valid: Callable[..., None]) -> None:
    device = meter(fuel, mode)
    result = execute(device, "6.2.9", {})
    assert result == {"payment_mode": device.payment_mode.value}
    element = SERVICE["6.2.9"].response(result)
    valid(element, "6.2.9")
    assert text(element, "PaymentMode") == mode.value.capitalize()


@pytest.mark.parametrize("fuel", FUELS)
def test_read_meter_balance(fuel: str, valid: Callable[..., None]) -> None:
    device = meter(fuel)
    execute(device, "1.5", balance("prepayment", "123000"))
    result = execute(device, "4.18", {})
    assert result == {
        "fuel": fuel,
        "payment_mode": "prepayment",
        "balance_p": device.meter_balance(NOW),
    }
    element = SERVICE["4.18"].response(result)
    valid(element, "4.18")
    assert text(element, "MeterBalance") == str(device.meter_balance(NOW) * 1000)
    in_mode = texts(element, "Gas/MeterBalancePrepaymentMode")
    assert in_mode == ([str(device.meter_balance(NOW) * 1000)] if fuel == "gas" else [])


# --------------------------------------------------------------------------- prepayment settings


@pytest.mark.parametrize("parameters", [ELEC_PREPAY, GAS_PREPAY], ids=FUELS)
def test_update_prepay_configuration(
    parameters: dict[str, str], valid: Callable[..., None]
) -> None:
    device = meter(parameters["fuel"])
    before = device.prepay_config
    result = execute(device, "2.1", parameters)
    assert device.prepay_config == PrepayConfig(
        low_credit_threshold_p=pence(int(parameters["low_credit_threshold_mp"])),
        emergency_credit_limit_p=pence(int(parameters["emergency_credit_limit_mp"])),
        emergency_credit_threshold_p=pence(int(parameters["emergency_credit_threshold_mp"])),
        debt_recovery_cap_p_per_day=pence(int(parameters["debt_recovery_cap_mp"])),
        payment_debt_recovery_percent=before.payment_debt_recovery_percent,
        payment_debt_recovery_cap_p=before.payment_debt_recovery_cap_p,
        non_disablement_calendar=True,
    )
    valid(SERVICE["2.1"].response(result), "2.1")


def test_a_refused_prepay_configuration_changes_nothing() -> None:
    refused(
        meter(), "2.1", {**ELEC_PREPAY, "low_credit_threshold_mp": "-1000"}, Reason.INVALID_VALUE
    )
    refused(meter(), "2.1", GAS_PREPAY, Reason.INVALID_VALUE)


@pytest.mark.parametrize(
    ("parameters", "debts", "rates", "percent"),
    [(ELEC_DEBT, (30, 15, 50), (30, 150), 10), (GAS_DEBT, (1000, 500, 1000), (50, 1200), 1)],
    ids=FUELS,
)
def test_update_debt(
    parameters: dict[str, str],
    debts: tuple[int, int, int],
    rates: tuple[int, int],
    percent: int,
    valid: Callable[..., None],
) -> None:
    device = meter(parameters["fuel"])
    result = execute(device, "2.3", parameters)
    values = device.prepay_values(NOW)
    assert (*values.time_debts_p, values.payment_debt_p) == debts
    assert device.debt_recovery_rates_p == rates
    assert device.prepay_config.payment_debt_recovery_percent == percent
    assert result == dict(
        zip(("time_debt_1_p", "time_debt_2_p", "payment_debt_p"), debts, strict=True)
    )
    valid(SERVICE["2.3"].response(result), "2.3")
    # Adjustments add up; the second application doubles each register.
    execute(device, "2.3", parameters)
    values = device.prepay_values(NOW)
    assert (*values.time_debts_p, values.payment_debt_p) == tuple(2 * d for d in debts)


def test_a_refused_debt_update_changes_nothing() -> None:
    device = meter()
    execute(device, "2.3", ELEC_DEBT)
    refused(device, "2.3", {**ELEC_DEBT, "payment_debt_mp": "-60000"}, Reason.INVALID_VALUE)
    refused(device, "2.3", {**ELEC_DEBT, "recovery_rate_2_mp": "-1000"}, Reason.INVALID_VALUE)
    refused(
        device, "2.3", {**ELEC_DEBT, "debt_recovery_per_payment_bp": "20000"}, Reason.INVALID_VALUE
    )
    refused(device, "2.3", GAS_DEBT, Reason.INVALID_VALUE)


@pytest.mark.parametrize("fuel", FUELS)
def test_activate_emergency_credit(fuel: str, valid: Callable[..., None]) -> None:
    # Below the emergency credit threshold, emergency credit is on offer.
    device = meter(fuel, balance_p=-100)
    assert device.prepay_values(NOW).emergency_credit_available
    result = execute(device, "2.5", {})
    values = device.prepay_values(NOW)
    assert values.emergency_credit_active
    assert result == {"emergency_credit_p": values.emergency_credit_p}
    assert values.emergency_credit_p == device.prepay_config.emergency_credit_limit_p
    valid(SERVICE["2.5"].response(result), "2.5")
    refused(device, "2.5", {}, Reason.EMERGENCY_CREDIT_UNAVAILABLE)
    refused(meter(fuel, PaymentMode.CREDIT), "2.5", {}, Reason.WRONG_PAYMENT_MODE)


# --------------------------------------------------------------------------- prepayment reads


@pytest.mark.parametrize("fuel", FUELS)
def test_read_instantaneous_prepay_values(fuel: str, valid: Callable[..., None]) -> None:
    device = meter(fuel)
    device.update_debt(NOW, DebtRegister.TIME_2, adjustment_p=75)
    device.update_debt(NOW, DebtRegister.PAYMENT, adjustment_p=120)
    result = execute(device, "4.3", {})
    values = device.prepay_values(NOW)
    assert result == {
        "balance_p": values.balance_p,
        "emergency_credit_p": values.emergency_credit_p,
        "emergency_credit_active": int(values.emergency_credit_active),
        "emergency_credit_available": int(values.emergency_credit_available),
        "time_debt_1_p": values.time_debts_p[0],
        "time_debt_2_p": values.time_debts_p[1],
        "payment_debt_p": values.payment_debt_p,
        "accumulated_debt_p": values.accumulated_debt_p,
    }
    element = SERVICE["4.3"].response(result)
    valid(element, "4.3")
    assert text(element, "MeterBalance") == str(values.balance_p * 1000)
    assert text(element, "TimeDebtRegister2") == "75000"
    assert text(element, "PaymentDebtRegister") == "120000"


@pytest.mark.parametrize("parameters", [ELEC_PREPAY, GAS_PREPAY], ids=FUELS)
def test_read_prepayment_configuration(
    parameters: dict[str, str], valid: Callable[..., None]
) -> None:
    device = meter(parameters["fuel"])
    plain = execute(device, "4.13", {})
    assert plain["non_disablement_schedule"] == ()
    valid(SERVICE["4.13"].response(plain), "4.13")
    execute(device, "2.1", parameters)
    execute(device, "2.3", ELEC_DEBT if parameters is ELEC_PREPAY else GAS_DEBT)
    result = execute(device, "4.13", {})
    config = device.prepay_config
    assert result == {
        "fuel": parameters["fuel"],
        "payment_mode": device.payment_mode.value,
        "debt_recovery_per_payment_bp": config.payment_debt_recovery_percent * 100,
        "debt_recovery_cap_p": config.debt_recovery_cap_p_per_day,
        "emergency_credit_limit_p": config.emergency_credit_limit_p,
        "emergency_credit_threshold_p": config.emergency_credit_threshold_p,
        "low_credit_threshold_p": config.low_credit_threshold_p,
        "debt_recovery_rates_p": device.debt_recovery_rates_p,
        "non_disablement_schedule": NON_DISABLEMENT_SCHEDULE,
    }
    element = SERVICE["4.13"].response(result)
    valid(element, "4.13")
    assert text(element, "LowCreditThreshold") == str(config.low_credit_threshold_p * 1000)
    assert text(element, "DebtRecoveryPerPayment") == str(
        config.payment_debt_recovery_percent * 100
    )
    if parameters is GAS_PREPAY:
        assert texts(element, "Gas/DebtRecovery1/DebtRecoveryRate") == ["50000"]  # milli-pence
        assert texts(element, "Gas/DebtRecovery2/DebtRecoveryRate") == ["1200000"]
        week = "Gas/NonDisablementCalendar/WeekProfiles/WeekProfile/ReferencedDayName"
        assert texts(element, week) == ["1", "1", "1", "1", "1", "2", "2"]
        starts = "Gas/NonDisablementCalendar/DayProfiles/GasNonDisablementDayProfile"
        assert texts(element, f"{starts}/TimeStartAction/StartTime") == [
            *("00:00:00Z", "08:00:00Z", "16:00:00Z"),
            "00:00:00Z",
        ]
    else:
        assert text(element, "Electricity/PaymentMode") == "Prepayment"
        assert texts(element, "Electricity/DebtRecovery2/DebtRecoveryRate") == ["150"]  # pence
        assert texts(element, "Electricity/DebtRecovery2/DebtRecoveryRatePriceScale") == ["-2"]
        schedule = "Electricity/NonDisablementCalendar/ElectricityNonDisablementSchedule"
        assert texts(element, f"{schedule}/NonDisablementScript") == [
            *("START", "STOP", "START", "START"),
        ]


def log_period(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": format_datetime(start), "end": format_datetime(end)}


@pytest.mark.parametrize("fuel", FUELS)
def test_read_prepayment_daily_read_log(fuel: str, valid: Callable[..., None]) -> None:
    device = meter(fuel)
    start, end = NOW - timedelta(days=10), NOW
    result = execute(device, "4.14", log_period(start, end))
    reads = [r for r in device.daily_reads(NOW) if start <= r.at <= end]
    assert len(reads) == 10
    assert result == {
        "fuel": fuel,
        "prepayment_log": tuple(
            (
                r.at,
                r.prepay.balance_p,
                r.prepay.emergency_credit_p,
                r.prepay.accumulated_debt_p,
                r.prepay.payment_debt_p,
                *r.prepay.time_debts_p,
            )
            for r in reads
        ),
    }
    element = SERVICE["4.14"].response(result)
    valid(element, "4.14")
    side = "Gas" if fuel == "gas" else "Electricity"
    assert texts(element, f"{side}/LogEntry/Timestamp") == [format_datetime(r.at) for r in reads]
    assert texts(element, f"{side}/LogEntry/MeterBalance") == [
        str(r.prepay.balance_p * 1000) for r in reads
    ]
    # The whole 40 days: the MMC holds the newest 31.
    everything = execute(device, "4.14", log_period(COMMISSIONED, NOW))["prepayment_log"]
    assert isinstance(everything, tuple) and len(everything) == 31
    newest = result["prepayment_log"]
    assert isinstance(newest, tuple) and everything[0] == newest[0]


# --------------------------------------------------------------------------- 2.2 Top Up Device

# One cohort per UTRN algorithm; the meters are provisioned as their head-end provisions them.
ALGORITHM_COHORTS = {"gbcs": "landis", "hmac-sha256": "aclara", "sts": "elster"}
TOP_UP_P = 1_500


def token_meter(fuel: str, name: str, mode: PaymentMode = PaymentMode.PREPAYMENT) -> MeterState:
    device = meter(fuel, mode)
    device.install_token_reader(TokenReader(algorithm(name), CohortKeys(ALGORITHM_COHORTS[name])))
    return device


def issued(device: MeterState, name: str, amount_p: int = TOP_UP_P) -> str:
    """A UTRN for ``device``, made as the S1SP makes it (the algorithm's own ``issue``)."""
    utrn = algorithm(name)
    keys = CohortKeys(ALGORITHM_COHORTS[name])
    return utrn.issue(keys, device.device_id, utrn.next_counter(None, NOW), amount_p)


def logged(device: MeterState) -> tuple[object, ...]:
    return (*state(device), tuple(device.event_log(NOW)))


def test_a_top_up_utrn_is_20_decimal_digits() -> None:
    body = body_of("2.2", "CS01a_2.2_SUCCESS_REQUEST_DUIS.XML")
    utrn = next(body.iter(sr("UTRN")))
    for bad in ("7394614433204021731", "7394614433204021731x", ""):
        utrn.text = bad
        with pytest.raises(InvalidParameters, match="20 decimal digits"):
            SERVICE["2.2"].parameters(body)


@pytest.mark.parametrize("name", ALGORITHM_COHORTS)
@pytest.mark.parametrize("template", ["CS01a", "CS01b"])
def test_a_template_utrn_is_refused_and_changes_nothing(name: str, template: str) -> None:
    # The RTDS templates' UTRNs were made for no meter of ours: refused before any credit.
    parameters = template_parameters("2.2", f"{template}_2.2_SUCCESS_REQUEST_DUIS.XML")
    device = token_meter("electricity", name)
    before = logged(device)
    with pytest.raises(MeterError) as caught:
        execute(device, "2.2", parameters)
    assert caught.value.reason is Reason.INVALID_VALUE
    why = caught.value.detail.removeprefix("UTRN ").split(":")[0]
    assert why in {"format", "check_digit", "authentication"}
    assert logged(device) == before


@pytest.mark.parametrize("fuel", FUELS)
@pytest.mark.parametrize("name", ALGORITHM_COHORTS)
def test_top_up_device_credits_once(fuel: str, name: str, valid: Callable[..., None]) -> None:
    device = token_meter(fuel, name)
    body = on_one_utrn(issued(device, name))
    parameters = SERVICE["2.2"].parameters(body)
    balance_before = execute(device, "4.18", {})["balance_p"]
    result = execute(device, "2.2", parameters)
    assert result["amount_p"] == TOP_UP_P
    assert result["counter"] == algorithm(name).next_counter(None, NOW)
    balance_after = int_of(execute(device, "4.18", {})["balance_p"])
    assert balance_after > int_of(balance_before)
    # As a top-up of the same amount on an identical meter (debt and emergency credit first).
    twin = token_meter(fuel, name)
    twin.top_up(NOW, TOP_UP_P)
    assert (balance_after, device.prepay_values(NOW)) == (
        execute(twin, "4.18", {})["balance_p"],
        twin.prepay_values(NOW),
    )
    element = SERVICE["2.2"].response(result)
    assert element.tag == ra("TopUpDeviceRsp") and len(element) == 0  # credit stays unsaid
    valid(element, "2.2")
    # The very same token again: authentic, but its counter was used.
    before = logged(device)
    with pytest.raises(MeterError, match=r"invalid_value: UTRN replay: "):
        execute(device, "2.2", parameters)
    assert logged(device) == before


@pytest.mark.parametrize("name", ALGORITHM_COHORTS)
def test_a_credit_mode_meter_refuses_a_top_up(name: str) -> None:
    device = token_meter("electricity", name, PaymentMode.CREDIT)
    refused(device, "2.2", {"UTRN": issued(device, name)}, Reason.WRONG_PAYMENT_MODE)


def on_one_utrn(utrn: str) -> etree._Element:
    body = body_of("2.2", "CS01a_2.2_SUCCESS_REQUEST_DUIS.XML")
    next(body.iter(sr("UTRN"))).text = utrn
    return body
