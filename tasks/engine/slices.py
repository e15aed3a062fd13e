"""Slices: import, validate in the private worktree, adopt or revert and split.

Per-slice outcome files (``reports/slices/<name>/outcome.json``) are the source of truth.
The sync branch only ever moves by an atomic compare-and-swap to a commit whose tree
passed its checks, and every move is written ahead (``tasks.engine.journal``), so a run killed at
any point leaves no half-applied slice anywhere and loses no record of a move.

An outcome records its **inputs** (upstream revision, fork tip, files, checks, and every
person's commit on the sync branch): a slice left for a person stays as it is, running no
check, until one of them changes.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.gates import narrow
from checks.model import Result, Runner
from tasks.core import coupling
from tasks import faults
from tasks.repo import git, history, importer, merge, worktree
from tasks.engine import journal
from tasks.core.bisect import BUDGET, WAITS, Atom, Result as Isolated, Verdict, isolate
from tasks.config import Config
from tasks.errors import CannotRun, ForkwaveError
from tasks.repo.importer import Prepared, Touch
from tasks.engine.memo import Memo
from tasks.hashing import digest
from tasks.engine.validate import Validator, baseline, default_runner, fingerprint
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

from tasks.engine.status import (SUCCESS, find_slice, inputs, is_done, load_outcome, on_sync_branch,  # noqa: F401
                                 outcome_path, readopted, same_person, slice_dir, sync_view, unchanged)
from tasks.core.vocabulary import FOR_A_PERSON  # noqa: F401


def write_outcome(ws: Workspace, name: str, outcome: Mapping[str, Any]) -> None:
    write_if_changed(outcome_path(ws, name), dump_json(dict(outcome)))


# --- the sync branch as a person left it ---------------------------------------------

def touched_paths(cfg: Config, hist: Sequence[history.SyncCommit], paths: Sequence[str],
                  tip: Mapping[str, tuple[str, str]]) -> dict[str, Touch]:
    """For each path the sync branch changed since ``fork.branch``: by whom, and whether markers remain."""
    out = {}
    person_blobs = {}
    for p in paths:
        last = history.last_change(hist, p)
        if last is None:
            continue
        if not last.automatic and p in tip and tip[p][0] in ("100644", "100755"):
            person_blobs[tip[p][1]] = p
        out[p] = (last.sha, last.automatic, p in history.kept(last))
    markers = {person_blobs[oid]: history.has_conflict_markers(data or b"")
               for oid, data in git.read_blobs(cfg.fork.path, person_blobs)} if person_blobs else {}
    return {p: Touch(sha, auto, markers.get(p, False) and not kept, kept) for p, (sha, auto, kept) in out.items()}


# --- import -------------------------------------------------------------------------

def prepare_slice(cfg: Config, ws: Workspace, mirror: Path, slice_: Mapping[str, Any], drift: Mapping[str, Any],
                  tip: str, save: bool = True) -> Prepared:
    entries = drift["entries"]
    paths = [f["path"] for f in slice_["files"]]
    links = [entries[p]["upstream"].split(" ")[1] for p in paths
             if (entries[p]["upstream"] or "").startswith("120000 ")]
    both = [f["path"] for f in slice_["files"]
            if f["class"] == "both-changed" and importer.check_path(f["path"]) is None]  # git cannot take the others
    merges = merge.merge_paths(mirror, cfg.fork.path, entries, both, cfg.policy) if both else {}
    if save:
        save_conflicts(ws, slice_["name"], merges)
    tree, targets = importer.read_tip(cfg.fork.path, mirror, tip, links)  # links are judged in the whole tree
    hist = sync_view(cfg)
    prepared = importer.prepare(slice_["files"], entries, tree, targets, merges, cfg.deletions, cfg.is_denied,
                                touched_paths(cfg, hist, paths, tree), history.rollbacks(hist, readopted(ws)))
    return with_policy(prepared, merges)


def with_policy(prepared: Prepared, merges: Mapping[str, merge.Merge]) -> Prepared:
    """A merge that a ``policy:`` rule settled is reported as such (``regenerate``: a check must rebuild it)."""
    from dataclasses import replace

    from tasks.repo.policy import REGENERATE

    taken = [(m.path, REGENERATE if m.reason.endswith("regenerate") else f"{m.reason} for its conflicting hunks")
             for m in merges.values() if m.clean and m.reason.startswith("policy take:")]
    return replace(prepared, reported=(*prepared.reported, *taken)) if taken else prepared


def conflicts_dir(ws: Workspace, name: str) -> Path:
    return slice_dir(ws, name) / "conflicts"


def _sha(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def save_conflicts(ws: Workspace, name: str, merges: Mapping[str, merge.Merge]) -> None:
    """Each conflicted merge as a diff3-style file for a person, at the file's path.

    A file a person has started editing (its bytes are not what forkwave wrote) is left as it is.
    """
    root = conflicts_dir(ws, name)
    written_path = root.parent / "conflicts.json"
    written = read_json(written_path) if written_path.exists() else {}
    edited = {p for p, sha in written.items() if (root / p).is_file() and _sha((root / p).read_bytes()) != sha}
    wanted = {m.path: m.conflict for m in merges.values()
              if m.conflict is not None and importer.check_path(m.path) is None}
    if root.exists():
        for path in sorted(root.rglob("*"), reverse=True):
            rel = str(path.relative_to(root))
            if path.is_file() and rel not in wanted and rel not in edited:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    record = {}
    for p, text in sorted(wanted.items()):
        if p in edited:
            record[p] = written[p]
            continue
        target = root / p
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text)
        record[p] = _sha(text)
    if record or written_path.exists():
        write_if_changed(written_path, dump_json(record))


# --- one slice ---------------------------------------------------------------------------

def group_atoms(slice_: Mapping[str, Any]) -> tuple[list[tuple[str, ...]], Callable[[Atom], list[Atom]]]:
    """The slice's coupled groups (from the plan), and how a failing one may be cut as a last resort:
    first along its links other than shared commits (a module stays with its test), then into
    single files — but a manifest and its lockfile never part."""
    groups = [g for g in coupling.slice_groups(slice_) if len(g) > 1]
    finer = coupling.slice_groups(slice_, kinds=("lockfile", "test", "couple"))
    locked = coupling.slice_groups(slice_, kinds=("lockfile",))
    return groups, lambda atom: refine(atom, finer, locked)


def refine(atom: Atom, *partitions: Sequence[Sequence[str]]) -> list[Atom]:
    """The first partition that cuts ``atom`` in two or more parts, restricted to it (else ``[atom]``)."""
    members = set(atom)
    for partition in partitions:
        parts = [tuple(f for f in part if f in members) for part in partition if members & set(part)]
        covered = {f for p in parts for f in p}
        parts += [(f,) for f in atom if f not in covered]
        if len(parts) > 1:
            return sorted(parts)
    return [atom]


Prepare = Callable[..., Prepared]  # (cfg, ws, mirror, slice, drift, tip[, save]): how a mode makes the changes


def run_slice(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str, runner: Runner | None = None, run_id: str = "run", second_pass: bool = False,
              prepare: Prepare | None = None) -> dict[str, Any]:
    """Import and validate one slice; adopt what passes; write and return its outcome.

    When what landed unblocks more of the slice (a folder's files removed, so a link can take
    its place), the slice runs a second pass at once: it all lands in one ``doit``.
    """
    slice_ = find_slice(plan, name)
    started = time.monotonic()
    worktree.guard(cfg, ws)
    start = worktree.sync_tip(cfg)
    prepare = prepare or prepare_slice
    prepared = prepare(cfg, ws, mirror, slice_, drift, start)
    changes = {c.path: c for c in prepared.changes}
    importer.copy_objects(mirror, cfg.fork.path, [c.oid for c in prepared.changes if c.oid and c.mode != "160000"])
    earlier = _earlier(cfg, ws, name, prepared)
    validated_with = fingerprint(cfg, [f["path"] for f in slice_["files"]])
    # adopted by an earlier run with other checks (or failing its last re-check), or resolved by a person and
    # not yet checked: check again, once, where it is
    recheck_paths = sorted({*earlier["adopted"], *(p for p, _ in prepared.resolved)}) if not changes else []
    recheck = bool(recheck_paths) and (earlier["validated_with"] != validated_with or earlier["failed"]
                                       or bool(prepared.resolved))
    result, commit, error = None, None, None
    memo = Memo(ws)
    if changes or recheck:
        runner = runner or default_runner(cfg, ws)
        try:
            base_results = baseline(cfg, ws, slice_["wave"], plan["upstream"], runner, memo, run_id)
            validate = Validator(cfg, ws, name, start, changes, runner, memo, slice_dir(ws, name) / "logs" / run_id,
                                 baseline=base_results)
            if changes:
                groups, cut = group_atoms(slice_)
                result = isolate(sorted(changes), validate, groups=groups, refine=cut,
                                 waits=lambda atom: all(changes[f].mode is None for f in atom))
                if result.adopted:
                    commit = validate.candidate(result.adopted, commit_message(plan, slice_, result.adopted))
            else:
                result = as_recheck(validate.recheck(recheck_paths), recheck_paths)
                if result.deferred:  # still on the sync branch (see the rollback note), but no longer passing
                    earlier = {**earlier, "adopted": []}
        except CannotRun as exc:
            error, result, commit = str(exc), None, None
    outcome = build_outcome(plan, slice_, prepared, result, start, commit, time.monotonic() - started, earlier,
                            recheck=recheck and not changes, error=error)
    outcome |= {"validated_with": validated_with, "run": run_id,
                "inputs": inputs(cfg, plan, drift, [f["path"] for f in slice_["files"]], ws)}
    if commit:
        land(cfg, ws, f"slice-{name}", commit, start, f"forkwave: adopt {name}", {name: outcome})
    write_outcome(ws, name, outcome)
    if commit and not second_pass and any(importer.LATER in reason for _, reason in prepared.blocked):
        again = run_slice(cfg, ws, mirror, plan, drift, name, runner, run_id, second_pass=True, prepare=prepare)
        again["landed"] = sorted({*outcome["landed"], *again["landed"]})
        again["runs"] += outcome["runs"]
        write_outcome(ws, name, again)
        return again
    return outcome


def land(cfg: Config, ws: Workspace, key: str, commit: str, start: str, message: str,
         outcomes: Mapping[str, Mapping[str, Any]]) -> None:
    """Move the sync branch to ``commit`` (compare-and-swap from ``start``), written ahead with the
    outcome files the move means, so a kill right after it loses nothing."""
    journal.intend(ws, key, commit, outcomes)
    faults.point("before-move")
    worktree.move_sync(cfg, commit, start, message, ws)
    faults.point("after-move")
    for name, outcome in outcomes.items():
        write_outcome(ws, name, outcome)
    faults.point("after-outcome")
    journal.done(ws, key)


def reconcile(cfg: Config, ws: Workspace) -> list[str]:
    """Finish the record of a move an interrupted run made (or drop one it never made)."""
    return journal.reconcile(ws, lambda c: on_sync_branch(cfg, c), lambda n, o: write_outcome(ws, n, o))


def as_recheck(verdict: Verdict, paths: Sequence[str]) -> Isolated:
    from tasks.core.bisect import Attempt

    return Isolated(adopted=list(paths) if verdict.passed else [],
                    deferred=[] if verdict.passed else [(tuple(paths), verdict.detail)],
                    attempts=[Attempt(1, tuple(paths), 0, verdict.passed, detail=verdict.detail, ran=verdict.ran)])


def _earlier(cfg: Config, ws: Workspace, name: str, prepared: Prepared) -> dict[str, Any]:
    """What earlier runs of this slice adopted that is still on the sync branch (and with which checks)."""
    previous = load_outcome(ws, name)
    if previous is None:
        return {"adopted": [], "commits": [], "validated_with": None, "failed": False}
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
            f"\nUpstream-Revision: {plan['upstream']}\nForkwave-Slice: {slice_['name']}\n"
            + (f"Forkwave-Source: {slice_['source']}\n" if slice_.get("source") else ""))


# --- the outcome -------------------------------------------------------------------------

def status_of(*, error: bool, recheck_failed: bool, conflicts: bool, deferred: bool, adopted: bool,
              rolled_back: bool) -> str:
    """The slice's status; a conflict wins over a split (it needs a person either way).

    >>> status_of(error=False, recheck_failed=False, conflicts=True, deferred=True, adopted=True, rolled_back=False)
    'conflicted'
    """
    if error:
        return "error"
    if recheck_failed:
        return "failed"  # adopted before, fails the checks as they are now
    if conflicts:
        return "conflicted"
    if deferred:
        return "split" if adopted else "reverted"
    if adopted:
        return "adopted"
    return "rolled-back" if rolled_back else "empty"


def failing_of(detail: Any) -> list[Result]:
    return [r for r in detail or () if isinstance(r, Result) and not r.ok] if isinstance(detail, list) else []


NEXT_STEPS = {
    "secrets": "if this is not a credential, allow it (`secrets.allow` in forkwave.yaml, or `# pragma: allowlist "
               "secret` on the line upstream); a real credential must not be synced",
    "syntax": "the file does not parse as upstream ships it (after your rewrites): fix it upstream or commit a fixed "
              "version on the sync branch",
    "deny": "deny-listed: remove its pattern from `deny` to import it",
    "path-safety": "forkwave never writes an unsafe path; copy it by hand if you really want it",
}


def next_step(name: str, checks: Sequence[str], reason: str) -> str:
    if reason == WAITS:
        return "nothing yet: retried with everything deferred when the wave ends (and after later waves)"
    if reason == BUDGET:
        return f"not validated: run `doit validate:{name}` again, or lower `slices.max_files`"
    for check in checks:
        if check in NEXT_STEPS:
            return NEXT_STEPS[check]
    named = ", ".join(f"`{c}`" for c in checks) or "the checks"
    return (f"these files fail {named} on top of the sync branch: fix the cause upstream or commit a fix on the sync "
            f"branch (a person's commit there is respected), then run `doit validate:{name}`")


def why(r: Result) -> str:
    """``check: first error line (exit code N)``, or the check's own message when there is no output."""
    if not r.error:
        return f"{r.name}: {r.message}"
    code = re.match(r"exit code -?\d+", r.message)
    return f"{r.name}: {r.error}" + (f" ({code.group(0)})" if code else "")


