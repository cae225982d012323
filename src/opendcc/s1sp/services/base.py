"""What one core SMETS1 service is, neutral of cohort and wire protocol.

A ``Service`` says, for one SRV (Service Reference Variant), how the DSP reads the User's request
into an instruction's ``parameters`` (flat text, so the DCO can compare them and every protocol
can carry them) and how the S1SP's ``Result`` reads in DUIS: the MMC (Message Mapping Catalogue)
``ra:<Name>Rsp`` element of ``MMC Schema V5.4.xsd``. Head-end simulators execute the same
instruction on their meter model (``opendcc.sim.services``) and answer with a ``Result``.

A ``Result`` is a flat mapping of names to ``Datum`` values: integers, text, timezone-aware
date-times and tuples of those (records are tuples, in an order the service documents). Every
wire protocol carries that shape without loss; booleans travel as 0 or 1.

The families share from here how they read a request's log period (``log_period``) and a
Result's values (``int_of``, ``str_of``, ``tuple_of``, ``ints_of``, ``is_gas``: a value of the
wrong type is a ``TypeError``); ``opendcc.s1sp.services.xml`` writes their MMC elements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TypeAlias, TypeVar

from lxml import etree

from opendcc.core.errors import ResponseCode
from opendcc.duis.response import format_datetime
from opendcc.duis.xml import sr
from opendcc.s1sp.contract import S1spError

Datum: TypeAlias = int | str | datetime | tuple["Datum", ...]
Parameters: TypeAlias = Mapping[str, str]
Result: TypeAlias = Mapping[str, Datum]

_Entry = TypeVar("_Entry")

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


def child_of(parent: etree._Element, local: str) -> etree._Element:
    """``parent``'s ``sr:<local>`` child; ``InvalidParameters`` naming both when it is absent."""
    child = parent.find(sr(local))
    if child is None:
        raise InvalidParameters(f"{etree.QName(parent).localname} has no {local}")
    return child


def _instant(period: etree._Element, local: str) -> str:
    child = period.find(sr(local))
    if child is None:
        raise InvalidParameters(f"ReadLogPeriod has no {local}")
    text = (child.text or "").strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameters(f"{local} is not an xs:dateTime: {text!r}") from None
    if value.utcoffset() is None:
        raise InvalidParameters(f"{local} has no time zone: {text!r}")
    return format_datetime(value)


def log_period(body: etree._Element) -> dict[str, str]:
    """``start`` and ``end`` of the body's ``sr:ReadLogPeriod``: UTC text to the millisecond."""
    period = body.find(sr("ReadLogPeriod"))
    if period is None:
        raise InvalidParameters(f"{etree.QName(body).localname} has no ReadLogPeriod")
    return {"start": _instant(period, "StartDateTime"), "end": _instant(period, "EndDateTime")}


# Reading a Result's values: a value of the wrong type is the head-end's fault (TypeError).


def int_of(value: Datum) -> int:
    """``value`` as an integer (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def str_of(value: Datum) -> str:
    """``value`` as text."""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def tuple_of(value: Datum) -> tuple[Datum, ...]:
    """``value`` as a tuple (a record, or a sequence of records)."""
    if not isinstance(value, tuple):
        raise TypeError(f"expected a tuple, got {value!r}")
    return value


def ints_of(value: Datum) -> tuple[int, ...]:
    """``value`` as a tuple of integers."""
    return tuple(int_of(v) for v in tuple_of(value))


def is_gas(result: Result) -> bool:
    """Whether the Result's ``fuel`` is ``gas`` (else it is ``electricity``)."""
    fuel = str_of(result["fuel"])
    if fuel not in {"electricity", "gas"}:
        raise ValueError(f"fuel is electricity or gas, not {fuel!r}")
    return fuel == "gas"


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


def srv_table(families: Iterable[Iterable[tuple[str, _Entry]]], doing: str) -> Mapping[str, _Entry]:
    """The families' (SRV, entry) pairs as one read-only table; an SRV twice is a
    ``ValueError`` ("SRV <srv> is <doing> twice"), so no family silently shadows another's.
    The services here and the simulators' executors (``opendcc.sim.services``) both build theirs
    so."""
    table: dict[str, _Entry] = {}
    for family in families:
        for srv, entry in family:
            if srv in table:
                raise ValueError(f"SRV {srv} is {doing} twice")
            table[srv] = entry
    return MappingProxyType(table)
