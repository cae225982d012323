"""GBCS General Signing messages: every RTDS pre-command parses and re-encodes to its bytes;
signatures are appended and checked the way Smart DCC's tooling makes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from opendcc.core.eui import Eui64
from opendcc.gbcs import message as gbcs
from opendcc.gbcs.message import GbcsInvalid, GeneralSigning
from tests.reference import GBCS_KEYSTORE, RTDS

PRECOMMANDS = sorted(RTDS.glob("*/*_PRECOMMAND_GBCS.HEX"))


def rtds(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())


def keystore_key(name: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key((GBCS_KEYSTORE / f"{name}.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def test_the_rtds_has_pre_commands() -> None:
    assert len(PRECOMMANDS) > 150


@pytest.mark.parametrize("path", PRECOMMANDS, ids=[p.name for p in PRECOMMANDS])
def test_every_rtds_pre_command_decodes_and_encodes_to_the_same_bytes(path: Path) -> None:
    raw = rtds(path)
    message = gbcs.decode(raw)
    assert message.cra_flag == gbcs.CRA_COMMAND
    assert str(message.originator).startswith("90-B3-D5-1F-30-")  # RTDS Users
    assert str(message.recipient).startswith("00-DB-12-34-56-78-90-")  # RTDS devices
    assert gbcs.encode(message) == raw


def test_a_long_content_takes_a_der_length() -> None:
    content = bytes(300)
    message = GeneralSigning(7, Eui64.parse("90-B3-D5-1F-30-01-00-00"), Eui64(1), 0x19, content)
    raw = gbcs.encode(message)
    assert raw[33:36] == b"\x82\x01\x2c"  # after DF, 10 + 9 + 9 + 1 + 3 header bytes
    assert gbcs.decode(raw) == message


def test_signed_the_gbcs_way_and_verified_with_the_rtds_key_store() -> None:
    raw = rtds(RTDS / "7.2_ECS43/ECS43_7.2_SUCCESS_PRECOMMAND_GBCS.HEX")
    key = keystore_key("90b3d51f30010000-ds")
    signed = gbcs.sign(raw, key)
    assert signed[: len(raw)] == raw
    assert signed[len(raw)] == 0x40 and len(signed) == len(raw) + 65
    message, signature = gbcs.split(signed)
    assert message == raw
    assert gbcs.verifies(message, signature, key.public_key())
    assert not gbcs.verifies(message, signature, keystore_key("90b3d51f30020000-ds").public_key())
    tampered = bytearray(signed)
    tampered[len(raw) - 1] ^= 0x01
    assert not gbcs.verifies(*gbcs.split(bytes(tampered)), key.public_key())


@pytest.mark.parametrize(
    "bad",
    [b"", b"\xc3\x00", b"\xdf\x09\x01", bytes.fromhex("DF0901") + bytes(8) + b"\x08"],
)
def test_what_is_not_a_general_signing_message_is_refused(bad: bytes) -> None:
    with pytest.raises(GbcsInvalid):
        gbcs.decode(bad)
    with pytest.raises(GbcsInvalid):
        gbcs.split(bad + b"\x40" + bytes(64) if bad[:1] != b"\xdf" else bad)


def test_trailing_bytes_after_the_content_are_refused() -> None:
    raw = rtds(RTDS / "7.2_ECS43/ECS43_7.2_SUCCESS_PRECOMMAND_GBCS.HEX")
    with pytest.raises(GbcsInvalid, match="length"):
        gbcs.decode(raw + b"\x00")


@given(st.binary(max_size=80))
def test_decoding_arbitrary_bytes_raises_gbcs_invalid_or_round_trips(data: bytes) -> None:
    try:
        message = gbcs.decode(data)
    except GbcsInvalid:
        return
    assert gbcs.encode(message) == data
