"""The security-credential SRVs of a SMETS1 device, whose trust anchors its S1SP holds.

A SMETS1 (first-generation) device holds no SMKI (Smart Metering Key Infrastructure)
certificates: its head-end's own keys protect the WAN. The DCC's SMETS1 Service stands in: the
device's S1SP (SMETS1 Service Provider) keeps, per device, the trust anchors a SMETS2 device
would hold (which remote party's certificate it trusts for each role and use, with the floor of
that party's originator counter) and a device key pair of its own. The security-credential SRVs
read and replace those records through the adapter contract like any other instruction, so a
User manages a SMETS1 device's credentials exactly as a SMETS2 one's (see docs/cohorts.md).

Parameters (flat text, base64 DER for certificates):

- 6.15.1 Update Security Credentials (KRP), 6.21 Request Handover Of DCC Controlled Device and
  6.23 Update Security Credentials (CoS): ``role`` (``Supplier``, ``NetworkOperator``,
  ``LoadController``; 6.23: ``Supplier``), ``mode`` (the ``CredentialsReplacementMode``:
  ``SupplierBySupplier``, ``NetworkOperatorByNetworkOperator``, ``LoadControllerBySupplier``,
  ``SupplierByTransCoS``), ``floor_seq`` and, where given, ``top_up_floor_seq``, the
  replacement certificates ``signing``, ``key_agreement`` and, where given, ``top_up``, the
  certification path ``path`` (certificates joined by ``,``), ``time_checks`` (``true`` or
  ``false``: ApplyTimeBasedCPVChecks) and, for 6.23, ``mpxn`` (ImportMPxN).
- 6.15.2 Update Security Credentials (Device): ``device_certificate``.
- 6.17 Issue Security Credentials and 6.24.2 Retrieve Device Security Credentials (Device):
  ``credential`` (``DigitalSignature`` or ``KeyAgreement``).
- 6.24.1 Retrieve Device Security Credentials (KRP): ``roles``, the roles asked for, joined
  by ``,``.

Result keys:

- 6.15.1, 6.21, 6.23: ``mode``, ``role``, ``floor_seq`` (and ``top_up_floor_seq``), and
  ``replaced``: one record per certificate replaced, ``(usage, role, existing EUI or "",
  new EUI, existing SHA-1 (hex) or "", new SHA-1 (hex))``.
- 6.15.2: ``status`` (a GBCS ``StatusASN1`` name: ``success``, ``wrongPublicKey`` ...).
- 6.17: ``status`` and, on success, ``csr`` (a PKCS #10 CertificationRequest, base64 DER).
- 6.24.1: ``parties``: one record per anchor held for a role asked for, ``(role, floor_seq,
  usage, EUI, SHA-1 (hex))``, or ``(role, status)`` for a role with no anchor.
- 6.24.2: ``status`` and, when one is held, ``certificate`` (base64 DER).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from copy import deepcopy

from lxml import etree

from opendcc.duis.xml import sr
from opendcc.s1sp.services.base import (
    BuildResponse,
    InvalidParameters,
    Result,
    Service,
    child_of,
    int_of,
    str_of,
    tuple_of,
)
from opendcc.s1sp.services.xml import add, response_element

SIGNING, KEY_AGREEMENT, TOP_UP = "DigitalSigning", "KeyAgreement", "KeyAgreementTopUp"
SUPPLIER, NETWORK_OPERATOR, LOAD_CONTROLLER = "Supplier", "NetworkOperator", "LoadController"
ROLES = (SUPPLIER, NETWORK_OPERATOR, LOAD_CONTROLLER)
# The CredentialsReplacementMode of a KRP replacement, by the role replaced (6.15.1, 6.21).
_MODES: Mapping[str, str] = {
    SUPPLIER: "SupplierBySupplier",
    NETWORK_OPERATOR: "NetworkOperatorByNetworkOperator",
    LOAD_CONTROLLER: "LoadControllerBySupplier",
}
TRANS_COS = "SupplierByTransCoS"
# Which replacement certificate parameter holds which use.
CERTIFICATE_PARAMETERS: Mapping[str, str] = {
    "signing": SIGNING,
    "key_agreement": KEY_AGREEMENT,
    "top_up": TOP_UP,
}
# DUIS's CredentialType, as the parameter ``credential`` writes it.
_CREDENTIALS: Mapping[str, str] = {
    "Digital Signature": "DigitalSignature",
    "Key Agreement": "KeyAgreement",
}
SUCCESS = "success"


def certificate_der(text: str, what: str) -> bytes:
    """The DER bytes of a base64 certificate; ``InvalidParameters`` naming ``what``."""
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameters(f"{what} is not base64") from None
    if not der:
        raise InvalidParameters(f"{what} is empty")
    return der


def _certificate(parent: etree._Element, local: str) -> str:
    """``parent``'s ``sr:<local>`` certificate, re-encoded as one line of base64."""
    text = (child_of(parent, local).text or "").strip()
    return base64.b64encode(certificate_der(text, local)).decode("ascii")


