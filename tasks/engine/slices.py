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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.gates import narrow
from checks.model import Result
from tasks.config import Config
from tasks.core import coupling
from tasks.core.bisect import BUDGET, WAITS, Atom, Result as Isolated, Verdict
from tasks.core.drift import Drift
from tasks.core.outcome import Attempt, Conflict, Deferral, Outcome, status_of
from tasks.core.plan import Plan, Slice, again
from tasks.engine import journal
from tasks.engine.pipeline import files_of, write_outcome
from tasks.engine.status import on_sync_branch, readopted, slice_dir, sync_view
from tasks.repo import git, history, importer, merge
from tasks.repo.importer import Prepared, Touch
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed


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

def prepare_slice(cfg: Config, ws: Workspace, mirror: Path, slice_: Slice, drift: Drift, tip: str,
                  save: bool = True) -> Prepared:
    """The slice's changes on ``tip``: upstream's blobs, clean 3-way merges, deletions — and what conflicts,
    is blocked, or a person already settled there."""
    entries = drift.entries
    paths = slice_.paths
    links = [entries[p]["upstream"].split(" ")[1] for p in paths
             if (entries[p]["upstream"] or "").startswith("120000 ")]
    both = [f.path for f in slice_.files
            if f.cls == "both-changed" and importer.check_path(f.path) is None]  # git cannot take the others
    tree, targets = importer.read_tip(cfg.fork.path, mirror, tip, links)  # links are judged in the whole tree
    hist = sync_view(cfg)
    touched = touched_paths(cfg, hist, paths, tree)
    mine = {p for p, t in touched.items() if not t.automatic}  # a person's version on the branch is theirs: no replay
    merges = merge.merge_paths(mirror, cfg.fork.path, entries, both, cfg.policy,
                               replay=[p for p in both if p not in mine]) if both else {}
    prepared = importer.prepare([f.to_json() for f in slice_.files], entries, tree, targets, merges, cfg.deletions,
                                cfg.is_denied, touched, history.rollbacks(hist, readopted(ws)))
    if save:  # a copy to edit only for what is still conflicted: a conflict a person resolved has none
        open_ = {p for p, _ in prepared.conflicts}
        save_conflicts(ws, slice_.name, {p: m for p, m in merges.items() if p in open_},
                       resolved=[p for p, _ in prepared.resolved])
    return with_policy(prepared, merges)


def with_policy(prepared: Prepared, merges: Mapping[str, merge.Merge]) -> Prepared:
    """A merge that a ``policy:`` rule settled is reported as such (``regenerate``: a check must rebuild it), and
    one settled as a person resolved the same conflict before."""
    from dataclasses import replace

    from tasks.repo.policy import REGENERATE
    from tasks.repo.resolutions import REPLAYED

    taken = [(m.path, REGENERATE if m.reason.endswith("regenerate") else f"{m.reason} for its conflicting hunks")
             for m in merges.values() if m.clean and m.reason.startswith("policy take:")]
    taken += [(m.path, m.reason) for m in merges.values() if m.clean and m.reason.startswith(REPLAYED)]
    return replace(prepared, reported=(*prepared.reported, *taken)) if taken else prepared


def conflicts_dir(ws: Workspace, name: str) -> Path:
    return slice_dir(ws, name) / "conflicts"


