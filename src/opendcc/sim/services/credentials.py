"""Head-end simulators carry out the security-credential SRVs on the S1SP's own record.

A SMETS1 meter holds no SMKI certificates: these services change or read what the S1SP keeps
beside the meter (``opendcc.sim.state.credentials``) and answer the ``Result`` that
``opendcc.s1sp.services.credentials`` documents. They raise no alerts. The DSP has already
checked the certificates against the SMKI repository; the S1SP records which ones it now
trusts for the role.

6.15.1, 6.21 and 6.23 replace a role's anchors (each certificate given, for its use) and its
originator counter floors; a replacement whose floor is below the role's current floor is
refused (the party's counters never go back). 6.15.2 installs a device certificate when it
certifies one of the device's own keys, else answers ``wrongPublicKey`` (or
``invalidCertificate``). 6.17 answers a certification request for the key asked for. 6.24.1
lists the anchors held for each role asked for (``trustAnchorNotFound`` for one with none);
6.24.2 the device certificate held (the S1SP's own until a User installs one).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime

from cryptography import x509

from opendcc.s1sp.services.base import Datum, Parameters, Result
from opendcc.s1sp.services.credentials import CERTIFICATE_PARAMETERS, SUCCESS
from opendcc.sim.services.base import Execute
from opendcc.sim.state import MeterError, MeterState, Reason
from opendcc.sim.state.credentials import Anchor, Floors, of, sha1_hex
from opendcc.sim.state.device import Alerts
from opendcc.smki.certificates import describe


def _floor(parameters: Parameters, key: str) -> int | None:
    text = parameters.get(key)
    if text is None:
        return None
    if not text.isdigit():
        raise MeterError(Reason.INVALID_VALUE, f"{key} is not a counter: {text!r}")
    return int(text)


def replace_anchors(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.15.1, 6.21, 6.23: the role's new anchors and floors."""
    del now
    record = of(meter)
    role = parameters.get("role", "")
    floor_seq = _floor(parameters, "floor_seq")
    if floor_seq is None:
        raise MeterError(Reason.INVALID_VALUE, "no floor_seq")
    top_up = _floor(parameters, "top_up_floor_seq")
    current = record.floors.get(role)
    if current is not None and floor_seq < current.floor_seq:
        raise MeterError(
            Reason.INVALID_VALUE,
            f"{role} floor {floor_seq} is below the current floor {current.floor_seq}",
        )
    replaced: list[Datum] = []
    staged: dict[tuple[str, str], Anchor] = {}
    for name, usage in CERTIFICATE_PARAMETERS.items():
        if name not in parameters:
            continue
        der = base64.b64decode(parameters[name])
        try:
            info = describe(x509.load_der_x509_certificate(der))
        except ValueError:
            raise MeterError(Reason.INVALID_VALUE, f"{name} is not a certificate") from None
        if info.eui is None:
            raise MeterError(Reason.INVALID_VALUE, f"{name} names no remote party")
        new = Anchor(str(info.eui), sha1_hex(der))
        old = record.anchors.get((role, usage))
        staged[(role, usage)] = new
        replaced.append(
            (usage, role, old.eui if old else "", new.eui, old.sha1 if old else "", new.sha1)
        )
    record.anchors.update(staged)  # checked first: a refusal above changes nothing
    record.floors[role] = Floors(floor_seq, top_up)
    result: dict[str, Datum] = {
        "mode": parameters.get("mode", ""),
        "role": role,
        "floor_seq": floor_seq,
        "replaced": tuple(replaced),
    }
    if top_up is not None:
        result["top_up_floor_seq"] = top_up
    return result, ()


def install_device_certificate(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.15.2."""
    del now
    der = base64.b64decode(parameters.get("device_certificate", ""))
    return {"status": of(meter).install(der)}, ()


def issue(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """6.17."""
    del now
    csr = of(meter).certification_request(parameters.get("credential", ""))
    return {"status": SUCCESS, "csr": base64.b64encode(csr).decode("ascii")}, ()


def retrieve_anchors(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.24.1."""
    del now
    record = of(meter)
    found: list[Datum] = []
    for role in filter(None, parameters.get("roles", "").split(",")):
        held = [(usage, a) for (r, usage), a in sorted(record.anchors.items()) if r == role]
        if not held:
            found.append((role, "trustAnchorNotFound"))
            continue
        floors = record.floors.get(role)
        floor_seq = str(floors.floor_seq if floors else 0)
        found.extend((role, floor_seq, usage, a.eui, a.sha1) for usage, a in held)
    return {"parties": tuple(found)}, ()


def retrieve_device(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.24.2."""
    del now
    der = of(meter).certificate(parameters.get("credential", ""))
    return {"status": SUCCESS, "certificate": base64.b64encode(der).decode("ascii")}, ()


EXECUTORS: Mapping[str, Execute] = {
    "6.15.1": replace_anchors,
    "6.15.2": install_device_certificate,
    "6.17": issue,
    "6.21": replace_anchors,
    "6.23": replace_anchors,
    "6.24.1": retrieve_anchors,
    "6.24.2": retrieve_device,
}
