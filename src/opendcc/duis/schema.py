"""Optional XSD validation of DUIS documents against a deployment's own copy of the schema.

opendcc does not ship the DUIS XSD (it is distributed under the GPL). A deployment points
``--xsd`` (or ``OPENDCC_DUIS_XSD``) at its copy of ``DUIS Schema V5.x.xsd``; the MMC schema and
the XML Signature schema it imports must sit beside it. libxml2 silently skips an
``xs:import`` whose schemaLocation contains spaces ("MMC Schema V5.4.xsd"), so locations are
percent-encoded in memory before compiling.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from lxml import etree

from opendcc.core.errors import DuisError

_SCHEMA_LOCATION = re.compile(rb'schemaLocation="([^"]*)"')


class SchemaInvalid(DuisError):
    """The document is well-formed XML but not valid DUIS (answered with HTTP 400)."""


class DuisSchema:
    def __init__(self, xsd_path: Path) -> None:
        self.path = xsd_path
        self._schema = _compile(xsd_path.resolve())

    def validate(self, document: etree._ElementTree | etree._Element) -> None:
        if not self._schema.validate(document):
            errors = "; ".join(str(self._schema.error_log).splitlines()[:5])
            raise SchemaInvalid(f"not valid against {self.path.name}: {errors}")

    def is_valid(self, document: etree._ElementTree | etree._Element) -> bool:
        return bool(self._schema.validate(document))


@cache
def _compile(xsd_path: Path) -> etree.XMLSchema:
    source = _SCHEMA_LOCATION.sub(
        lambda m: b'schemaLocation="' + m.group(1).replace(b" ", b"%20") + b'"',
        xsd_path.read_bytes(),
    )
    # The schema is the deployment's own file, but parse it as carefully as any input.
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(source, parser, base_url=xsd_path.as_uri())
    return etree.XMLSchema(root)


@cache
def load_schema(xsd_path: Path) -> DuisSchema:
    return DuisSchema(xsd_path)
