"""The GBCS use case of each critical SRV, and the command body it carries for SMETS1 meters.

A critical SRV (Service Reference Variant) maps to one GBCS use case per device type: ECS...
on an ESME (electricity meter), GCS... on a GSME (gas meter), CS... on either. Each has its
message code (written in the General Signing header) and, here, a codec between the SMETS1
instruction's parameters and the use case's command body, byte for byte as DCC's RTDS
(Reference Test Data Set) pre-commands write it for the same inputs.

``build`` picks, for an instruction, the use case whose codec reads back exactly the same
parameters (so what the User signs is exactly what the S1SP will be told, and nothing is lost
in between). Where no codec carries every parameter (a use case whose GBCS body holds what a
SMETS1 meter does not model, such as a whole tariff, or a SMETS1 instruction holding more than
the GBCS body, such as an ESME balance adjustment in credit mode), the message still
names the use case's message code and its content is opendcc's SMETS1 body: an ASN.1 private
tag 0xE1 holding the parameters as UTF8String pairs. ``read`` inverts either.
"""

from __future__ import annotations

from dataclasses import dataclass

from opendcc.core.eui import Eui64
from opendcc.gbcs import alcs, esme, gsme
from opendcc.gbcs import encoding as enc
from opendcc.gbcs.codec import (
    CANCEL_AT,
    EXECUTE_AT,
    Codec,
    Decode,
    Encode,
    Inputs,
    Parameters,
    as_instant,
    as_text,
)
from opendcc.gbcs.message import GbcsInvalid, GeneralSigning

SMETS1_BODY = 0xE1  # opendcc's SMETS1 parameters body: ASN.1 [PRIVATE 1] constructed

__all__ = ["CANCEL_AT", "EXECUTE_AT", "Inputs", "Parameters", "UseCase", "build", "read"]


@dataclass(frozen=True, slots=True)
class UseCase:
    name: str  # e.g. "ECS43"
    message_code: int
    srv: str
    device_type: str  # "ESME", "GSME" or "any" (CS use cases)
    encode: Encode | None = None  # None: only opendcc's SMETS1 body
    decode: Decode | None = None
    # For use cases of one SRV that differ by the remote party role replaced (CS02b/CS02g):
    # the instruction's ``role`` parameter this one carries; None: any.
    role: str | None = None


def _cs06_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    """CS06 Activate Firmware: the image hash, the originator counter, when (if dated)."""
    if set(parameters) - {EXECUTE_AT} != {"hash"}:
        return None
    digest = bytes.fromhex(parameters["hash"])
    if parameters["hash"] != digest.hex():
        return None
    body = enc.der(0x04, digest) + enc.der_integer(inputs.counter)
    if EXECUTE_AT in parameters:
        instant = as_instant(parameters[EXECUTE_AT])
        if instant == CANCEL_AT:
            body += enc.der(0x18, enc.GENERALIZED_CANCEL.encode("ascii"))
        else:
            body += enc.generalized_time(instant)
    return enc.der(0x30, body)


def _cs06_decode(content: bytes) -> dict[str, str]:
    items = enc.der_items(content)
    if len(items) != 1 or items[0][0] != 0x30:
        raise GbcsInvalid("not CS06 Activate Firmware")
    fields = enc.der_items(items[0][1])
    tags = [tag for tag, _ in fields]
    if tags not in ([0x04, 0x02], [0x04, 0x02, 0x18]):
        raise GbcsInvalid("not CS06 Activate Firmware")
    parameters = {"hash": fields[0][1].hex()}
    if len(fields) == 3:
        text = fields[2][1].decode("ascii", "replace")
        instant = (
            CANCEL_AT if text == enc.GENERALIZED_CANCEL else enc.read_generalized_time(fields[2][1])
        )
        parameters[EXECUTE_AT] = as_text(instant)
    return parameters


# --------------------------------------------------------------------------- the table


def _codec(name: str) -> Codec:
    return {**esme.CODECS, **gsme.CODECS, **alcs.CODECS}[name]