def deferral(name: str, files: Sequence[str], detail: Any, recheck: bool) -> dict[str, Any]:
    failing = [narrow(r, files) for r in failing_of(detail)]
    if isinstance(detail, str):
        reason = detail
    else:
        reason = ("still on the sync branch, fails re-checking: " if recheck else "") + \
                 ("; ".join(why(r) for r in failing) or "failed")
    checks = [r.name for r in failing]
    first = failing[0] if failing else None
    out: dict[str, Any] = {
        "files": list(files), "reason": reason, "checks": checks,
        "output": "\n".join(filter(None, (first.stdout, first.stderr))) if first else "",
        "next": next_step(name, checks, reason)}
    tests = [{"id": t[0], "line": t[1]} for r in failing for t in r.tests]
    if tests:
        out["tests"] = tests
    if first and first.log:
        out["log"] = first.log
    return out


def build_outcome(plan: Mapping[str, Any], slice_: Mapping[str, Any], prepared: Prepared, result: Isolated | None,
                  start: str, commit: str | None, duration: float,
                  earlier: Mapping[str, Any] | None = None, recheck: bool = False,
                  error: str | None = None) -> dict[str, Any]:
    earlier = earlier or {"adopted": [], "commits": []}
    name = slice_["name"]
    classes = {f["path"]: f["class"] for f in slice_["files"]}
    attempts = []
    for a in result.attempts if result else ():
        attempts.append({"n": a.n, "files": list(a.files), "on_top_of": a.on_top_of, "passed": a.passed,
                         "inferred": a.inferred, "ran": a.ran,
                         "results": [] if a.inferred else [r.to_json() | {"stdout": r.stdout, "stderr": r.stderr}
                                                           for r in a.detail or ()]})
    deferred = [deferral(name, files, detail, recheck) for files, detail in (result.deferred if result else ())]
    for path, reason in prepared.blocked:
        deferred.append({"files": [path], "reason": f"blocked: {reason}", "checks": ["path-safety"], "output": "",
                         "next": NEXT_STEPS["path-safety"]})
    landed = sorted(result.adopted) if result and not recheck else []
    adopted = sorted({*earlier["adopted"], *(result.adopted if result else ())})
    conflicts = [{"path": p, "reason": r, "next": resolve_step(name, p, r)}
                 | ({"file": f"conflicts/{p}"} if r == "3-way merge conflict" else {})
                 for p, r in prepared.conflicts]
    outcome = {
        "slice": name, "wave": slice_["wave"], **({"source": slice_["source"]} if slice_.get("source") else {}),
        "upstream": plan["upstream"],
        "status": status_of(error=error is not None, recheck_failed=recheck and bool(result and result.deferred),
                            conflicts=bool(conflicts), deferred=bool(deferred),
                            adopted=bool(adopted) or bool(prepared.resolved), rolled_back=bool(prepared.rolled_back)),
        "parent": start, "commit": commit, "verified_at": commit or start,
        "commits": [*earlier["commits"], *([commit] if commit else [])],
        "files": [{"path": f["path"], "class": f["class"], "bucket": f.get("bucket")} for f in
                  sorted(slice_["files"], key=lambda f: f["path"])],
        "adopted": adopted,
        "landed": landed,
        "removed": sorted(p for p in adopted if classes.get(p) in importer.DELETE_CLASSES),
        "deferred": deferred,
        "conflicts": conflicts,
        "resolved": [{"path": p, "commit": c, "by": "a person"} for p, c in prepared.resolved],
        "rolled_back": [{"path": p, "commit": c} for p, c in prepared.rolled_back],
        "reported": [{"path": p, "reason": r} for p, r in prepared.reported],
        "applied_before": list(prepared.applied),
        "groups_split": [list(g) for g in (result.split_groups if result else ())],
        "runs": result.runs if result else 0,
        "attempts": attempts,
        "duration": round(duration, 3),
    }
    if error:
        outcome["error"] = error
    return outcome


def resolve_step(name: str, path: str, reason: str) -> str:
    if reason == "3-way merge conflict":
        return (f"edit reports/slices/{name}/conflicts/{path} and run `doit resolve:{name}`, or commit your "
                f"resolution of {path} on the sync branch from any checkout; the next `doit` validates it")
    if reason.startswith("conflict markers"):
        return f"remove the conflict markers from {path} on the sync branch and commit; then run `doit`"
    return (f"keep one side with `doit resolve:{name} path={path} take=fork` (or `take=upstream`), or commit your "
            f"own version of {path} on the sync branch from any checkout; the next `doit` validates it")


# --- up to date ---------------------------------------------------------------------

