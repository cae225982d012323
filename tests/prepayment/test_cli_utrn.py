"""`opendcc utrn` as a supplier's developer runs it, on DCC's published GBCS vector."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from opendcc.cli_utrn import utrn_app
from opendcc.core.eui import Eui64
from opendcc.prepayment.utrn import gbcs as gbcs_module
from tests.prepayment.test_gbcs import device_public, supplier_pem

app = typer.Typer()
app.add_typer(utrn_app, name="utrn")
runner = CliRunner()


@pytest.fixture
def pems(reference: Path, tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "supplier-pp-ka.key"
    key.write_text(supplier_pem())
    device = tmp_path / "device-ka.pem"
    device.write_bytes(
        device_public().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, device


def gbcs(key: Path, device: Path, overrides: dict[str, str] | None = None) -> list[str]:
    options = {
        "--originator": "90-B3-D5-1F-30-01-00-00",
        "--target": "00DB1234567890A0",
        "--counter": str(1 << 32),
        "--value": "100",
        "--class": "pounds",
        "--supplier-key": str(key),
        "--device-cert": str(device),
    } | (overrides or {})
    return ["utrn", "gbcs", *(part for pair in options.items() for part in pair)]


def plain(output: str) -> str:
    """The message without the box rich draws around it and its line breaks."""
    return " ".join(output.replace("│", " ").split())


def test_prints_the_published_utrn(pems: tuple[Path, Path]) -> None:
    result = runner.invoke(app, gbcs(*pems))
    assert result.exit_code == 0, result.output
    assert result.stdout == "73943333457189043313\n"


def test_pennies(pems: tuple[Path, Path]) -> None:
    overrides = {"--counter": str(1 << 34), "--value": "1234", "--class": "pennies"}
    result = runner.invoke(app, gbcs(*pems, overrides))
    assert result.stdout == "73947252416745201637\n"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--target", "00-DB-12", "not an EUI-64"),
        ("--originator", "zz", "not an EUI-64"),
        ("--value", "8192", "less than or equal to 8191"),
        ("--counter", "-1", "greater than or equal to 0"),
        ("--class", "shillings", "shillings"),
        ("--supplier-key", "/nonexistent/key.pem", "cannot read"),
    ],
)
def test_bad_input_is_a_usage_error(
    pems: tuple[Path, Path], option: str, value: str, message: str
) -> None:
    result = runner.invoke(app, gbcs(*pems, {option: value}))
    assert result.exit_code == 2
    assert option in result.output
    assert message in plain(result.output)


def test_a_key_that_is_not_a_key(pems: tuple[Path, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    for option in ("--supplier-key", "--device-cert"):
        result = runner.invoke(app, gbcs(*pems, {option: str(junk)}))
        assert result.exit_code == 2
        assert option in result.output


def test_a_key_on_another_curve(pems: tuple[Path, Path], tmp_path: Path) -> None:
    other = tmp_path / "p384.key"
    other.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    result = runner.invoke(app, gbcs(*pems, {"--supplier-key": str(other)}))
    assert result.exit_code == 2
    assert "P-256" in result.output


def test_a_device_certificate(pems: tuple[Path, Path], tmp_path: Path) -> None:
    device = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(device.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(9999, 12, 31, tzinfo=UTC))
        .sign(device, hashes.SHA256())
    )
    path = tmp_path / "device-cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = runner.invoke(app, gbcs(pems[0], path, {"--counter": str(3 << 32)}))
    assert result.exit_code == 0, result.output
    # The meter's side of the key agreement must accept what the CLI made.
    supplier = serialization.load_pem_private_key(pems[0].read_bytes(), None)
    assert isinstance(supplier, ec.EllipticCurvePrivateKey)
    z = device.exchange(ec.ECDH(), supplier.public_key())
    originator, target = Eui64.parse("90B3D51F30010000"), Eui64.parse("00DB1234567890A0")
    high = gbcs_module.ptut_high(3 << 32, gbcs_module.ValueClass.POUNDS, 100)
    key = gbcs_module.derive_key(z, originator, target, 3 << 32)
    tag = gbcs_module.tag(key, originator, target, 3 << 32, high)
    assert result.stdout == gbcs_module.digits(gbcs_module.pptd(gbcs_module.ptut(high, tag))) + "\n"


@pytest.mark.parametrize(
    ("utrn", "code"), [("73943333457189043313", 0), ("73943333457189043314", 1), ("7394", 1)]
)
def test_check(utrn: str, code: int) -> None:
    assert runner.invoke(app, ["utrn", "check", utrn]).exit_code == code
