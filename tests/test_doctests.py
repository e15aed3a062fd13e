"""Every docstring example in tasks/ and checks/ runs (they are the tables of the small pure functions)."""
from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# tasks/dodo.py is doit's dodo file: importing it reads the command line and the config, as doit's loading does
MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for folder in ("tasks", "checks")
                 for p in (ROOT / folder).rglob("*.py") if p.name != "__init__.py" and p != ROOT / "tasks" / "dodo.py")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