def _count(parent: etree._Element, local: str) -> str:
    text = (child_of(parent, local).text or "").strip()
    if not text.isascii() or not text.isdigit():
        raise InvalidParameters(f"{local} is not a non-negative integer: {text!r}")
    return str(int(text))


def _replacement(body: etree._Element, role: str, certificates: etree._Element) -> dict[str, str]:
    """What 6.15.1, 6.21 and 6.23 share: counters, certificates, the path and its checks."""
    parameters = {"role": role, "floor_seq": _count(body, "RemotePartyFloorSeqNumber")}
    if body.find(sr("RemotePartyPrepaymentTopUpFloorSeqNumber")) is not None:
        parameters["top_up_floor_seq"] = _count(body, "RemotePartyPrepaymentTopUpFloorSeqNumber")
    parameters["signing"] = _certificate(certificates, "DigitalSigningCertificate")
    parameters["key_agreement"] = _certificate(certificates, "KeyAgreementCertificate")
    if certificates.find(sr("KeyAgreementTopUpCertificate")) is not None:
        parameters["top_up"] = _certificate(certificates, "KeyAgreementTopUpCertificate")
    path = child_of(body, "CertificationPathCertificates")
    parameters["path"] = ",".join(
        base64.b64encode(certificate_der((c.text or "").strip(), "Certificate")).decode()
        for c in path.findall(sr("Certificate"))
    )
    if not parameters["path"]:
        raise InvalidParameters("CertificationPathCertificates holds no Certificate")
    checks = (child_of(body, "ApplyTimeBasedCPVChecks").text or "").strip()
    if checks not in {"true", "false", "1", "0"}:
        raise InvalidParameters(f"ApplyTimeBasedCPVChecks is a boolean: {checks!r}")
    parameters["time_checks"] = "true" if checks in {"true", "1"} else "false"
    return parameters


def _role(body: etree._Element) -> str:
    role = (child_of(body, "RemotePartyRole").text or "").strip()
    if role not in ROLES:
        raise InvalidParameters(f"a SMETS1 device's S1SP keeps no {role!r} anchor")
    return role


def update_krp(body: etree._Element) -> dict[str, str]:
    """6.15.1: the role replaced and its replacement certificates."""
    role = _role(body)
    replacement = list(child_of(body, "ReplacementCertificates").iterchildren(etree.Element))
    if len(replacement) != 1:
        raise InvalidParameters("ReplacementCertificates holds one set of certificates")
    return {"mode": _MODES[role], **_replacement(body, role, replacement[0])}


def handover(body: etree._Element) -> dict[str, str]:
    """6.21: the role handed over and its replacement certificates."""
    role = _role(body)
    if role == LOAD_CONTROLLER:
        raise InvalidParameters("a DCC controlled device is handed over to a Supplier or NO")
    replacement = child_of(body, "ReplacementCertificates")
    return {"mode": _MODES[role], **_replacement(body, role, replacement)}


