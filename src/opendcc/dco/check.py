"""Countersigned SMETS1 instructions and the DCO's dual-control check of each one.

The DSP countersigns ``instruction.canonical() || SHA-256(the User's signed request)`` with its
own key (ECDSA P-256, SHA-256). The DCO, holding only the DSP's certificate, the User's signed
request and a way to ask whether the User is still authorised, then checks, in order:

1. the DSP's countersignature verifies (the instruction came from the DSP, unaltered);
2. the request digest matches the User's signed request the DCO was given;
3. the User's own XML signature on that request verifies;
4. for a critical request (CV 5): the signed pre-command is a GBCS command from this User to
   the target, of one of the SRV's GBCS use cases, and the User's GBCS signature over it
   verifies with one of its registered GBCS signing keys, or with the certificate that signed
   the request when it has none (``opendcc.duis.precommand``, ``opendcc.gbcs``);
5. the instruction matches what the User asked, read independently from the signed request (or
   from the signed GBCS command): RequestID, SRV, target device and every parameter;
6. the User is still authorised for the device now (responsible party, active, eligible role).

Any failure raises ``DcoRejected`` and the instruction never reaches the S1SP. Otherwise the DCO
seals the instruction with its own key (``Sealed``): adapters carry out nothing else. The DCO's
key pair is its own, made when it starts; adapters get only the public half. Inputs and ``now``
in, a verdict out; the authorisation lookup is injected.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.duis.xmldsig import USER_SIGNED, CertificateLookup, SignerPolicy, verify
from opendcc.s1sp.contract import Instruction, Sealed
from opendcc.smki.certificates import CertificateInfo
from opendcc.smki.credentials import SigningCredentials

SHA256 = hashes.SHA256()
ECDSA_SHA256 = ec.ECDSA(SHA256)  # made once: every countersignature, check and seal takes it


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


def _signed_bytes(instruction: Instruction, request_digest: bytes) -> bytes:
    return instruction.canonical() + request_digest


def countersign(
    instruction: Instruction, document: bytes, dsp: SigningCredentials
) -> Countersigned:
    request_digest = hashlib.sha256(document).digest()
    signature = dsp.key.sign(_signed_bytes(instruction, request_digest), ECDSA_SHA256)
    return Countersigned(instruction, request_digest, signature)


# Re-checks the User's authority for the request at ``now``; raises a DuisError if it is gone.
Authorise = Callable[[ServiceRequest, datetime], None]
# What the User asked, read from the signed request: (request, signer public key) -> instruction.
ReadInstruction = Callable[[ServiceRequest, ec.EllipticCurvePublicKey], Instruction]


class DualControl:
    def __init__(
        self,
        dsp_certificate: CertificateInfo,
        users: CertificateLookup,
        authorise: Authorise,
        read_instruction: ReadInstruction,
    ) -> None:
        public = dsp_certificate.certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("the DSP countersigns with an EC key")
        self._dsp_key = public
        self._users = users
        self._authorise = authorise
        self._read_instruction = read_instruction
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = self._key.public_key()
        self._parsed = threading.local()  # this thread's last ``read``: (bytes, its parse)

    def read(self, document: bytes) -> ServiceRequest:
        """The DCO's own parse of ``document``, for the DSP to read the request from too.

        The next ``check`` in this thread of these very bytes (the same object) verifies
        this parse instead of parsing them again: the tree is still the DCO's reading of the
        bytes it is given (the DSP hands over only the bytes), and any later change to it
        breaks the User's signature over it. Anything else is parsed afresh."""
        request = parse_request(document)
        self._parsed.last = (document, request)
        return request

    def seal(self, instruction: Instruction) -> Sealed:
        """The DCO's countersignature on an instruction it has checked (or the DCC's own, such
        as a migration device test)."""
        return Sealed(instruction, self._key.sign(instruction.canonical(), ECDSA_SHA256))

    def check(self, countersigned: Countersigned, document: bytes, now: datetime) -> Sealed:
        instruction = countersigned.instruction
        try:
            self._dsp_key.verify(
                countersigned.signature,
                _signed_bytes(instruction, countersigned.request_digest),
                ECDSA_SHA256,
            )
        except InvalidSignature:
            raise DcoRejected(
                "countersignature", "the DSP's countersignature does not verify"
            ) from None
        if hashlib.sha256(document).digest() != countersigned.request_digest:
            raise DcoRejected("request-digest", "the instruction is for another request")
        last = getattr(self._parsed, "last", None)
        self._parsed.last = None
        request = last[1] if last is not None and last[0] is document else parse_request(document)
        try:
            signer = verify(
                request.document.getroot(),
                self._users,
                SignerPolicy(USER_SIGNED, request.request_id.originator),
                now,
            )
        except DuisError as exc:
            raise DcoRejected("user-signature", str(exc)) from None
        signer_key = signer.certificate.public_key()
        if not isinstance(signer_key, ec.EllipticCurvePublicKey):
            raise DcoRejected("user-signature", "the User signs with an EC key")
        try:
            asked = self._read_instruction(request, signer_key)
        except DuisError as exc:
            raise DcoRejected("request", str(exc)) from None
        mismatches = [
            name
            for name, ours, theirs in (
                ("RequestID", instruction.request_id, asked.request_id),
                ("SRV", instruction.srv, asked.srv),
                ("device", instruction.device_id, asked.device_id),
                ("parameters", dict(instruction.parameters), dict(asked.parameters)),
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
        return self.seal(instruction)
