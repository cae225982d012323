"""The vocabulary every room shares: EUI-64 identifiers, RequestIDs, the clock, DUIS-coded errors.

No I/O lives here.
"""

from opendcc.core.clock import Clock, FixedClock, SystemClock
from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId

__all__ = ["Clock", "DuisError", "Eui64", "FixedClock", "RequestId", "ResponseCode", "SystemClock"]