def update_cos(body: etree._Element) -> dict[str, str]:
    """6.23: the incoming Supplier's certificates, under the Transitional CoS party."""
    renamed = etree.Element(body.tag)
    for child in body.iterchildren(etree.Element):  # its counters are named for the Supplier
        local = etree.QName(child).localname
        local = {
            "SupplierFloorSeqNumber": "RemotePartyFloorSeqNumber",
            "SupplierPrepaymentTopUpFloorSeqNumber": "RemotePartyPrepaymentTopUpFloorSeqNumber",
        }.get(local, local)
        copy = etree.SubElement(renamed, sr(local))
        copy.text = child.text
        copy.extend(deepcopy(list(child)))  # copies: the request's body stays whole
    certificates = child_of(renamed, "SupplierReplacementCertificates")
    parameters = {"mode": TRANS_COS, **_replacement(renamed, SUPPLIER, certificates)}
    mpxn = (child_of(renamed, "ImportMPxN").text or "").strip()
    if not mpxn:
        raise InvalidParameters("UpdateSecurityCredentialsCoS has no ImportMPxN")
    return {**parameters, "mpxn": mpxn}


def update_device(body: etree._Element) -> dict[str, str]:
    """6.15.2: the device's new certificate."""
    return {"device_certificate": _certificate(body, "DeviceCertificate")}


def credential_type(body: etree._Element) -> dict[str, str]:
    """6.17 and 6.24.2: which of the device's credentials."""
    text = (child_of(body, "CredentialType").text or "").strip()
    if text not in _CREDENTIALS:
        raise InvalidParameters(f"no CredentialType {text!r}")
    return {"credential": _CREDENTIALS[text]}


def retrieve_krp(body: etree._Element) -> dict[str, str]:
    """6.24.1: the roles whose anchors are asked for (in the request's order, once each)."""
    roles: list[str] = []
    for element in body.findall(sr("RemotePartyRole")):
        role = (element.text or "").strip()
        if role not in roles:
            roles.append(role)
    if not roles:
        raise InvalidParameters("RetrieveDeviceSecurityCredentialsKRP names no RemotePartyRole")
    return {"roles": ",".join(roles)}


# ----------------------------------------------------------------------------- responses


# The GBCS value of each status these services answer (``ra:StatusASN1``'s ResponseCode,
# hexBinary). success is 0 in every GBCS response; trustAnchorNotFound is 0x19 as the RTDS
# CS02a error response writes it for a role the device holds no anchor for; the 6.15.2
# statuses are numbered in the order GBCS and the MMC schema list them (success first).
GBCS_STATUS: Mapping[str, int] = {
    SUCCESS: 0x00,
    "trustAnchorNotFound": 0x19,
    "invalidCertificate": 0x01,
    "wrongDeviceIdentity": 0x02,
    "invalidKeyUsage": 0x03,
    "noCorrespondingKeyPairGenerated": 0x04,
    "wrongPublicKey": 0x05,
}


def _status(parent: etree._Element, local: str, status: str) -> None:
    """A GBCS status as DUIS writes one (``ra:StatusASN1``: an ``ASN1Status`` inside, the
    GBCS value as its ResponseCode)."""
    if status not in GBCS_STATUS:
        raise ValueError(f"no GBCS status {status!r} for a security-credential response")
    element = add(parent, local)
    element.set("ResponseCode", f"{GBCS_STATUS[status]:02X}")
    add(element, "ASN1Status", status)


def _sha1_b64(hex_text: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_text)).decode("ascii")


