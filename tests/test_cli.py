"""The `opendcc duis` tools as a supplier's developer runs them: a real process, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reference import KEYS, SUPPLIER, TEMPLATES, XSD_V54

TEMPLATE = TEMPLATES / "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"
AT = ["--at", "2024-06-01T00:00:00"]


def opendcc(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opendcc", *map(str, args)],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def sign_template(reference: Path, out: Path, key: str = "xml-sign-90B3D51F30010000-ds") -> None:
    result = opendcc(
        "duis", "sign", TEMPLATE, "--key", KEYS / f"{key}.key", "--cert", KEYS / f"{key}.pem",
        "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_sign_then_verify(reference: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed.xml"
    sign_template(reference, signed)
    result = opendcc("duis", "verify", signed, "--trust", KEYS, *AT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("valid: signed by 90-B3-D5-1F-30-01-00-00 XML_SIGN")


def test_verify_says_why_it_fails(reference: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed.xml"
    sign_template(reference, signed, key="xml-sign-90B3D51F30020000-ds")  # wrong User's key
    result = opendcc("duis", "verify", signed, "--trust", KEYS, *AT)
    assert result.returncode == 1
    assert "signer-mismatch" in result.stderr
    assert f"comes from {SUPPLIER}" in result.stderr

    untrusted = opendcc("duis", "verify", signed, "--trust", tmp_path, *AT)  # empty trust dir
    assert untrusted.returncode == 1
    assert "unknown-signer" in untrusted.stderr


def test_verify_reads_stdin(reference: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed.xml"
    sign_template(reference, signed)
    result = opendcc("duis", "verify", "-", "--trust", KEYS, *AT, stdin=signed.read_bytes())
    assert result.returncode == 0, result.stderr


def test_parse_prints_json(reference: Path) -> None:
    result = opendcc("duis", "parse", TEMPLATE, "--xsd", XSD_V54)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["service_reference_variant"] == "4.1.1"
    assert summary["originator"] == SUPPLIER
    assert summary["command_variant_name"] == "DEVICE"


def test_parse_refuses_invalid(reference: Path) -> None:
    invalid = reference / "samples/duis-sign-wrap/8.2_READ_INVENTORY_REQUEST_DUIS-invalid.XML"
    result = opendcc("duis", "parse", invalid, "--xsd", XSD_V54)
    assert result.returncode == 1
    assert "ReqxuestID" in result.stderr


def test_sign_refuses_a_key_that_does_not_match(reference: Path, tmp_path: Path) -> None:
    result = opendcc(
        "duis", "sign", TEMPLATE,
        "--key", KEYS / "xml-sign-90B3D51F30010000-ds.key",
        "--cert", KEYS / "xml-sign-90B3D51F30020000-ds.pem",
    )  # fmt: skip
    assert result.returncode == 1
    assert "does not match" in result.stderr
