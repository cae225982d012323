"""The key material a cohort's UTRNs are made and checked with.

In the SMETS1 Service the S1SP (SMETS1 Service Provider) generates UTRNs with the cohort's
algorithm: it holds a prepayment key-agreement key of its own (the UTRN *originator*), each
meter's key-agreement public key (GBCS algorithm) and a secret per meter (the manufacturer-style
algorithms). The meters hold their halves from manufacture and adoption.

``CohortKeys`` provisions all of it deterministically from one secret seed and the cohort's
name, so the hub and the simulated meters of a cohort agree without exchanging files. That is
how the simulation provisions keys; a production S1SP would hold the same items in an HSM and
answer the same questions (``CohortKeys`` is the interface to keep). Different seeds or cohorts
give unrelated keys, so a token made for one cohort's meters fails on another's.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.eui import Eui64

# The seed both the hub and the simulators use unless configured otherwise (simulation only).
DEFAULT_SEED = b"opendcc simulation key seed: not for production"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_CACHE = 65536


class CohortKeys:
    """Every UTRN key of one cohort, derived from ``seed``; immutable and cheap to share."""

    def __init__(self, cohort: str, seed: bytes = DEFAULT_SEED) -> None:
        self.cohort = cohort
        self._root = hmac.digest(seed, b"opendcc/utrn/" + cohort.encode(), "sha256")
        # The S1SP's UTRN originator id: an EUI-64 of its own, fixed per cohort and seed.
        self.originator = Eui64.from_bytes(self._derive(b"originator")[:8])
        self._device_private = lru_cache(maxsize=_CACHE)(self._device_private_uncached)
        self._device_public = lru_cache(maxsize=_CACHE)(self._device_public_uncached)

    def _derive(self, label: bytes) -> bytes:
        return hmac.digest(self._root, label, "sha256")

    def _scalar(self, label: bytes) -> ec.EllipticCurvePrivateKey:
        wide = int.from_bytes(self._derive(label + b"/1") + self._derive(label + b"/2"), "big")
        return ec.derive_private_key(wide % (_P256_ORDER - 1) + 1, ec.SECP256R1())

    # ------------------------------------------------------------------ GBCS algorithm

    @property
    def originator_private(self) -> ec.EllipticCurvePrivateKey:
        """The originator's prepayment key-agreement private key (the S1SP's half)."""
        return _originator_private(self)

    @property
    def originator_public(self) -> ec.EllipticCurvePublicKey:
        """The originator's prepayment key-agreement public key (installed on the meters)."""
        return self.originator_private.public_key()

    def device_private(self, device: Eui64) -> ec.EllipticCurvePrivateKey:
        """A meter's key-agreement private key (the meter's half; simulators only)."""
        return self._device_private(device)

    def device_public(self, device: Eui64) -> ec.EllipticCurvePublicKey:
        """A meter's key-agreement public key (what the S1SP holds of it)."""
        return self._device_public(device)

    def _device_private_uncached(self, device: Eui64) -> ec.EllipticCurvePrivateKey:
        return self._scalar(b"device-ka/" + device.to_bytes())

    def _device_public_uncached(self, device: Eui64) -> ec.EllipticCurvePublicKey:
        return self._device_private(device).public_key()

    # ------------------------------------------------------------------ manufacturer-style

    def meter_secret(self, device: Eui64) -> bytes:
        """The 32-byte secret a manufacturer-style algorithm keys a meter's tokens with."""
        return self._derive(b"meter-secret/" + device.to_bytes())


@lru_cache(maxsize=64)
def _originator_private(keys: CohortKeys) -> ec.EllipticCurvePrivateKey:
    return keys._scalar(b"originator-pp-ka")


def fingerprint(seed: bytes) -> str:
    """A short, safe-to-log name for a seed (to tell configurations apart)."""
    return hashlib.sha256(seed).hexdigest()[:12]
