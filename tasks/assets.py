"""forkwave's own files outside its Python packages: the demo's config, the container recipes.

A checkout (and an editable install) has them where they are in the repository; installed from a
wheel (``pip install``, ``pipx install``) they are the ``forkwave_assets`` package beside ``tasks/``
(``pyproject.toml`` maps the folders into it).
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent   # the checkout; site-packages when installed from a wheel
INSTALLED = {"examples/demo": "forkwave_assets/demo", "containers": "forkwave_assets/containers"}


def folder(name: str) -> Path:
    """Where folder ``name`` (a key of ``INSTALLED``, as the checkout names it) is for this forkwave."""
    checkout = ROOT / name
    return checkout if checkout.is_dir() else ROOT / INSTALLED[name]
