"""Failing test cases from a JUnit XML file a check wrote (pytest, jest-junit, nx --ci, ...).

Test-level gating compares these sets between the baseline and a candidate: only new
failures block. The standard library parser is enough here (expat refuses entity
expansion bombs since 2.4.1); a file that does not parse is reported, never guessed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 50_000_000


@dataclass(frozen=True, order=True)
class Failure:
    """One failing test: ``id`` is ``classname::name`` (or ``file::name``), ``line`` its first error line."""

    id: str
    line: str = ""

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "line": self.line}


class JUnitError(Exception):
    """The file is missing or is not JUnit XML."""


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _case_id(case: ET.Element) -> str:
    owner = case.get("classname") or case.get("file") or ""
    name = case.get("name") or "?"
    return f"{owner}::{name}" if owner else name


def parse_failures(text: str | bytes) -> list[Failure]:
    """Every ``<testcase>`` holding a ``<failure>`` or ``<error>``, sorted and without duplicates.

    >>> parse_failures('<testsuite><testcase classname="t.test_a" name="test_x"><failure message="assert 1 == 2">'
    ...                'trace</failure></testcase><testcase classname="t" name="ok"/></testsuite>')
    [Failure(id='t.test_a::test_x', line='assert 1 == 2')]
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise JUnitError(f"not JUnit XML ({exc})") from None
    found: dict[str, Failure] = {}
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            bad = case.find(tag)
            if bad is not None:
                line = _first_line(bad.get("message")) or _first_line(bad.text) or tag
                found.setdefault(_case_id(case), Failure(_case_id(case), line))
                break
    return sorted(found.values())


def read_failures(path: Path) -> list[Failure]:
    if not path.is_file():
        raise JUnitError(f"{path.name} was not written")
    if path.stat().st_size > MAX_BYTES:
        raise JUnitError(f"{path.name} is larger than {MAX_BYTES // 1_000_000} MB")
    return parse_failures(path.read_bytes())
