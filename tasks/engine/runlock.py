"""One run per workspace and per fork at a time, and the ledger of runs (reports/history.jsonl)."""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from tasks import errors
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.workspace import Workspace


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


SETTLED = ("adopted", "empty", "rolled-back")  # nothing left to do for the slice


@dataclass
class Run:
    ws: Workspace
    id: str
    upstream: str | None
    handle: IO[str]
    slices: dict[str, str] = field(default_factory=dict)          # slice -> status this run
    files: dict[str, list[str]] = field(default_factory=lambda: {"adopted": [], "deferred": [], "conflicted": []})
    failed: bool = False
    fork_lock: IO[str] | None = None

    def record(self, slice_name: str, status: str, outcome: dict[str, Any] | None = None) -> None:
        """What a slice ended as in this run; ``outcome`` adds the files it landed, deferred and left conflicted."""
        self.slices[slice_name] = status
        if outcome is None:
            return
        for kind, paths in (("adopted", outcome.get("landed", ())),
                            ("deferred", [f for d in outcome.get("deferred", ()) for f in d["files"]]),
                            ("conflicted", [c["path"] for c in outcome.get("conflicts", ())])):
            known = set(self.files[kind])
            self.files[kind] += [p for p in paths if p not in known]

    @property
    def adopted(self) -> list[str]:
        return [n for n, s in self.slices.items() if s in SETTLED]

    @property
    def deferred(self) -> list[str]:
        return [n for n, s in self.slices.items() if s not in SETTLED]

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.deferred:
            return "partial" if self.adopted or self.files["adopted"] else "failed"
        return "success"


_RUN: Run | None = None
DRY: list[bool] = []  # dry=1 (``dry_run()``): the lock is taken, but no run is recorded in the ledger


def dry_run() -> None:
    """This process only simulates: nothing goes into the ledger (the ledger helpers ask ``is_dry()``)."""
    if not DRY:
        DRY.append(True)


def is_dry() -> bool:
    return bool(DRY)


def ledger_path(ws: Workspace) -> Path:
    return ws.report("history.jsonl")


def _append(ws: Workspace, entry: dict[str, Any]) -> None:
    """One ledger line; a full disk costs the line, never the run (the next run closes what is open)."""
    if DRY:
        return
    ws.reports.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True) + "\n"
    try:
        with open(ledger_path(ws), "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError as exc:
        print(f"forkwave: warning: {ledger_path(ws)}: the run ledger could not be written ({exc.strerror})",
              file=sys.stderr)


def read_ledger(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Run id -> its latest record."""
    runs: dict[str, dict[str, Any]] = {}
    path = ledger_path(ws)
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line a full disk cut short
                continue
            if isinstance(entry, dict) and "run" in entry:
                runs[entry["run"]] = {**runs.get(entry["run"], {}), **entry}
    return runs


def acquire(ws: Workspace, upstream: str | None = None) -> Run:
    """Take the workspace lock for this process (idempotent) and open a ledger entry.

    The lock is an ``flock``: the kernel releases it when the process dies, even by
    SIGKILL, so a killed run never blocks the next one. Its ledger entry, left
    ``running``, is closed as ``failed`` (interrupted) by the next run.
    """
    global _RUN
    if _RUN is not None:
        _RUN.upstream = _RUN.upstream or upstream
        return _RUN
    ws.state.mkdir(parents=True, exist_ok=True)
    ws.reports.mkdir(parents=True, exist_ok=True)  # doit saves its state there at exit, even when we stop here
    handle = open(ws.state / "lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ForkwaveFailure(f"another forkwave run holds {ws.state / 'lock'} ({holder}); "
                            "wait for it to finish or stop it, then run again") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {_now()}\n")
    handle.flush()
    from checks.tracking import reap

    for leftover in reap(ws.state / "running"):
        print(f"forkwave: cleaned up after an interrupted run: {leftover}", file=sys.stderr)
    for run_id, entry in read_ledger(ws).items():
        if entry.get("status") == "running":
            _append(ws, {"run": run_id, "status": "failed", "end": _now(), "note": "interrupted (no end recorded)"})
    _RUN = Run(ws, new_run_id(), upstream, handle)
    if mark_failed not in errors.ON_FAILURE:  # an action's error marks this run failed in the ledger
        errors.ON_FAILURE.append(mark_failed)
    _append(ws, {"run": _RUN.id, "status": "running", "start": _now(), "pid": os.getpid(), "upstream": upstream})
    atexit.register(_finish)
    return _RUN


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
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ForkwaveFailure(f"another forkwave workspace is syncing {fork} (lock {path}: {holder}); "
                              "wait for it to finish, then run again") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} workspace {run.ws.root} since {_now()}\n")
    handle.flush()
    run.fork_lock = handle


def mark_failed() -> None:
    if _RUN is not None:
        _RUN.failed = True


def _finish() -> None:
    global _RUN
    run, _RUN = _RUN, None
    if run is None:
        return
    _append(run.ws, {"run": run.id, "status": run.status, "end": _now(), "upstream": run.upstream,
                     "slices": run.slices, "adopted": run.files["adopted"], "deferred": run.files["deferred"],
                     "conflicted": run.files["conflicted"]})
    if run.fork_lock is not None:
        run.fork_lock.close()
    run.handle.close()
