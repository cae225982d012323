"""Where the reference data lives (../shared: GPL, never copied here), and test identities."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("OPENDCC_REFERENCE", REPO.parent / "shared/reference/duis"))
KEYS = REFERENCE / "keys/dccboxed-signing-tool"
TEMPLATES = REFERENCE / "templates"
SAMPLES = REFERENCE / "samples"
XSD_V54 = REFERENCE / "schema/v5.4/DUIS Schema V5.4.xsd"
# GBCS reference data: DCC's RTDS pre-commands and the RTDS key store (test keys).
GBCS = REFERENCE.parent / "gbcs"
GBCS_KEYSTORE = GBCS / "keystore"
RTDS = GBCS / "rtds"

# ZAZ1 test identities (DCC Boxed): a supplier User, a network operator User, and the DCC.
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
NETWORK_OPERATOR = "90-B3-D5-1F-30-02-00-00"
DCC = "90-B3-D5-1F-30-00-00-02"

# Inside every ZAZ1 certificate's validity, so tests never depend on today's date.
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
