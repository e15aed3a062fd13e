"""What a sync mode is: the three things that differ between snapshot, merge and cherry-pick.

Everything else — the doit graph, waves and slices, validation, the verdict memo, the
person's loop, reports and the safety rules — is shared. A mode says:

- ``drift``: what differs between the source and the fork, and why (``drift.json``'s body);
- ``prepare``: how one slice becomes changes (a ``Prepared``) on the sync tip;
- ``record``: what to record in the fork when a wave of the source lands.

Adding a mode is a module with these three functions and an entry in ``tasks.modes.MODES``
(and its name in ``tasks.config.AVAILABLE_MODES``).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from tasks.config import Config
from tasks.core.classify import Bases
from tasks.repo.importer import Prepared
from tasks.workspace import Workspace


class Mode(Protocol):
    name: str

    def drift(self, cfg: Config, mirror: Path, upstream: str, bases: Bases | None,
              window: set[str] | None) -> dict[str, Any]: ...

    def prepare(self, cfg: Config, ws: Workspace, mirror: Path, slice_: Mapping[str, Any],
                drift: Mapping[str, Any], tip: str, save: bool = True) -> Prepared: ...

    def record(self, cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
               source: str | None) -> str | None: ...
