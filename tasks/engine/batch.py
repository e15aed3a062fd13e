"""Batch first: everything a run would land on one sync branch, judged at once before any slice.

Merge queues (bors, Zuul, Mergify) validate the batch and split only when it fails. forkwave does
the same with a run's file slices: every slice of the waves the run reaches is prepared on the sync
tip, and the union of their changes is judged **once** (the baseline first). When it passes, every
slice still lands as its own commit, wave by wave — the playbook's order and traceability — with no
check of its own: the batch's verdict is theirs, and the tip the last wave leaves is the tree the
batch judged. When it fails, the search runs over the whole batch (``core.bisect.isolate``, atoms
from every slice's coupled groups, suspects from the failing tests first), so a wave is judged
together with the parts of later waves it only works with, and a culprit costs a bisection over
the batch instead of one over each slice. Either way each slice's outcome says it was validated in
the batch and links the record, ``reports/batch.json`` (and ``batch/report.md``).

Only file slices take part (a commit slice judges its whole range or chain first on its own), and
only when every slice on the branch in the run's scope is one: a merge landing between two batch
slices would make the last tip a tree the batch never judged. A slice whose sync tip moved by
anything but this batch's own slices (a person's commit) is judged on its own, as before.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from checks.model import Runner
from tasks.config import Config
from tasks.core import bisect, coupling
from tasks.core.bisect import WAITS, Atom, isolate
from tasks.core.drift import Drift
from tasks.core.plan import Plan, Slice
from tasks.engine import fanout
from tasks.engine import suspects as guided
from tasks.engine.memo import Memo
from tasks.engine.slices import deferral, group_atoms, prepare_slice, refine
from tasks.engine import bench as benches
from tasks.engine.validate import Validator, default_runner, fingerprint, lazy_baseline
from tasks.hashing import digest
from tasks.repo import git, importer, worktree
from tasks.repo.importer import Change, Prepared
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

RECORD = "batch.json"


@dataclass(frozen=True)
class Member:
    """One slice of the batch, as its source sees it."""

    cfg: Config
    mirror: Path
    plan: Plan
    drift: Drift
    slice: Slice


def record_path(ws: Workspace) -> Path:
    return ws.report(RECORD)


def read(ws: Workspace) -> dict[str, Any] | None:
    path = record_path(ws)
    return read_json(path) if path.exists() else None


def entry(c: Change) -> str | None:
    """A change as the record keeps it: ``mode oid``, or None for a deletion."""
    return None if c.mode is None else f"{c.mode} {c.oid}"


# --- the batch -------------------------------------------------------------------------------------

def run(cfg: Config, ws: Workspace, members: Sequence[Member], run_id: str = "run",
        runner: Runner | None = None, last: bool = True, fanout: bool = False) -> dict[str, Any]:
    """Judge the union of the members' changes on the sync tip once; search it only when it fails.

    Returns the record (also written to ``reports/batch.json``); a record with the same key is
    returned as it is, running nothing. ``last``: the batch reaches the plan's last wave, so an upstream
    deletion has nothing later to wait for. ``fanout``: a CI matrix job judging one source's slices, whose
    record (``tasks.engine.fanout``) the final job reads; when every source of the batch has one that
    judged what this batch holds on this start, each source's search is asked again first (``by_source``).
    """
    started = time.monotonic()
    worktree.guard(cfg, ws)
    start = worktree.sync_tip(cfg)
    prepared = {m.slice.name: prepare_slice(m.cfg, ws, m.mirror, m.slice, m.drift, start, save=False)
                for m in members}
    changes = {c.path: c for p in prepared.values() for c in p.changes}
    owner = {c.path: name for name, p in prepared.items() for c in p.changes}
    key = batch_key(cfg, start, members, changes)
    earlier = read(ws)
    if earlier is not None and (earlier.get("key") == key or still_holds(cfg, earlier, members, start, changes)):
        return earlier
    for m in members:
        importer.copy_objects(m.mirror, cfg.fork.path, [c.oid for c in prepared[m.slice.name].changes
                                                         if c.oid and c.mode != "160000"])
    record: dict[str, Any] = {"key": key, "run": run_id, "start": start, "scope": [m.slice.name for m in members],
                              "checks": checks_of(cfg, changes),
                              "waves": sorted({m.slice.wave for m in members}), "files": len(changes)}
    if not changes:
        return _write(ws, record | {"passed": True, "adopted": {}, "deferred": [], "runs": 0, "attempts": [],
                                    "duration": round(time.monotonic() - started, 3)})
    runner = runner or default_runner(cfg, ws)
    memo = Memo(ws)
    first_wave = min((m.slice.wave for m in members), key=lambda w: [x.name for x in cfg.waves].index(w))
    print(f"batch: {len(changes)} change(s) of {len(members)} slice(s) in wave(s) {', '.join(record['waves'])}, "
          f"judged together on {cfg.fork.sync_branch} at {start[:12]} ...", flush=True)
    bench = benches.make(runner, [c.kind for c in cfg.checks])   # several slots: candidates side by side
    try:
        base = lazy_baseline(bench, cfg, ws, first_wave, members[0].plan.upstream, runner, memo, run_id)
        validate = Validator(cfg, ws, "batch", start, changes, runner, memo, ws.reports / "batch" / "logs" / run_id,
                             baseline=base, bench=bench)
        fanned = judged_apart(cfg, ws, members, start, changes, owner)
        if fanned:
            print(f"batch: {', '.join(fanned)} judged on runners of their own (reports/fanout/): each one's search "
                  "asked again from the memo, then what they adopted judged together", flush=True)
            result = by_source(cfg, validate, members, prepared, changes, owner, fanned, bench is not None, last)
        else:
            groups, cut, waits = atoms_of(members, prepared, changes)
            result = isolate(sorted(changes), validate, groups=groups, refine=cut,
                             waits=(lambda atom: False) if last else waits,
                             suspects=guided.suspects(cfg.fork.path, changes), slots=validate if bench else None)
    except BaseException:  # Ctrl-C or an error: nothing judged beside the batch may outlive it
        if bench is not None:
            bench.close(abort=True)
        raise
    if bench is not None:
        bench.close()
    adopted = {p: entry(changes[p]) for p in result.adopted}
    tree = importer.build_tree(cfg.fork.path, start, [changes[p] for p in sorted(result.adopted)])
    record |= {"passed": not result.deferred, "tree": tree, "adopted": adopted,
               "deferred_entries": {f: entry(changes[f]) for files, _ in result.deferred for f in files},
               "groups_split": [list(g) for g in result.split_groups],
               "deferred": [deferral(owner[files[0]], files, detail,
                                     rerun=members[0].plan.again(owner[files[0]])).to_json()
                            | {"slice": owner[files[0]]}
                            for files, detail in result.deferred],
               "runs": result.runs, "attempts": [{"n": a.n, "files": len(a.files), "passed": a.passed,
                                                 "inferred": a.inferred, "ran": a.ran} for a in result.attempts],
               "engines": engine_notes(result),
               "duration": round(time.monotonic() - started, 3)}
    print(f"batch: {'passed' if record['passed'] else 'split'} — {len(adopted)} of {len(changes)} change(s) pass "
          f"together, {sum(len(d['files']) for d in record['deferred'])} deferred; {result.runs} run(s) "
          "(reports/batch.json)", flush=True)
    if fanout:
        leave_for_final_job(ws, members, record, last)
    return _write(ws, record)


# --- a CI matrix: each source judged on a runner of its own ------------------------------------------

def leave_for_final_job(ws: Workspace, members: Sequence[Member], record: Mapping[str, Any], last: bool) -> None:
    """A matrix job's batch of one source: its record for the final job (``reports/fanout/<source>.json``)."""
    sources = sorted({m.slice.source or "upstream" for m in members})
    if len(sources) != 1:
        print(f"batch: fanout=1 judges one source a job; this batch holds {', '.join(sources)}: no record left")
        return
    fanout.write(ws, sources[0], {"source": sources[0], "key": record["key"], "start": record["start"],
                                  "last": last, "adopted": len(record["adopted"]),
                                  "deferred": len(record["deferred"]), "runs": record["runs"]})


