"""The hostile DUIS corpus: documents an attacker or a clumsy client sends, each with the answer
opendcc gives it (HTTP status, and the DUIS code when the request can be addressed).

Every case is built fresh from a correctly signed request of the scenario's supplier, so the
hostile part is the only thing wrong with it (and a case that must pass the signature check is
signed again after its edit).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials, describe
from tests.hostile.rig import METER, resign

COUNTER_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[SimulatedUser], bytes]
    status: int
    code: str | None  # the DUIS ResponseCode; None: answered in plain text (not addressable)
    endpoint: str = "serviceS"
    bomb: bool = False  # a parser bomb: answered in under 2 s even on a busy box


def _read(who: SimulatedUser) -> bytes:
    return who.request("4.1.1", METER)


def _future(when: str) -> Callable[[SimulatedUser], bytes]:
    body = (
        "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>"
        f"{when}</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>"
    )
    return lambda who: who.request("4.1.1", METER, body=body)


def _counter(text: str) -> Callable[[SimulatedUser], bytes]:
    def build(who: SimulatedUser) -> bytes:
        signed = _read(who)
        current = re.search(rb":(\d+)</sr:RequestID>", signed)
        assert current is not None
        return resign(signed, who, (current.group(0), f":{text}</sr:RequestID>".encode()))

    return build


def _serial(text: bytes) -> Callable[[SimulatedUser], bytes]:
    return lambda who: re.sub(
        rb"<ds:X509SerialNumber>[^<]*", b"<ds:X509SerialNumber>" + text, _read(who)
    )


def _header(*edits: tuple[bytes, bytes]) -> Callable[[SimulatedUser], bytes]:
    return lambda who: resign(_read(who), who, *edits)


def _billion_laughs(_: SimulatedUser) -> bytes:
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        f'<?xml version="1.0"?><!DOCTYPE sr:Request [{"".join(entities)}]>'
        '<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway">&lol9;'
        "</sr:Request>"
    ).encode()


def _quadratic(_: SimulatedUser) -> bytes:
    big = "A" * 100_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{big}">]><r>{"&a;" * 50_000}</r>'
    ).encode()


def _xxe(who: SimulatedUser) -> bytes:
    signed = _read(who).split(b"?>", 1)[1]
    return (
        b'<?xml version="1.0"?><!DOCTYPE sr:Request [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + signed.replace(b"<sr:ServiceReference>", b"<sr:ServiceReference>&x;", 1)
    )


def _deep(_: SimulatedUser) -> bytes:
    return b"<a>" * 200_000 + b"</a>" * 200_000


def _deep_body(who: SimulatedUser) -> bytes:
    nested = b"<sr:x>" * 100 + b"</sr:x>" * 100
    element = b"<sr:ReadInstantaneousImportRegisters/>"
    signed = _read(who)
    assert element in signed
    return signed.replace(
        element, element[:-2] + b">" + nested + element[:1] + b"/" + element[1:-2] + b">"
    )


def _huge_attribute(who: SimulatedUser) -> bytes:
    return _read(who).replace(b'schemaVersion="5.4"', b'schemaVersion="' + b"5" * 7_000_000 + b'"')


def _many_attributes(who: SimulatedUser) -> bytes:
    attributes = b" ".join(b'a%d="x"' % i for i in range(200_000))
    return _read(who).replace(b'schemaVersion="5.4"', b'schemaVersion="5.4" ' + attributes)


def _many_elements(who: SimulatedUser) -> bytes:
    element = b"<sr:ReadInstantaneousImportRegisters/>"
    opened = element[:-2] + b">"
    return _read(who).replace(element, opened + b"<x/>" * 1_000_000 + b"</" + opened[1:])


def _some_attributes(who: SimulatedUser) -> bytes:
    attributes = b" ".join(b'a%d="x"' % i for i in range(5000))
    return _read(who).replace(b'schemaVersion="5.4"', b'schemaVersion="5.4" ' + attributes)


def _tampered(who: SimulatedUser) -> bytes:
    signed = who.request("8.2", METER, cv=8)
    return signed.replace(str(METER).encode(), b"00-DB-12-34-56-78-99-99", 1)


def _wrapped(who: SimulatedUser) -> bytes:
    """The signed body moved inside the signature (which the enveloped digest leaves out) and
    another body put in its place."""
    signed = who.request("8.2", METER, cv=8)
    body = re.search(rb"<sr:Body>.*?</sr:Body>", signed, re.S)
    assert body is not None
    other = body.group(0).replace(str(METER).encode(), b"00-DB-12-34-56-78-99-99")
    wrapped = signed.replace(body.group(0), other, 1)
    return wrapped.replace(
        b"</ds:Signature>", b"<ds:Object>" + body.group(0) + b"</ds:Object></ds:Signature>"
    )


def _forged(who: SimulatedUser) -> bytes:
    """Signed by an attacker's key under a certificate that copies the User's issuer and serial."""
    genuine = who.credentials.info.certificate
    key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)
        .public_key(key.public_key())
        .serial_number(genuine.serial_number)
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
        .sign(key, hashes.SHA256())
    )
    return SimulatedUser(SigningCredentials(key, describe(forged)), who.user_id).request(
        "4.1.1", METER
    )


def _unsigned(who: SimulatedUser) -> bytes:
    return re.sub(rb"<ds:Signature.*</ds:Signature>", b"", _read(who), flags=re.S)


CASES = [
    # Parser bombs and unsafe XML: not a DUIS document opendcc can address.
    Case("billion laughs", _billion_laughs, 400, None, bomb=True),
    Case("quadratic blowup", _quadratic, 400, None, bomb=True),
    Case("XXE", _xxe, 400, None, bomb=True),
    Case("nesting 200,000 deep", _deep, 400, None, bomb=True),
    Case("nesting past the depth limit in the Body", _deep_body, 400, "E1", bomb=True),
    Case("a 7 MB attribute", _huge_attribute, 401, "E1", bomb=True),
    Case("a million elements", _many_elements, 400, None, bomb=True),
    Case("200,000 attributes", _many_attributes, 400, None, bomb=True),
    Case("5,000 attributes", _some_attributes, 400, "E1", bomb=True),
    Case("not XML", lambda who: b"\x00\xff" * 1000, 400, None),
    Case(  # found by make fuzz: the header reader once raised on the undeclared prefix
        "an undeclared prefix in the Header",
        lambda who: _read(who).replace(b"sr:RequestID>", b"ds:X>"),
        400,
        "E1",
    ),
    Case("empty", lambda who: b"", 400, None),
    # Signatures.
    Case("unsigned", _unsigned, 401, "E1"),
    Case("body altered after signing", _tampered, 401, "E1", endpoint="serviceD"),
    Case("signature wrapping", _wrapped, 401, "E1", endpoint="serviceD"),
    Case("forged certificate", _forged, 401, "E1"),
    Case("5,000-digit X509SerialNumber", _serial(b"9" * 5000), 401, "E1"),
    Case("X509SerialNumber of unicode digits", _serial("²³".encode()), 400, "E1"),
    Case("X509SerialNumber negative", _serial(b"-1"), 401, "E1"),
    # Counters at and past 2^64, and not canonical.
    Case("counter 2^64", _counter(str(COUNTER_MAX + 1)), 400, "E1"),
    Case("counter 25 digits", _counter("9" * 25), 400, "E1"),
    Case("counter 5,000 digits", _counter("9" * 5000), 400, "E1"),
    Case("counter with a leading zero", _counter("0123"), 400, "E1"),
    Case("counter negative", _counter("-5"), 400, "E1"),
    Case("counter of unicode digits", _counter("²³"), 400, "E1"),
    # Odd dates (ExecutionDateTime).
    Case("date year 1", _future("0001-01-01T00:00:00Z"), 400, "E1"),
    Case("date year 9999", _future("9999-12-31T23:59:59Z"), 400, "E1"),
    Case("date without a zone", _future("2030-01-01T00:00:00"), 400, "E1"),
    Case("date 30 February", _future("2030-02-30T00:00:00Z"), 400, "E1"),
    Case("date 24:00", _future("2030-01-01T24:00:00Z"), 400, "E1"),
    Case("date leap second", _future("2030-06-30T23:59:60Z"), 400, "E1"),
    Case("date year 10000", _future("10000-01-01T00:00:00Z"), 400, "E1"),
    # Header and Body must agree with each other and with the endpoint.
    Case(
        "ServiceReference 7.4 over SRV 4.1.1",
        _header((b"<sr:ServiceReference>4.1<", b"<sr:ServiceReference>7.4<")),
        400,
        "E1",
    ),
    Case(
        "SRV 7.4 over a 4.1.1 Body",
        _header(
            (b"<sr:ServiceReference>4.1<", b"<sr:ServiceReference>7.4<"),
            (b"<sr:ServiceReferenceVariant>4.1.1<", b"<sr:ServiceReferenceVariant>7.4<"),
        ),
        400,
        "E1",
    ),
    Case(
        "SRV 4.1.2 over a 4.1.1 Body",
        _header((b"<sr:ServiceReferenceVariant>4.1.1<", b"<sr:ServiceReferenceVariant>4.1.2<")),
        400,
        "E1",
    ),
    Case("device request on the non-device endpoint", _read, 200, "E13", endpoint="serviceD"),
    Case("device request on the transform endpoint", _read, 200, "E13", endpoint="serviceT"),
    Case(
        "non-device request on the device endpoint",
        lambda who: who.request("8.2", METER, cv=8),
        200,
        "E13",
    ),
    Case(
        "CommandVariant of 5,000 digits",
        _header((b"<sr:CommandVariant>1<", b"<sr:CommandVariant>" + b"1" * 5000 + b"<")),
        400,
        "E1",
    ),
]