def _replacement_response(local: str) -> BuildResponse:
    """6.15.1, 6.21, 6.23: the ExecutionOutcome of the replacement."""

    def build(result: Result) -> etree._Element:
        element = response_element(local)
        outcome = add(element, "ExecutionOutcome")
        add(outcome, "CredentialsReplacementMode", str_of(result["mode"]))
        change = add(outcome, "RemotePartySeqNumberChange")
        add(change, "RemotePartyRole", str_of(result["role"]))
        add(change, "RemotePartyFloorSeqNumber", int_of(result["floor_seq"]))
        if "top_up_floor_seq" in result:
            top_up = int_of(result["top_up_floor_seq"])
            add(change, "RemotePartyPrepaymentTopUpFloorSeqNumber", top_up)
        for record in tuple_of(result["replaced"]):
            usage, role, old_id, new_id, old_hash, new_hash = (str_of(v) for v in tuple_of(record))
            replacement = add(outcome, "ReplacementOutcome")
            _status(replacement, "StatusCode", SUCCESS)
            add(replacement, "CertificateType", usage)
            add(replacement, "RemotePartyRole", role)
            if old_id:
                add(replacement, "ExistingRemotePartyID", old_id)
            add(replacement, "NewRemotePartyID", new_id)
            if old_hash:
                add(replacement, "ExistingCertificateHash", _sha1_b64(old_hash))
            add(replacement, "NewCertificateHash", _sha1_b64(new_hash))
        return element

    build.__doc__ = f"``ra:{local}`` with its ExecutionOutcome."
    return build


def device_updated(result: Result) -> etree._Element:
    """6.15.2: the S1SP's status for the new device certificate."""
    element = response_element("UpdateSecurityCredentialsDeviceRsp")
    status = str_of(result["status"])
    if status != SUCCESS:  # the S1SP refused the certificate: a response, not a success
        element.set("MessageSuccess", "false")
    _status(element, "UpdateSecurityCredentialsResponseCode", status)
    return element


def issued(result: Result) -> etree._Element:
    """6.17: the certification request for the device's key pair."""
    element = response_element("IssueSecurityCredentialsRsp")
    _status(element, "IssueCredentialsResponseCode", str_of(result["status"]))
    if "csr" in result:
        add(element, "CertificationRequest", str_of(result["csr"]))
    return element


def parties(result: Result) -> etree._Element:
    """6.24.1: the anchors held for the roles asked for."""
    element = response_element("RetrieveDeviceSecurityCredentialsKRPRsp")
    for record in tuple_of(result["parties"]):
        values = tuple(str_of(v) for v in tuple_of(record))
        details = add(element, "RemotePartyDetails")
        add(details, "RemotePartyRole", values[0])
        if len(values) == 2:
            _status(details, "StatusCode", values[1])
            continue
        _, floor_seq, usage, eui, sha1 = values
        _status(details, "StatusCode", SUCCESS)
        add(details, "RemotePartyFloorSeqNumber", floor_seq)
        add(details, "CertificateUsage", usage)
        add(details, "ExistingRemotePartyID", eui)
        add(details, "ExistingCertificateHash", _sha1_b64(sha1))
    return element


def device_credentials(result: Result) -> etree._Element:
    """6.24.2: the device's certificate, when its S1SP holds one."""
    element = response_element("RetrieveDeviceSecurityCredentialsDeviceRsp")
    _status(element, "RetrieveDeviceSecurityCredentialsStatusCode", str_of(result["status"]))
    if "certificate" in result:
        add(element, "Certificate", str_of(result["certificate"]))
    return element


SERVICES: tuple[Service, ...] = (
    Service(
        "6.15.1",
        "updateSecurityCredentialsKRP",
        update_krp,
        _replacement_response("UpdateSecurityCredentialsKRPRsp"),
        writes=True,
    ),
    Service(
        "6.15.2",
        "updateSecurityCredentialsDevice",
        update_device,
        device_updated,
        writes=True,
    ),
    Service("6.17", "issueSecurityCredentials", credential_type, issued, writes=True),
    Service(
        "6.21",
        "requestHandoverOfDCCControlledDevice",
        handover,
        _replacement_response("RequestHandoverOfDCCControlledDeviceRsp"),
        writes=True,
    ),
    Service(
        "6.23",
        "updateSecurityCredentialsCoS",
        update_cos,
        _replacement_response("UpdateSecurityCredentialsCoSRsp"),
        writes=True,
    ),
    Service("6.24.1", "retrieveDeviceSecurityCredentialsKRP", retrieve_krp, parties),
    Service(
        "6.24.2", "retrieveDeviceSecurityCredentialsDevice", credential_type, device_credentials
    ),
)
