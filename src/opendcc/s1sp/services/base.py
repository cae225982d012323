"""What one core SMETS1 service is, neutral of cohort and wire protocol.

A ``Service`` says, for one SRV (Service Reference Variant), how the DSP reads the User's request
into an instruction's ``parameters`` (flat text, so the DCO can compare them and every protocol
can carry them) and how the S1SP's ``Result`` reads in DUIS: the MMC (Message Mapping Catalogue)
``ra:<Name>Rsp`` element of ``MMC Schema V5.4.xsd``. Head-end simulators execute the same
instruction on their meter model (``opendcc.sim.services``) and answer with a ``Result``.

A ``Result`` is a flat mapping of names to ``Datum`` values: integers, text, timezone-aware
date-times and tuples of those (records are tuples, in an order the service documents). Every
wire protocol carries that shape without loss; booleans travel as 0 or 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from lxml import etree

from opendcc.core.errors import ResponseCode
from opendcc.s1sp.contract import S1spError

Datum: TypeAlias = int | str | datetime | tuple["Datum", ...]
Parameters: TypeAlias = Mapping[str, str]
Result: TypeAlias = Mapping[str, Datum]

# Reads the sr:Body child element of a request into instruction parameters; raises
# ``InvalidParameters`` when the body holds something SMETS1 cannot carry out.
ReadParameters = Callable[[etree._Element], dict[str, str]]
# Builds the MMC response element from a successful Result.
BuildResponse = Callable[[Result], etree._Element]

DEFAULT_RESPONSE_TIME_S = 30.0


class InvalidParameters(S1spError):
    """A request body SMETS1 cannot carry out (a value out of the meter's range)."""

    code = ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
    http_status = 200  # a coded DUIS Response


def no_parameters(body: etree._Element) -> dict[str, str]:
    """For SRVs whose request body carries nothing the meter needs."""
    del body
    return {}


@dataclass(frozen=True, slots=True)
class Service:
    """One core SMETS1 service: its SRV, neutral command name, request and response mapping."""

    srv: str
    command: str  # neutral lowerCamelCase name, e.g. "readInstantaneousImportRegisters"
    parameters: ReadParameters
    response: BuildResponse
    writes: bool = False  # changes the meter (vs a read)
    # Target response time: no outcome from the head-end by then is answered as E21.
    response_time_s: float = DEFAULT_RESPONSE_TIME_S
