"""What a sync mode is: a strategy that says *what* a source's changes are and how they become slices.

Everything else — the doit graph, waves, the one slice pipeline (``tasks.engine.pipeline``),
validation, the verdict memo, landing, reports and the safety rules — is shared. A mode answers
capability questions as attributes, so nothing outside ``tasks/modes/`` asks for a mode by name:

- ``unit``: what its slices are made of and counted in (``files`` or ``commits``);
- ``file_slices``: slices are files (import manifests, the joint retry, ``resolve path= take=``);
- ``detects_base``: without a configured ``base``, the base is found by content (``doit base``);
- ``own_branch``: it lands on a branch of its own (``sync/<source>``) and owns no path of the shared one.

And it does:

- ``drift``: what differs between the source and the fork, and why (``drift.json``'s body);
- ``plan``: how the drift becomes slices — files cut by wave, or commits;
- ``step``: one slice's candidate(s) judged through the pipeline's ``SliceRun``: where the sync
  branch moves and the outcome (the pipeline guards, lands and records);
- ``inputs``: what a slice's outcome depends on (it is up to date while they hold);
- ``simulate``: the slice as ``dry=1`` shows it, on a simulated tip, nothing written;
- ``resolve``, ``rollback``, ``readopt``: a person closes the loop on one slice;
- ``record``: what the fork keeps when a wave of the source lands.

Adding a mode is a module with a class satisfying ``Mode`` and an entry in ``tasks.modes.MODES``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tasks.config import Config
from tasks.core.classify import Bases
from tasks.core.plan import Plan
from tasks.engine.dryrun import Simulation
from tasks.engine.pipeline import SliceRun, Step
from tasks.errors import ForkwaveError
from tasks.workspace import Workspace


@runtime_checkable
class Mode(Protocol):
    name: str
    unit: str
    file_slices: bool
    detects_base: bool
    own_branch: bool
    joint_retry: bool

    def drift(self, cfg: Config, mirror: Path, upstream: str, bases: Bases | None,
              window: set[str] | None) -> dict[str, Any]: ...

    def plan(self, cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan: ...

    def step(self, job: SliceRun) -> Step: ...

    def inputs(self, job: SliceRun, tip: str | None = None) -> dict[str, Any]: ...

    def simulate(self, job: SliceRun, tip: str) -> Simulation: ...

    def resolve(self, job: SliceRun, path: str | None, take: str | None) -> str: ...

    def rollback(self, job: SliceRun) -> str: ...

    def readopt(self, job: SliceRun) -> list[str]: ...

    def record(self, cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
               source: str | None) -> str | None: ...


def no_such_command(mode: str, command: str, name: str, hint: str) -> ForkwaveError:
    """A person's command a mode does not have, with the way that works for it."""
    return ForkwaveError(f"{name}: a {mode}-mode slice has no `doit {command}`; {hint}")
