"""Scale mode's tests never pass by checking nothing: without PostgreSQL they fail under CI
(``make test`` there starts PostgreSQL and RabbitMQ) and are visible skips elsewhere."""

from __future__ import annotations

from tests.test_prerequisites import pytest as run_pytest

SCALE = (
    "tests/processes/test_scale_mode.py"
    "::test_requests_through_either_gateway_are_answered_at_the_callback"
)
# Given, so the broker is not started for a test that stops at the database.
BROKER = "amqp://guest:guest@127.0.0.1:9/"


def test_under_ci_a_missing_postgresql_fails_the_scale_mode_tests() -> None:
    ran = run_pytest(
        SCALE, CI="true", OPENDCC_TEST_POSTGRES_URL=None, OPENDCC_TEST_RABBITMQ_URL=BROKER
    )
    assert ran.returncode == 1, ran.stdout
    assert "PostgreSQL (OPENDCC_TEST_POSTGRES_URL) is required under CI" in ran.stdout
    assert "1 error" in ran.stdout


def test_elsewhere_it_is_a_visible_skip() -> None:
    ran = run_pytest(
        SCALE, CI=None, OPENDCC_TEST_POSTGRES_URL=None, OPENDCC_TEST_RABBITMQ_URL=BROKER
    )
    assert ran.returncode == 0, ran.stdout
    assert "1 skipped" in ran.stdout
    assert "PostgreSQL (OPENDCC_TEST_POSTGRES_URL) not available" in ran.stdout
