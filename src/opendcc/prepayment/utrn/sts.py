"""An STS-style UTRN (Unique Transaction Reference Number) for the SMETS1 cohorts that use one.

STS (Standard Transfer Specification, IEC 62055-41) tokens are 20 digits that encrypt a 64-bit
block under a key the meter shares with the vending system. This is a model inspired by STS,
not a conforming implementation (no STS key management, no DEA/MISTY1 cipher, no real
transposition): enough to behave like it — per-meter keys, a time-based token identifier, a
CRC (Cyclic Redundancy Check) that a wrong key or a keying mistake turns into garbage.

Layout (66 bits, written as 20 decimal digits, zero-padded; 2**66 < 10**20)::

    65 64 63     60 59  56 55           32 31    30 29         16 15        0
    +-----+--------+------+---------------+--------+-------------+-----------+
    |class|subclass| pad  | TID (24)      | exp (2)| mantissa(14)| CRC (16)  |
    +-----+--------+------+---------------+--------+-------------+-----------+
          |<-------------- 64-bit block, encrypted per meter --------------->|

- class 0 (credit transfer), subclass 0; the 2 class bits are simply prepended (STS transposes
  them into the block; we do not). Anything else is refused once authenticated.
- pad: 4 bits that STS fills at random; here they are derived from the key, TID and amount so
  the same request always makes the same token (a re-issue cannot make a second, different one).
- TID (token identifier): minutes since 2020-01-01T00:00Z, the counter. ``next_counter`` is
  max(that minute, last + 1), so a meter's tokens never share a TID; it lasts until 2051.
- amount: mantissa * 10**exp pence, 1..16383 p exactly, then coarser: up to 16383 * 1000 p.
- CRC-16/XMODEM (``binascii.crc_hqx``) over class, subclass, pad, TID and amount (50 bits,
  big-endian in 7 bytes).
- cipher: an 8-round balanced Feistel network on 32-bit halves whose round function is the first
  4 bytes of HMAC-SHA256(key, round || half), key = HMAC-SHA256(meter secret, "opendcc-utrn-sts").

A token for another meter, or with a digit wrong, decrypts to a block whose CRC fails
(AUTHENTICATION), except with probability 2**-16.
"""

from __future__ import annotations

import hmac
from binascii import crc_hqx
from collections.abc import Sequence
from datetime import UTC, datetime

from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import AmountNotRepresentable, Credit, Rejection, TokenRejected

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
CREDIT_TRANSFER = 0
ELECTRICITY = 0
MAX_TID = (1 << 24) - 1
MAX_MANTISSA = (1 << 14) - 1
ROUNDS = 8
_KEY_LABEL = b"opendcc-utrn-sts"
_PAD_LABEL = b"opendcc-utrn-sts/pad"
_HALF = (1 << 32) - 1
_BLOCK = (1 << 64) - 1
_LIMIT = 1 << 66
_SCALE = (1, 10, 100, 1000)  # pence per mantissa unit, by exponent


def encode_amount(amount_p: int) -> int:
    """The 16-bit amount field: the smallest exponent that carries ``amount_p`` exactly."""
    for exponent, scale in enumerate(_SCALE):
        mantissa, rest = divmod(amount_p, scale)
        if rest == 0 and 0 < mantissa <= MAX_MANTISSA:
            return exponent << 14 | mantissa
        if rest:
            break
    raise AmountNotRepresentable(f"sts cannot carry {amount_p} p exactly")


def decode_amount(field: int) -> int:
    return (field & MAX_MANTISSA) * _SCALE[field >> 14]


def crc(head: int) -> int:
    """The CRC-16/XMODEM of the 50 bits before the CRC (class down to amount)."""
    return crc_hqx(head.to_bytes(7, "big"), 0)


def encrypt(key: bytes, block: int) -> int:
    left, right = block >> 32, block & _HALF
    for n in range(ROUNDS):
        left, right = right, left ^ _round(key, n, right)
    return left << 32 | right


def decrypt(key: bytes, block: int) -> int:
    left, right = block >> 32, block & _HALF
    for n in reversed(range(ROUNDS)):
        left, right = right ^ _round(key, n, left), left
    return left << 32 | right


def meter_key(secret: bytes) -> bytes:
    """The Feistel key of a meter, from its ``CohortKeys.meter_secret``."""
    return hmac.digest(secret, _KEY_LABEL, "sha256")


def minutes(now: datetime) -> int:
    """Whole minutes from 2020-01-01T00:00Z to ``now`` (timezone-aware)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("sts counters need a timezone-aware time")
    return int((now - EPOCH).total_seconds()) // 60


class StsUtrn:
    """STS-style UTRNs under a per-meter key (the STS cohorts)."""

    name: str = "sts"

    def issue(self, keys: CohortKeys, target: Eui64, counter: int, amount_p: int) -> str:
        if not 0 <= counter <= MAX_TID:
            raise ValueError(f"an sts TID is 0..{MAX_TID}, not {counter}")
        amount = encode_amount(amount_p)
        key = meter_key(keys.meter_secret(target))
        pad = hmac.digest(key, _PAD_LABEL + (counter << 16 | amount).to_bytes(5, "big"), "sha256")
        head = ((CREDIT_TRANSFER << 4 | ELECTRICITY) << 4 | pad[0] >> 4) << 40
        head |= counter << 16 | amount
        block = (head << 16 | crc(head)) & _BLOCK
        return f"{CREDIT_TRANSFER << 64 | encrypt(key, block):020d}"

    def accept(
        self, keys: CohortKeys, target: Eui64, utrn: str, used: Sequence[int] = ()
    ) -> Credit:
        if len(utrn) != 20 or not (utrn.isascii() and utrn.isdigit()):
            raise TokenRejected(Rejection.FORMAT, "a UTRN is 20 decimal digits")
        number = int(utrn)
        if number >= _LIMIT:
            raise TokenRejected(Rejection.FORMAT, "not an sts token")
        token_class = number >> 64
        block = decrypt(meter_key(keys.meter_secret(target)), number & _BLOCK)
        head = token_class << 48 | block >> 16
        if crc(head) != block & 0xFFFF:
            raise TokenRejected(Rejection.AUTHENTICATION, f"not a token for {target}")
        if head >> 44 != CREDIT_TRANSFER << 4 | ELECTRICITY:
            raise TokenRejected(Rejection.FORMAT, "not an electricity credit-transfer token")
        amount_p = decode_amount(head & 0xFFFF)
        if not amount_p:
            raise TokenRejected(Rejection.AMOUNT, "a top-up of nothing")
        return Credit(amount_p, head >> 16 & MAX_TID)

    def next_counter(self, last: int | None, now: datetime) -> int:
        counter = max(minutes(now), 0 if last is None else last + 1)
        if counter > MAX_TID:
            raise ValueError("sts TIDs ran out (they last until 2051)")
        return counter


STS = StsUtrn()


def _round(key: bytes, n: int, half: int) -> int:
    digest = hmac.digest(key, bytes((n,)) + half.to_bytes(4, "big"), "sha256")
    return int.from_bytes(digest[:4], "big")
