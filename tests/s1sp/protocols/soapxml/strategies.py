"""Hypothesis strategies for SOAP/XML values, shared by the codec and value tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# Characters XML 1.0 can carry: no lone surrogates, no C0 controls but tab, LF and CR.
_XML_FORBIDDEN = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff"]
texts = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters=_XML_FORBIDDEN), max_size=20
)
names = texts.filter(bool)
instants = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.just(UTC)
    | st.builds(timezone, st.builds(timedelta, minutes=st.integers(-1439, 1439))),
)
decimals = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(-(10**20), 10**20),
    st.integers(0, 8),
)
scalars = st.one_of(
    texts,
    st.booleans(),
    st.integers(-(1 << 63), (1 << 63) - 1),
    decimals,
    instants,
    st.binary(max_size=16),
)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """Scalars, and lists (or tuples) of values up to ``depth`` lists deep."""
    if depth == 0:
        return scalars
    inner = st.lists(nested(depth - 1), max_size=3)
    return scalars | inner | inner.map(tuple)


values = nested(3)
named: st.SearchStrategy[dict[str, Any]] = st.dictionaries(names, values, max_size=5)


def typed(value: Any) -> Any:
    """``value`` with each leaf's type spelled out: 1, True and Decimal(1) compare equal."""
    if isinstance(value, (list, tuple)):
        return ("list", [typed(item) for item in value])
    if isinstance(value, dict) or hasattr(value, "items"):
        return {name: typed(item) for name, item in value.items()}
    return (type(value).__name__, value)
