"""The GBCS command bodies of the auxiliary load control use cases opendcc writes exactly.

Both are xDLMS access-requests (``encoding.access_request``), as DCC's RTDS pre-commands write
them:

- ECS46a Update ALCS Descriptions (SRV 6.14.1): a SET of attribute 2 of each described
  switch's data object 0-0-94-44-0-(10 + n) (class 1), in switch order, and the descriptions
  as visible strings.
- ECS47 Activate / Deactivate / Reset ALCS (SRVs 7.5, 7.6, 7.8): for 7.5 and 7.6 a SET of the
  switch's duration (long-unsigned, minutes) in data object 0-0-94-44-(116 + n)-(1 on, 2 off),
  then for all three an ACTION (method 1, execute) on the ALCS script table 0-0-10-0-103-255
  (class 9) with script selector ``n << 8`` | 0x11 (on), 0x12 (off) or 0x20 (reset).

Each decoder re-encodes what it read and refuses a body that is not byte for byte the same,
so what is read back is exactly what the bytes say. ECS46c (the ALCS calendar, 6.14.2) is not
written here: it is signed in opendcc's SMETS1 body under its message code.
"""

from __future__ import annotations

from opendcc.gbcs import encoding as enc
from opendcc.gbcs.codec import Codec, Decode, Encode, Inputs, Parameters
from opendcc.gbcs.message import GbcsInvalid

_SWITCHES = 5
_SET = b"\x02\x00\x01"  # set-request, class 1 (data)
_ALCS_SCRIPTS = bytes.fromhex("0300090000" + "0a0067ff01")  # action, class 9, 0-0-10-0-103-255, m1
_ON, _OFF, _RESET = 0x11, 0x12, 0x20
_DESCRIPTION_LIMIT = 22


def _switch(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= _SWITCHES else None


def _long(value: int) -> bytes:
    return b"\x12" + value.to_bytes(2, "big")


def _description_object(switch: int) -> bytes:
    return bytes([0, 0, 94, 44, 0, 10 + switch])


def _ecs46a_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    described: dict[int, bytes] = {}
    for key, text in parameters.items():
        number = (
            _switch(key.removeprefix("description.")) if key.startswith("description.") else None
        )
        if number is None or not 1 <= len(text) <= _DESCRIPTION_LIMIT or not text.isascii():
            return None
        described[number] = text.encode("ascii")
    if not described:
        return None
    switches = sorted(described)
    specifications = bytes([len(switches)]) + b"".join(
        _SET + _description_object(n) + b"\x02" for n in switches
    )
    data = bytes([len(switches)]) + b"".join(
        b"\x0a" + bytes([len(described[n])]) + described[n] for n in switches
    )
    return enc.access_request(inputs.counter, specifications, data)


def _ecs46a_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    try:
        count = body[0]
        specs = [body[1 + 10 * i : 11 + 10 * i] for i in range(count)]
        parameters: dict[str, str] = {}
        at = 1 + 10 * count + 1
        if body[at - 1] != count:
            raise GbcsInvalid("not ECS46a")
        for spec in specs:
            switch = spec[8] - 10
            length = body[at + 1]
            if body[at] != 0x0A:
                raise GbcsInvalid("not ECS46a")
            parameters[f"description.{switch}"] = body[at + 2 : at + 2 + length].decode("ascii")
            at += 2 + length
    except (IndexError, UnicodeDecodeError):
        raise GbcsInvalid("not ECS46a Update ALCS Descriptions") from None
    written = _ecs46a_encode(parameters, Inputs(0, enc.ZIGBEE_EPOCH))
    if written is None or written[6:] != body:
        raise GbcsInvalid("an ECS46a body opendcc does not read")
    return parameters


def _ecs47_encode(action: int) -> Encode:
    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        switch = _switch(parameters.get("switch", ""))
        script = _long((switch or 0) << 8 | action)
        if switch is None:
            return None
        if action == _RESET:
            if set(parameters) != {"switch"}:
                return None
            return enc.access_request(inputs.counter, b"\x01" + _ALCS_SCRIPTS, b"\x01" + script)
        duration = parameters.get("duration", "")
        if set(parameters) != {"switch", "duration"} or not duration.isdigit():
            return None
        if int(duration) > 0xFFFF:
            return None
        duration_object = bytes([0, 0, 94, 44, 116 + switch, 1 if action == _ON else 2])
        specifications = b"\x02" + _SET + duration_object + b"\x02" + _ALCS_SCRIPTS
        data = b"\x02" + _long(int(duration)) + script
        return enc.access_request(inputs.counter, specifications, data)

    return encode


def _ecs47_decode(action: int) -> Decode:
    encode = _ecs47_encode(action)

    def decode(content: bytes) -> dict[str, str]:
        body = enc.access_body(content)
        try:
            selector = int.from_bytes(body[-2:], "big")
            parameters = {"switch": str(selector >> 8)}
            if action != _RESET:
                parameters["duration"] = str(int.from_bytes(body[-5:-3], "big"))
        except IndexError:
            raise GbcsInvalid("not ECS47") from None
        written = encode(parameters, Inputs(0, enc.ZIGBEE_EPOCH))
        if written is None or written[6:] != body:
            raise GbcsInvalid("not this ECS47 auxiliary load command")
        return parameters

    return decode


CODECS: dict[str, Codec] = {
    "ECS46a": (_ecs46a_encode, _ecs46a_decode),
    "ECS47Activate": (_ecs47_encode(_ON), _ecs47_decode(_ON)),
    "ECS47Deactivate": (_ecs47_encode(_OFF), _ecs47_decode(_OFF)),
    "ECS47Reset": (_ecs47_encode(_RESET), _ecs47_decode(_RESET)),
}