def _sha(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def save_conflicts(ws: Workspace, name: str, texts: Mapping[str, bytes | None] | Mapping[str, merge.Merge],
                   resolved: Sequence[str] = ()) -> None:
    """Each conflict as a diff3-style file for a person, at the file's path (``texts``: path -> text, or the
    slice's merges). A file a person has started editing (its bytes are not what forkwave wrote) is left as it is;
    one whose conflict is gone is removed — an edited one too when the slice found the conflict ``resolved`` on
    the sync branch (the resolution committed there is what counts; the line printed names what went)."""
    for path in resolved:
        copy = conflicts_dir(ws, name) / path
        if copy.is_file() and path not in texts:
            if _edited_copy(ws, name, path):
                print(f"{name}: {path} is resolved on the sync branch; your unfinished edit of its conflict copy "
                      f"({ws.rel(copy)}) is removed", flush=True)
            drop_conflict_file(ws, name, path)
    chosen = {p: (t.conflict if isinstance(t, merge.Merge) else t) for p, t in texts.items()}
    wanted = {p: t for p, t in chosen.items() if t is not None and importer.check_path(p) is None}
    root = conflicts_dir(ws, name)
    written_path = root.parent / "conflicts.json"
    written = read_json(written_path) if written_path.exists() else {}
    edited = {p for p, sha in written.items() if (root / p).is_file() and _sha((root / p).read_bytes()) != sha}
    moved = adopt_edits(ws, name, [p for p in wanted if p not in edited])
    written |= moved
    edited |= set(moved)
    if root.exists():
        for found in sorted(root.rglob("*"), reverse=True):
            rel = str(found.relative_to(root))
            if found.is_file() and rel not in wanted and rel not in edited:
                found.unlink()
            elif found.is_dir() and not any(found.iterdir()):
                found.rmdir()
    record = {}
    for p, text in sorted(wanted.items()):
        if p in edited:
            record[p] = written[p]
            continue
        target = root / p
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text)
        record[p] = _sha(text)
    # an edit of a conflict this slice no longer has stays recorded: the slice that has it now takes it over
    record |= {p: written[p] for p in sorted(edited - set(wanted))}
    if record or written_path.exists():
        write_if_changed(written_path, dump_json(record))


def adopt_edits(ws: Workspace, name: str, paths: Sequence[str]) -> dict[str, str]:
    """A person's edited conflict file that another slice wrote follows its path to slice ``name``.

    Slices are numbered in plan order, so a new plan (another ``batch_size=``, new upstream commits) may
    put a conflicted path in a slice of another name; the edit a person began under the old name is
    moved here, whole, and is never left behind or written over. Returns path -> the sha forkwave wrote
    (so the moved file still counts as edited).
    """
    moved: dict[str, str] = {}
    if not paths:
        return moved
    for record_path in sorted((ws.reports / "slices").glob("*/conflicts.json")):
        other = record_path.parent.name
        if other == name:
            continue
        record = read_json(record_path)
        for p in [p for p in paths if p in record and p not in moved]:
            source = record_path.parent / "conflicts" / p
            if not source.is_file() or _sha(source.read_bytes()) == record[p]:
                continue  # not edited: this slice writes its own copy
            target = conflicts_dir(ws, name) / p
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
            moved[p] = record.pop(p)
            write_if_changed(record_path, dump_json(record))
            print(f"{name}: your edit of {p} (begun as {other}'s conflict) moved to "
                  f"{ws.rel(target)}; resolve it with `doit resolve:{name}`", flush=True)
    return moved


def drop_conflict_file(ws: Workspace, name: str, path: str) -> None:
    """A conflict a person resolved: its copy for editing goes (an edited one too: it is committed now), and the
    folders it leaves empty."""
    root = conflicts_dir(ws, name)
    (root / path).unlink(missing_ok=True)
    folder = (root / path).parent
    while folder != root.parent and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
    record_path = root.parent / "conflicts.json"
    if record_path.exists():
        record = read_json(record_path)
        record.pop(path, None)
        write_if_changed(record_path, dump_json(record))


def _edited_copy(ws: Workspace, name: str, path: str) -> bool:
    """Is the conflict copy of ``path`` no longer what forkwave wrote (a person began editing it)?"""
    root = conflicts_dir(ws, name)
    record_path = root.parent / "conflicts.json"
    written = read_json(record_path).get(path) if record_path.exists() else None
    return (root / path).is_file() and _sha((root / path).read_bytes()) != written


# --- one slice ---------------------------------------------------------------------------