def _sources(members: Sequence[Member]) -> list[str]:
    return list(dict.fromkeys(m.slice.source or "upstream" for m in members))


def judged_apart(cfg: Config, ws: Workspace, members: Sequence[Member], start: str,
                 changes: Mapping[str, Change], owner: Mapping[str, str]) -> list[str]:
    """The sources of a batch of several whose matrix jobs each judged exactly their part of it on this start
    (their records' keys are the batch key of that part); [] unless every source with changes has one."""
    sources = _sources(members)
    if len(sources) < 2:
        return []
    judged = []
    for source in sources:
        part = [m for m in members if (m.slice.source or "upstream") == source]
        mine = {p: c for p, c in changes.items() if owner[p] in {m.slice.name for m in part}}
        if not mine:
            continue
        rec = fanout.read(ws, source)
        if rec is None or rec.get("start") != start or rec.get("key") != batch_key(cfg, start, part, mine):
            return []
        judged.append(source)
    return judged if len(judged) > 1 else []


def by_source(cfg: Config, validate: Validator, members: Sequence[Member], prepared: Mapping[str, Prepared],
              changes: Mapping[str, Change], owner: Mapping[str, str], sources: Sequence[str], slots: bool,
              last: bool) -> bisect.Result:
    """Each source's search as its matrix job made it (the same changes, atoms, suspects and ``last``: the
    same questions, answered by the memo), then the union of what they adopted judged once; a union that
    fails is searched like any batch (new trees only). Attempts are numbered one after the other."""
    total, adopted = bisect.Result(), []
    for source in sources:
        part = [m for m in members if (m.slice.source or "upstream") == source]
        mine = {p: c for p, c in changes.items() if owner[p] in {m.slice.name for m in part}}
        rec = fanout.read(ws_of(validate), source) or {}
        groups, cut, waits = atoms_of(part, prepared, mine)
        found = isolate(sorted(mine), numbered(validate, len(total.attempts)), groups=groups, refine=cut,
                        waits=(lambda atom: False) if rec.get("last", last) else waits,
                        suspects=guided.suspects(cfg.fork.path, mine), slots=validate if slots else None)
        _add(total, found, len(total.attempts))
        adopted += found.adopted
    if len({owner_source(owner, members, p) for p in adopted}) < 2:   # one source's set: its search judged it whole
        total.adopted = adopted
        return total
    n = len(total.attempts) + 1
    union = validate((), sorted(adopted), n)
    total.attempts.append(bisect.Attempt(n, tuple(sorted(adopted)), 0, union.passed, detail=union.detail,
                                         ran=union.ran))
    if union.passed:
        total.adopted = adopted
        return total
    groups, cut, waits = atoms_of(members, prepared, {p: changes[p] for p in adopted})
    found = isolate(sorted(adopted), numbered(validate, n), first=union, groups=groups, refine=cut,
                    waits=(lambda atom: False) if last else waits, suspects=guided.suspects(cfg.fork.path, changes),
                    slots=validate if slots else None)
    _add(total, found, n)
    total.adopted = found.adopted
    return total


