"""The GBCS UTRN check digit against published UTRNs (SmartDCCInnovation/gbcs-parser tests)."""

from __future__ import annotations

import itertools

import pytest

from opendcc.prepayment.utrn import Rejection, TokenRejected
from opendcc.prepayment.utrn.verhoeff import check_digit, checked_number, is_valid

PUBLISHED = [
    "73943333457189043313",
    "74301825837596672005",
    "73946144332040217315",
    "73947252416745201637",
]


@pytest.mark.parametrize("utrn", PUBLISHED)
def test_published_check_digits(utrn: str) -> None:
    assert check_digit(utrn[:19]) == utrn[19]
    assert is_valid(utrn)


@pytest.mark.parametrize("utrn", PUBLISHED)
def test_every_other_last_digit_is_invalid(utrn: str) -> None:
    others = [d for d in "0123456789" if d != utrn[19]]
    assert not any(is_valid(utrn[:19] + d) for d in others)


def test_adjacent_transpositions_are_caught() -> None:
    base = "7394333345718904331"
    for position in range(19):  # position 18: the last digit swapped with the check digit
        for a, b in itertools.permutations("0123456789", 2):
            digits = (base[:position] + a + b + base[position + 2 :])[:19]
            utrn = digits + check_digit(digits)
            if utrn[position] == utrn[position + 1]:
                continue
            swapped = utrn[:position] + utrn[position + 1] + utrn[position] + utrn[position + 2 :]
            assert not is_valid(swapped), (utrn, swapped)


@pytest.mark.parametrize("digits", ["", "12a4", " 123", "١٢٣", "12.5", "-1"])
def test_check_digit_needs_decimal_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="decimal digits"):
        check_digit(digits)
    assert not is_valid(digits)


@pytest.mark.parametrize("utrn", ["", "7", "7394333345718904331x"])
def test_short_or_non_digit_is_invalid(utrn: str) -> None:
    assert not is_valid(utrn)


def test_checked_number() -> None:
    assert checked_number(PUBLISHED[0]) == 7394333345718904331
    with pytest.raises(TokenRejected) as caught:
        checked_number("73943333457189043310")
    assert caught.value.reason is Rejection.CHECK_DIGIT
    for bad in ("7394333345718904331", "7394333345718904331 3", "a" * 20):
        with pytest.raises(TokenRejected) as caught:
            checked_number(bad)
        assert caught.value.reason is Rejection.FORMAT