def group_atoms(slice_: Slice) -> tuple[list[tuple[str, ...]], Callable[[Atom], list[Atom]]]:
    """The slice's coupled groups (from the plan), and how a failing one may be cut as a last resort:
    first along its links other than shared commits (a module stays with its test), then into
    single files — but a manifest and its lockfile never part."""
    plain = slice_.to_json()
    groups = [g for g in coupling.slice_groups(plain) if len(g) > 1]
    finer = coupling.slice_groups(plain, kinds=("lockfile", "test", "couple"))
    locked = coupling.slice_groups(plain, kinds=("lockfile",))
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


def reconcile(cfg: Config, ws: Workspace) -> list[str]:
    """Finish the record of a move an interrupted run made (or drop one it never made)."""
    return journal.reconcile(ws, lambda c: on_sync_branch(cfg, c),
                             lambda n, o: write_outcome(ws, Outcome.from_json(o)))


def as_recheck(verdict: Verdict, paths: Sequence[str]) -> Isolated:
    from tasks.core.bisect import Attempt as Tried

    return Isolated(adopted=list(paths) if verdict.passed else [],
                    deferred=[] if verdict.passed else [(tuple(paths), verdict.detail)],
                    attempts=[Tried(1, tuple(paths), 0, verdict.passed, detail=verdict.detail, ran=verdict.ran)])


def earlier_adopted(cfg: Config, previous: Outcome | None, prepared: Prepared) -> dict[str, Any]:
    """What earlier runs of this slice adopted that is still on the sync branch (and with which checks)."""
    if previous is None:
        return {"adopted": [], "commits": [], "validated_with": None, "failed": False}
    commits = [c for c in previous.commits if on_sync_branch(cfg, c)]
    adopted = set(previous.adopted)
    failed = str(previous.status) == "failed"
    if failed:  # adopted before, then failed a re-check: its files are still on the sync branch
        adopted.update(f for d in previous.deferred for f in d.files)
    adopted_now = sorted(adopted & set(prepared.applied)) if commits else []
    return {"adopted": adopted_now, "commits": commits, "validated_with": previous.validated_with, "failed": failed}


def commit_message(plan: Plan, slice_: Slice, adopted: Sequence[str]) -> str:
    total = len(slice_.files)
    head = f"forkwave: adopt {slice_.name} of wave {slice_.wave} ({len(adopted)} of {total} files)"
    return (f"{head}\n\n" + "".join(f"- {p}\n" for p in sorted(adopted)[:50]) +
            (f"- ... and {len(adopted) - 50} more\n" if len(adopted) > 50 else "") +
            f"\nUpstream-Revision: {plan.revision(slice_)}\nForkwave-Slice: {slice_.name}\n"
            + (f"Forkwave-Source: {slice_.source}\n" if slice_.source else ""))


# --- the outcome -------------------------------------------------------------------------

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


def next_step(rerun: str, checks: Sequence[str], reason: str) -> str:
    """What a person does about a deferral; ``rerun`` is the command that judges the files again."""
    if reason == WAITS:
        return "nothing yet: retried with everything deferred when the wave ends (and after later waves)"
    if reason == BUDGET:
        return f"not validated: run `{rerun}` again, or lower `slices.max_files`"
    for check in checks:
        if check in NEXT_STEPS:
            return NEXT_STEPS[check]
    named = ", ".join(f"`{c}`" for c in checks) or "the checks"
    return (f"these files fail {named} on top of the sync branch: fix the cause upstream or commit a fix on the sync "
            f"branch (a person's commit there is respected), then run `{rerun}`")


def why(r: Result) -> str:
    """``check: first error line (exit code N)``, or the check's own message when there is no output."""
    if not r.error:
        return f"{r.name}: {r.message}"
    code = re.match(r"exit code -?\d+", r.message)
    return f"{r.name}: {r.error}" + (f" ({code.group(0)})" if code else "")


