"""Data validation: each rejection reason, and every reason of a record reported at once."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from tests.migration.rig import SPARE_MODEL, SUPPLIER, T0, Rig, record

from opendcc.catalogue import UserRole
from opendcc.core.eui import Eui64
from opendcc.inventory import Registration, SmiStatus
from opendcc.migration.records import RejectionCode, parse_line
from opendcc.migration.validate import mpan_valid

R = RejectionCode
OTHER_SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-07")


def edit(change: Callable[[dict[str, Any]], object], n: int = 1) -> dict[str, Any]:
    r = copy.deepcopy(record(n))
    change(r)
    return r


def device(r: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(d for d in r["devices"] if d["type"] == kind)


CASES: dict[str, tuple[Any, set[RejectionCode]]] = {
    "not json": ("{not json", {R.MALFORMED}),
    "not an object": ("[1, 2]", {R.MALFORMED}),
    "unknown field": (edit(lambda r: r.update(colour="red")), {R.MALFORMED}),
    "wrong type": (edit(lambda r: r.update(cohort=7)), {R.MALFORMED}),
    "no devices": (edit(lambda r: r.update(devices=[])), {R.MISSING_FIELD}),
    "no authorisation": (edit(lambda r: r.pop("authorisation")), {R.MISSING_AUTHORISATION}),
    "bad mode": (edit(lambda r: r.update(mode="sleepy")), {R.INVALID_MODE}),
    "dormant unscheduled": (edit(lambda r: r.update(mode="dormant")), {R.MISSING_SCHEDULE}),
    "unknown cohort": (
        edit(lambda r: r.update(cohort="nobody")),
        {R.UNKNOWN_COHORT, R.COMBINATION_NOT_ELIGIBLE},
    ),
    "bad device id": (
        edit(lambda r: device(r, "IHD").update(device_id="00-DB-ZZ")),
        {R.INVALID_DEVICE_ID},
    ),
    "bad device type": (
        edit(lambda r: device(r, "IHD").update(type="TOASTER")),
        {R.INVALID_DEVICE_TYPE},
    ),
    "no comms hub": (
        edit(lambda r: r.update(devices=[d for d in r["devices"] if d["type"] != "CHF"])),
        {R.INCOMPLETE_INSTALLATION, R.COMBINATION_NOT_ELIGIBLE},
    ),
    "gsme without gpf": (
        edit(lambda r: r.update(devices=[d for d in r["devices"] if d["type"] != "GPF"])),
        {R.INCOMPLETE_INSTALLATION, R.COMBINATION_NOT_ELIGIBLE},
    ),
    "bad mpan": (edit(lambda r: r.update(mpan="1900000000011")), {R.INVALID_MPAN}),
    "bad mprn": (edit(lambda r: r.update(mprn="12x")), {R.INVALID_MPRN}),
    "model not on cpl": (
        edit(lambda r: device(r, "ESME").update(model="Mystery")),
        {R.MODEL_NOT_ON_CPL},
    ),
    "firmware not on cpl": (
        edit(lambda r: device(r, "GSME").update(firmware_version="0.1")),
        {R.FIRMWARE_NOT_ON_CPL},
    ),
    "active without firmware": (
        edit(lambda r: device(r, "CHF").pop("firmware_version")),
        {R.MISSING_FIRMWARE_VERSION},
    ),
    "combination not eligible": (  # on the CPL, but never tested with this comms hub
        edit(lambda r: device(r, "ESME").update(model=SPARE_MODEL)),
        {R.COMBINATION_NOT_ELIGIBLE},
    ),
}


@pytest.fixture
def rig(engine: Engine, tmp_path: Path) -> Rig:
    return Rig(engine, tmp_path)


def rejections(rig: Rig, lines: list[Any], submitter: Eui64 = SUPPLIER) -> list[set[str]]:
    rig.register([line for line in lines if isinstance(line, dict)])
    summary = rig.load(rig.file(lines), submitter)
    installations = rig.migration(None).store.installations(summary.batch.batch_id)
    return [{reason["code"] for reason in i.reasons} for i in installations]


@pytest.mark.parametrize("case", list(CASES))
def test_each_rejection_reason(rig: Rig, case: str) -> None:
    line, expected = CASES[case]
    assert rejections(rig, [line]) == [{c.value for c in expected}]


def test_duplicates_in_the_file_and_already_enrolled_devices(rig: Rig) -> None:
    first = record(1)
    moved = edit(lambda r: r.update(installation="INS-other"))  # same devices, new id
    assert rejections(rig, [first, copy.deepcopy(first), moved]) == [
        set(),
        {R.DUPLICATE_INSTALLATION.value, R.DUPLICATE_DEVICE.value},
        {R.DUPLICATE_DEVICE.value},
    ]
    again = edit(lambda r: r.update(installation="INS-again"))
    assert rejections(rig, [again]) == [{R.ALREADY_ENROLLED.value}]


def test_a_withdrawn_device_may_be_migrated_again(rig: Rig) -> None:
    first = record(1)
    rejections(rig, [first])
    ids = [Eui64.parse(d["device_id"]) for d in first["devices"]]
    rig.inventory.transition(ids, SmiStatus.WITHDRAWN, T0, "withdrawn")
    again = edit(lambda r: r.update(installation="INS-again"))
    assert rejections(rig, [again]) == [set()]
    assert set(rig.inventory.statuses(ids).values()) == {SmiStatus.PENDING}


def test_only_the_registered_supplier_may_migrate(rig: Rig) -> None:
    r = record(1)
    rig.register([r])  # SUPPLIER is IS and GS ...
    later = T0 - timedelta(days=1)  # ... but another supplier gained the gas side since
    rig.inventory.register([Registration(r["mprn"], UserRole.GS, OTHER_SUPPLIER, later)])
    assert rejections(rig, [r]) == [{R.SUPPLIER_NOT_RESPONSIBLE.value}]
    assert rejections(rig, [record(2)], submitter=OTHER_SUPPLIER) == [
        {R.SUPPLIER_NOT_RESPONSIBLE.value}
    ]


def test_every_reason_of_one_record_is_reported(rig: Rig) -> None:
    def break_everything(r: dict[str, Any]) -> None:
        r.pop("authorisation")
        r["mpan"] = "123"
        device(r, "ESME")["model"] = "Mystery"
        device(r, "GSME")["firmware_version"] = "0.1"

    (codes,) = rejections(rig, [edit(break_everything)])
    assert codes == {
        R.MISSING_AUTHORISATION.value,
        R.INVALID_MPAN.value,
        R.MODEL_NOT_ON_CPL.value,
        R.FIRMWARE_NOT_ON_CPL.value,
    }


@given(st.text(max_size=200))
def test_parsing_never_raises(line: str) -> None:
    parsed = parse_line(1, line)
    assert parsed.record is not None or parsed.rejections


def test_mpan_check_digit() -> None:
    assert mpan_valid("1900000000166")
    assert not mpan_valid("1900000000160")
    assert not mpan_valid("190000000016")
    assert json.dumps(record(0)["mpan"]).strip('"') and mpan_valid(record(0)["mpan"])
