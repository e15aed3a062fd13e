"""Is a slice up to date, and did anything it depends on change? Light enough for doit's up-to-date tests.

doit asks these for every slice on every run, so this module imports no check, gate or
runner: reading an outcome, the sync branch's history (``tasks.repo.history``) and the
fingerprint of the checks (``tasks.core.fingerprint``) is all it takes. A slice left for a
person is up to date while its inputs are unchanged: a no-op ``doit`` runs no action for it,
and the run still exits 2 (the reporter reads its outcome).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core.fingerprint import fingerprint
from tasks.core.drift import Drift
from tasks.core.outcome import Outcome, Status
from tasks.core.plan import Plan
from tasks.hashing import digest
from tasks.repo import git, history
from tasks.workspace import Workspace, read_json, read_parsed

SUCCESS = tuple(str(s) for s in (Status.ADOPTED, Status.EMPTY, Status.ROLLED_BACK))  # settled: nothing left to do


def slice_dir(ws: Workspace, name: str) -> Path:
    return ws.reports / "slices" / name


def outcome_path(ws: Workspace, name: str) -> Path:
    return slice_dir(ws, name) / "outcome.json"


def read_outcome(ws: Workspace, name: str) -> Outcome | None:
    path = outcome_path(ws, name)
    return read_parsed(path, Outcome.from_json) if path.exists() else None


def read_outcomes(ws: Workspace, names: Sequence[str]) -> dict[str, Outcome | None]:
    return {n: read_outcome(ws, n) for n in names}


def sync_view(cfg: Config) -> tuple[history.SyncCommit, ...]:
    return history.sync_history(cfg.fork.path, cfg.fork.branch, cfg.fork.sync_branch)


def readopted(ws: Workspace) -> list[str]:
    """Reverts a person asked forkwave to stop honouring (``doit readopt:slice-N``)."""
    path = ws.report("readopt.json")
    return sorted(read_json(path).get("ignore", [])) if path.exists() else []


def file_inputs(cfg: Config, ws: Workspace, upstream: str, drift: Drift, files: Sequence[str]) -> dict[str, str]:
    """What a file slice's outcome depends on besides forkwave's own commits on the sync branch.

    ``shaped_by`` is what the config made of its files: their upstream and base blobs as drift saw them
    (a new ``rewrite`` gives other bytes at the same upstream revision) and the ``policy:`` rules that reach
    them (a new rule may settle a conflict left for a person); a settled slice runs again when it changes.
    """
    entries = drift.entries
    shaped = {"entries": [[p, entries.get(p, {}).get("upstream"), entries.get(p, {}).get("base")]
                          for p in sorted(files)]}
    rules = policy_for(cfg, files)
    return {"upstream": upstream, "fork": drift.fork_sha, "files": digest(sorted(files)),
            "checks": fingerprint(cfg, files), "person": history.person_digest(sync_view(cfg), readopted(ws)),
            "shaped_by": digest(shaped | ({"policy": rules} if rules else {}))}


def policy_for(cfg: Config, files: Sequence[str]) -> list[list[Any]]:
    """The ``policy:`` rules that match one of ``files`` (as plain data), in config order."""
    if not cfg.policy:
        return []
    from tasks.globs import globs  # light, but only needed when there are rules

    return [[list(r.paths), r.take] for r in cfg.policy if any(map(globs(r.paths), files))]


def commit_inputs(cfg: Config, upstream: str, drift: Drift, files: Sequence[str], tip: str | None = None,
                  shaped_by: Any = None) -> dict[str, Any]:
    """What a commit slice's outcome depends on: the upstream, the fork, its files, the checks, what shaped
    it (``shaped_by``: the mode's filters and policy), and the sync (integration) branch's tip — a
    person's merge or fix there moves it."""
    out = {"upstream": upstream, "fork": drift.fork_sha, "files": digest(sorted(files)),
           "checks": fingerprint(cfg, sorted(files)),
           "sync": tip or git.ref_tip(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}")}
    return out | ({"shaped_by": digest(shaped_by)} if shaped_by is not None else {})


_ON_BRANCH: dict[tuple[str, bool], frozenset[str]] = {}


def on_sync_branch(cfg: Config, commit: str) -> bool:
    """Is ``commit`` the sync branch tip or one of its ancestors? The branch's own commits (since
    ``fork.branch``: forkwave's and a person's moves) are listed once per tip; only a commit not among them
    (a sync already merged into ``fork.branch``) makes it list the whole history once — a fork's can be
    tens of thousands of commits."""
    tip = git.ref_tip(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}")
    if tip is None:
        return False
    return commit in _ancestry(cfg, tip, own=True) or commit in _ancestry(cfg, tip, own=False)


def _ancestry(cfg: Config, tip: str, own: bool) -> frozenset[str]:
    if (tip, own) not in _ON_BRANCH:
        base = git.ref_tip(cfg.fork.path, f"refs/heads/{cfg.fork.branch}") if own else None
        out = git.git(cfg.fork.path, "rev-list", tip, *([f"^{base}"] if base else []), "--")
        _ON_BRANCH[tip, own] = frozenset(out.decode().split())
    return _ON_BRANCH[tip, own]


Inputs = Callable[[], Mapping[str, Any]]   # the slice's inputs as they are now (the mode says which)


def unchanged(cfg: Config, ws: Workspace, plan: Plan, name: str, now: Inputs) -> Outcome | None:
    """The slice's outcome when nothing it depends on changed since it was written; else None.

    Adopted: from this upstream revision, with these files and checks, its commits still on the
    sync branch (also after a run killed before doit could record it). Left for a person, or
    waiting: the same inputs (``now()``, as its mode computes them), and what it adopted still
    there. A slice that could not run is never unchanged.
    """
    outcome = read_outcome(ws, name)
    if outcome is None or outcome.status is Status.ERROR:
        return None
    slice_ = plan.slice(name)
    files = slice_.paths
    if [f["path"] for f in outcome.files] != sorted(files):
        return None
    if not all(on_sync_branch(cfg, c) for c in outcome.commits):
        return None
    if outcome.status.settled:
        ok = (outcome.upstream == plan.revision(slice_) and outcome.validated_with == fingerprint(cfg, files)
              and on_sync_branch(cfg, outcome.verified_at) and same_person(cfg, ws, outcome)
              and same_shape(outcome, now))
        return outcome if ok else None
    return outcome if dict(outcome.inputs) == dict(now()) else None


def same_shape(outcome: Outcome, now: Inputs) -> bool:
    """What shaped the slice is as it was: a commit slice's mode filters and policy (and the rollbacks a person
    readopted), a file slice's blobs and policy (``file_inputs``)."""
    shaped = outcome.inputs.get("shaped_by")
    return shaped is None or shaped == now().get("shaped_by")


def same_person(cfg: Config, ws: Workspace, outcome: Outcome) -> bool:
    """No person's commit on the sync branch since the outcome was written (a revert of it, say)."""
    recorded = outcome.inputs.get("person")
    return recorded is None or recorded == history.person_digest(sync_view(cfg), readopted(ws))


def is_done(cfg: Config, ws: Workspace, plan: Plan, name: str, now: Inputs) -> bool:
    """doit ``uptodate``: settled and still on the sync branch, with no person's commit there since —
    or left for a person (or waiting) with every input as it was (nothing to run)."""
    outcome = read_outcome(ws, name)
    if outcome is None:
        return False
    if outcome.status.settled:
        return on_sync_branch(cfg, outcome.verified_at) and same_person(cfg, ws, outcome) and same_shape(outcome, now)
    if outcome.left and outcome.status is not Status.ERROR:
        return unchanged(cfg, ws, plan, name, now) is not None
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
