"""Slices: import, validate in the private worktree, adopt or revert and split.

Per-slice outcome files (``reports/slices/<name>/outcome.json``) are the source of truth.
The sync branch only ever moves by an atomic compare-and-swap to a commit whose tree
passed its checks, so a run killed at any point leaves no half-applied slice anywhere.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from checks.gates import run_gate
from checks import tracking
from checks.runners import Dispatch
from checks.model import ERROR, FAILED, PREEXISTING, SKIPPED, Request, Result, Runner
from tasks import git, importer, merge, worktree
from tasks.bisect import Attempt, Verdict, isolate
from tasks.bisect import Result as Isolated
from tasks.config import Check, Config
from tasks.errors import ForkwaveError
from tasks.globs import globs
from tasks.importer import Change, Prepared
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

SUCCESS = ("adopted", "empty")


def slice_dir(ws: Workspace, name: str) -> Path:
    return ws.reports / "slices" / name


def find_slice(plan: Mapping[str, Any], name: str) -> dict[str, Any]:
    for s in plan["slices"]:
        if s["name"] == name:
            return s
    names = [s["name"] for s in plan["slices"]]
    known = f"{names[0]}..{names[-1]}" if names else "none: the plan is empty"
    raise ForkwaveError(f"{name}: no such slice in reports/plan.json (slices: {known}); see reports/wave-*.md")


def default_runner(cfg: Config, ws: Workspace) -> Runner:
    """Host, docker and compose runners, configured from ``containers:``."""
    c = cfg.containers
    tracking.use(ws.state / "running")
    return Dispatch(options={"ca_bundle": c.ca_bundle, "pass_env": c.pass_env, "network": c.network,
                             "cache_dir": ws.state / "cache"})


def request_for(check: Check, wt: Path, env: Mapping[str, str], log_dir: Path, label: str) -> Request:
    """What running ``check`` in worktree ``wt`` means, for whichever runner its kind needs."""
    return Request(check.name, check.run, wt, {**env, **dict(check.env)}, check.timeout, log_dir, kind=check.kind,
                   image=check.image, network=check.network, cpus=check.cpus, memory=check.memory,
                   compose=check.compose, service=check.service, label=label, node=check.node)


def applicable(checks: Sequence[Check], files: Sequence[str]) -> list[tuple[Check, bool]]:
    """Each check with whether it applies to ``files`` (``when`` globs, like Nx affected)."""
    return [(c, not c.when or any(globs(c.when)(f) for f in files)) for c in checks]


def validation_config(cfg: Config, files: Sequence[str]) -> dict[str, Any]:
    """What validating ``files`` depends on: the checks that apply to them, gates, deny list, sync branch."""
    checks = [c for c, applies in applicable(cfg.checks, files) if applies]
    out = {"checks": [c.__dict__ for c in checks], "gates": list(cfg.gates), "deny": list(cfg.deny),
           "sync": cfg.fork.sync_branch, "gating": cfg.gating}
    if any(c.kind != "host" for c in checks):  # where container checks run is part of what they check
        out["containers"] = {"network": cfg.containers.network, "pass_env": list(cfg.containers.pass_env),
                             "ca_bundle": bool(cfg.containers.ca_bundle)}
    return out


def fingerprint(cfg: Config, files: Sequence[str]) -> str:
    """``validation_config`` as a digest, recorded in the outcome (doit's own record dies with a killed run)."""
    text = json.dumps(validation_config(cfg, files), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


# --- import -------------------------------------------------------------------------

def prepare_slice(cfg: Config, ws: Workspace, mirror: Path, slice_: Mapping[str, Any], drift: Mapping[str, Any],
                  tip: str) -> Prepared:
    entries = drift["entries"]
    paths = [f["path"] for f in slice_["files"]]
    links = [entries[p]["upstream"].split(" ")[1] for p in paths
             if (entries[p]["upstream"] or "").startswith("120000 ")]
    both = [f["path"] for f in slice_["files"] if f["class"] == "both-changed"]
    merges = merge.merge_paths(mirror, cfg.fork.path, entries, both) if both else {}
    save_conflicts(ws, slice_["name"], merges)
    return importer.prepare(slice_["files"], entries, importer.tip_entries(cfg.fork.path, tip, paths),
                            importer.link_targets(mirror, links), merges, cfg.deletions)


def conflicts_dir(ws: Workspace, name: str) -> Path:
    return slice_dir(ws, name) / "conflicts"


def save_conflicts(ws: Workspace, name: str, merges: Mapping[str, merge.Merge]) -> None:
    """Each conflicted merge as a diff3-style file for a person, at the file's path."""
    root = conflicts_dir(ws, name)
    if root.exists():
        shutil.rmtree(root)
    for m in merges.values():
        if m.conflict is not None and importer.check_path(m.path) is None:
            target = root / m.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(m.conflict)


# --- validation ---------------------------------------------------------------------

@dataclass
class Validator:
    """Builds the candidate for (adopted + part), checks it out, runs gates and checks."""

    cfg: Config
    ws: Workspace
    name: str
    start: str
    changes: Mapping[str, Change]
    runner: Runner
    wt: Path
    attempt: int = 0
    baseline: Mapping[str, str] = field(default_factory=dict)  # check -> status on the sync branch before the wave

    def candidate(self, paths: Sequence[str], message: str) -> str:
        return importer.build_commit(self.cfg.fork.path, self.start, [self.changes[p] for p in sorted(paths)],
                                     message)

    def __call__(self, adopted: Sequence[str], part: Sequence[str]) -> Verdict:
        self.attempt += 1
        commit = self.candidate([*adopted, *part], f"forkwave candidate {self.name} attempt {self.attempt}\n")
        worktree.checkout(self.wt, commit)
        results = self.run_all(part)
        return Verdict(all(r.ok for r in results), results)

    def recheck(self, paths: Sequence[str]) -> Isolated:
        """One run at the sync tip, for files this slice adopted before with other checks."""
        self.attempt += 1
        worktree.checkout(self.wt, self.start)
        results = self.run_all(paths)
        passed = all(r.ok for r in results)
        return Isolated(adopted=list(paths) if passed else [], deferred=[] if passed else [(tuple(paths), results)],
                        attempts=[Attempt(tuple(paths), 0, passed, detail=results)])

    def run_all(self, part: Sequence[str]) -> list[Result]:
        written = [p for p in part if p not in self.changes or self.changes[p].mode is not None]
        log_dir = slice_dir(self.ws, self.name) / "logs" / f"attempt-{self.attempt}"
        results = [run_gate(g, written, self.cfg.deny, self.wt) for g in self.cfg.gates]
        env = {"FORKWAVE_SLICE": self.name, "FORKWAVE_FILES": "\n".join(part)}
        for check, applies in applicable(self.cfg.checks, part):
            if not applies:
                results.append(Result(check.name, SKIPPED, 0.0, f"no file of this part matches when: {list(check.when)}"))
                continue
            req = request_for(check, self.wt, env, log_dir, f"{self.name}-{self.attempt}")
            res = gate_on_baseline(self.runner.run(req), self.baseline, self.cfg.gating)
            log_path = log_dir / f"{check.name}.stdout.log"
            log = str(log_path.relative_to(self.ws.reports)) if log_path.exists() else None
            results.append(Result(res.name, res.status, res.duration, res.message, res.stdout, res.stderr, log))
        return results


def gate_on_baseline(result: Result, baseline: Mapping[str, str], gating: str) -> Result:
    """A check that already failed on the baseline does not block a slice, unless ``gating: strict``."""
    if result.ok or gating == "strict" or baseline.get(result.name) not in (FAILED, ERROR):
        return result
    return replace(result, status=PREEXISTING,
                   message=f"pre-existing: fails on the baseline too, not blocking ({result.message})")


def baseline_path(ws: Workspace, wave: str) -> Path:
    return ws.reports / f"wave-{wave}" / "baseline.json"


def baseline(cfg: Config, ws: Workspace, wave: str, upstream: str, runner: Runner | None = None) -> dict[str, str]:
    """Every check, once, on the sync branch as it stands before the wave (cached per upstream and checks).

    Returns check name -> status. Recorded in ``reports/wave-<x>/baseline.json``.
    """
    if not cfg.checks:
        return {}
    key = hashlib.sha1(json.dumps([c.__dict__ for c in cfg.checks], sort_keys=True, default=str).encode()).hexdigest()
    path = baseline_path(ws, wave)
    if path.exists():
        saved = read_json(path)
        if saved.get("upstream") == upstream and saved.get("checks") == key:
            return {r["name"]: r["status"] for r in saved["results"]}
    tip = worktree.sync_tip(cfg)
    wt = worktree.ensure(cfg, ws, tip)
    runner = runner or default_runner(cfg, ws)
    log_dir = path.parent / "baseline-logs"
    results = []
    print(f"baseline: wave {wave}: {len(cfg.checks)} checks on {cfg.fork.sync_branch} at {tip[:12]} ...", flush=True)
    for check in cfg.checks:
        results.append(runner.run(request_for(check, wt, {}, log_dir, f"baseline-{wave}")))
    write_if_changed(path, dump_json({"wave": wave, "upstream": upstream, "checks": key, "tip": tip,
                                      "results": [r.to_json() for r in results]}))
    failing = [r.name for r in results if not r.ok]
    print(f"baseline: wave {wave}: " + (f"already failing: {', '.join(failing)}" if failing else "all checks pass"))
    return {r.name: r.status for r in results}


def run_slice(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str, runner: Runner | None = None) -> dict[str, Any]:
    """Import and validate one slice; adopt what passes; write and return its outcome."""
    slice_ = find_slice(plan, name)
    started = time.monotonic()
    start = worktree.sync_tip(cfg)
    prepared = prepare_slice(cfg, ws, mirror, slice_, drift, start)
    changes = {c.path: c for c in prepared.changes}
    importer.copy_objects(mirror, cfg.fork.path, [c.oid for c in prepared.changes if c.oid])
    result = None
    commit = None
    earlier = _earlier(cfg, ws, name, prepared)
    validated_with = fingerprint(cfg, [f["path"] for f in slice_["files"]])
    # adopted by an earlier run, validated then with other checks (or with no record of them), or failing
    # its last re-check: check again
    recheck = not changes and bool(earlier["adopted"]) and (earlier["validated_with"] != validated_with
                                                              or earlier["failed"])
    if changes or recheck:
        wt = worktree.ensure(cfg, ws, start)
        runner = runner or default_runner(cfg, ws)
        base_results = baseline(cfg, ws, slice_["wave"], plan["upstream"], runner)
        validate = Validator(cfg, ws, name, start, changes, runner, wt, baseline=base_results)
    if changes:
        result = isolate(sorted(changes), validate)
        if result.adopted:
            message = commit_message(plan, slice_, result.adopted)
            commit = validate.candidate(result.adopted, message)
            worktree.move_sync(cfg, commit, start, f"forkwave: adopt {name}")
    elif recheck:
        result = validate.recheck(earlier["adopted"])
        if result.deferred:  # still on the sync branch (see the rollback note), but no longer passing
            earlier = {**earlier, "adopted": []}
    outcome = build_outcome(plan, slice_, prepared, result, start, commit, time.monotonic() - started, earlier,
                            recheck=recheck)
    outcome["validated_with"] = validated_with
    write_if_changed(slice_dir(ws, name) / "outcome.json", dump_json(outcome))
    return outcome


def _earlier(cfg: Config, ws: Workspace, name: str, prepared: Prepared) -> dict[str, Any]:
    """What earlier runs of this slice adopted that is still on the sync branch (and with which checks)."""
    path = slice_dir(ws, name) / "outcome.json"
    if not path.exists():
        return {"adopted": [], "commits": [], "validated_with": None, "failed": False}
    previous = read_json(path)
    commits = [c for c in previous.get("commits", []) if on_sync_branch(cfg, c)]
    adopted = set(previous.get("adopted", []))
    failed = previous.get("status") == "failed"
    if failed:  # adopted before, then failed a re-check: its files are still on the sync branch
        adopted.update(f for d in previous.get("deferred", ()) for f in d["files"])
    adopted_now = sorted(adopted & set(prepared.applied)) if commits else []
    return {"adopted": adopted_now, "commits": commits, "validated_with": previous.get("validated_with"),
            "failed": failed}


def commit_message(plan: Mapping[str, Any], slice_: Mapping[str, Any], adopted: Sequence[str]) -> str:
    total = len(slice_["files"])
    head = f"forkwave: adopt {slice_['name']} of wave {slice_['wave']} ({len(adopted)} of {total} files)"
    return (f"{head}\n\n" + "".join(f"- {p}\n" for p in sorted(adopted)[:50]) +
            (f"- ... and {len(adopted) - 50} more\n" if len(adopted) > 50 else "") +
            f"\nUpstream-Revision: {plan['upstream']}\nForkwave-Slice: {slice_['name']}\n")


def _status(prepared: Prepared, result: Any, earlier: Sequence[str], recheck: bool = False) -> str:
    deferred = bool(result and result.deferred) or bool(prepared.blocked)
    adopted = bool(result and result.adopted) or bool(earlier)
    if recheck and result and result.deferred:
        return "failed"  # adopted before, fails the checks as they are now
    if deferred:
        return "split" if adopted else "reverted"
    if prepared.conflicts:
        return "conflicted"
    return "adopted" if adopted else "empty"


def build_outcome(plan: Mapping[str, Any], slice_: Mapping[str, Any], prepared: Prepared, result: Any,
                  start: str, commit: str | None, duration: float,
                  earlier: Mapping[str, Sequence[str]] | None = None, recheck: bool = False) -> dict[str, Any]:
    earlier = earlier or {"adopted": [], "commits": []}
    classes = {f["path"]: f["class"] for f in slice_["files"]}
    attempts = []
    for i, a in enumerate(result.attempts if result else (), 1):
        attempts.append({"n": i, "files": list(a.files), "on_top_of": a.on_top_of, "passed": a.passed,
                         "inferred": a.inferred,
                         "results": [] if a.inferred else [r.to_json() | {"stdout": r.stdout, "stderr": r.stderr}
                                                           for r in a.detail or ()]})
    deferred = []
    for files, detail in (result.deferred if result else ()):
        failing = [r for r in detail or () if not r.ok] if isinstance(detail, list) else []
        deferred.append({"files": list(files), "reason": detail if isinstance(detail, str) else
                         ("still on the sync branch, fails re-checking: " if recheck else "") +
                         ("; ".join(f"{r.name}: {r.message}" for r in failing) or "failed"),
                         "checks": [r.name for r in failing],
                         "output": "\n".join(filter(None, (failing[0].stdout, failing[0].stderr))) if failing else ""})
    for path, reason in prepared.blocked:
        deferred.append({"files": [path], "reason": f"blocked: {reason}", "checks": ["path-safety"], "output": ""})
    return {
        "slice": slice_["name"], "wave": slice_["wave"], "upstream": plan["upstream"],
        "status": _status(prepared, result, earlier["adopted"], recheck),
        "parent": start, "commit": commit, "verified_at": commit or start,
        "commits": [*earlier["commits"], *([commit] if commit else [])],
        "files": [{"path": p, "class": classes[p]} for p in sorted(classes)],
        "adopted": sorted({*earlier["adopted"], *(result.adopted if result else ())}),
        "deferred": deferred,
        "conflicts": [{"path": p, "reason": r} | ({"file": f"conflicts/{p}"} if r == "3-way merge conflict" else {})
                      for p, r in prepared.conflicts],
        "reported": [{"path": p, "reason": r} for p, r in prepared.reported],
        "applied_before": list(prepared.applied),
        "runs": result.runs if result else 0,
        "attempts": attempts,
        "duration": round(duration, 3),
    }


# --- up to date ---------------------------------------------------------------------

_ON_BRANCH: dict[str, frozenset[str]] = {}


def on_sync_branch(cfg: Config, commit: str) -> bool:
    """Is ``commit`` the sync branch tip or one of its ancestors? (one rev-list per tip, cached)"""
    tip = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}")
    if tip is None:
        return False
    if tip not in _ON_BRANCH:
        out = git.git(cfg.fork.path, "rev-list", "--max-count=20000", tip)
        _ON_BRANCH[tip] = frozenset(out.decode().split())
    return commit in _ON_BRANCH[tip]


def already_adopted(cfg: Config, ws: Workspace, plan: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The slice's outcome when a run (maybe one killed before doit saved its state) already
    adopted it from this upstream revision, with these files and these checks; else None."""
    path = slice_dir(ws, name) / "outcome.json"
    if not path.exists():
        return None
    outcome = read_json(path)
    files = [f["path"] for f in find_slice(plan, name)["files"]]
    if (outcome.get("status") in SUCCESS and outcome.get("upstream") == plan["upstream"]
            and [f["path"] for f in outcome.get("files", ())] == sorted(files)
            and outcome.get("validated_with") == fingerprint(cfg, files)
            and on_sync_branch(cfg, outcome["verified_at"])):
        return outcome
    return None


def is_done(cfg: Config, ws: Workspace, name: str) -> bool:
    path = slice_dir(ws, name) / "outcome.json"
    if not path.exists():
        return False
    outcome = read_json(path)
    return outcome.get("status") in SUCCESS and on_sync_branch(cfg, outcome["verified_at"])
