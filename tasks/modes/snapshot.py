"""Snapshot mode: a fork with no shared history, synced by comparing trees 3-way against a base.

drift compares the mapped upstream tree with the fork's by object id (``tasks.repo.drift``);
a slice's changes are upstream's blobs, clean 3-way merges and deletions
(``tasks.engine.slices.prepare_slice``), judged by ``bisect.isolate``: the largest passing part
lands as one commit, the culprits are deferred, and what a wave deferred is retried together when
it ends. A landed wave records its upstream revision in ``.forkwave/sync-state.json`` on the sync
branch (``tasks.repo.state``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core.bisect import isolate
from tasks.core.classify import Bases
from tasks.core.commit import iso_date
from tasks.core.cooldown import cool, parse_duration
from tasks.core.bisect import Result as Isolated
from tasks.core.outcome import FILES, Deferral, Outcome
from tasks.core.plan import Plan, plan_waves
from tasks.engine import batch, dryrun, person
from tasks.engine import suspects as guided
from tasks.engine.pipeline import SliceRun, Step
from tasks.engine.slices import as_recheck, build_outcome, commit_message, earlier_adopted, group_atoms, prepare_slice
from tasks.engine.status import file_inputs
from tasks.engine.validate import fingerprint
from tasks.errors import CannotRun
from tasks.engine.dryrun import Simulation
from tasks.repo import commits, importer, state
from tasks.repo import drift as tree_drift
from tasks.repo.importer import Prepared
from tasks.workspace import Workspace

COOLDOWN_LOOKBACK = 1000  # first-parent commits searched for one old enough (``min_age``)


def drift(cfg: Config, mirror: Path, upstream: str, bases: Bases | None, window: set[str] | None) -> dict[str, Any]:
    min_age = cfg.current.options.min_age if cfg.sources else 0
    if not min_age:
        return tree_drift.compute(cfg, mirror, upstream, bases, window)
    # cooldown: compare with the newest upstream revision whose first-parent history is min_age old
    found = commits.first_parent(mirror, upstream, limit=COOLDOWN_LOOKBACK)
    newest_first = list(reversed(found))
    cooled = cool(found, parse_duration(min_age), int(time.time()))
    tip = cooled.ripe[-1].sha if cooled.ripe else (newest_first[-1].parents[0] if newest_first and
                                                     newest_first[-1].parents else upstream)
    report = tree_drift.compute(cfg, mirror, tip, bases, window)
    report["cooldown"] = {"fetched": upstream, "waiting": len(cooled.waiting),
                          "ripens_at": iso_date(cooled.ripens_at) if cooled.ripens_at else None}
    return report


class SnapshotMode:
    name = "snapshot"
    unit = FILES
    file_slices = True
    detects_base = True
    own_branch = False
    joint_retry = True   # what a wave deferred is retried together when it ends

    def drift(self, cfg: Config, mirror: Path, upstream: str, bases: Bases | None,
              window: set[str] | None) -> dict[str, Any]:
        return drift(cfg, mirror, upstream, bases, window)

    def plan(self, cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan:
        return plan_waves(report, cfg.waves, cfg.max_files, cfg.couple, history())

    def inputs(self, job: SliceRun, tip: str | None = None) -> dict[str, Any]:
        return file_inputs(job.cfg, job.ws, job.upstream, job.drift, job.slice.paths)

    def prepare(self, job: SliceRun, tip: str, save: bool = True) -> Prepared:
        return prepare_slice(job.cfg, job.ws, job.mirror, job.slice, job.drift, tip, save)

    def step(self, job: SliceRun) -> Step:
        """Import the slice on the sync tip and validate it; the largest passing part lands, the rest is deferred.

        When what landed unblocks more of the slice (a folder's files removed, so a link can take its
        place), the pipeline runs it once more at once: it all lands in one ``doit``.
        """
        cfg, slice_ = job.cfg, job.slice
        prepared = self.prepare(job, job.start)
        changes = {c.path: c for c in prepared.changes}
        importer.copy_objects(job.mirror, job.fork, [c.oid for c in prepared.changes if c.oid and c.mode != "160000"])
        earlier = earlier_adopted(cfg, job.earlier, prepared)
        # adopted by an earlier run with other checks (or failing its last re-check), or resolved by a person and
        # not yet checked: check again, once, where it is
        recheck_paths = sorted({*earlier["adopted"], *(p for p, _ in prepared.resolved)}) if not changes else []
        recheck = bool(recheck_paths) and (earlier["validated_with"] != fingerprint(cfg, slice_.paths)
                                           or earlier["failed"] or bool(prepared.resolved))
        result, commit, error = None, None, None
        portion = in_batch(job, changes)
        if portion is not None:
            result = Isolated(adopted=portion.adopted, deferred=list(portion.deferred), split_groups=portion.split)
            if result.adopted:
                commit = importer.build_commit(job.fork, job.start, [changes[p] for p in sorted(result.adopted)],
                                               commit_message(job.plan, slice_, result.adopted))
        elif changes or recheck:
            try:
                validate = job.validator(job.start, changes)
                if changes:
                    groups, cut = group_atoms(slice_)
                    result = isolate(sorted(changes), validate, groups=groups, refine=cut,
                                     waits=lambda atom: all(changes[f].mode is None for f in atom),
                                     suspects=guided.suspects(job.fork, changes),
                                     slots=validate if validate.bench else None)
                    if result.adopted:
                        commit = validate.candidate(result.adopted, commit_message(job.plan, slice_, result.adopted))
                else:
                    result = as_recheck(validate.recheck(recheck_paths), recheck_paths)
                    if result.deferred:  # still on the sync branch (see the rollback note), but no longer passing
                        earlier = {**earlier, "adopted": []}
            except CannotRun as exc:
                error, result, commit = str(exc), None, None
        outcome = build_outcome(job.plan, slice_, prepared, result, job.start, commit, earlier,
                                recheck=recheck and not changes, error=error)
        outcome = with_validation(outcome, result, portion, batch.read(job.ws) if portion is not None else None,
                                  job.run_id)
        again = bool(commit) and not job.second_pass and any(importer.LATER in r for _, r in prepared.blocked)
        return Step(commit or job.start, outcome, f"forkwave: adopt {slice_.name}", again)

    def simulate(self, job: SliceRun, tip: str) -> Simulation:
        return dryrun.simulate_files(job, tip, self.prepare(job, tip, save=False))

    def resolve(self, job: SliceRun, path: str | None, take: str | None) -> str:
        return person.resolve(job, path, take)

    def rollback(self, job: SliceRun) -> str:
        return person.rollback(job)

    def readopt(self, job: SliceRun) -> list[str]:
        return person.readopt(job)

    def record(self, cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
               source: str | None) -> str | None:
        return state.record_wave(cfg, wave, revision, upstream_url, ws, source)


MODE = SnapshotMode()


def in_batch(job: SliceRun, changes: dict[str, importer.Change]) -> batch.Share | None:
    """What the run's batch decided for this slice, when its verdict stands for the slice as it is now (every
    change judged there, the sync branch moved only by the batch's own slices); None: judge it alone."""
    if not changes:
        return None
    record = batch.read(job.ws)
    if not batch.applies(job.cfg, record, job.name, job.start):
        return None
    portion = batch.share(record or {}, changes)
    return None if portion.unjudged else portion


def with_validation(outcome: Outcome, result: Isolated | None, portion: batch.Share | None,
                    record: dict[str, Any] | None, run_id: str) -> Outcome:
    """The outcome saying how it was validated — in the run's batch (its deferrals as the batch found them),
    alone (one run), or split (a search over its files)."""
    if portion is not None and record is not None:
        found = {f: d for d in record.get("deferred", ()) for f in d["files"]}
        deferred = tuple(
            Deferral.from_json({**found[d.files[0]], "files": list(d.files), "batch": record.get("run")})
            if d.files[0] in found else d
            for d in outcome.deferred)
        return outcome.evolve(deferred=deferred, runs=0, validated={
            "how": "batch", "run": record.get("run"), "runs": record.get("runs", 0),
            "slices": len(record.get("scope", ())), "record": "reports/batch.json"}
            | ({"engines": record["engines"]} if record.get("engines") else {}))
    if result is None or not result.attempts:
        return outcome
    how = "alone" if len(result.attempts) == 1 else "split"
    return outcome.evolve(validated={"how": how, "run": run_id, "runs": result.runs})
