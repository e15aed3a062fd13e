"""What a sync mode is: the three things that differ between snapshot, merge and cherry-pick.

Everything else — the doit graph, waves and slices, validation, the verdict memo, the
person's loop, reports and the safety rules — is shared. A mode says:

- ``drift``: what differs between the source and the fork, and why (``drift.json``'s body);
- ``plan``: how the drift becomes slices — files cut by wave (snapshot) or commit ranges (merge);
- ``run_slice``: one slice end to end — its candidates, validation, landing, ``outcome.json``;
- ``prepare``: how one slice becomes changes (a ``Prepared``) on the sync tip (file slices; the
  joint retry at a wave's end uses it when ``joint_retry`` is true);
- ``record``: what to record in the fork when a wave of the source lands.

Adding a mode is a module with these functions and an entry in ``tasks.modes.MODES``
(and its name in ``tasks.config.AVAILABLE_MODES``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from tasks.config import Config
from tasks.core.classify import Bases
from tasks.core.plan import Plan
from tasks.repo.importer import Prepared
from tasks.workspace import Workspace


class Mode(Protocol):
    name: str
    joint_retry: bool   # a wave's deferred files are retried together when it ends (file slices)

    def drift(self, cfg: Config, mirror: Path, upstream: str, bases: Bases | None,
              window: set[str] | None) -> dict[str, Any]: ...

    def plan(self, cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan: ...

    def run_slice(self, cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any],
                  drift: Mapping[str, Any], name: str, run_id: str = "run", runner: Any = None) -> dict[str, Any]: ...

    def prepare(self, cfg: Config, ws: Workspace, mirror: Path, slice_: Mapping[str, Any],
                drift: Mapping[str, Any], tip: str, save: bool = True) -> Prepared: ...

    def record(self, cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
               source: str | None) -> str | None: ...
