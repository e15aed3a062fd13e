"""Is a slice up to date, and did anything it depends on change? Light enough for doit's up-to-date tests.

doit asks these for every slice on every run, so this module imports no check, gate or
runner: reading an outcome, the sync branch's history (``tasks.repo.history``) and the
fingerprint of the checks (``tasks.core.fingerprint``) is all it takes. A slice left for a
person is up to date while its inputs are unchanged: a no-op ``doit`` runs no action for it,
and the run still exits 2 (the reporter reads its outcome).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core.fingerprint import fingerprint
from tasks.core.vocabulary import FOR_A_PERSON, SETTLED
from tasks.errors import ForkwaveError
from tasks.hashing import digest
from tasks.repo import git, history
from tasks.workspace import Workspace, read_json

SUCCESS = SETTLED  # settled: nothing left to do


def slice_dir(ws: Workspace, name: str) -> Path:
    return ws.reports / "slices" / name


def outcome_path(ws: Workspace, name: str) -> Path:
    return slice_dir(ws, name) / "outcome.json"


def find_slice(plan: Mapping[str, Any], name: str) -> dict[str, Any]:
    for s in plan["slices"]:
        if s["name"] == name:
            return s
    names = [s["name"] for s in plan["slices"]]
    known = f"{names[0]}..{names[-1]}" if names else "none: the plan is empty"
    raise ForkwaveError(f"{name}: no such slice in reports/plan.json (slices: {known}); see reports/wave-*.md")


def load_outcome(ws: Workspace, name: str) -> dict[str, Any] | None:
    path = outcome_path(ws, name)
    return read_json(path) if path.exists() else None


def sync_view(cfg: Config) -> tuple[history.SyncCommit, ...]:
    return history.sync_history(cfg.fork.path, cfg.fork.branch, cfg.fork.sync_branch)


def readopted(ws: Workspace) -> list[str]:
    """Reverts a person asked forkwave to stop honouring (``doit readopt:slice-N``)."""
    path = ws.report("readopt.json")
    return sorted(read_json(path).get("ignore", [])) if path.exists() else []


def inputs(cfg: Config, plan: Mapping[str, Any], drift: Mapping[str, Any], files: Sequence[str],
           ws: Workspace) -> dict[str, str]:
    """What a slice's outcome depends on besides forkwave's own commits on the sync branch."""
    ignored = readopted(ws)
    return {"upstream": plan["upstream"], "fork": (drift.get("fork") or {}).get("sha", ""),
            "files": digest(sorted(files)), "checks": fingerprint(cfg, files),
            "person": history.person_digest(sync_view(cfg), ignored)}


_ON_BRANCH: dict[str, frozenset[str]] = {}


def on_sync_branch(cfg: Config, commit: str) -> bool:
    """Is ``commit`` the sync branch tip or one of its ancestors? (one rev-list per tip, cached)"""
    tip = git.ref_tip(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}")
    if tip is None:
        return False
    if tip not in _ON_BRANCH:
        out = git.git(cfg.fork.path, "rev-list", "--max-count=20000", tip)
        _ON_BRANCH[tip] = frozenset(out.decode().split())
    return commit in _ON_BRANCH[tip]


def unchanged(cfg: Config, ws: Workspace, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str) -> dict[str, Any] | None:
    """The slice's outcome when nothing it depends on changed since it was written; else None.

    Adopted: from this upstream revision, with these files and checks, its commits still on the
    sync branch (also after a run killed before doit could record it). Left for a person:
    the same inputs, and what it adopted still there. A slice that could not run is never unchanged.
    """
    outcome = load_outcome(ws, name)
    if outcome is None or outcome.get("status") == "error":
        return None
    files = [f["path"] for f in find_slice(plan, name)["files"]]
    if [f["path"] for f in outcome.get("files", ())] != sorted(files):
        return None
    if not all(on_sync_branch(cfg, c) for c in outcome.get("commits", ())):
        return None
    if outcome.get("status") in SUCCESS:
        ok = (outcome.get("upstream") == plan["upstream"] and outcome.get("validated_with") == fingerprint(cfg, files)
              and on_sync_branch(cfg, outcome["verified_at"]) and same_person(cfg, ws, outcome))
        return outcome if ok else None
    if outcome.get("mode") in COMMIT_MODES:  # a range or picks: what it waits on is the sync branch's tip
        return outcome if outcome.get("inputs") == commit_inputs(cfg, plan, drift, files) else None
    return outcome if outcome.get("inputs") == inputs(cfg, plan, drift, files, ws) else None


COMMIT_MODES = ("merge", "cherry-pick")


def commit_inputs(cfg: Config, plan: Mapping[str, Any], drift: Mapping[str, Any], files: Sequence[str],
                  tip: str | None = None) -> dict[str, Any]:
    """What a merge or cherry-pick slice's outcome depends on: the upstream, the fork, its files, the checks,
    and the sync (integration) branch's tip — a person's merge or fix there moves it."""
    return {"upstream": plan["upstream"], "fork": (drift.get("fork") or {}).get("sha", ""),
            "files": digest(sorted(files)), "checks": fingerprint(cfg, sorted(files)),
            "sync": tip or git.ref_tip(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}")}


def same_person(cfg: Config, ws: Workspace, outcome: Mapping[str, Any]) -> bool:
    """No person's commit on the sync branch since the outcome was written (a revert of it, say)."""
    recorded = (outcome.get("inputs") or {}).get("person")
    return recorded is None or recorded == history.person_digest(sync_view(cfg), readopted(ws))


def is_done(cfg: Config, ws: Workspace, name: str, plan: Mapping[str, Any] | None = None,
            drift: Mapping[str, Any] | None = None) -> bool:
    """doit ``uptodate``: settled and still on the sync branch, with no person's commit there since —
    or, given the plan and drift, left for a person with every input as it was (nothing to run)."""
    outcome = load_outcome(ws, name)
    if outcome is None:
        return False
    if outcome.get("status") in SUCCESS:
        return on_sync_branch(cfg, outcome["verified_at"]) and same_person(cfg, ws, outcome)
    if outcome.get("status") in FOR_A_PERSON and plan is not None and drift is not None:
        return unchanged(cfg, ws, plan, drift, name) is not None
    return False


def outcomes_digest(ws: Workspace) -> str:
    """A digest of every outcome file and the plan: the report task is up to date while it holds."""
    import hashlib

    h = hashlib.sha1()
    for path in sorted((ws.reports / "slices").glob("*/outcome.json")):
        h.update(path.parent.name.encode() + path.read_bytes())
    plan = ws.report("plan.json")
    if plan.exists():
        h.update(plan.read_bytes())
    return h.hexdigest()