USE_CASES: tuple[UseCase, ...] = (
    UseCase("ECS01a", 0x0019, "1.1.1", "ESME", *_codec("ECS01a")),
    UseCase("GCS01a", 0x006B, "1.1.1", "GSME", *_codec("GCS01a")),
    UseCase("ECS01c", 0x00B7, "1.1.2", "ESME"),
    UseCase("ECS01b", 0x00A2, "1.2.1", "ESME", *_codec("ECS01b")),
    UseCase("GCS01b", 0x00A3, "1.2.1", "GSME", *_codec("GCS01b")),
    UseCase("ECS01d", 0x00C7, "1.2.2", "ESME"),
    UseCase("ECS04a", 0x001C, "1.5", "ESME", *_codec("ECS04a")),
    UseCase("ECS04b", 0x00B3, "1.5", "ESME", *_codec("ECS04b")),
    UseCase("GCS40a", 0x0086, "1.5", "GSME", *_codec("GCS40a")),
    UseCase("GCS40b", 0x00B4, "1.5", "GSME", *_codec("GCS40b")),
    UseCase("GCS40c", 0x00C0, "1.5", "GSME", *_codec("GCS40c")),
    UseCase("GCS40d", 0x00C2, "1.5", "GSME", *_codec("GCS40d")),
    UseCase("ECS02", 0x001A, "1.6", "ESME", *_codec("ECS02")),
    UseCase("ECS03", 0x001B, "1.6", "ESME", *_codec("ECS03")),
    UseCase("GCS02", 0x006C, "1.6", "GSME", *_codec("GCS02")),
    UseCase("GCS03", 0x006D, "1.6", "GSME", *_codec("GCS03")),
    UseCase("ECS05", 0x001D, "1.7", "ESME"),
    UseCase("ECS08", 0x001F, "2.1", "ESME", *_codec("ECS08")),
    UseCase("ECS08a", 0x00DE, "2.1", "ESME", *_codec("ECS08a")),
    UseCase("GCS05", 0x006F, "2.1", "GSME", *_codec("GCS05")),
    UseCase("ECS07", 0x001E, "2.3", "ESME", *_codec("ECS07")),
    UseCase("GCS04", 0x006E, "2.3", "GSME", *_codec("GCS04")),
    UseCase("ECS09", 0x0020, "2.5", "ESME", *_codec("ECS09")),
    UseCase("GCS06", 0x0070, "2.5", "GSME", *_codec("GCS06")),
    UseCase("ECS28a", 0x0043, "6.4.1", "ESME"),
    UseCase("GCS23", 0x007C, "6.6", "GSME"),
    UseCase("GCS24", 0x007D, "6.7", "GSME"),
    UseCase("ECS30", 0x0046, "6.8", "ESME", *_codec("ECS30")),
    UseCase("ECS30a", 0x00D7, "6.8", "ESME", *_codec("ECS30a")),
    UseCase("GCS25", 0x007E, "6.8", "GSME", *_codec("GCS25")),
    UseCase("GCS25a", 0x00D8, "6.8", "GSME", *_codec("GCS25a")),
    UseCase("ECS70", 0x0062, "6.11", "ESME", *_codec("ECS70")),
    UseCase("GCS28", 0x007F, "6.11", "GSME", *_codec("GCS28")),
    UseCase("ECS46a", 0x0053, "6.14.1", "ESME", *_codec("ECS46a")),
    UseCase("ECS46c", 0x0054, "6.14.2", "ESME"),
    UseCase("ECS81", 0x0068, "6.25", "ESME"),
    UseCase("ECS48", 0x00DB, "6.26", "ESME"),
    UseCase("ECS42", 0x004F, "7.1", "ESME", *_codec("ECS42")),
    UseCase("ECS43", 0x0050, "7.2", "ESME", *_codec("ECS43")),
    UseCase("GCS32", 0x0081, "7.2", "GSME", *_codec("GCS32")),
    UseCase("ECS44", 0x0051, "7.3", "ESME", *_codec("ECS44")),
    UseCase("GCS39", 0x0085, "7.3", "GSME", *_codec("GCS39")),
    UseCase("ECS47", 0x0055, "7.5", "ESME", *_codec("ECS47Activate")),
    UseCase("ECS47", 0x0055, "7.6", "ESME", *_codec("ECS47Deactivate")),
    UseCase("ECS47", 0x0055, "7.8", "ESME", *_codec("ECS47Reset")),
    UseCase("ECS38", 0x004B, "7.12", "ESME"),
    UseCase("ECS70", 0x0062, "8.1.1", "ESME", *_codec("ECS70")),
    UseCase("GCS28", 0x007F, "8.1.1", "GSME", *_codec("GCS28")),
    UseCase("CS03A1", 0x000D, "8.7.1", "any"),
    UseCase("CS04AC", 0x000F, "8.8.1", "any"),
    UseCase("CS06", 0x0012, "11.3", "any", _cs06_encode, _cs06_decode),
    # Security credentials: the S1SP holds a SMETS1 device's anchors and keys; the command
    # carries opendcc's SMETS1 body under the use case's message code (RTDS pre-commands).
    UseCase("CS02b", 0x0102, "6.15.1", "any", role="Supplier"),
    UseCase("CS02b", 0x0103, "6.15.1", "any", role="NetworkOperator"),
    UseCase("CS02g", 0x0126, "6.15.1", "any", role="LoadController"),
    UseCase("CS02d", 0x000B, "6.15.2", "any"),
    UseCase("CS02c", 0x000A, "6.17", "any"),
    UseCase("CS02e", 0x000C, "6.24.2", "any"),
)

