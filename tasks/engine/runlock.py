"""One run per workspace and per fork at a time, and its rows in the sync ledger (reports/ledger.sqlite).

A run that holds the workspace lock records itself in the ledger (``tasks.report.ledger``):
one ``runs`` row, ``running`` until the run ends, with the phase it is in; and one ``syncs``
row per (source, sync type) it works on — ``wave-<x>`` for a wave pulled from a source,
``verify`` for the source's verification, ``push`` for an export — opened ``running`` when its
first slice is reached, its counts (this run's) updated after every slice (what a killed run
did stays readable), closed when the wave ends, or at the latest when the run does. The run's
own status is judged when it ends (``verdict``, by ``tasks.core.runstatus``'s rules) from its
syncs, the exit code and the reasons the command line gave (``conclude``). A SIGKILL leaves rows
``running``; the next run, holding the same lock, closes the run ``failed`` with the note
``interrupted during <phase> (no end recorded)``. A person's command (``doit resolve:…``) and a
dry run take the lock but are no runs: nothing of them is recorded. ``reports/history.jsonl``,
the ledger of earlier versions, is no longer written: its runs are imported by the ledger, so
no history is lost.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from tasks import errors, exitcodes
from tasks.core import runstatus
from tasks.core.outcome import Outcome
from tasks.errors import Busy, ForkwaveError
from tasks.workspace import Workspace


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sync_type(wave: str) -> str:
    """The ledger's sync type of a pulled wave: ``wave-a``."""
    return f"wave-{wave}"


def direction_of(kind: str) -> str:
    """The direction a sync type runs: a wave and a verification are of the pull; any other type names its
    direction (``push``)."""
    return "pull" if kind.startswith("wave-") or kind == runstatus.VERIFY else kind


@dataclass
class Sync:
    """What this run did for one (source, sync type): the slices it reached, as their outcomes stand."""

    source: str
    kind: str
    revision: str | None
    run: str = ""                                        # the run's id: what counts as landed by it
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    exported: list[str] = field(default_factory=list)   # a push: the paths its export holds
    created: list[str] = field(default_factory=list)    # ... of them, new to the source
    verification: list[dict[str, Any]] = field(default_factory=list)   # a verify sync: each command's verdict
    error: str | None = None
    closed: bool = False
    opened: float = field(default_factory=time.monotonic)
    seconds: float = 0.0     # time open, over every opening (a joint retry may open it again)
    first: float = field(default_factory=time.monotonic)   # when it was first opened
    last: float | None = None                              # when it last closed

    def result(self) -> dict[str, Any]:
        """The run summary's entry for it (``tasks.core.runsummary``): status, message, paths adopted."""
        from tasks.core.runsummary import target_result

        return target_result(self.target())

    def target(self) -> dict[str, Any]:
        return {"source": self.source, "direction": direction_of(self.kind), "run": self.run,
                "outcomes": list(self.outcomes.values()), "exported": self.exported, "created": self.created,
                "verification": self.verification, "error": self.error}

    def counts(self) -> dict[str, Any]:
        """The ledger row's counts: this run's adoptions, what is left in the slices it reached."""
        from tasks.core.runsummary import tally

        return tally(self.outcomes.values(), self.exported, run=self.run)


@dataclass(frozen=True)
class Problem:
    """What stopped or held a part of the run, as the command line saw it: the source it names (None: the
    run as a whole — pre- and post-sync checks, publish), the message, the exit code it stands for."""

    source: str | None
    message: str
    code: int


