"""A manufacturer-style SMETS1 UTRN (Unique Transaction Reference Number) keyed with HMAC-SHA256.

Some SMETS1 (first-generation smart meter) head-ends never used GBCS (Great Britain Companion
Specification) tokens: the meter shares a secret with the S1SP (SMETS1 Service Provider) and
checks a MAC (Message Authentication Code). This is our model of that family, not any one
manufacturer's format. The S1SP and the meter both hold ``CohortKeys.meter_secret(target)``.

Layout (63 bits, so it fits in 19 decimal digits; a twentieth is the GBCS Verhoeff check digit,
so keying mistakes are caught as they are for GBCS tokens)::

    62          46 45                26 25                 0
    +-------------+--------------------+--------------------+
    | amount (17) | sequence (20)      | MAC (26)           |
    +-------------+--------------------+--------------------+
    |<-------- XOR mask (37) --------->|

    MAC  = top 26 bits of HMAC-SHA256(secret, "opendcc-utrn-hmac" || target || amount || sequence)
    mask = top 37 bits of HMAC-SHA256(secret, "opendcc-utrn-hmac/whiten" || MAC)

(target: 8 bytes; amount, sequence and MAC: 4 bytes each, big-endian). The mask hides the amount
and sequence from anyone reading the token, and because it depends on the MAC, two tokens of
one meter do not give away how their amounts differ. The meter reads the MAC, removes the
mask, recomputes the MAC and compares.

Amounts are 1..131071 pence (£1310.71). The sequence number is the counter: 1 for a meter's
first token, then one more each time, up to 2**20 - 1 (a million top-ups; issuing beyond that
is refused rather than wrapped).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime

from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import AmountNotRepresentable, Credit, Rejection, TokenRejected
from opendcc.prepayment.utrn.verhoeff import check_digit, checked_number

MAX_AMOUNT = (1 << 17) - 1
MAX_SEQUENCE = (1 << 20) - 1
_MAC_BITS = 26
_MASK_BITS = 37
_MAC_LABEL = b"opendcc-utrn-hmac"
_MASK_LABEL = b"opendcc-utrn-hmac/whiten"
_LIMIT = 1 << 63


def mac(secret: bytes, target: Eui64, amount_p: int, sequence: int) -> int:
    """The token's 26-bit MAC."""
    message = _MAC_LABEL + target.to_bytes() + amount_p.to_bytes(4, "big")
    return _top_bits(secret, message + sequence.to_bytes(4, "big"), _MAC_BITS)


def mask(secret: bytes, mac_value: int) -> int:
    """The 37-bit mask over amount and sequence, chosen by the MAC."""
    return _top_bits(secret, _MASK_LABEL + mac_value.to_bytes(4, "big"), _MASK_BITS)


class HmacSha256Utrn:
    """UTRNs keyed per meter with HMAC-SHA256 (the manufacturer-style cohorts)."""

    name: str = "hmac-sha256"

    def issue(self, keys: CohortKeys, target: Eui64, counter: int, amount_p: int) -> str:
        if not 0 < counter <= MAX_SEQUENCE:
            raise ValueError(f"an hmac-sha256 sequence number is 1..{MAX_SEQUENCE}, not {counter}")
        if not 0 < amount_p <= MAX_AMOUNT:
            raise AmountNotRepresentable(f"hmac-sha256 carries 1..{MAX_AMOUNT} p, not {amount_p}")
        secret = keys.meter_secret(target)
        tag = mac(secret, target, amount_p, counter)
        body = (amount_p << 20 | counter) ^ mask(secret, tag)
        text = f"{body << _MAC_BITS | tag:019d}"
        return text + check_digit(text)

    def accept(
        self, keys: CohortKeys, target: Eui64, utrn: str, used: Sequence[int] = ()
    ) -> Credit:
        block = checked_number(utrn)
        if block >= _LIMIT:
            raise TokenRejected(Rejection.FORMAT, "not an hmac-sha256 token")
        secret = keys.meter_secret(target)
        tag = block & ((1 << _MAC_BITS) - 1)
        body = (block >> _MAC_BITS) ^ mask(secret, tag)
        amount_p, sequence = body >> 20, body & MAX_SEQUENCE
        expected = mac(secret, target, amount_p, sequence)
        if not hmac.compare_digest(expected.to_bytes(4, "big"), tag.to_bytes(4, "big")):
            raise TokenRejected(Rejection.AUTHENTICATION, f"not a token for {target}")
        if not amount_p:
            raise TokenRejected(Rejection.AMOUNT, "a top-up of nothing")
        return Credit(amount_p, sequence)

    def next_counter(self, last: int | None, now: datetime) -> int:
        counter = 1 if last is None else last + 1
        if counter > MAX_SEQUENCE:
            raise ValueError("this meter has used every hmac-sha256 sequence number")
        return counter


HMAC_SHA256 = HmacSha256Utrn()


def _top_bits(secret: bytes, message: bytes, bits: int) -> int:
    return int.from_bytes(hmac.digest(secret, message, "sha256")[:8], "big") >> (64 - bits)
