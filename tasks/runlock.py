"""One run per workspace at a time, and the ledger of runs (reports/history.jsonl)."""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from tasks.errors import ForkwaveFailure
from tasks.workspace import Workspace


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Run:
    ws: Workspace
    id: str
    upstream: str | None
    handle: IO[str]
    adopted: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    failed: bool = False

    def record(self, slice_name: str, status: str) -> None:
        (self.adopted if status in ("adopted", "empty") else self.deferred).append(slice_name)

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.deferred:
            return "partial" if self.adopted else "failed"
        return "success"


_RUN: Run | None = None


def ledger_path(ws: Workspace) -> Path:
    return ws.report("history.jsonl")


def _append(ws: Workspace, entry: dict[str, Any]) -> None:
    ws.reports.mkdir(parents=True, exist_ok=True)
    with open(ledger_path(ws), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")


def read_ledger(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Run id -> its latest record."""
    runs: dict[str, dict[str, Any]] = {}
    path = ledger_path(ws)
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
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
    _RUN = Run(ws, uuid.uuid4().hex[:12], upstream, handle)
    _append(ws, {"run": _RUN.id, "status": "running", "start": _now(), "pid": os.getpid(), "upstream": upstream})
    atexit.register(_finish)
    return _RUN


def mark_failed() -> None:
    if _RUN is not None:
        _RUN.failed = True


def _finish() -> None:
    global _RUN
    run, _RUN = _RUN, None
    if run is None:
        return
    _append(run.ws, {"run": run.id, "status": run.status, "end": _now(), "upstream": run.upstream,
                     "adopted": run.adopted, "deferred": run.deferred})
    run.handle.close()
