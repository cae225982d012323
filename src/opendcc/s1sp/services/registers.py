"""Further SMETS1 reads: block counters, reactive and export profiles, maximum demand, load limit.

SMETS1 (first-edition) meters hold these registers as SMETS2 ones do; the DUIS (DCC User
Interface Specification) SRVs below read them without changing the meter. Each answer is an MMC
(Message Mapping Catalogue) ``ra:<Name>Rsp``. Parameters: none, or the request's
``ReadLogPeriod`` as ``start`` and ``end`` (``base.log_period``).

Result keys (records are tuples, fields in the order given; profiles oldest first):

- 4.1.3 Read Instantaneous Import TOU With Blocks Matrices (an electricity meter's):
  ``matrix``, Wh per (TOU rate, block), rate 1 first, each row block 1 first.
- 4.1.4 Read Instantaneous Import Block Counters (a gas meter's): ``block_counters``, litres
  per block (the MMC carries m3 with three decimals), block 1 first.
- 4.8.2 Read Reactive Import Profile Data: ``profile``: (half hour start, varh).
- 4.8.3 Read Export Profile Data: ``profile``: (half hour start, active Wh exported).
- 4.12.1 Read Maximum Demand Import Registers: ``import_max_wh``, ``import_max_at`` (the half
  hour of the largest import since the register's last reset; absent if none), and
  ``import_reset_at`` where it was reset.
- 4.12.2 Read Maximum Demand Export Registers: the same for export, ``export_...``.
- 4.4.4 Retrieve Billing Data Log (Payment Based Debt Payments): ``debt_payments``: (taken
  at, pence repaid), newest first; 4.4.5 (Prepayment Credits): ``credits``: (taken at, pence
  credited), newest first. The MMC states both in milli-pence.
- 4.15 Read Load Limit Data: ``counter`` (the half hours whose average draw passed the load
  limit threshold since the counter's last reset) and, where 6.4.1 set them, ``threshold_w``,
  ``period_s``, ``restoration_period_s`` and ``supply_state`` (``Disable`` or ``Unchanged``).
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from opendcc.duis.response import format_datetime
from opendcc.s1sp.services.base import (
    Datum,
    Result,
    Service,
    int_of,
    log_period,
    no_parameters,
    str_of,
    tuple_of,
)
from opendcc.s1sp.services.xml import add, response_element

LITRES_PER_M3 = 1000
MILLIPENCE_PER_PENNY = 1000


def _time(value: Datum) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a date-time, got {value!r}")
    return format_datetime(value)


def _m3(litres: Datum) -> str:
    whole, fraction = divmod(int_of(litres), LITRES_PER_M3)
    return f"{whole}.{fraction:03d}"


def tou_with_blocks(result: Result) -> etree._Element:
    """4.1.3: each block's register for each TOU rate, Wh."""
    element = response_element("ReadInstantaneousImportTOUWithBlocksMatricesRsp")
    collection = add(element, "TariffBlockTOURegisterCollection")
    rows = [tuple_of(row) for row in tuple_of(result["matrix"])]
    for block in range(len(rows[0]) if rows else 0):
        tariff_block = add(collection, "TariffBlock")
        tariff_block.set("index", str(block + 1))
        for rate, row in enumerate(rows, start=1):
            add(tariff_block, "RegisterMatrixTOUValue", int_of(row[block])).set("index", str(rate))
    return element


def block_counters(result: Result) -> etree._Element:
    """4.1.4: the gas meter's import block counters, m3."""
    element = response_element("ReadInstantaneousImportBlockCountersRsp")
    counters = add(element, "ImportBlockCounters")
    for index, litres in enumerate(tuple_of(result["block_counters"]), start=1):
        add(counters, "TariffBlockCounterValue", _m3(litres)).set("index", str(index))
    return element


def reactive_profile(result: Result) -> etree._Element:
    """4.8.2: reactive energy imported per half hour, varh."""
    element = response_element("ReadReactiveImportProfileDataRsp")
    for start, varh in (tuple_of(r) for r in tuple_of(result["profile"])):
        entry = add(element, "LogEntry")
        add(entry, "ReactiveEnergyImportedValue", int_of(varh))
        add(entry, "Timestamp", _time(start))
    return element


