from __future__ import annotations

from opendcc.core.errors import DuisError, ResponseCode


class _Unknown(DuisError):
    code = ResponseCode.UNKNOWN_DEVICE


def test_subclasses_carry_their_code_and_instances_may_override() -> None:
    assert _Unknown("no such device").code is ResponseCode.UNKNOWN_DEVICE
    assert _Unknown("x", code=ResponseCode.INVALID_USER_ROLE).code == "E1"


def test_transport_level_failures_have_no_code() -> None:
    error = DuisError("not XML", http_status=400)
    assert error.code is None
    assert error.http_status == 400


def test_codes_match_duis_spelling() -> None:
    assert ResponseCode.ACKNOWLEDGED == "I99"
    assert ResponseCode.WRONG_URL == "E13"
    assert ResponseCode.UNKNOWN_DEVICE.is_error
    assert not ResponseCode.SUCCESS.is_error
