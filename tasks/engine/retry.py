"""The joint retry: when a wave ends, everything deferred so far is validated again, together.

Files often fail alone and pass together — a module and the old test a later wave
deletes, a deletion whose last importer goes in the next wave. So when a wave ends, every
file deferred by its slices and by earlier waves' is validated again as one part on top of
the new sync tip: one run; if it passes it all lands, else ``isolate`` searches for the
parts that pass. What lands is one commit (``Forkwave-Retry``), and each slice's outcome
moves those files from deferred to adopted. The retry records its inputs: with nothing
changed, the next run does not retry again.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.model import Runner
from tasks.config import Config
from tasks.core import coupling
from tasks.core.bisect import WAITS, isolate
from tasks.core.drift import Drift
from tasks.core.outcome import Deferral, Outcome, status_of
from tasks.core.plan import Plan, Slice
from tasks.engine.memo import Memo
from tasks.engine.pipeline import land, write_outcome
from tasks.engine.slices import deferral, group_atoms, prepare_slice, refine
from tasks.engine.status import read_outcome, readopted, sync_view
from tasks.engine import bench as benches
from tasks.engine.validate import Validator, default_runner, fingerprint, lazy_baseline
from tasks.errors import CannotRun
from tasks.hashing import digest
from tasks.repo import history, importer, worktree
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed


def record_path(ws: Workspace, wave: str, source: str | None = None) -> Path:
    return ws.reports / f"wave-{wave}" / (f"retry-{source}.json" if source else "retry.json")


def waves_so_far(plan: Plan, wave: str) -> list[str]:
    names = [w for w, _ in plan.waves]
    return names[: names.index(wave) + 1] if wave in names else []


def retryable(d: Deferral) -> bool:
    """Deferred because checks failed — not an unsafe path or a gate that named the file, and not refused by
    the run's batch, which judged it with everything else the run lands (unless it waits for later work)."""
    if d.extra.get("batch") and d.reason != WAITS:
        return False
    return "path-safety" not in d.checks and not d.reason.startswith("blocked:")


def deferred_so_far(ws: Workspace, plan: Plan, wave: str, source: str | None = None) -> dict[str, list[list[str]]]:
    """slice -> its retryable deferred sets, for every slice of ``wave`` and the waves before it
    (with several sources: ``source``'s slices only)."""
    out: dict[str, list[list[str]]] = {}
    for w, names in plan.waves:
        if w not in waves_so_far(plan, wave):
            continue
        for name in names:
            if source is not None and plan.slice(name).source != source:
                continue
            outcome = read_outcome(ws, name)
            if outcome and str(outcome.status) != "error":
                sets = [list(d.files) for d in outcome.deferred if retryable(d)]
                if sets:
                    out[name] = sets
    return out


def key(cfg: Config, ws: Workspace, plan: Plan, drift: Drift, work: Mapping[str, Sequence[Sequence[str]]]) -> str:
    files = sorted(f for sets in work.values() for s in sets for f in s)
    entries = {f: drift.entries.get(f, {}).get("upstream") for f in files}
    return digest({"upstream": plan.upstream, "fork": drift.fork_sha, "files": entries,
                   "checks": fingerprint(cfg, files),
                   "person": history.person_digest(sync_view(cfg), readopted(ws))})


