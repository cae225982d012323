from __future__ import annotations

import contextlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.core.eui import Eui64, InvalidIdentifier

eui_values = st.integers(min_value=0, max_value=(1 << 64) - 1)


def test_canonical_form_is_upper_case_hyphenated() -> None:
    assert str(Eui64.parse("90b3d51f30010000")) == "90-B3-D5-1F-30-01-00-00"
    assert str(Eui64.parse("90-b3-d5-1f-30-01-00-00")) == "90-B3-D5-1F-30-01-00-00"
    assert Eui64.parse(" 00-DB-12-34-56-78-90-A0 ").hex == "00DB1234567890A0"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "90-B3-D5-1F-30-01-00",  # seven octets
        "90-B3-D5-1F-30-01-00-00-00",
        "90B3D51F300100",
        "90:B3:D5:1F:30:01:00:00",
        "90-B3-D5-1F-30-01-00-0G",
        "90-B3D5-1F-30-01-00-00",  # hyphens in the wrong places
        "0x90B3D51F30010000",
    ],
)
def test_rejects_what_duis_does_not_allow(text: str) -> None:
    with pytest.raises(InvalidIdentifier):
        Eui64.parse(text)


@given(eui_values, st.booleans(), st.booleans())
def test_parse_accepts_any_case_with_or_without_hyphens(
    value: int, hyphens: bool, lower: bool
) -> None:
    text = str(Eui64(value)) if hyphens else Eui64(value).hex
    text = text.lower() if lower else text
    assert Eui64.parse(text) == Eui64(value)


@given(eui_values)
def test_bytes_round_trip(value: int) -> None:
    eui = Eui64(value)
    assert Eui64.from_bytes(eui.to_bytes()) == eui
    assert Eui64.parse(str(eui)) == eui


@given(st.text(max_size=30))
def test_parse_never_fails_with_anything_but_invalid_identifier(text: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        Eui64.parse(text)


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError):
        Eui64(1 << 64)
    with pytest.raises(ValueError):
        Eui64(-1)


@given(eui_values)
def test_the_kept_text_is_the_canonical_text_and_changes_no_comparison(value: int) -> None:
    eui, fresh = Eui64(value), Eui64(value)
    first = str(eui)
    assert first == eui.value.to_bytes(8, "big").hex("-").upper() == str(eui)
    assert eui == fresh and hash(eui) == hash(fresh) and not eui < fresh  # one printed, one not
    assert repr(eui) == f"Eui64('{first}')"
    assert pickle.loads(pickle.dumps(eui)) == eui


def test_a_text_read_again_reads_the_same_and_a_bad_one_is_refused_every_time() -> None:
    text = "90b3d51f30010000"
    assert Eui64.parse(text) == Eui64.parse(text.upper()) == Eui64(0x90B3D51F30010000)
    for _ in range(2):
        with pytest.raises(InvalidIdentifier):
            Eui64.parse("90b3d51f3001000g")