# An SRV no use case names (none should remain among the critical ones): message code 0.
UNMAPPED = 0x0000


def use_cases(srv: str, device_type: str | None = None) -> list[UseCase]:
    """The use cases of ``srv`` (on ``device_type`` if given), in the table's order."""
    return [
        u
        for u in USE_CASES
        if u.srv == srv and (device_type is None or u.device_type in (device_type, "any"))
    ]


def smets1_body(parameters: Parameters) -> bytes:
    """opendcc's SMETS1 body: the parameters, sorted, as UTF8String pairs under tag 0xE1."""
    pairs = b"".join(
        enc.der(0x0C, key.encode("utf-8")) + enc.der(0x0C, value.encode("utf-8"))
        for key, value in sorted(parameters.items())
    )
    return enc.der(SMETS1_BODY, pairs)


def read_smets1_body(content: bytes) -> dict[str, str]:
    items = enc.der_items(content)
    if len(items) != 1 or items[0][0] != SMETS1_BODY:
        raise GbcsInvalid("not an opendcc SMETS1 body")
    values = enc.der_items(items[0][1])
    if len(values) % 2 or any(tag != 0x0C for tag, _ in values):
        raise GbcsInvalid("an opendcc SMETS1 body holds UTF8String pairs")
    try:
        texts = [value.decode("utf-8") for _, value in values]
    except UnicodeDecodeError:
        raise GbcsInvalid("an opendcc SMETS1 body holds UTF-8 text") from None
    parameters = dict(zip(texts[::2], texts[1::2], strict=True))
    if len(parameters) * 2 != len(texts):
        raise GbcsInvalid("an opendcc SMETS1 body names a parameter twice")
    return parameters


@dataclass(frozen=True, slots=True)
class Built:
    use_case: str  # the GBCS use case's name (or "SMETS1" where none is known)
    exact: bool  # True: the use case's own command body; False: opendcc's SMETS1 body
    message: GeneralSigning


def build(  # noqa: PLR0917 - the SRV, device and parties are the message's natural inputs
    srv: str,
    device_type: str,
    originator: Eui64,
    recipient: Eui64,
    parameters: Parameters,
    inputs: Inputs,
) -> Built:
    """The General Signing message of ``srv``'s instruction to ``recipient``."""
    role = parameters.get("role")
    candidates = [c for c in use_cases(srv, device_type) if c.role in (None, role)]
    fitting: list[UseCase] = []
    for case in candidates:
        if case.encode is None or case.decode is None:
            continue
        try:
            content = case.encode(parameters, inputs)
            exact = content is not None and case.decode(content) == dict(parameters)
        except (GbcsInvalid, ValueError, OverflowError):
            continue
        if content is not None:
            fitting.append(case)
        if content is not None and exact:
            message = GeneralSigning(
                inputs.counter, originator, recipient, case.message_code, content
            )
            return Built(case.name, True, message)
    chosen = (fitting or candidates)[:1]
    code = chosen[0].message_code if chosen else UNMAPPED
    name = chosen[0].name if chosen else "SMETS1"
    body = smets1_body(parameters)
    return Built(name, False, GeneralSigning(inputs.counter, originator, recipient, code, body))


def read(srv: str, message: GeneralSigning) -> dict[str, str]:
    """The parameters of ``srv``'s instruction in ``message``; ``GbcsInvalid`` when it is
    another SRV's message or its body is not the use case's."""
    cases = [u for u in use_cases(srv) if u.message_code == message.message_code]
    if not cases and not (message.message_code == UNMAPPED and not use_cases(srv)):
        raise GbcsInvalid(
            f"the GBCS message code 0x{message.message_code:04X} is not one of SRV {srv}'s"
            " use cases"
        )
    if message.content[:1] == bytes([SMETS1_BODY]):
        return read_smets1_body(message.content)
    for case in cases:
        if case.decode is not None:
            return case.decode(message.content)
    raise GbcsInvalid(f"the GBCS message for SRV {srv} carries no command opendcc reads")