def ws_of(validate: Validator) -> Workspace:
    return validate.ws


def owner_source(owner: Mapping[str, str], members: Sequence[Member], path: str) -> str:
    return next(m.slice.source or "upstream" for m in members if m.slice.name == owner[path])


def numbered(validate: Validator, offset: int) -> bisect.Validate:
    """``validate`` with attempt numbers after the ``offset`` ones already made."""
    return lambda adopted, part, n: validate(adopted, part, n + offset)


def _add(total: bisect.Result, found: bisect.Result, offset: int) -> None:
    total.attempts += [replace(a, n=a.n + offset) for a in found.attempts]
    total.deferred += found.deferred
    total.split_groups += found.split_groups


def engine_notes(result: bisect.Result) -> list[str]:
    """The batch's checks that ran again on another Docker engine because theirs failed (``Result.rerun``)."""
    return list(dict.fromkeys(f"attempt {a.n}, check `{r.name}`: {r.rerun}" for a in result.attempts
                              if not a.inferred and isinstance(a.detail, list)
                              for r in a.detail if getattr(r, "rerun", "")))


def still_holds(cfg: Config, record: Mapping[str, Any], members: Sequence[Member], start: str,
                changes: Mapping[str, Change]) -> bool:
    """The record still decides for this run: the same slices and checks, the sync branch moved only by them,
    and every change left is one it judged as it is now (what it adopted has landed; what it deferred is
    deferred the same): a run with nothing new runs no check."""
    if [m.slice.name for m in members] != record.get("scope") or record.get("checks") != checks_of(cfg, changes):
        return False
    if not all(applies(cfg, record, m.slice.name, start) for m in members):
        return False
    return not share(record, changes).unjudged


