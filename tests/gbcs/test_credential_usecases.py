"""The security-credential use cases carry the message code of DCC's RTDS pre-commands.

For each RTDS pre-command of 6.15.1 (CS02b Supplier and NetworkOperator, CS02g LoadController),
6.15.2 (CS02d), 6.17 (CS02c) and 6.24.2 (CS02e), the instruction read from the same case's DUIS
request template must build a General Signing message with that message code (opendcc's SMETS1
body under it), and read back to the same parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opendcc.core.eui import Eui64
from opendcc.gbcs import message as gbcs
from opendcc.gbcs import usecases
from opendcc.s1sp import services
from tests.reference import RTDS, TEMPLATES
from tests.s1sp.services.harness import request_body

CASES = [
    ("6.15.1", "CS02bSupplierBySupplier", "IMMEDIATE_SUCCESS"),
    ("6.15.1", "CS02bNOByNO", "SUCCESS"),
    ("6.15.1", "CS02gLoadControllerBySupplier", "IMMEDIATE_SUCCESS"),
    ("6.15.2", "CS02d", "SUCCESS"),
    ("6.17", "CS02c", "SUCCESS"),
    ("6.24.2", "CS02e", "SUCCESS"),
]
ORIGINATOR = Eui64.parse("90-B3-D5-1F-30-01-00-00")
DEVICE = Eui64.parse("00-DB-12-34-56-78-90-A0")


@pytest.mark.parametrize(("srv", "case", "variant"), CASES, ids=[c[1] for c in CASES])
def test_the_message_code_is_the_rtds_one(srv: str, case: str, variant: str) -> None:
    precommand = next((RTDS / f"{srv}_{case}").glob(f"*_{srv}_{variant}_PRECOMMAND_GBCS.HEX"))
    rtds = gbcs.decode(bytes.fromhex(precommand.read_text().strip()))
    template = TEMPLATES / f"{case}_{srv}_{variant}_REQUEST_DUIS.XML"
    parameters = services.parameters(srv, request_body(template))
    for device_type in ("ESME", "GSME"):
        built = usecases.build(
            srv,
            device_type,
            ORIGINATOR,
            DEVICE,
            parameters,
            usecases.Inputs(1000, datetime(2026, 1, 1, tzinfo=UTC)),
        )
        assert built.message.message_code == rtds.message_code
        assert built.use_case == case[:5]
        assert not built.exact  # the S1SP, not the device, takes them: opendcc's SMETS1 body
        assert usecases.read(srv, built.message) == parameters
