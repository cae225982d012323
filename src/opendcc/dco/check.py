"""Countersigned SMETS1 instructions and the DCO's dual-control check of each one.

The DSP countersigns ``canonical(instruction) || SHA-256(the User's signed request)`` with its
own key (ECDSA P-256, SHA-256). The DCO, holding only the DSP's certificate, the User's signed
request and a way to ask whether the User is still authorised, then checks, in order:

1. the DSP's countersignature verifies (the instruction came from the DSP, unaltered);
2. the request digest matches the User's signed request the DCO was given;
3. the User's own XML signature on that request verifies;
4. the instruction matches the request: RequestID, SRV and target device;
5. the User is still authorised for the device now (responsible party, active, eligible role).

Any failure raises ``DcoRejected`` and the instruction never reaches the S1SP. Pure: inputs and
``now`` in, a verdict out; the authorisation lookup is injected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.duis.xmldsig import USER_SIGNED, CertificateLookup, SignerPolicy, verify
from opendcc.s1sp.contract import Instruction
from opendcc.smki.certificates import CertificateInfo
from opendcc.smki.credentials import SigningCredentials


class DcoRejected(DuisError):
    """The DCO refused an instruction; ``reason`` names the failed check, and ``code`` the DUIS
    code when the User's authority is what failed (E3, E4 ...)."""

    def __init__(self, reason: str, detail: str, code: ResponseCode | None = None) -> None:
        super().__init__(f"{reason}: {detail}", code=code)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Countersigned:
    instruction: Instruction
    request_digest: bytes
    signature: bytes  # DER ECDSA by the DSP


def canonical(instruction: Instruction) -> bytes:
    return json.dumps(
        {
            "request_id": instruction.request_id,
            "srv": instruction.srv,
            "device_id": str(instruction.device_id),
            "parameters": dict(sorted(instruction.parameters.items())),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")


def _signed_bytes(instruction: Instruction, request_digest: bytes) -> bytes:
    return canonical(instruction) + request_digest


def countersign(
    instruction: Instruction, document: bytes, dsp: SigningCredentials
) -> Countersigned:
    request_digest = hashlib.sha256(document).digest()
    signature = dsp.key.sign(_signed_bytes(instruction, request_digest), ec.ECDSA(hashes.SHA256()))
    return Countersigned(instruction, request_digest, signature)


# Re-checks the User's authority for the request at ``now``; raises a DuisError if it is gone.
Authorise = Callable[[ServiceRequest, datetime], None]


class DualControl:
    def __init__(
        self, dsp_certificate: CertificateInfo, users: CertificateLookup, authorise: Authorise
    ) -> None:
        public = dsp_certificate.certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("the DSP countersigns with an EC key")
        self._dsp_key = public
        self._users = users
        self._authorise = authorise

    def check(self, countersigned: Countersigned, document: bytes, now: datetime) -> None:
        instruction = countersigned.instruction
        try:
            self._dsp_key.verify(
                countersigned.signature,
                _signed_bytes(instruction, countersigned.request_digest),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            raise DcoRejected(
                "countersignature", "the DSP's countersignature does not verify"
            ) from None
        if hashlib.sha256(document).digest() != countersigned.request_digest:
            raise DcoRejected("request-digest", "the instruction is for another request")
        request = parse_request(document)
        try:
            verify(
                request.document.getroot(),
                self._users,
                SignerPolicy(USER_SIGNED, request.request_id.originator),
                now,
            )
        except DuisError as exc:
            raise DcoRejected("user-signature", str(exc)) from None
        mismatches = [
            name
            for name, ours, theirs in (
                ("RequestID", instruction.request_id, str(request.request_id)),
                ("SRV", instruction.srv, request.srv),
                ("device", instruction.device_id, request.request_id.target),
            )
            if ours != theirs
        ]
        if mismatches:
            raise DcoRejected(
                "mismatch", f"the instruction differs from the request in {mismatches}"
            )
        try:
            self._authorise(request, now)
        except DuisError as exc:
            raise DcoRejected("authorisation", str(exc), exc.code) from None