def deferral(name: str, files: Sequence[str], detail: Any, recheck: bool = False, rerun: str | None = None) -> Deferral:
    """Files judged and refused, why, and what to do; ``rerun`` (default ``doit validate:<name>``) judges them again."""
    failing = [narrow(r, files) for r in failing_of(detail)]
    if isinstance(detail, str):
        reason = detail
    else:
        reason = ("still on the sync branch, fails re-checking: " if recheck else "") + \
                 ("; ".join(why(r) for r in failing) or "failed")
    checks = tuple(r.name for r in failing)
    first = failing[0] if failing else None
    return Deferral(tuple(files), reason, next_step(rerun or again(name), checks, reason), checks,
                    "\n".join(filter(None, (first.stdout, first.stderr))) if first else "",
                    tuple({"id": t[0], "line": t[1]} for r in failing for t in r.tests),
                    first.log if first and first.log else None)


def attempts_of(result: Isolated | None) -> tuple[Attempt, ...]:
    return tuple(Attempt(a.n, tuple(a.files), a.on_top_of, a.passed, a.inferred, a.ran,  # type: ignore[arg-type]
                         () if a.inferred else tuple(r.to_json() | {"stdout": r.stdout, "stderr": r.stderr}
                                                     for r in a.detail or ()))
                 for a in (result.attempts if result else ()))


def build_outcome(plan: Plan, slice_: Slice, prepared: Prepared, result: Isolated | None, start: str,
                  commit: str | None, earlier: Mapping[str, Any] | None = None, recheck: bool = False,
                  error: str | None = None) -> Outcome:
    earlier = earlier or {"adopted": [], "commits": []}
    name = slice_.name
    classes = {f.path: f.cls for f in slice_.files}
    deferred = [deferral(name, files, detail, recheck, plan.again(name))
                for files, detail in (result.deferred if result else ())]
    deferred += [Deferral((path,), f"blocked: {reason}", NEXT_STEPS["path-safety"], ("path-safety",))
                 for path, reason in prepared.blocked]
    landed = sorted(result.adopted) if result and not recheck else []
    adopted = sorted({*earlier["adopted"], *(result.adopted if result else ())})
    conflicts = [Conflict(p, r, resolve_step(name, p, r), f"conflicts/{p}" if r == "3-way merge conflict" else None)
                 for p, r in prepared.conflicts]
    status = status_of(error=error is not None, recheck_failed=recheck and bool(result and result.deferred),
                       conflicts=bool(conflicts), deferred=bool(deferred),
                       adopted=bool(adopted) or bool(prepared.resolved), rolled_back=bool(prepared.rolled_back))
    return Outcome(
        name, slice_.wave, plan.revision(slice_), status, start, mode="snapshot", source=slice_.source,
        commit=commit, verified_at=commit or start, commits=(*earlier["commits"], *([commit] if commit else [])),
        files=files_of(slice_), adopted=tuple(adopted), landed=tuple(landed),
        removed=tuple(sorted(p for p in adopted if classes.get(p) in importer.DELETE_CLASSES)),
        deferred=tuple(deferred), conflicts=tuple(conflicts),
        resolved=tuple({"path": p, "commit": c, "by": "a person"} for p, c in prepared.resolved),
        rolled_back=tuple({"path": p, "commit": c} for p, c in prepared.rolled_back),
        reported=tuple({"path": p, "reason": r} for p, r in prepared.reported),
        applied_before=tuple(prepared.applied),
        groups_split=tuple(tuple(g) for g in (result.split_groups if result else ())),
        runs=result.runs if result else 0, attempts=attempts_of(result), error=error)


def resolve_step(name: str, path: str, reason: str) -> str:
    if reason == "3-way merge conflict":
        return (f"edit reports/slices/{name}/conflicts/{path} and run `doit resolve:{name}`, or commit your "
                f"resolution of {path} on the sync branch from any checkout; the next `doit` validates it")
    if reason.startswith("conflict markers"):
        return f"remove the conflict markers from {path} on the sync branch and commit; then run `doit`"
    return (f"keep one side with `doit resolve:{name} path={path} take=fork` (or `take=upstream`), or commit your "
            f"own version of {path} on the sync branch from any checkout; the next `doit` validates it")