def checks_of(cfg: Config, changes: Mapping[str, Change]) -> str:
    return fingerprint(cfg, sorted(changes))


def _write(ws: Workspace, record: dict[str, Any]) -> dict[str, Any]:
    write_if_changed(record_path(ws), dump_json(record))
    return record


def batch_key(cfg: Config, start: str, members: Sequence[Member], changes: Mapping[str, Change]) -> str:
    """What the batch's verdict depends on: where it starts, what it holds, and the checks that judge it."""
    return digest({"start": git.tree_of(cfg.fork.path, start), "scope": [m.slice.name for m in members],
                   "changes": {p: entry(c) for p, c in sorted(changes.items())},
                   "checks": fingerprint(cfg, sorted(changes))})


def atoms_of(members: Sequence[Member], prepared: Mapping[str, Prepared], changes: Mapping[str, Change]
             ) -> tuple[list[list[str]], Callable[[Atom], list[Atom]], Callable[[Atom], bool]]:
    """Every slice's coupled groups as the batch's atoms, how a failing one may be cut, and which wait (an
    upstream deletion only lands once what still uses it is gone)."""
    groups = [list(g) for m in members for g in group_atoms(m.slice)[0]]
    finer = [p for m in members for p in coupling.slice_groups(m.slice.to_json(), kinds=("lockfile", "test", "couple"))]
    locked = [p for m in members for p in coupling.slice_groups(m.slice.to_json(), kinds=("lockfile",))]
    return (groups, lambda atom: refine(atom, finer, locked),
            lambda atom: all(changes[f].mode is None for f in atom))


# --- a slice of the batch --------------------------------------------------------------------------

BATCH_COMMITS = ("Forkwave-Slice", "Forkwave-State")   # what may move the sync branch between batch slices


def applies(cfg: Config, record: Mapping[str, Any] | None, name: str, tip: str) -> bool:
    """Does the batch's verdict stand for slice ``name`` landing on ``tip``? Only when the sync branch moved
    since the batch's start by nothing but the batch's own slices (and wave records)."""
    if not record or name not in record.get("scope", ()) or "adopted" not in record:
        return False
    start = record["start"]
    if tip == start:
        return True
    out = git.git(cfg.fork.path, "log", "--format=%H%x00%B%x00", "--ancestry-path", f"{start}..{tip}", check=False)
    fields = out.decode("utf-8", "replace").split("\0")
    messages = fields[1::2]
    if not git.resolve_many(cfg.fork.path, [f"{start}^{{commit}}"])[0] or not messages:
        return False
    scope = set(record["scope"])
    for message in messages:
        trailers = dict(line.split(": ", 1) for line in message.splitlines() if ": " in line)
        slice_ = trailers.get("Forkwave-Slice")
        if slice_ is None and "Forkwave-State" not in trailers:
            return False
        if slice_ is not None and slice_ not in scope:
            return False
    return True


@dataclass(frozen=True)
class Share:
    """What the batch decided for one slice's changes."""

    adopted: list[str]
    deferred: list[tuple[tuple[str, ...], Any]]
    unjudged: list[str]      # changes the batch did not hold as they are now: the slice judges them itself
    split: list[tuple[str, ...]]   # coupled groups of the slice the batch's search cut, as a last resort


def share(record: Mapping[str, Any], changes: Mapping[str, Change]) -> Share:
    """Split a slice's changes (prepared on its own tip) by the batch's verdict."""
    adopted, unjudged = [], []
    refused = record.get("deferred_entries") or {}
    for path, change in sorted(changes.items()):
        if path in record["adopted"] and record["adopted"][path] == entry(change):
            adopted.append(path)
        elif path not in refused or refused[path] != entry(change):  # not judged as it is now
            unjudged.append(path)
    deferred = []
    for d in record.get("deferred", ()):
        mine = tuple(f for f in d["files"] if f in changes and f not in unjudged)
        if mine:
            deferred.append((mine, d["reason"] if d["reason"] in (WAITS, bisect.BUDGET) else d))
    split = [tuple(g) for g in record.get("groups_split", ()) if set(g) & set(changes)]
    return Share(adopted, deferred, unjudged, split)
