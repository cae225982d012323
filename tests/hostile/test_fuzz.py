"""Hypothesis-driven fuzzing of the DUIS parser and the three HTTP surfaces, in the normal test
run (a few thousand examples in all): whatever the mutation, the parser raises nothing but a
DUIS refusal and no surface answers a 5xx. ``make fuzz`` runs the same steps a million times."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.fuzzing import Fuzzer, signed_seeds
from tests.hostile.rig import make_rig


def budget(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples every run: a failure here is reproducible
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )


seeds = st.integers(min_value=0, max_value=2**64 - 1)


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    rig = make_rig(Path(tmp_path_factory.mktemp("fuzz")))
    yield Fuzzer(rig, signed_seeds(rig.supplier))
    rig.hub.engine.dispose()


@budget(2000)
@given(seed=seeds)
def test_the_duis_parser(fuzzer: Fuzzer, seed: int) -> None:
    fuzzer.parser(random.Random(seed))


@budget(400)
@given(seed=seeds)
def test_the_duis_endpoints(fuzzer: Fuzzer, seed: int) -> None:
    asyncio.run(fuzzer.duis(random.Random(seed)))


@budget(800)
@given(seed=seeds)
def test_the_utrn_service_and_the_admin_api(fuzzer: Fuzzer, seed: int) -> None:
    asyncio.run(fuzzer.json_api(random.Random(seed)))
