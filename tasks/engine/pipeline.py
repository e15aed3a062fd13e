"""The one slice pipeline: every mode's slice goes through ``run(strategy, job)``.

    guard ─> start (the sync tip) ─> the earlier outcome ─> the mode's step
          (baseline and validation on demand, through ``SliceRun.judge``) ─> land (journal + compare-and-swap)
          ─> the outcome written (its inputs, the checks it was validated with, the run)

A mode is a strategy (``Strategy``; the whole protocol is ``tasks.modes.base.Mode``): it decides
*what* a slice is and which candidate lands, the pipeline does *how* — the guard, the baseline,
the verdict memo, landing and the record. ``SliceRun`` is the run's context for one slice, so a
mode's step takes one argument instead of the six to thirteen the old runners took.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from checks.model import Result, Runner
from tasks import faults
from tasks.config import Config
from tasks.core.drift import Drift
from tasks.core.outcome import Attempt, Outcome, Status
from tasks.core.plan import Plan, Slice
from tasks.engine import bench as benches, journal
from tasks.engine.bench import Bench
from tasks.engine.memo import Memo
from tasks.engine.status import outcome_path, read_outcome, slice_dir
from tasks.engine.validate import (Ahead, Candidate, Validator, baseline_on, default_runner, fingerprint, results_at,
                                  verdict_of)
from tasks.errors import CannotRun
from tasks.repo import worktree
from tasks.repo.importer import Change
from tasks.workspace import Workspace, dump_json, write_if_changed


@dataclass
class SliceRun:
    """One slice's run: its config (as its source sees it), workspace, mirror, plan, drift and slice.

    ``start`` and ``earlier`` are filled in by the pipeline. With one slot the baseline is run the
    first time a check fails (a slice whose candidates pass, or that has nothing to judge, never runs
    it); when the runner has room for several candidates at once (engines' and the host's slots), a
    ``Bench`` judges them side by side, the baseline beside the first ones.
    """

    cfg: Config
    ws: Workspace
    mirror: Path
    plan: Plan
    drift: Drift
    slice: Slice
    run_id: str = "run"
    runner: Runner | None = None
    start: str = ""
    earlier: Outcome | None = None
    memo: Memo | None = None
    attempts: list[Attempt] = field(default_factory=list)
    second_pass: bool = False    # run again at once because what landed unblocked more of it
    _baseline: dict[str, Result] | Future[dict[str, Result]] | None = None
    bench: Bench | None = None
    _benched: bool = False

    @property
    def name(self) -> str:
        return self.slice.name

    @property
    def fork(self) -> Path:
        return self.cfg.fork.path

    @property
    def upstream(self) -> str:
        return self.plan.revision(self.slice)

    @property
    def log_root(self) -> Path:
        return slice_dir(self.ws, self.name) / "logs" / self.run_id

    def baseline(self) -> dict[str, Result]:
        """Every check once on the sync tip before the wave (shared by the wave's slices, memoised)."""
        base = self._start_baseline()
        return base.result() if isinstance(base, Future) else base

    def _start_baseline(self) -> dict[str, Result] | Future[dict[str, Result]]:
        """The baseline, or, on a bench, its judging under way beside the slice's first candidates."""
        if self._baseline is None:
            bench = self.benched()
            self.memo = self.memo or Memo(self.ws)
            self._baseline = baseline_on(bench, self.cfg, self.ws, self.slice.wave, self.upstream, self.runner,
                                         self.memo, self.run_id)
        return self._baseline

    def benched(self) -> Bench | None:
        """The bench for this slice's candidates (None: one at a time, on this thread)."""
        self.runner = self.runner or default_runner(self.cfg, self.ws)
        if not self._benched:
            self.bench = self.bench or benches.make(self.runner, [c.kind for c in self.cfg.checks])
            self._benched = True
        return self.bench

    def validator(self, start: str, changes: Mapping[str, Change], name: str | None = None) -> Validator:
        """A validator for candidates of ``changes`` on top of ``start`` (the baseline beside them on a bench, else
        when a check first fails)."""
        bench = self.benched()
        self.memo = self.memo or Memo(self.ws)
        base = self._start_baseline() if bench is not None or self._baseline is not None else self.baseline
        return Validator(self.cfg, self.ws, name or self.name, start, changes, self.runner, self.memo, self.log_root,
                         baseline=base, bench=self.bench)

    def ahead(self, candidate: Callable[[Any], Candidate]) -> Ahead | None:
        """Slots for a commit mode's search (``bisect.speculate``): each question -> (start, tree, changes), judged
        ahead on the slice's bench; None when there is one slot (each candidate judged when asked, as always)."""
        bench = self.benched()
        if bench is None:
            return None     # one slot: no baseline is judged unless a failure needs excusing
        base = self._start_baseline()   # on a bench the baseline runs beside the first candidates
        memo = self.memo
        assert memo is not None
        return Ahead(lambda start, changes: Validator(self.cfg, self.ws, self.name, start, changes, self.runner,
                                                      memo, self.log_root, baseline=base, bench=bench),
                     candidate, bench)

    def close(self, abort: bool = False) -> None:
        """Let what is judged beside the slice end (what was judged ahead and not wanted stops at once);
        ``abort``: stop all of it (the run is stopping)."""
        if self.bench is not None:
            self.bench.close(abort)

    def judge(self, tip: str, tree: str, changes: Mapping[str, Change], label: str,
              commits: str | None = None, against: str | None = None) -> tuple[bool, list[Result]]:
        """The checks' verdict on ``tree`` (``changes`` on top of ``tip``), recorded as the next attempt; a failure
        is excused by the wave's baseline, or by the results on commit ``against`` when given."""
        v = self.validator(tip, changes)
        if against is not None:
            assert self.memo is not None
            v.baseline = results_at(self.cfg, self.ws, against, self.runner, self.memo, self.log_root,
                                    f"{self.name}-reference")
        n = len(self.attempts) + 1
        results = v.judge(tree, sorted(changes), n)
        verdict = verdict_of(results)
        self.attempts.append(Attempt(n, tuple(sorted(changes)), tip[:12], verdict.passed, False, verdict.ran,
                                     tuple(r.to_json() | {"stdout": r.stdout, "stderr": r.stderr} for r in results),
                                     commits=commits if commits is not None else label))
        return verdict.passed, results

    @property
    def runs(self) -> int:
        return sum(1 for a in self.attempts if a.ran and not a.inferred)


@dataclass(frozen=True)
class Step:
    """What a mode's step decided: where the sync branch moves (``tip``; the start: nowhere) and the outcome."""

    tip: str
    outcome: Outcome
    message: str = ""        # the reflog line of the move
    again: bool = False      # what landed unblocks more of the slice: run it once more at once


class Strategy(Protocol):
    """What the pipeline needs of a mode (``tasks.modes.base.Mode`` is the whole protocol)."""

    name: str
    unit: str

    def step(self, job: SliceRun) -> Step: ...

    def inputs(self, job: SliceRun, tip: str | None = None) -> dict[str, Any]: ...


# --- the pipeline ----------------------------------------------------------------------------------

def run(strategy: Strategy, job: SliceRun) -> Outcome:
    """One slice end to end; returns (and writes) its outcome."""
    try:
        outcome = _run(strategy, job)
    except BaseException:  # Ctrl-C or an error: nothing judged beside the slice may outlive it
        job.close(abort=True)
        raise
    job.close()
    return outcome


def _run(strategy: Strategy, job: SliceRun) -> Outcome:
    started = time.monotonic()
    worktree.guard(job.cfg, job.ws)
    job.start = worktree.sync_tip(job.cfg)
    job.earlier = read_outcome(job.ws, job.name)
    try:
        step = strategy.step(job)
    except CannotRun as exc:  # a mode that could not record more says at least this
        step = Step(job.start, failed(job, strategy, str(exc)))
    outcome = step.outcome.evolve(
        duration=round(time.monotonic() - started, 3), run=job.run_id,
        validated_with=fingerprint(job.cfg, job.slice.paths), inputs=strategy.inputs(job, step.tip))
    if step.tip != job.start:
        land(job.cfg, job.ws, f"slice-{job.name}", step.tip, job.start, step.message or f"forkwave: {job.name}",
             {job.name: outcome})
    write_outcome(job.ws, outcome)
    if step.again:
        again = SliceRun(job.cfg, job.ws, job.mirror, job.plan, job.drift, job.slice, job.run_id, job.runner,
                         memo=job.memo, second_pass=True, _baseline=job._baseline, bench=job.bench,
                         _benched=job._benched)
        second = _run(strategy, again)
        second = second.evolve(landed=tuple(sorted({*outcome.landed, *second.landed})),
                               landed_commits=tuple(dict.fromkeys((*outcome.landed_commits, *second.landed_commits))),
                               runs=second.runs + outcome.runs)
        write_outcome(job.ws, second)
        return second
    return outcome


def failed(job: SliceRun, strategy: Strategy, error: str) -> Outcome:
    """The outcome of a slice whose checks could not run: nothing judged, nothing landed."""
    return Outcome(job.name, job.slice.wave, job.upstream, Status.ERROR, job.start, mode=strategy.name,
                   unit=strategy.unit, source=job.slice.source, verified_at=job.start,
                   files=files_of(job.slice), slice_commits=job.slice.commits, attempts=tuple(job.attempts),
                   error=error)


def files_of(slice_: Slice) -> tuple[dict[str, Any], ...]:
    return tuple({"path": f.path, "class": f.cls, "bucket": f.bucket} for f in sorted(slice_.files,
                                                                                      key=lambda f: f.path))


# --- landing ---------------------------------------------------------------------------------------

def write_outcome(ws: Workspace, outcome: Outcome) -> None:
    write_if_changed(outcome_path(ws, outcome.slice), dump_json(outcome.to_json()))


def land(cfg: Config, ws: Workspace, key: str, commit: str, start: str, message: str,
         outcomes: Mapping[str, Outcome]) -> None:
    """Move the sync branch to ``commit`` (compare-and-swap from ``start``), written ahead with the
    outcome files the move means, so a kill right after it loses nothing."""
    journal.intend(ws, key, commit, {n: o.to_json() for n, o in outcomes.items()})
    faults.point("before-move")
    worktree.move_sync(cfg, commit, start, message, ws)
    faults.point("after-move")
    for outcome in outcomes.values():
        write_outcome(ws, outcome)
    faults.point("after-outcome")
    journal.done(ws, key)