@dataclass
class Run:
    ws: Workspace
    id: str
    upstream: str | None
    handle: IO[str]
    ledger: Any = None                                            # tasks.report.ledger.Ledger, open
    slices: dict[str, str] = field(default_factory=dict)          # slice -> status this run
    syncs: dict[tuple[str, str], Sync] = field(default_factory=dict)
    failed: bool = False
    error: str | None = None
    fork_lock: IO[str] | None = None
    started: float = field(default_factory=time.monotonic)
    timestamp: str = field(default_factory=_now)
    targets: list[str] = field(default_factory=list)             # the sources this run pulls (sources=)
    phase: str | None = None                                      # what it is doing (the ledger's too)
    code: int | None = None                                       # the exit code the command line gave
    reason: str | None = None                                     # ... and why, when it is not 0
    problems: list[Problem] = field(default_factory=list)
    verification: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # as it stands at the end

    def record(self, slice_name: str, outcome: Outcome, *, source: str = "upstream", wave: str | None = None,
               revision: str | None = None, kind: str | None = None, exported: Sequence[str] = (),
               created: Sequence[str] = ()) -> None:
        """What a slice ended as in this run; with its ``wave`` (or another sync type, ``kind="push"``), the
        ledger row of (source, that type) counts it."""
        self.slices[slice_name] = str(outcome.status)
        if wave is None and kind is None:
            return
        sync = self.sync(source, kind or sync_type(wave or ""), revision)
        sync.outcomes[slice_name] = outcome
        sync.exported = sorted(set(sync.exported) | set(exported))
        sync.created = sorted(set(sync.created) | set(created))
        if outcome.error:
            sync.error = sync.error or outcome.error
        if self.ledger is not None:
            self.ledger.progress(self.id, source, sync.kind, sync.counts(), revision)

    def verified(self, source: str, results: Sequence[Mapping[str, Any]], revision: str | None = None,
                 message: str | None = None) -> str | None:
        """The source's verification ran (or was recalled) on the sync tip: its (source, ``verify``) row, closed
        ``success`` or ``failed`` with ``message``. Its status."""
        sync = self.sync(source, runstatus.VERIFY, revision)
        sync.verification = [{"name": r["name"], "passed": bool(r["passed"]), "reason": r["reason"]} for r in results]
        return self.close(source, runstatus.VERIFY, note=message)

    def enter(self, phase: str) -> None:
        """The run starts ``phase``: if it dies there, the next run names it."""
        if phase == self.phase:
            return
        self.phase = phase
        if self.ledger is not None:
            self.ledger.enter(self.id, phase)

    def sync(self, source: str, kind: str, revision: str | None = None) -> Sync:
        """The run's sync of (source, kind), opened (``running`` in the ledger) the first time."""
        key = (source, kind)
        sync = self.syncs.get(key)
        if sync is None or sync.closed:  # closed: a later wave's joint retry landed more of it
            sync = self.syncs[key] = sync or Sync(source, kind, revision, self.id)
            sync.closed, sync.opened = False, time.monotonic()
            if self.ledger is not None:
                self.ledger.open_sync(self.id, source, kind, revision=revision or sync.revision)
        sync.revision = sync.revision or revision
        return sync

    def close(self, source: str, kind: str, error: str | None = None, note: str | None = None) -> str | None:
        """The sync ends: ``success``, ``partial`` or ``failed`` from its outcomes (and ``error``). Its status."""
        sync = self.syncs.get((source, kind))
        if sync is None or sync.closed:
            return None
        sync.error = sync.error or error
        result = sync.result()
        sync.closed = True
        sync.seconds += time.monotonic() - sync.opened
        sync.last = time.monotonic()
        if self.ledger is not None:
            self.ledger.close_sync(self.id, source, kind, result["status"], counts=sync.counts(),
                                   revision=sync.revision, error=sync.error, note=note,
                                   detail={"slices": {n: str(o.status) for n, o in sync.outcomes.items()}})
        return result["status"]

    def landed(self) -> bool:
        """Did this run land anything (files or commits on a sync branch, paths exported)?"""
        return any(c["adopted"] or c["exported"] for c in (s.counts() for s in self.syncs.values()))


_RUN: Run | None = None
DRY: list[bool] = []  # dry=1 (``dry_run()``): the lock is taken, but no run is recorded in the ledger
UNRECORDED: list[bool] = []  # a person's command (``unrecorded()``): the lock is taken, it is no run


def dry_run() -> None:
    """This process only simulates: nothing goes into the ledger (the ledger helpers ask ``is_dry()``)."""
    if not DRY:
        DRY.append(True)


def is_dry() -> bool:
    return bool(DRY)


def unrecorded() -> None:
    """This process is a person's command (resolve, rollback, readopt), not a run: no ledger row, no summary.
    A run already recorded by this process (``doit resolve:slice-3 wave_a``) stays one."""
    if _RUN is None and not UNRECORDED:
        UNRECORDED.append(True)


def recorded() -> bool:
    return not DRY and not UNRECORDED


def current() -> Run | None:
    """The run this process holds, if it took the lock."""
    return _RUN


