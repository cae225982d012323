"""The SMI status lifecycle: every legal transition passes, every other one raises.

The expected transitions are written out here, each with where it comes from (the SEC's
device lifecycle as docs/migration.md and the SMETS1 migration describe it), not read from
the table under test: a row added to or dropped from ``TRANSITIONS`` fails this file.
"""

from __future__ import annotations

import itertools

import pytest
from lxml import etree
from tests.reference import XSD_V54

from opendcc.inventory.status import (
    TERMINAL,
    TRANSITIONS,
    IllegalStatusTransition,
    SmiStatus,
    check,
)

# The DUIS spellings of sr:DeviceStatus (DUIS v5.4 XSD), and the statuses opendcc names.
PENDING, WHITELISTED, INC = "Pending", "Whitelisted", "InstalledNotCommissioned"
COMMISSIONED, DECOMMISSIONED, WITHDRAWN = "Commissioned", "Decommissioned", "Withdrawn"
SUSPENDED, RECOVERY, RECOVERED = "Suspended", "Recovery", "Recovered"

# Every legal status change and why; any other pair of statuses is illegal.
EXPECTED: dict[tuple[str, str], str] = {
    # Entering the SMI: a migration file validated makes a device Pending; the S1SP's device
    # test makes it Installed Not Commissioned; a communications hub's whitelist holds it.
    (PENDING, WHITELISTED): "added to a communications hub's whitelist",
    (PENDING, INC): "reached by the S1SP in device testing",
    (PENDING, WITHDRAWN): "its migration failed or was withdrawn before testing",
    (WHITELISTED, PENDING): "taken off the whitelist again",
    (WHITELISTED, INC): "reached by the S1SP in device testing",
    (WHITELISTED, WITHDRAWN): "its migration failed or was withdrawn",
    (INC, PENDING): "device testing is repeated (a retried migration)",
    (INC, WHITELISTED): "back on the whitelist only",
    (INC, COMMISSIONED): "migration commissions it: only now does it take device requests",
    (INC, DECOMMISSIONED): "removed from the premises before commissioning",
    (INC, WITHDRAWN): "its migration failed after device testing",
    # Operating: decommissioned for good, withdrawn from opendcc, suspended, or recovered.
    (COMMISSIONED, DECOMMISSIONED): "removed from the premises for good",
    (COMMISSIONED, WITHDRAWN): "a reversed migration or the supplier's withdrawal",
    (COMMISSIONED, SUSPENDED): "not to be operated, e.g. its firmware left the CPL",
    (COMMISSIONED, RECOVERY): "the DCC re-establishes its credentials after a compromise",
    (SUSPENDED, COMMISSIONED): "the reason for suspension resolved",
    (SUSPENDED, DECOMMISSIONED): "removed while suspended",
    (SUSPENDED, WITHDRAWN): "withdrawn while suspended",
    (RECOVERY, RECOVERED): "its credentials re-established",
    (RECOVERY, DECOMMISSIONED): "recovery abandoned: removed",
    (RECOVERED, COMMISSIONED): "commissioned again after recovery",
    (RECOVERED, DECOMMISSIONED): "removed after recovery",
    (RECOVERED, WITHDRAWN): "withdrawn after recovery",
    # A withdrawn SMETS1 device may be migrated again in a later file.
    (WITHDRAWN, PENDING): "migrated again",
}
TERMINAL_STATUSES = {DECOMMISSIONED}  # Decommissioned is for good

by_duis = {status.duis: status for status in SmiStatus}
LEGAL = [(by_duis[s], by_duis[t]) for s, t in EXPECTED]
ILLEGAL = [
    (by_duis[s], by_duis[t])
    for s, t in itertools.product(by_duis, by_duis)
    if (s, t) not in EXPECTED
]


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(SmiStatus)


def test_the_table_is_exactly_the_expected_one() -> None:
    table = {(s.duis, t.duis) for s, targets in TRANSITIONS.items() for t in targets}
    assert sorted(table - set(EXPECTED)) == []  # legal in the table, not expected
    assert sorted(set(EXPECTED) - table) == []  # expected, missing from the table
    assert {s.duis for s in TERMINAL} == TERMINAL_STATUSES
    assert len(LEGAL) + len(ILLEGAL) == 81


def test_statuses_are_the_duis_device_statuses(reference: object) -> None:
    xs = "{http://www.w3.org/2001/XMLSchema}"
    root = etree.parse(str(XSD_V54)).getroot()
    values = root.findall(f"{xs}simpleType[@name='DeviceStatus']/{xs}restriction/{xs}enumeration")
    assert {v.get("value") for v in values} == set(by_duis) == {
        PENDING, WHITELISTED, INC, COMMISSIONED, DECOMMISSIONED, WITHDRAWN, SUSPENDED,
        RECOVERY, RECOVERED,
    }  # fmt: skip


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{s}->{t}" for s, t in LEGAL])
def test_legal_transitions_pass(source: SmiStatus, target: SmiStatus) -> None:
    check(source, target)


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{s}->{t}" for s, t in ILLEGAL])
def test_illegal_transitions_raise(source: SmiStatus, target: SmiStatus) -> None:
    with pytest.raises(IllegalStatusTransition, match=f"{source} -> {target}"):
        check(source, target, "00-DB-12-00-00-00-00-01")


def test_the_migration_path_and_its_ends() -> None:
    path = [
        SmiStatus.PENDING,
        SmiStatus.INSTALLED_NOT_COMMISSIONED,
        SmiStatus.COMMISSIONED,
        SmiStatus.WITHDRAWN,
        SmiStatus.PENDING,  # a withdrawn SMETS1 device may be migrated again
    ]
    for source, target in itertools.pairwise(path):
        check(source, target)
    assert {SmiStatus.DECOMMISSIONED} == TERMINAL


def test_duis_spelling() -> None:
    assert SmiStatus.INSTALLED_NOT_COMMISSIONED.duis == "InstalledNotCommissioned"
    assert SmiStatus.COMMISSIONED.duis == "Commissioned"
