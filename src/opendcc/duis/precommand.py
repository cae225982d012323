"""SMETS1 pre-commands: the critical-request transform flow (Command Variants 4 and 5).

A critical SRV (supply, tariff, balance, payment mode ...) is first sent with CV 4 to the
transform endpoint. The DSP answers at once with a DUIS Response carrying ``sr:PreCommand``:
``GBCSVersion`` is ``SMETS1`` and ``GBCSPayload`` is the pre-command, the SMETS1 instruction
the DSP will have carried out, as canonical JSON (UTF-8, keys sorted, no spaces)::

    {"format": "opendcc-smets1-precommand/1", "transform_request_id": ..., "originator": ...,
     "srv": ..., "device_id": ..., "parameters": {...}, "issued_at": ..., "dsp_seal": <b64>}

``dsp_seal`` is the DSP's ECDSA (P-256, SHA-256) signature over the same JSON without it, so
nobody can alter a pre-command unseen. The User signs the pre-command bytes with its signing key
(ECDSA P-256, SHA-256) and sends a new request with CV 5 to the send endpoint: same SRV and
target, a fresh RequestID, and ``sr:SignedPreCommand`` whose ``GBCSPayload`` is the pre-command
bytes followed by the 64-byte signature (r then s, 32 bytes each, big-endian), as GBCS appends
a supplier's signature to a command. The DCO later checks both seals before the S1SP may act.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree

from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64
from opendcc.duis.response import format_datetime, text_child
from opendcc.duis.xml import sr

FORMAT = "opendcc-smets1-precommand/1"
GBCS_VERSION = "SMETS1"
SIGNATURE_BYTES = 64
_P256 = 32


class PreCommandInvalid(DuisError):
    """A pre-command, or a signed pre-command, that does not parse or does not verify."""


@dataclass(frozen=True, slots=True)
class PreCommand:
    transform_request_id: str
    originator: Eui64
    srv: str
    device_id: Eui64
    parameters: Mapping[str, str] = field(default_factory=dict)
    issued_at: str = ""

    def _fields(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "transform_request_id": self.transform_request_id,
            "originator": str(self.originator),
            "srv": self.srv,
            "device_id": str(self.device_id),
            "parameters": dict(sorted(self.parameters.items())),
            "issued_at": self.issued_at,
        }


def _canonical(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def issue(pre: PreCommand, dsp_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The pre-command's bytes, sealed by the DSP."""
    fields = pre._fields()
    seal = dsp_key.sign(_canonical(fields), ec.ECDSA(hashes.SHA256()))
    return _canonical({**fields, "dsp_seal": base64.b64encode(seal).decode("ascii")})


def precommand_element(payload: bytes) -> etree._Element:
    """``sr:PreCommand`` for a transform Response."""
    element = etree.Element(sr("PreCommand"))
    text_child(element, sr("GBCSVersion"), GBCS_VERSION)
    text_child(element, sr("GBCSPayload"), base64.b64encode(payload).decode("ascii"))
    return element


def issued_at(now: datetime) -> str:
    return format_datetime(now)


def read(payload: bytes, dsp_public: ec.EllipticCurvePublicKey) -> PreCommand:
    """The pre-command in ``payload``, once its DSP seal verifies."""
    try:
        fields = json.loads(payload.decode("utf-8"))
        seal = base64.b64decode(fields.pop("dsp_seal"), validate=True)
        if fields.get("format") != FORMAT:
            raise PreCommandInvalid(f"not a {FORMAT} pre-command")
        parameters = fields["parameters"]
        if not isinstance(parameters, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()
        ):
            raise PreCommandInvalid("pre-command parameters are text")
        pre = PreCommand(
            str(fields["transform_request_id"]),
            Eui64.parse(str(fields["originator"])),
            str(fields["srv"]),
            Eui64.parse(str(fields["device_id"])),
            parameters,
            str(fields["issued_at"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise PreCommandInvalid(f"unreadable pre-command: {exc}") from None
    try:
        dsp_public.verify(seal, _canonical(pre._fields()), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PreCommandInvalid("the pre-command is not as the DSP issued it") from None
    return pre


def sign(payload: bytes, user_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The ``GBCSPayload`` of a signed pre-command: ``payload`` and the User's signature."""
    r, s = decode_dss_signature(user_key.sign(payload, ec.ECDSA(hashes.SHA256())))
    return payload + r.to_bytes(_P256, "big") + s.to_bytes(_P256, "big")


def split(signed: bytes) -> tuple[bytes, bytes]:
    """(pre-command bytes, raw signature) of a signed pre-command's payload."""
    if len(signed) <= SIGNATURE_BYTES:
        raise PreCommandInvalid("a signed pre-command is the pre-command and a 64-byte signature")
    return signed[:-SIGNATURE_BYTES], signed[-SIGNATURE_BYTES:]


def verify_user(signed: bytes, user_public: ec.EllipticCurvePublicKey) -> bytes:
    """The pre-command bytes of ``signed``, once the User's signature over them verifies."""
    payload, raw = split(signed)
    der = encode_dss_signature(
        int.from_bytes(raw[:_P256], "big"), int.from_bytes(raw[_P256:], "big")
    )
    try:
        user_public.verify(der, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PreCommandInvalid(
            "the User's signature over the pre-command does not verify"
        ) from None
    return payload


def signed_payload(body: etree._Element) -> bytes:
    """The decoded ``GBCSPayload`` of an ``sr:SignedPreCommand`` body element."""
    text = body.findtext(sr("GBCSPayload"))
    if body.tag != sr("SignedPreCommand") or not text:
        raise PreCommandInvalid("a CV 5 request carries sr:SignedPreCommand with a GBCSPayload")
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise PreCommandInvalid(f"GBCSPayload is not base64: {exc}") from None
