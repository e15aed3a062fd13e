"""Sync modes: one module each, behind ``tasks.modes.base.Mode``; ``MODES`` maps config names to them."""
from __future__ import annotations

from types import ModuleType

from tasks.config import Config
from tasks.modes import cherrypick, merge, snapshot

MODES: dict[str, ModuleType] = {"snapshot": snapshot, "merge": merge, "cherry-pick": cherrypick}


def mode_of(cfg: Config) -> ModuleType:
    """The mode of the config's current source (``cfg.for_source(name)``)."""
    return MODES[cfg.current.mode if cfg.sources else "snapshot"]
