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
from tasks.core.outcome import FILES
from tasks.core.plan import Plan, plan_waves
from tasks.engine import dryrun, person
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
        if changes or recheck:
            try:
                validate = job.validator(job.start, changes)
                if changes:
                    groups, cut = group_atoms(slice_)
                    result = isolate(sorted(changes), validate, groups=groups, refine=cut,
                                     waits=lambda atom: all(changes[f].mode is None for f in atom),
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
