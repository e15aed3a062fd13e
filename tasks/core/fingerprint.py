"""What validating a slice's files depends on (its checks, gates, deny list, where containers run):
pure, and light enough for the task creators' up-to-date tests."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from tasks.config import DEFAULT_DENY_EXCEPT, Check, Config, SecretsPolicy


def applicable(checks: Sequence[Check], files: Sequence[str]) -> list[tuple[Check, bool]]:
    """Each check with whether it applies to ``files`` (``when`` globs, like Nx affected)."""
    from tasks.globs import globs  # not at import: the task creators use this module and must stay light

    return [(c, not c.when or any(globs(c.when)(f) for f in files)) for c in checks]


def containers_key(cfg: Config) -> dict[str, Any]:
    c = cfg.containers
    return {"network": c.network, "pass_env": list(c.pass_env), "ca_bundle": bool(c.ca_bundle)}


def validation_config(cfg: Config, files: Sequence[str]) -> dict[str, Any]:
    """What validating ``files`` depends on: the checks that apply to them, gates, deny list, sync branch."""
    checks = [c for c, applies in applicable(cfg.checks, files) if applies]
    # `layout` places a check on an export only: what it judges on the sync branch is the same either way
    out = {"checks": [{k: v for k, v in c.__dict__.items() if k != "layout"} for c in checks], "gates": list(cfg.gates),
           "deny": list(cfg.deny),
           "sync": cfg.fork.sync_branch, "gating": cfg.gating}
    # kept out when default: old digests hold
    if cfg.deny_except != DEFAULT_DENY_EXCEPT or cfg.secrets != SecretsPolicy():
        out["gate_policy"] = gate_policy(cfg)
    if any(c.kind != "host" for c in checks):  # where container checks run is part of what they check
        out["containers"] = containers_key(cfg)
    return out


def gate_policy(cfg: Config) -> dict[str, Any]:
    return {"deny_except": list(cfg.deny_except), "secrets": cfg.secrets.__dict__}


def fingerprint(cfg: Config, files: Sequence[str]) -> str:
    """``validation_config`` as a digest, recorded in the outcome (doit's own record dies with a killed run)."""
    text = json.dumps(validation_config(cfg, files), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()