def retry(cfg: Config, ws: Workspace, mirror: Path, plan: Plan, drift: Drift, wave: str,
          runner: Runner | None = None, run_id: str = "run", source: str | None = None) -> dict[str, Any] | None:
    """Validate everything deferred so far together on the sync tip; adopt what passes. None: nothing to do.
    With several sources, one source's deferrals (``source``), against its upstream (``plan.upstream``)."""
    work = deferred_so_far(ws, plan, wave, source)
    path = record_path(ws, wave, source)
    if not work:
        path.unlink(missing_ok=True)
        return None
    current = key(cfg, ws, plan, drift, work)
    if path.exists() and read_json(path).get("key") == current:
        return read_json(path)  # nothing changed since the last retry: it would judge the same trees
    started = time.monotonic()
    owner = {f: name for name, sets in work.items() for s in sets for f in s}
    plan_files = {f.path: f for name in work for f in plan.slice(name).files}
    label = f"retry-{wave}" + (f"-{source}" if source else "")
    pseudo = Slice(label, wave, tuple(plan_files[f] for f in sorted(owner)))
    worktree.guard(cfg, ws)
    start = worktree.sync_tip(cfg)
    prepared = prepare_slice(cfg, ws, mirror, pseudo, drift, start, save=False)
    changes = {c.path: c for c in prepared.changes}
    importer.copy_objects(mirror, cfg.fork.path, [c.oid for c in prepared.changes if c.oid and c.mode != "160000"])
    runner = runner or default_runner(cfg, ws)
    memo = Memo(ws)
    print(f"wave {wave}: retrying {len(changes)} deferred file(s) of {len(work)} slice(s) together ...", flush=True)
    bench = benches.make(runner, [c.kind for c in cfg.checks])
    try:
        validate = Validator(cfg, ws, label, start, changes, runner, memo,
                             ws.reports / f"wave-{wave}" / "retry-logs" / run_id,
                             baseline=lazy_baseline(bench, cfg, ws, wave, plan.upstream, runner, memo, run_id),
                             bench=bench)
        # files deferred together stay together; so do the slices' coupled groups
        groups = merge_groups([*(s for sets in work.values() for s in sets if len(s) > 1),
                               *(g for name in work for g in group_atoms(plan.slice(name))[0])])
        finer = [p for name in work
                 for p in coupling.slice_groups(plan.slice(name).to_json(), kinds=("lockfile", "test", "couple"))]
        locked = [p for name in work for p in coupling.slice_groups(plan.slice(name).to_json(), kinds=("lockfile",))]
        # files that wait for later work keep waiting until the last wave: one joint run here, no search
        waiting = {f for name in work for o in [read_outcome(ws, name)] if o for d in o.deferred
                   if d.reason == WAITS for f in d.files}
        last = wave == plan.waves[-1][0]
        result = isolate(sorted(changes), validate, groups=groups, refine=lambda atom: refine(atom, finer, locked),
                         waits=(lambda atom: False) if last else (lambda atom: set(atom) <= waiting),
                         slots=validate if bench else None)
    except BaseException as exc:  # Ctrl-C or an error: nothing judged ahead may outlive the retry
        if bench is not None:
            bench.close(abort=True)
        if isinstance(exc, CannotRun):
            write_if_changed(path, dump_json({"wave": wave, "key": None, "error": str(exc), "run": run_id}))
        raise
    if bench is not None:
        bench.close()
    commit = None
    updated: dict[str, Outcome] = {}
    if result.adopted:
        by_slice: dict[str, list[str]] = {}
        for f in result.adopted:
            by_slice.setdefault(owner[f], []).append(f)
        commit = validate.candidate(result.adopted, message(plan, wave, by_slice))
        updated = {name: adopt_into(read_outcome(ws, name), files, commit, wave, run_id)  # type: ignore[arg-type]
                   for name, files in sorted(by_slice.items())}
        land(cfg, ws, label, commit, start, f"forkwave: joint retry after wave {wave}", updated)
    rerun = f"doit wave_{wave}" + (f" batch_size={plan.batch_size}" if plan.batch_size else "")  # the joint retry
    still_failing = [deferral(label, files, detail, rerun=rerun) for files, detail in result.deferred]
    explain_waiting(ws, work, still_failing)
    still = deferred_so_far(ws, plan, wave, source)
    record = {"wave": wave, "key": key(cfg, ws, plan, drift, still) if still else None, "run": run_id,
              "parent": start, "commit": commit, "retried": sorted(owner), "adopted": sorted(result.adopted),
              "by_slice": {n: sorted(f for f in result.adopted if owner[f] == n) for n in sorted(work)},
              "deferred": [d.to_json() for d in still_failing],
              "runs": result.runs, "attempts": len(result.attempts), "duration": round(time.monotonic() - started, 3)}
    write_if_changed(path, dump_json(record))
    print(f"wave {wave}: joint retry adopted {len(result.adopted)} of {len(changes)} file(s) in {result.runs} run(s)",
          flush=True)
    return record


def explain_waiting(ws: Workspace, work: Mapping[str, Any], failed: Sequence[Deferral]) -> None:
    """Files that waited for this retry and still fail: their slice's outcome says why now."""
    why = {f: d for d in failed for f in d.files}
    for name in work:
        outcome = read_outcome(ws, name)
        if not outcome:
            continue
        items, changed = [], False
        for d in outcome.deferred:
            if d.reason == WAITS and d.files and all(f in why for f in d.files):
                new = why[d.files[0]]
                d = Deferral(d.files, f"still fails after the joint retry: {new.reason}", new.next, new.checks,
                             new.output, d.tests, d.log, d.commit, d.extra)
                changed = True
            items.append(d)
        if changed:
            write_outcome(ws, outcome.evolve(deferred=tuple(items)))


def merge_groups(groups: Sequence[Sequence[str]]) -> list[list[str]]:
    """Overlapping groups joined into one (a partition, as ``isolate`` wants)."""
    return [sorted(c) for c in coupling.components(sorted({f for g in groups for f in g}),
                                                   (coupling.Link("couple", "", tuple(g)) for g in groups))]


def message(plan: Plan, wave: str, by_slice: Mapping[str, Sequence[str]]) -> str:
    n = sum(len(v) for v in by_slice.values())
    lines = [f"forkwave: adopt {n} deferred file(s) together after wave {wave}", ""]
    for name, files in by_slice.items():
        lines += [f"- {name}: {f}" for f in sorted(files)[:20]]
    return "\n".join(lines) + (f"\n\nUpstream-Revision: {plan.upstream}\nForkwave-Retry: wave {wave}\n"
                               f"Forkwave-Slices: {', '.join(by_slice)}\n")


def adopt_into(outcome: Outcome, files: Sequence[str], commit: str, wave: str, run_id: str | None = None) -> Outcome:
    """The slice's outcome once the joint retry of ``wave`` (in run ``run_id``) landed ``files`` of it; the
    retry names its run, so a run's counts hold what it landed of a slice an earlier run judged."""
    got = set(files)
    classes = {f["path"]: f["class"] for f in outcome.files}
    adopted = sorted(set(outcome.adopted) | got)
    deferred = []
    for d in outcome.deferred:
        rest = tuple(f for f in d.files if f not in got)
        if rest:
            deferred.append(Deferral(rest, d.reason, d.next, d.checks, d.output, d.tests, d.log, d.commit, d.extra))
    status = status_of(recheck_failed=str(outcome.status) == "failed" and bool(deferred),
                       conflicts=bool(outcome.conflicts), deferred=bool(deferred), adopted=True,
                       rolled_back=bool(outcome.rolled_back))
    return outcome.evolve(status=status, adopted=tuple(adopted), landed=tuple(sorted(set(outcome.landed) | got)),
                          removed=tuple(sorted(p for p in adopted if classes.get(p) in importer.DELETE_CLASSES)),
                          deferred=tuple(deferred), commits=(*outcome.commits, commit), verified_at=commit,
                          retried=(*outcome.retried, {"wave": wave, "commit": commit, "files": sorted(got),
                                                      **({"run": run_id} if run_id else {})}))
