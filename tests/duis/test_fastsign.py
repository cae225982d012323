"""The string-built signed SMETS1 Response is the tree builder's, byte for byte, and verifies."""

from __future__ import annotations

from typing import cast

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from tests.duis.support import DCC, DCC_POLICY, NOW, REQUEST_ID, S1SP

from opendcc.core import ResponseCode
from opendcc.duis import fastsign
from opendcc.duis.fastsign import signed_smets1_response
from opendcc.duis.response import (
    S1SP_SIGNED,
    Smets1Payload,
    Smets1Status,
    sign_document,
    smets1_response,
    to_bytes,
    verify_smets1_signed_response,
)
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml, ra
from opendcc.duis.xmldsig import SignerPolicy, verify
from opendcc.smki import SigningCredentials, TrustStore


class DeterministicKey:
    """A private key signing with RFC 6979's deterministic ECDSA: ECDSA signatures are
    randomised, these make two signings of the same bytes equal, so the two builders'
    documents can be compared byte for byte."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self.curve = key.curve

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, data: bytes, algorithm: ec.ECDSA) -> bytes:
        assert isinstance(algorithm.algorithm, hashes.SHA256)
        return self._key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


@pytest.fixture()
def s1sp(s1sp_credentials: SigningCredentials) -> SigningCredentials:
    return deterministic(s1sp_credentials)


@pytest.fixture()
def dcc(dcc_credentials: SigningCredentials) -> SigningCredentials:
    return deterministic(dcc_credentials)


def deterministic(credentials: SigningCredentials) -> SigningCredentials:
    return SigningCredentials(
        cast(ec.EllipticCurvePrivateKey, DeterministicKey(credentials.key)), credentials.info
    )


def payloads() -> dict[str, tuple[ResponseCode, Smets1Payload | None]]:
    clear = etree.Element(ra("ClearEventLogRsp"), MessageSuccess="true")
    reads = etree.fromstring(
        f'<ra:ReadInstantaneousImportRegistersRsp xmlns:ra="{ra("")[1:-1]}"'
        ' MessageSuccess="true" Note="a &amp; &quot;b&quot; &lt;c&gt;">\n'
        "  <ra:Electricity>\n    <ra:ActiveImportRegister>\n"
        "      <ra:Value>123456</ra:Value><ra:Empty/><ra:Spaces>  </ra:Spaces>\n"
        "      <ra:Unit>Wh &amp; k&lt;W&gt; é ✓</ra:Unit>\n"
        "    </ra:ActiveImportRegister>\n  </ra:Electricity>\n"
        "</ra:ReadInstantaneousImportRegistersRsp>"
    )
    return {
        "I0 with MMC data": (ResponseCode.SUCCESS, Smets1Payload(smets_data=clear)),
        "I0 with indented, escaped, empty and non-ASCII data": (
            ResponseCode.SUCCESS,
            Smets1Payload(smets_data=reads),
        ),
        "E21 with no statuses": (ResponseCode.NO_DEVICE_RESPONSE, None),
        "E20 with statuses": (
            ResponseCode.DEVICE_UNREACHABLE,
            Smets1Payload(
                statuses=(Smets1Status(20, "no route <to> the hub & back"), Smets1Status(7, "é"))
            ),
        ),
        "I0 with a status": (
            ResponseCode.SUCCESS,
            Smets1Payload(statuses=(Smets1Status(0, "ok"),)),
        ),
    }


def both(
    code: ResponseCode,
    payload: Smets1Payload | None,
    s1sp: SigningCredentials,
    dcc: SigningCredentials,
) -> tuple[bytes, bytes]:
    slow = to_bytes(
        sign_document(
            smets1_response(
                REQUEST_ID,
                service_reference="4.1",
                srv="4.1.1",
                code=code,
                now=NOW,
                s1sp_credentials=s1sp,
                payload=payload,
            ),
            dcc,
        )
    )
    fast = signed_smets1_response(
        REQUEST_ID,
        service_reference="4.1",
        srv="4.1.1",
        code=code,
        now=NOW,
        s1sp_credentials=s1sp,
        dcc_credentials=dcc,
        payload=payload,
    )
    return slow, fast


@pytest.mark.parametrize("kind", list(payloads()))
def test_the_string_build_is_the_trees_bytes_and_verifies(
    kind: str,
    trust_store: TrustStore,
    s1sp: SigningCredentials,
    dcc: SigningCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_here(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("fell back to the tree builder")

    code, payload = payloads()[kind]
    slow, _ = both(code, payload, s1sp, dcc)
    monkeypatch.setattr(fastsign, "smets1_response", not_here)
    fast = signed_smets1_response(
        REQUEST_ID,
        service_reference="4.1",
        srv="4.1.1",
        code=code,
        now=NOW,
        s1sp_credentials=s1sp,
        dcc_credentials=dcc,
        payload=payload,
    )
    assert fast == slow
    assert fast.count(b"<ds:SignatureValue>") == 2
    tree = parse_xml(fast)
    assert verify(tree.getroot(), trust_store, DCC_POLICY, NOW).eui == DCC
    inner = SignerPolicy(S1SP_SIGNED.roles, S1SP)
    assert verify_smets1_signed_response(tree, trust_store, NOW, inner).eui == S1SP


@pytest.mark.parametrize("kind", [kind for kind in payloads() if "indented" not in kind])
def test_the_string_build_is_schema_valid(
    kind: str, schema: DuisSchema, s1sp: SigningCredentials, dcc: SigningCredentials
) -> None:
    code, payload = payloads()[kind]
    _, fast = both(code, payload, s1sp, dcc)
    schema.validate(parse_xml(fast))


@pytest.mark.parametrize(
    "payload",
    [
        Smets1Payload(statuses=(Smets1Status(20, "carriage\r\nreturn"),)),
        Smets1Payload(
            smets_data=etree.fromstring(
                f'<ra:ClearEventLogRsp xmlns:ra="{ra("")[1:-1]}" xmlns:x="urn:x" x:y="1"/>'
            )
        ),
    ],
    ids=["CR in a status", "a foreign namespace in the data"],
)
def test_what_the_strings_do_not_cover_is_built_as_a_tree(
    payload: Smets1Payload,
    trust_store: TrustStore,
    s1sp: SigningCredentials,
    dcc: SigningCredentials,
) -> None:
    slow, fast = both(ResponseCode.DEVICE_UNREACHABLE, payload, s1sp, dcc)
    assert fast == slow
    assert verify(parse_xml(fast).getroot(), trust_store, DCC_POLICY, NOW).eui == DCC


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=40))
def test_any_status_text_is_answered_as_the_tree_builder_answers_it(
    text: str,
    s1sp: SigningCredentials,
    dcc: SigningCredentials,
) -> None:
    payload = Smets1Payload(statuses=(Smets1Status(20, text),))
    try:
        slow, _ = both(ResponseCode.DEVICE_UNREACHABLE, payload, s1sp, dcc)
    except ValueError:  # not XML character data: the tree builder refuses it, and so must we
        with pytest.raises(ValueError):
            both(ResponseCode.DEVICE_UNREACHABLE, payload, s1sp, dcc)
        return
    _, fast = both(ResponseCode.DEVICE_UNREACHABLE, payload, s1sp, dcc)
    assert fast == slow