def acquire(ws: Workspace, upstream: str | None = None) -> Run:
    """Take the workspace lock for this process (idempotent) and record the run in the ledger.

    The lock is an ``flock``: the kernel releases it when the process dies, even by
    SIGKILL, so a killed run never blocks the next one. Its ledger rows, left ``running``,
    are closed as ``failed`` (interrupted) by the next run.
    """
    global _RUN
    if _RUN is not None:
        _RUN.upstream = _RUN.upstream or upstream
        return _RUN
    ws.state.mkdir(parents=True, exist_ok=True)
    ws.reports.mkdir(parents=True, exist_ok=True)  # doit saves its state there at exit, even when we stop here
    lock = ws.state / "lock"
    handle = _hold(lock, f"pid {os.getpid()} since {_now()}",
                   lambda holder: f"another forkwave run holds {lock} ({holder}); "
                                  "wait for it to finish or stop it, then run again")
    from checks.tracking import reap
    from tasks.report.ledger import Ledger

    for leftover in reap(ws.state / "running"):
        print(f"forkwave: cleaned up after an interrupted run: {leftover}", file=sys.stderr)
    run = Run(ws, new_run_id(), upstream, handle)
    if recorded():  # a dry run is in no ledger: not even opening it (which may migrate or import) writes
        try:
            run.ledger = Ledger.open(ws.reports)
        except BaseException:
            handle.close()
            raise
        for dead in run.ledger.begin(run.id, lock=lock):   # closes what interrupted runs left open
            settle_summary(ws, dead, runstatus.FAILED)
        begun = run.ledger.run(run.id)
        run.timestamp = begun.started if begun else run.timestamp   # the summary's timestamp is the ledger's start
    _RUN = run
    if mark_failed not in errors.ON_FAILURE:  # an action's error marks this run failed in the ledger
        errors.ON_FAILURE.append(mark_failed)
    atexit.register(_finish)
    return run


def _hold(path: Path, who: str, refused: Callable[[str], str]) -> IO[str]:
    """An ``flock`` on ``path`` (the kernel drops it when the process dies), with ``who`` written in it;
    held by another process: ``Busy(refused(what the holder wrote))``."""
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise Busy(refused(holder)) from None
    handle.seek(0)
    handle.truncate()
    handle.write(who + "\n")
    handle.flush()
    return handle


def new_run_id() -> str:
    """Sortable by start time, unique: ``20261201T101500Z-3f9a1c``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def lock_fork(run: Run, fork: Path) -> None:
    """Hold a lock in the fork's own git directory: two workspaces must not sync one fork at once.

    The loser would only fail later, at the compare-and-swap of the sync branch, after its
    checks ran for nothing.
    """
    if run.fork_lock is not None or not fork.is_dir():
        return
    from tasks.repo import git

    try:
        common = Path(git.git(fork, "rev-parse", "--path-format=absolute", "--git-common-dir").decode().strip())
    except ForkwaveError:
        return  # not a repository: the steps that need one say so
    path = common / "forkwave.lock"
    run.fork_lock = _hold(path, f"pid {os.getpid()} workspace {run.ws.root} since {_now()}",
                          lambda holder: f"another forkwave workspace is syncing {fork} (lock {path}: {holder}); "
                                         "wait for it to finish, then run again")


def mark_failed(message: str | None = None) -> None:
    """An action failed (an error, not work left for a person): the run (and the syncs still open when it ends)
    failed, with ``message``."""
    if _RUN is not None:
        _RUN.failed = True
        _RUN.error = _RUN.error or message


def enter(phase: str) -> None:
    """The run this process holds (if any) starts ``phase``."""
    if _RUN is not None:
        _RUN.enter(phase)


def conclude(code: int, reason: str | None, problems: Sequence[Problem] = (),
             verification: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
    """The command line's word on the run, before it ends: the exit code, why, what stopped or held each part,
    and each source's verification as it stands on the sync tip (shown for a source this run did not
    verify; what this run verified is what judges it)."""
    if _RUN is None:
        return
    _RUN.code, _RUN.reason = code, reason
    _RUN.problems = list(problems)
    if code in (exitcodes.USAGE, exitcodes.FAILURE):
        mark_failed(reason)
    for source, results in (verification or {}).items():
        _RUN.verification[source] = [dict(r) for r in results]


def verdict(run: Run) -> tuple[str, str | None]:
    """The run's status and why it is not a success (``tasks.core.runstatus``): left when the exit code is 2 or
    a target did not succeed, failed when an action failed or the code says so."""
    results = [target_result(t) for t in targets(run)]
    failed = run.failed or run.code in (exitcodes.USAGE, exitcodes.FAILURE)
    left = run.code == exitcodes.PERSON or any(not r["success"] for r in results)
    status = runstatus.judge(landed=run.landed(), left=left, failed=failed)
    if status == runstatus.SUCCESS:
        return status, None
    why = run.reason or (run.error if run.failed else None) or next(
        (r["message"] for r in results if not r["success"]), None)
    return status, why


def target_result(target: Mapping[str, Any]) -> dict[str, Any]:
    from tasks.core.runsummary import target_result as result

    return result(target)


def _finish() -> None:
    from tasks.report.board import RUNS

    global _RUN
    run, _RUN = _RUN, None
    if run is None:
        return
    try:
        error = (run.error or "the run stopped on an error (see its output)") if run.failed else None
        for source, kind in list(run.syncs):  # syncs no wave closed: `doit validate:slice-3`, or a stop
            run.close(source, kind, error)
        status, why = verdict(run)
        runs = None
        if run.ledger is not None:
            run.ledger.finish(run.id, status=status, error=why)
            runs = run.ledger.recent(RUNS)
            run.ledger.close()
        write_summary(run, status, why)
        settle_summary(run.ws, run.id, status, run.verification if run.code is not None else None)
        if not DRY:
            write_dashboard(run.ws, runs)
    finally:
        if run.fork_lock is not None:
            run.fork_lock.close()
        run.handle.close()


def settle_summary(ws: Workspace, run_id: str, status: str,
                   verification: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
    """``summary.json`` that run ``run_id`` left ``running`` says how it ended (``tasks.report.reports``); a
    disk that refuses it costs the file, never the run."""
    from tasks.report import reports

    try:
        reports.settle_summary(ws, run_id, status, verification)
    except (OSError, ForkwaveError) as exc:
        print(f"forkwave: warning: {ws.report('summary.json')} could not be written ({exc})", file=sys.stderr)


def write_dashboard(ws: Workspace, runs: Sequence[Any] | None) -> None:
    """The dashboard as the run left things (``tasks.report.dashboard``); a disk that refuses it costs the page,
    never the run, and a workspace with no plan yet has nothing to show."""
    from tasks.report import dashboard

    if not ws.report("plan.json").exists():
        return
    try:
        dashboard.write(ws, runs)
    except (OSError, ForkwaveError) as exc:
        print(f"forkwave: warning: the dashboard (reports/{dashboard.PAGE}) could not be written ({exc})",
              file=sys.stderr)


RUN_SUMMARY = "run-summary.json"


def span(syncs: Sequence[Sync]) -> float:
    """How long a target took: from its first sync's opening to its last one's close — the batch opens every
    wave's sync at once, so their times overlap and do not add up."""
    if not syncs:
        return 0.0
    return max(s.last or time.monotonic() for s in syncs) - min(s.first for s in syncs)


