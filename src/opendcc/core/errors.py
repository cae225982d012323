"""DUIS response codes and the one base error that carries them.

Every room's base exception derives from ``DuisError`` so the gateway never has to guess how a
failure is answered. Codes and meanings follow DUIS (SEC Appendix AD, "DCC Systems Response
Codes"), as enumerated by the ``ResponseCode`` type of the DUIS XSD.

Some failures happen before a request can be trusted at all: a body that is not XML, not valid
against the schema, or not signed by a known User. DUIS answers those at the transport layer
(HTTP 400/401) rather than with a coded DUIS Response, because there is no authenticated User
to address; such errors carry ``code = None`` and an ``http_status``.
"""

from __future__ import annotations

from enum import StrEnum


class ResponseCode(StrEnum):
    """DUIS response codes, named for what they mean."""

    SUCCESS = "I0"
    ACKNOWLEDGED = "I99"
    INVALID_USER_ROLE = "E1"  # User / User Role is not a valid SEC Party / Role
    ROLE_NOT_ELIGIBLE = "E2"  # User Role may not send this Service Reference
    USER_STATUS_INVALID = "E3"  # User status does not permit this Service Reference
    NOT_RESPONSIBLE_PARTY = "E4"  # User Role not authorised for the device at that time
    DEVICE_STATUS_INCOMPATIBLE = "E5"  # SMI status incompatible with the Service Reference
    SRV_NOT_FOR_DEVICE_TYPE = "E11"
    COMMAND_VARIANT_NOT_ALLOWED = "E12"
    WRONG_URL = "E13"  # e.g. a Non-Device request sent to the Transform URL
    LOCAL_DELIVERY_NOT_PERMITTED = "E17"
    UNKNOWN_DEVICE = "E19"
    DEVICE_UNREACHABLE = "E20"
    NO_DEVICE_RESPONSE = "E21"
    FUTURE_DATED_TIMEOUT = "E30"
    # Sequencing (PrecedingServiceRequestID): the predecessor failed, or is unknown or not the
    # User's, so this request is not carried out. See docs/time.md.
    SEQUENCE_BROKEN = "E31"
    # The device is in restricted mode (MP169) and the SRV is not on the allowed list. DUIS
    # v5.4 has no code of its own for this (MP169 asks for one); E71 is a value the v5.4
    # ResponseCode enumeration holds that opendcc uses for nothing else. See docs/restricted.md.
    DEVICE_RESTRICTED = "E71"

    @property
    def is_error(self) -> bool:
        return self.value.startswith("E")


class DuisError(Exception):
    """A failure with a DUIS meaning.

    Subclasses set ``code`` (the DUIS response code) or, for failures answered at the transport
    layer, leave it ``None`` and set ``http_status``. Instances may override either.
    """

    code: ResponseCode | None = None
    http_status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: ResponseCode | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
