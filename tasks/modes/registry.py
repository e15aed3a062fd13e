"""The registry of sync modes: config name -> strategy (``tasks.modes.base.Mode``).

A mode is told apart by what it can do (``unit``, ``file_slices``, ``detects_base``, ``own_branch``),
never by its name outside this package: adding one is a module and an entry here.
"""
from __future__ import annotations

from tasks.config import Config
from tasks.modes import cherrypick, merge, snapshot
from tasks.modes.base import Mode

MODES: dict[str, Mode] = {"snapshot": snapshot.MODE, "merge": merge.MODE, "cherry-pick": cherrypick.MODE}


def agrees_with_config(modes: dict[str, Mode] | None = None) -> list[str]:
    """Where the registry and the config's table of modes (``tasks.configkeys.MODE_TRAITS``) disagree: a mode
    the config accepts with no strategy here, or one whose ``own_branch`` differs. Empty: they agree."""
    from tasks.configkeys import MODE_TRAITS

    modes = MODES if modes is None else modes
    out = [f"{name}: in the config's modes, not in the registry" for name in MODE_TRAITS if name not in modes]
    out += [f"{name}: own_branch {m.own_branch} here, {MODE_TRAITS[name].own_branch} in the config"
            for name, m in modes.items() if name in MODE_TRAITS and MODE_TRAITS[name].own_branch != m.own_branch]
    return out


def mode_of(cfg: Config) -> Mode:
    """The mode of the config's current source (``cfg.for_source(name)``)."""
    return MODES[cfg.current.mode if cfg.sources else "snapshot"]


def mode_named(name: str) -> Mode:
    return MODES[name]
