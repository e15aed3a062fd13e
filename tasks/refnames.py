"""Branch and ref names by git's own rules (``git check-ref-format``), for the config.

These ask git to judge a string; no repository is read or written (the one exception to
"all git goes through ``tasks.repo.git``", kept here so that loading the config, at the
bottom of the layers, needs nothing above it).
"""
from __future__ import annotations

import os
from functools import lru_cache

from tasks.proc import run


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    return env


@lru_cache(maxsize=64)
def is_branch_name(name: str) -> bool:
    """Is ``name`` a branch name by git's own rules (``git check-ref-format --branch``)?

    ``--branch`` would also expand ``@{-1}`` and ``@`` against whatever repository the
    working directory is in, so those (and NUL, which no argv can carry) are refused first.
    """
    if not name or "\0" in name or "@{" in name or name == "@":
        return False
    return run(["git", "check-ref-format", "--branch", name], check=False, env=_env(), cwd="/").returncode == 0


@lru_cache(maxsize=64)
def is_ref_name(name: str) -> bool:
    """Is ``name`` a valid ref name, one level allowed (``main``, ``v1.2``, ``refs/tags/v1``, a sha)?"""
    if not name or "\0" in name or name.startswith("-"):
        return False
    return run(["git", "check-ref-format", "--allow-onelevel", name], check=False, env=_env(), cwd="/").returncode == 0
