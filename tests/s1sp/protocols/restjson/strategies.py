"""Hypothesis strategies for REST/JSON values, shared by the codec and value tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

# Any Unicode text but lone surrogates, which UTF-8 cannot carry.
texts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.builds(timezone, st.builds(timedelta, minutes=st.integers(-1439, 1439))),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    instants,
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(texts, children, max_size=4),
    ),
    max_leaves=16,
)
objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(texts, values, max_size=5)
