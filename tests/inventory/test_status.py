"""The SMI status lifecycle: every legal transition passes, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from opendcc.inventory.status import (
    TERMINAL,
    TRANSITIONS,
    IllegalStatusTransition,
    SmiStatus,
    check,
)

LEGAL = [(s, t) for s, targets in TRANSITIONS.items() for t in sorted(targets)]
ILLEGAL = [(s, t) for s, t in itertools.product(SmiStatus, SmiStatus) if t not in TRANSITIONS[s]]


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(SmiStatus)


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
