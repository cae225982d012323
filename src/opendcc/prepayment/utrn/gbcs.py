"""The GBCS UTRN: the top-up token of GBCS (Great Britain Companion Specification) section 14.

A UTRN (Unique Transaction Reference Number) carries a PTUT (Prepayment Top-Up Token): a 32-bit
high dword with the amount and 10 bits of the top-up counter, and a 32-bit low dword that is the
tail of a GMAC (Galois Message Authentication Code) keyed per token. The key comes from ECDH
(Elliptic-Curve Diffie-Hellman, P-256) between the originator's *prepayment* key-agreement key
and the meter's key-agreement key, through the NIST SP 800-56A concatenation KDF (Key Derivation
Function) with the originator, the target and the counter in its OtherInfo. So only the
originator and that one meter can make or check it, and each counter gives a fresh key.

The UTRN is PPTD (Prepayment Top-up Transfer Data = a fixed offset + PTUT) in 19 decimal digits
and a Verhoeff check digit (``verhoeff``). Each step is a small function of its own, so tests
can pin every intermediate value against DCC's published vectors; ``GBCS`` wires them to
``CohortKeys`` for the S1SP (SMETS1 Service Provider, the originator) and the simulated meters.

Counters: the token carries only bits 32..41 of the 64-bit counter C. Our S1SP allocates
counters as multiples of 2**32 (``next_counter``), so a meter rebuilds C from those 10 bits and
the counters it remembers: C is the smallest counter at or above the oldest one it remembers
(0 if none) whose bits 32..41 are the token's. Tokens for a meter are therefore good while
fewer than 1024 newer ones have been issued after the oldest one it remembers. A token that
authenticates only as the one 2**42 lower is returned with that (old) counter, so the caller's
``CounterCache`` refuses it as a replay rather than as a forgery.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from enum import IntEnum
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import AmountNotRepresentable, Credit, Rejection, TokenRejected
from opendcc.prepayment.utrn.verhoeff import check_digit, checked_number

# PPTD = OFFSET + PTUT, which makes every UTRN 20 digits starting 739…
OFFSET = 7394156990786306048
MAX_VALUE = (1 << 13) - 1
MAX_COUNTER = (1 << 64) - 1
_PTUT_LIMIT = 1 << 57  # the high dword's top 7 bits are zero
_STEP = 1 << 32  # our counters are multiples of this: only bits 32..41 travel
_WRAP = 1 << 42
_LOW_BITS = _STEP - 1
# OtherInfo's fixed parts and the GMAC AAD header, as GBCS section 14 gives them.
_ALGORITHM_ID = bytes.fromhex("60857406080300")
_OTHER_INFO_FIXED = bytes.fromhex("0901")
_KDF_ROUND = bytes.fromhex("00000001")
_AAD_HEADER = bytes.fromhex("110000000000")
_AAD_FIXED = bytes.fromhex("01")
_CACHE = 65536


class ValueClass(IntEnum):
    """The unit of the 13-bit value in a PTUT."""

    PENNIES = 0
    POUNDS = 1


_PENCE = {ValueClass.PENNIES: 1, ValueClass.POUNDS: 100}


def encode_amount(amount_p: int) -> tuple[ValueClass, int]:
    """The value class and value for ``amount_p`` pence: pennies up to 8191 p, else whole pounds
    up to £8191; anything else (including nothing) is ``AmountNotRepresentable``."""
    for value_class, pence in _PENCE.items():
        value, rest = divmod(amount_p, pence)
        if rest == 0 and 0 < value <= MAX_VALUE:
            return value_class, value
    raise AmountNotRepresentable(
        f"GBCS carries 1..8191 pence or whole pounds up to £8191, not {amount_p} p"
    )


def shared_secret(private: ec.EllipticCurvePrivateKey, public: ec.EllipticCurvePublicKey) -> bytes:
    """Z: the 32-byte ECDH shared secret of one party's private key and the other's public key."""
    return private.exchange(ec.ECDH(), public)


def other_info(originator: Eui64, target: Eui64, counter: int) -> bytes:
    """The KDF's 33-byte OtherInfo: AlgorithmID, originator, 09 01, counter, target."""
    return (
        _ALGORITHM_ID
        + originator.to_bytes()
        + _OTHER_INFO_FIXED
        + _counter_bytes(counter)
        + target.to_bytes()
    )


def derive_key(z: bytes, originator: Eui64, target: Eui64, counter: int) -> bytes:
    """The token's AES-128 key: the first 16 bytes of SHA-256(00000001 || Z || OtherInfo)."""
    return hashlib.sha256(_KDF_ROUND + z + other_info(originator, target, counter)).digest()[:16]


def ptut_high(counter: int, value_class: ValueClass, value: int) -> int:
    """The PTUT's high dword: 7 zero bits, bits 32..41 of the counter, the class, the value."""
    if not 0 <= value <= MAX_VALUE:
        raise ValueError(f"a GBCS value is 0..{MAX_VALUE}, not {value}")
    _counter_bytes(counter)  # range check
    return ((counter >> 32) & 0x3FF) << 15 | ValueClass(value_class) << 13 | value


