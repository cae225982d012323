"""The hardened parser refuses what DUIS never needs: DTDs, entities, huge or deep documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendcc.duis.xml import MalformedDocument, ParseLimits, parse_xml


def test_refuses_the_dcc_xxe_probe(reference: Path) -> None:
    probe = (reference / "samples/dccboxed-signing-tool/duis-xxe.xml").read_bytes()
    with pytest.raises(MalformedDocument, match="DTD"):
        parse_xml(probe)


def test_external_entities_are_never_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = f'<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]><r>&x;</r>'.encode()
    with pytest.raises(MalformedDocument):
        parse_xml(doc)


def test_billion_laughs_is_refused() -> None:
    entities = "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};">' for i in range(1, 12))
    doc = f'<!DOCTYPE r [<!ENTITY l0 "ha">{entities}]><r>&l11;</r>'.encode()
    with pytest.raises(MalformedDocument):
        parse_xml(doc)


def test_size_limit() -> None:
    doc = b"<r>" + b"x" * 2000 + b"</r>"
    parse_xml(doc, ParseLimits(max_bytes=4096))
    with pytest.raises(MalformedDocument, match="limit"):
        parse_xml(doc, ParseLimits(max_bytes=1024))


def test_depth_limit() -> None:
    doc = b"<a>" * 40 + b"</a>" * 40
    parse_xml(doc, ParseLimits(max_depth=40))
    with pytest.raises(MalformedDocument, match="deeper"):
        parse_xml(doc, ParseLimits(max_depth=39))


@pytest.mark.parametrize("doc", [b"", b"not xml", b"<a><b></a>", b"<a/><b/>"])
def test_not_well_formed(doc: bytes) -> None:
    with pytest.raises(MalformedDocument):
        parse_xml(doc)