def export_profile(result: Result) -> etree._Element:
    """4.8.3: active energy exported per half hour, Wh."""
    element = response_element("ReadExportProfileDataRsp")
    for start, wh in (tuple_of(r) for r in tuple_of(result["profile"])):
        entry = add(element, "LogEntry")
        add(entry, "ActiveEnergyExportedValue", int_of(wh))
        add(entry, "Timestamp", _time(start))
    return element


def _maximum(parent: etree._Element, local: str, result: Result, prefix: str) -> None:
    register = add(parent, local)
    add(register, "Value", int_of(result[f"{prefix}_max_wh"]))
    if f"{prefix}_max_at" in result:
        add(register, "CaptureTime", _time(result[f"{prefix}_max_at"]))
    if f"{prefix}_reset_at" in result:
        add(register, "LastResetDateTime", _time(result[f"{prefix}_reset_at"]))


def maximum_demand_import(result: Result) -> etree._Element:
    """4.12.1: the largest half-hourly import since the register's reset."""
    element = response_element("ReadMaximumDemandImportRegistersRsp")
    _maximum(element, "MaxDemandActiveEnergyImport", result, "import")
    return element


def maximum_demand_export(result: Result) -> etree._Element:
    """4.12.2: the largest half-hourly export since the register's reset."""
    element = response_element("ReadMaximumDemandExportRegistersRsp")
    _maximum(element, "MaxDemandActiveEnergyExport", result, "export")
    return element


def _amounts(local: str, group: str, records: Datum) -> etree._Element:
    element = response_element(local)
    log = add(element, group)
    for record in tuple_of(records):
        at, pence = tuple_of(record)
        entry = add(log, "LogEntry")
        add(entry, "Amount", int_of(pence) * MILLIPENCE_PER_PENNY)
        add(entry, "Timestamp", _time(at))
    return element


def debt_payments(result: Result) -> etree._Element:
    """4.4.4: the payment-based debt repayments in the period."""
    return _amounts(
        "RetrieveBillingDataLogDebtPaymentsRsp",
        "PaymentBasedDebtRepayment",
        result["debt_payments"],
    )


def prepayment_credits(result: Result) -> etree._Element:
    """4.4.5: the top-ups in the period."""
    return _amounts(
        "RetrieveBillingDataLogPrepaymentCreditsRsp", "PrepaymentCredits", result["credits"]
    )


def load_limit_data(result: Result) -> etree._Element:
    """4.15: the load limit counter and the load limiting settings the meter holds."""
    element = response_element("ReadLoadLimitDataRsp")
    add(element, "LoadLimitCounterValue", int_of(result["counter"]))
    for key, local in (
        ("threshold_w", "LoadLimitPowerThreshold"),
        ("period_s", "LoadLimitPeriod"),
        ("restoration_period_s", "LoadLimitRestorationPeriod"),
    ):
        if key in result:
            add(element, local, int_of(result[key]))
    if "supply_state" in result:
        add(element, "LoadLimitSupplyState", str_of(result["supply_state"]))
    return element


SERVICES: tuple[Service, ...] = (
    Service(
        "4.1.3", "readInstantaneousImportTOUWithBlocksMatrices", no_parameters, tou_with_blocks
    ),
    Service("4.1.4", "readInstantaneousImportBlockCounters", no_parameters, block_counters),
    Service("4.4.4", "retrieveBillingDataLogDebtPayments", log_period, debt_payments),
    Service("4.4.5", "retrieveBillingDataLogPrepaymentCredits", log_period, prepayment_credits),
    Service("4.8.2", "readReactiveImportProfileData", log_period, reactive_profile),
    Service("4.8.3", "readExportProfileData", log_period, export_profile),
    Service("4.12.1", "readMaximumDemandImportRegisters", no_parameters, maximum_demand_import),
    Service("4.12.2", "readMaximumDemandExportRegisters", no_parameters, maximum_demand_export),
    Service("4.15", "readLoadLimitData", no_parameters, load_limit_data),
)
