"""Runs DCC's own tooling beside opendcc: @smartdcc/duis-sign-wrap (the DCC Boxed Java signing
tool) through its npm API, via tools/interop/dcc-tools.js. `make test` installs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools/interop"
SCRIPT = TOOLS / "dcc-tools.js"


def require_tools() -> None:
    missing = [
        what
        for what, ok in [
            ("node", shutil.which("node")),
            ("java", shutil.which("java")),
            (
                "@smartdcc/duis-sign-wrap",
                (TOOLS / "node_modules/@smartdcc/duis-sign-wrap").is_dir(),
            ),
        ]
        if not ok
    ]
    if missing:
        message = f"DCC tooling not installed ({', '.join(missing)}): run `make test`"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must exercise interop, never skip it
        pytest.skip(message)


@dataclass(frozen=True)
class Outcome:
    file: Path
    ok: bool
    output: bytes
    error: str


def run_batch(mode: str, files: list[Path], outdir: Path) -> dict[str, Outcome]:
    """Sign or validate each file with the DCC tool; outcomes keyed by file name."""
    require_tools()
    outdir.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        ["node", str(SCRIPT), mode, str(outdir), *map(str, files)],
        capture_output=True,
        check=True,
        timeout=600,
    )
    outcomes = {}
    for line in completed.stdout.decode().splitlines():
        record = json.loads(line)
        path = Path(record["file"])
        out = outdir / path.name
        outcomes[path.name] = Outcome(
            path, record["ok"], out.read_bytes() if record["ok"] else b"", record.get("error", "")
        )
    return outcomes
