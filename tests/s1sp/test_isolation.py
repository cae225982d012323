"""Cohorts stay in their rooms: no cohort is named or imported outside its own package.

Core code reaches cohorts only through the registry, which ``opendcc.s1sp.cohorts``
(``register_all``) fills; that module is the one allowed to import cohort packages.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "opendcc"
COHORTS = "s1sp/cohorts"
PREFIX = "opendcc.s1sp.cohorts."
# The six SMETS1 cohorts, each word owned by the package of that name once it exists.
KNOWN_COHORT_WORDS = {
    "aclara": "aclara",
    "honeywell": "elster",
    "elster": "elster",
    "itron": "itron",
    "landis": "landis",
    "gyr": "landis",
    "secure": "secure",
    "edmi": "edmi",
}


def cohort_packages(src: Path) -> list[str]:
    root = src / COHORTS
    return sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file())


def owner(src: Path, path: Path) -> str | None:
    """The cohort package ``path`` belongs to, if any."""
    parts = path.relative_to(src / COHORTS).parts if path.is_relative_to(src / COHORTS) else ()
    return parts[0] if len(parts) > 1 else None


def module_name(src: Path, path: Path) -> str:
    parts = ("opendcc", *path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(src: Path, path: Path) -> Iterator[str]:
    package = module_name(src, path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def violations(src: Path) -> list[str]:
    packages = cohort_packages(src)
    words = {**KNOWN_COHORT_WORDS, **{name: name for name in packages}}
    # A word used as a keyword argument (Starlette's ``set_cookie(secure=...)``) is not a cohort.
    pattern = re.compile(
        r"\b(" + "|".join(map(re.escape, words)) + r")\b(?!\s*=[^=])", re.IGNORECASE
    )
    registrar = src / COHORTS / "__init__.py"
    found: list[str] = []
    for path in sorted(src.rglob("*.py")):
        if path == registrar:
            continue
        home = owner(src, path)
        where = path.relative_to(src)
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in pattern.finditer(line):
                if words[match.group(1).lower()] != home:
                    found.append(f"{where}:{number} names cohort {match.group(1)!r}")
        for module in imported_modules(src, path):
            if module.startswith(PREFIX):
                target = module.removeprefix(PREFIX).split(".")[0]
                if target in packages and target != home:
                    found.append(f"{where} imports {module}")
    return found


def test_no_cohort_is_named_or_imported_outside_its_package() -> None:
    assert cohort_packages(SRC), "no cohort packages found"
    assert violations(SRC) == []


@pytest.mark.parametrize(
    ("path", "source", "complaint"),
    [
        ("dsp/route.py", "# send it to Secure\n", "names cohort 'Secure'"),
        ("dsp/route.py", 'ours = cohort == "secure"\n', "names cohort 'secure'"),
        ("dsp/route.py", "from opendcc.s1sp.cohorts.secure import PROFILE\n", "imports"),
        ("dsp/route.py", "import opendcc.s1sp.cohorts.secure.adapter\n", "imports"),
        ("s1sp/cohorts/other/adapter.py", "from ..secure import adapter\n", "imports"),
        ("s1sp/cohorts/other/adapter.py", "# unlike EDMI meters\n", "names cohort 'EDMI'"),
    ],
)
def test_the_check_catches_violations(
    tmp_path: Path, path: str, source: str, complaint: str
) -> None:
    for package in ("s1sp/cohorts", "s1sp/cohorts/secure", "s1sp/cohorts/other"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text('"""A package."""\n')
    (tmp_path / "s1sp/cohorts/secure/profile.py").write_text('NAME = "secure"\n')
    (tmp_path / "s1sp/cohorts/__init__.py").write_text("from . import secure\n")
    assert violations(tmp_path) == []
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    found = violations(tmp_path)
    assert any(complaint in violation for violation in found), found