def aad(originator: Eui64, target: Eui64, counter: int, high: int) -> bytes:
    """The GMAC's additional authenticated data."""
    return (
        _AAD_HEADER
        + originator.to_bytes()
        + target.to_bytes()
        + _AAD_FIXED
        + _counter_bytes(counter)
        + high.to_bytes(4, "big")
    )


def tag(key: bytes, originator: Eui64, target: Eui64, counter: int, high: int) -> bytes:
    """The 16-byte GMAC tag: AES-GCM with IV = originator || 00000000 and nothing to encrypt."""
    iv = originator.to_bytes() + bytes(4)
    return AESGCM(key).encrypt(iv, b"", aad(originator, target, counter, high))


def ptut(high: int, mac: bytes) -> int:
    """The 64-bit PTUT: the high dword, then the last four bytes of the tag."""
    return high << 32 | int.from_bytes(mac[-4:], "big")


def pptd(ptut_value: int) -> int:
    """The PPTD the UTRN writes in decimal."""
    return OFFSET + ptut_value


def digits(pptd_value: int) -> str:
    """The UTRN: the PPTD's 19 digits and the check digit."""
    text = f"{pptd_value:019d}"
    return text + check_digit(text)


def utrn(
    *,
    private: ec.EllipticCurvePrivateKey,
    public: ec.EllipticCurvePublicKey,
    originator: Eui64,
    target: Eui64,
    counter: int,
    value: int,
    value_class: ValueClass,
) -> str:
    """A UTRN from the originator's prepayment private key and the device's public key."""
    return _utrn(shared_secret(private, public), originator, target, counter, (value_class, value))


def counter_candidates(bits: int, used: Sequence[int]) -> tuple[int, ...]:
    """The counters a token with counter bits 32..41 = ``bits`` may have, most likely first:
    the smallest at or above the oldest remembered counter, then the one 2**42 below it."""
    floor = min(used, default=0)
    first = (floor & ~(_WRAP - 1)) | bits << 32
    if first < floor:
        first += _WRAP
    return tuple(c for c in (first, first - _WRAP) if 0 <= c <= MAX_COUNTER)


class GbcsUtrn:
    """GBCS UTRNs between a cohort's S1SP (originator) and its meters."""

    name: str = "gbcs"

    def issue(self, keys: CohortKeys, target: Eui64, counter: int, amount_p: int) -> str:
        if counter & _LOW_BITS or not 0 < counter <= MAX_COUNTER:
            raise ValueError(f"our GBCS counters are positive multiples of 2**32, not {counter}")
        amount = encode_amount(amount_p)
        return _utrn(_originator_z(keys, target), keys.originator, target, counter, amount)

    def accept(
        self, keys: CohortKeys, target: Eui64, utrn: str, used: Sequence[int] = ()
    ) -> Credit:
        ptut_value = checked_number(utrn) - OFFSET
        if not 0 <= ptut_value < _PTUT_LIMIT:
            raise TokenRejected(Rejection.FORMAT, "not a GBCS PPTD")
        high = ptut_value >> 32
        low = (ptut_value & _LOW_BITS).to_bytes(4, "big")
        z = _meter_z(keys, target)
        for counter in counter_candidates(high >> 15, used):
            key = derive_key(z, keys.originator, target, counter)
            if hmac.compare_digest(tag(key, keys.originator, target, counter, high)[-4:], low):
                return Credit(_amount(high), counter)
        raise TokenRejected(Rejection.AUTHENTICATION, f"not a UTRN for {target}")

    def next_counter(self, last: int | None, now: datetime) -> int:
        counter = _STEP if last is None else ((last >> 32) + 1) << 32
        if counter > MAX_COUNTER:
            raise ValueError("this originator/target pair has used every GBCS counter")
        return counter


GBCS = GbcsUtrn()


def _utrn(
    z: bytes, originator: Eui64, target: Eui64, counter: int, amount: tuple[ValueClass, int]
) -> str:
    high = ptut_high(counter, *amount)
    key = derive_key(z, originator, target, counter)
    return digits(pptd(ptut(high, tag(key, originator, target, counter, high))))


def _counter_bytes(counter: int) -> bytes:
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"a GBCS counter is 64 bits, not {counter}")
    return counter.to_bytes(8, "big")


def _amount(high: int) -> int:
    try:
        value_class = ValueClass((high >> 13) & 3)
    except ValueError:
        raise TokenRejected(Rejection.AMOUNT, "a value class this meter does not know") from None
    if not high & MAX_VALUE:
        raise TokenRejected(Rejection.AMOUNT, "a top-up of nothing")
    return (high & MAX_VALUE) * _PENCE[value_class]


# Z is fixed per (originator key, device): the one costly step, so each side keeps its own.
@lru_cache(maxsize=_CACHE)
def _originator_z(keys: CohortKeys, target: Eui64) -> bytes:
    return shared_secret(keys.originator_private, keys.device_public(target))


@lru_cache(maxsize=_CACHE)
def _meter_z(keys: CohortKeys, target: Eui64) -> bytes:
    return shared_secret(keys.device_private(target), keys.originator_public)
