"""A candidate tree of upstream commits (a merge or a chain of picks) judged on top of the sync tip, through
the verdict memo: what merge and cherry-pick mode share when they ask whether commits pass."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.engine.validate import Validator, verdict_of
from tasks.repo import git
from tasks.repo.importer import Change
from tasks.workspace import Workspace


def tree_changes(fork: Path, before: str, after: str, kind: str,
                 env: Mapping[str, str] | None = None) -> dict[str, Change]:
    """path -> Change from tree ``before`` to ``after`` (a deletion has no mode): what a gate looks at."""
    out = git.git(fork, "diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", before, after,
                  env=dict(env) if env is not None else None)
    return {c.path: Change(c.path, kind, c.new[0] if c.new else None, c.new[1] if c.new else None)
            for c in git.parse_diff_raw(out)}


def judge(cfg: Config, ws: Workspace, name: str, tip: str, tree: str, changes: Mapping[str, Change], label: str,
          attempts: list[dict[str, Any]], validator_args: Mapping[str, Any]) -> tuple[bool, list[Any]]:
    """The checks' verdict on ``tree`` (``changes`` on top of ``tip``); the attempt is appended to ``attempts``."""
    v = Validator(cfg, ws, name, tip, dict(changes), **validator_args)
    n = len(attempts) + 1
    results = v.judge(tree, sorted(changes), n)
    verdict = verdict_of(results)
    attempts.append({"n": n, "files": sorted(changes), "on_top_of": tip[:12], "passed": verdict.passed,
                     "inferred": False, "ran": verdict.ran, "commits": label,
                     "results": [r.to_json() | {"stdout": r.stdout, "stderr": r.stderr} for r in results]})
    return verdict.passed, results