def targets(run: Run) -> list[dict[str, Any]]:
    """One target per source and direction the run ran (``tasks.core.runsummary.target_result``'s input): its
    syncs' outcomes and exports, its verification (this run's, else as it stands on the sync tip), what
    stopped or held it."""
    pairs = list(dict.fromkeys([*((source, "pull") for source in run.targets),
                                *((source, direction_of(kind)) for source, kind in run.syncs)]))
    out = []
    for source, direction in pairs:  # a target: one source in one direction (its waves and verification, for pull)
        mine = [s for (src, kind), s in run.syncs.items() if src == source and direction_of(kind) == direction]
        said = [p for p in run.problems if p.source == source]
        error = next((s.error for s in mine if s.error), None) or next(
            (p.message for p in said if p.code != exitcodes.PERSON), None)
        verification = [v for s in mine for v in s.verification]
        standing = run.verification.get(source, []) if direction == "pull" else []
        held = next((p.message for p in said if p.code == exitcodes.PERSON), None)
        out.append({"source": source, "direction": direction, "duration": span(mine),
                    "run": run.id, "outcomes": [o for s in mine for o in s.outcomes.values()],
                    "exported": [x for s in mine for x in s.exported], "created": [x for s in mine for x in s.created],
                    "verification": verification, "standing": standing, "held": held, "error": error})
    return out


def run_summary(run: Run, status: str | None = None, why: str | None = None) -> dict[str, Any]:
    """The run in the directional runner's shape (``tasks.core.runsummary``): one target per source pulled,
    and the run's own status and why."""
    from tasks.core.runsummary import summary

    if status is None:
        status, why = verdict(run)
    return summary(targets(run), run.timestamp, time.monotonic() - run.started,
                   run={"status": status, "message": why or "every selected source synced and verified"})


def write_summary(run: Run, status: str | None = None, why: str | None = None) -> None:
    """``reports/run-summary.json``, beside ``summary.json``, for a run that reached slices, was concluded by
    the command line or failed (a ``doit fetch`` leaves the last one as it was). A disk that refuses it costs
    the file, never the run."""
    if (not run.syncs and not run.failed and run.code in (None, exitcodes.OK)) or not recorded():
        return  # a dry run writes reports/dry-run.* only; a person's command is no run
    from tasks.workspace import dump_json, write_if_changed

    try:
        write_if_changed(run.ws.report(RUN_SUMMARY), dump_json(run_summary(run, status, why)))
    except (OSError, ForkwaveError) as exc:
        print(f"forkwave: warning: {run.ws.report(RUN_SUMMARY)} could not be written ({exc})", file=sys.stderr)
