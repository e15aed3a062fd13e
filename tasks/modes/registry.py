"""The registry of sync modes: config name -> strategy (``tasks.modes.base.Mode``).

A mode is told apart by what it can do (``unit``, ``file_slices``, ``detects_base``, ``own_branch``),
never by its name outside this package: adding one is a module and an entry here.
"""
from __future__ import annotations

from tasks.config import Config
from tasks.modes import cherrypick, merge, snapshot
from tasks.modes.base import Mode

MODES: dict[str, Mode] = {"snapshot": snapshot.MODE, "merge": merge.MODE, "cherry-pick": cherrypick.MODE}


def mode_of(cfg: Config) -> Mode:
    """The mode of the config's current source (``cfg.for_source(name)``)."""
    return MODES[cfg.current.mode if cfg.sources else "snapshot"]


def mode_named(name: str) -> Mode:
    return MODES[name]
