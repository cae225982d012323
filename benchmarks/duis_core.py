"""DUIS core throughput: parse, verify and sign of a signed SRV 4.1.1 request, on one core.

Prints opendcc's operations per second and, on the same messages, those of DCC's own tooling
(@smartdcc/duis-parser for parsing; @smartdcc/duis-sign-wrap, which runs the DCC Boxed Java
signing tool, for verifying and signing). Run with `make bench`, or:

    .venv/bin/python benchmarks/duis_core.py [--seconds 3] [--skip-dcc-tools]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from opendcc.duis.authenticate import verify_document
from opendcc.duis.request import parse_request
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import sign
from opendcc.smki import SigningCredentials, TrustStore

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("OPENDCC_REFERENCE", REPO.parent / "shared/reference/duis"))
KEYS = REFERENCE / "keys/dccboxed-signing-tool"
TEMPLATE = REFERENCE / "templates/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"
DCC_TOOLS = REPO / "tools/interop/dcc-tools.js"
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def rate(seconds: float, op: Callable[[], object]) -> tuple[float, float]:
    """(operations per second, microseconds per operation) over about ``seconds``."""
    for _ in range(50):
        op()  # warm caches
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            op()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - start
    return n / elapsed, elapsed / n * 1e6


def opendcc_figures(
    signed: bytes, unsigned: bytes, seconds: float
) -> dict[str, tuple[float, float]]:
    creds = SigningCredentials.from_files(
        KEYS / "xml-sign-90B3D51F30010000-ds.key", KEYS / "xml-sign-90B3D51F30010000-ds.pem"
    )
    store = TrustStore.from_directory(KEYS)
    verify_document(parse_xml(signed), store, NOW)  # fail loudly before measuring

    def do_verify() -> None:
        verify_document(parse_xml(signed), store, NOW)

    def do_sign() -> None:
        document = parse_xml(unsigned)
        sign(document.getroot(), creds)
        etree.tostring(document, xml_declaration=True, encoding="UTF-8")

    return {
        "parse": rate(seconds, lambda: parse_request(signed)),
        "verify": rate(seconds, do_verify),
        "sign": rate(seconds, do_sign),
    }


def dcc_tool_figures(signed_path: Path, seconds: float) -> dict[str, float] | str:
    if not (shutil.which("node") and shutil.which("java") and DCC_TOOLS.exists()):
        return "DCC tooling not installed (run `make bench`)"
    completed = subprocess.run(
        ["node", str(DCC_TOOLS), "bench", str(signed_path), str(seconds)],
        capture_output=True,
        check=False,
        timeout=600,
    )
    if completed.returncode != 0:
        return completed.stderr.decode().strip()[-500:]
    result: dict[str, float] = json.loads(completed.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--skip-dcc-tools", action="store_true")
    args = parser.parse_args()
    if not TEMPLATE.exists():
        print(f"reference data not found at {REFERENCE}", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    creds = SigningCredentials.from_files(
        KEYS / "xml-sign-90B3D51F30010000-ds.key", KEYS / "xml-sign-90B3D51F30010000-ds.pem"
    )
    document = parse_xml(TEMPLATE.read_bytes())
    sign(document.getroot(), creds)
    signed = etree.tostring(document, xml_declaration=True, encoding="UTF-8")
    document.getroot().remove(document.getroot()[-1])
    unsigned = etree.tostring(document, xml_declaration=True, encoding="UTF-8")

    print(f"DUIS core benchmark: signed SRV 4.1.1 request, {len(signed)} bytes, one core")
    print(f"{'operation':<10}{'opendcc ops/s':>16}{'µs/op':>10}{'DCC tool ops/s':>18}")
    ours = opendcc_figures(signed, unsigned, args.seconds)
    theirs: dict[str, float] | str = "skipped"
    if not args.skip_dcc_tools:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "signed.xml"
            path.write_bytes(signed)
            theirs = dcc_tool_figures(path, args.seconds)
    for op, (ops, micros) in ours.items():
        other = f"{theirs[op]:>18,.1f}" if isinstance(theirs, dict) else f"{'-':>18}"
        print(f"{op:<10}{ops:>16,.0f}{micros:>10.1f}{other}")
    if isinstance(theirs, str):
        print(f"DCC tool: {theirs}")
    else:
        print(
            "DCC tool: parse = @smartdcc/duis-parser (in-process JavaScript); verify and sign ="
            " @smartdcc/duis-sign-wrap, one Java process per message, as its API runs it."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
