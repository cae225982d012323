"""GBCS (Great Britain Companion Specification) General Signing messages, and their signature.

A critical command a User signs is a General Signing message (GBCS section 4, "General
Signing"), laid out as::

    DF                          general-signing tag
    09 <CRA flag> <counter:8>   transaction id: CRA flag 0x01 (Command), originator counter
    08 <originator:8>           the User's EUI-64 (its Business Originator ID)
    08 <recipient:8>            the target device's EUI-64
    00 | 0C <date-time:12>      date-time, absent for commands
    02 <message code:2>         other information: the GBCS use case's message code
    <length> <content>          the use case's command (DLMS, GBZ or ASN.1; length in DER form)

The User's system signs the bytes after the tag with its GBCS digital-signing key (ECDSA P-256,
SHA-256) and appends ``0x40`` and the 64-byte raw signature (r then s, big-endian), as Smart
DCC's open tooling does (``signGroupingHeader``). Pure: bytes in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64

GENERAL_SIGNING = 0xDF
CRA_COMMAND = 0x01
SIGNATURE_LENGTH = 0x40
_P256 = 32


class GbcsInvalid(DuisError):
    """A GBCS message that does not parse, or whose signature does not verify."""


@dataclass(frozen=True, slots=True)
class GeneralSigning:
    """One General Signing message: header fields and the use case's command content."""

    counter: int  # the originator counter: the transform's RequestID counter
    originator: Eui64
    recipient: Eui64
    message_code: int
    content: bytes
    date_time: bytes = b""  # 12-byte DLMS date-time; commands carry none
    cra_flag: int = CRA_COMMAND


def der_length(length: int) -> bytes:
    """A length as ASN.1 DER writes it (GBCS uses it for every length field)."""
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def read_der_length(data: bytes, at: int) -> tuple[int, int]:
    """(length, offset after it) of the DER length at ``at``."""
    if at >= len(data):
        raise GbcsInvalid("a GBCS message ends where a length was expected")
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if count == 0 or count > 4 or at + 1 + count > len(data):
        raise GbcsInvalid("a GBCS length field is malformed")
    return int.from_bytes(data[at + 1 : at + 1 + count], "big"), at + 1 + count


def encode(message: GeneralSigning) -> bytes:
    if len(message.date_time) not in (0, 12):
        raise ValueError("a GBCS date-time is 12 bytes or absent")
    return b"".join(
        (
            bytes([GENERAL_SIGNING, 9, message.cra_flag]),
            message.counter.to_bytes(8, "big"),
            b"\x08" + message.originator.to_bytes(),
            b"\x08" + message.recipient.to_bytes(),
            bytes([len(message.date_time)]) + message.date_time,
            b"\x02" + message.message_code.to_bytes(2, "big"),
            der_length(len(message.content)),
            message.content,
        )
    )


def _field(data: bytes, at: int, sizes: tuple[int, ...], what: str) -> tuple[bytes, int]:
    if at >= len(data) or data[at] not in sizes or at + 1 + data[at] > len(data):
        raise GbcsInvalid(f"the GBCS {what} field is malformed")
    return data[at + 1 : at + 1 + data[at]], at + 1 + data[at]


def decode(data: bytes) -> GeneralSigning:
    """The General Signing message ``data`` is (exactly: nothing may follow its content)."""
    if not data or data[0] != GENERAL_SIGNING:
        raise GbcsInvalid("not a GBCS General Signing message (first byte 0xDF)")
    transaction, at = _field(data, 1, (9,), "transaction id")
    originator, at = _field(data, at, (8,), "originator")
    recipient, at = _field(data, at, (8,), "recipient")
    date_time, at = _field(data, at, (0, 12), "date-time")
    other, at = _field(data, at, (2,), "other information")
    length, at = read_der_length(data, at)
    if at + length != len(data):
        raise GbcsInvalid("the GBCS content length does not match the message")
    return GeneralSigning(
        counter=int.from_bytes(transaction[1:], "big"),
        originator=Eui64.from_bytes(originator),
        recipient=Eui64.from_bytes(recipient),
        message_code=int.from_bytes(other, "big"),
        content=data[at:],
        date_time=date_time,
        cra_flag=transaction[0],
    )


def sign(message: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """``message`` signed the GBCS way: ``message || 0x40 || r || s`` over ``message[1:]``."""
    if not message or message[0] != GENERAL_SIGNING:
        raise GbcsInvalid("not a GBCS General Signing message (first byte 0xDF)")
    r, s = decode_dss_signature(key.sign(message[1:], ec.ECDSA(hashes.SHA256())))
    return message + bytes([SIGNATURE_LENGTH]) + r.to_bytes(_P256, "big") + s.to_bytes(_P256, "big")


def split(signed: bytes) -> tuple[bytes, bytes]:
    """(message, raw 64-byte signature) of a signed General Signing message."""
    if len(signed) <= 2 * _P256 + 1 or signed[-2 * _P256 - 1] != SIGNATURE_LENGTH:
        raise GbcsInvalid("a signed GBCS command ends with 0x40 and a 64-byte signature")
    message = signed[: -2 * _P256 - 1]
    if message[0] != GENERAL_SIGNING:
        raise GbcsInvalid("not a GBCS General Signing message (first byte 0xDF)")
    return message, signed[-2 * _P256 :]


def verifies(message: bytes, raw: bytes, key: ec.EllipticCurvePublicKey) -> bool:
    """Whether ``raw`` (r || s) is ``key``'s signature over ``message`` the GBCS way."""
    der = encode_dss_signature(
        int.from_bytes(raw[:_P256], "big"), int.from_bytes(raw[_P256:], "big")
    )
    try:
        key.verify(der, message[1:], ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
