"""The ledger against real processes: SIGKILL inside a transaction and at random moments, and a
reader (``doit history``) while a run holds a write transaction open."""
from __future__ import annotations

import fcntl
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT

from tasks.report.history import render
from tasks.report.ledger import INTERRUPTED, JSONL, LEDGER, Ledger, jsonl_runs

# A run as forkwave makes one: the workspace flock first (tasks/runlock.py), then the ledger.
PRELUDE = """
import fcntl, os, sys, time
from pathlib import Path
from tasks.report.ledger import Ledger
ws = Path(sys.argv[1])
(ws / ".forkwave").mkdir(parents=True, exist_ok=True)
lock = ws / ".forkwave" / "lock"
handle = open(lock, "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
print("ready", flush=True)
"""

KILLED_AT_COMMIT = PRELUDE + """
ledger = Ledger.open(ws / "reports")
ledger.begin("run-1", lock=lock)
ledger.open_sync("run-1", "oca", "wave-a", revision="rev-1")
ledger.open_sync("run-1", "oca", "wave-b", revision="rev-1")
ledger.close_sync("run-1", "oca", "wave-a", "success", counts={"adopted": 4})
os.environ["FORKWAVE_FAULT"] = "ledger-commit"      # SIGKILL inside the next transaction, before COMMIT
ledger.close_sync("run-1", "oca", "wave-b", "success", counts={"adopted": 9})
print("not reached", flush=True)
"""

LOOP = PRELUDE + """
n = 0
while True:   # runs one after another, as fast as they go, until the test kills the process
    ledger = Ledger.open(ws / "reports")
    run = f"run-{os.getpid()}-{n}"
    ledger.begin(run, lock=lock)
    for wave in ("wave-a", "wave-b", "wave-c"):
        ledger.open_sync(run, "oca", wave, revision=f"rev-{n}")
        ledger.progress(run, "oca", wave, {"adopted": n})
        ledger.close_sync(run, "oca", wave, "success" if n % 3 else "partial", counts={"adopted": n, "deferred": 1})
    ledger.finish(run)
    ledger.close()
    n += 1
"""

HOLDS_A_WRITE = PRELUDE + """
ledger = Ledger.open(ws / "reports")
ledger.begin("run-1", lock=lock)
ledger.open_sync("run-1", "oca", "wave-a", revision="rev-1")
ledger.close_sync("run-1", "oca", "pull", "success", revision="rev-1")
with ledger._write() as db:                           # a run in the middle of writing, for a long while
    db.execute("UPDATE syncs SET status = 'failed', ended = 'x', error = 'uncommitted' WHERE sync_type = 'wave-a'")
    print("holding", flush=True)
    time.sleep(60)
"""


@contextmanager
def child(script: str, workspace: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", script, str(workspace)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n", proc.stderr.read()
        yield proc
    finally:
        proc.kill()
        proc.wait()


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def take_lock(workspace: Path) -> tuple[Path, object]:
    """The workspace lock, as the next run takes it (free only because the killed run is gone)."""
    path = workspace / ".forkwave" / "lock"
    handle = open(path, "a+")  # noqa: SIM115  (held until the test ends, like a run's lock)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return path, handle


def integrity(reports: Path) -> None:
    db = sqlite3.connect(reports / LEDGER)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.close()


def test_a_run_killed_inside_a_transaction(tmp_path: Path) -> None:
    with child(KILLED_AT_COMMIT, tmp_path) as proc:
        assert proc.wait(timeout=60) == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        assert proc.stdout.read() == ""                                          # killed before COMMIT
    reports = tmp_path / "reports"
    assert (reports / f"{LEDGER}-wal").stat().st_size > 0                       # recovery from the WAL is tested
    integrity(reports)
    with Ledger.open(reports) as reader:                                       # doit history, no lock
        run, = reader.recent()
        waves = {s.sync_type: s for s in run.syncs}
        assert (waves["wave-a"].status, waves["wave-a"].counts.adopted) == ("success", 4)
        assert (waves["wave-b"].status, waves["wave-b"].counts.adopted) == ("running", 0)   # the kill undid it
        assert run.live is False and "running (pid" in render([run], "plain")
    lock, handle = take_lock(tmp_path)
    with Ledger.open(reports) as nxt:
        assert nxt.begin("run-2", lock=lock) == ["run-1"]
        run1 = nxt.run("run-1")
        waves = {s.sync_type: s for s in run1.syncs}
        assert (waves["wave-b"].status, waves["wave-b"].note) == ("failed", INTERRUPTED)
        assert waves["wave-a"].status == "success" and run1.ended is not None and run1.status == "failed"
        assert nxt.last_success("oca", "wave-a").revision == "rev-1"
        assert nxt.last_success("oca", "wave-b") is None
    integrity(reports)


def test_killed_at_random_moments_the_ledger_stays_whole(tmp_path: Path) -> None:
    """Kills land in creation, migration, the history.jsonl import, and every kind of write."""
    rng = random.Random(15)
    shared = tmp_path / "shared"
    for i in range(16):
        workspace = shared if i % 2 else tmp_path / f"fresh-{i}"
        legacy = workspace / "reports" / JSONL
        if not legacy.exists():
            legacy.parent.mkdir(parents=True, exist_ok=True)
            legacy.write_text("".join(f'{{"run": "old-{k}", "status": "success", "start": "2025-01-0{k}T00:00:00Z", '
                                      f'"end": "2025-01-0{k}T00:01:00Z", "upstream": "u{k}"}}\n' for k in range(1, 8)))
        with child(LOOP, workspace) as proc:
            time.sleep(rng.uniform(0.0, 0.003) if i % 4 < 2 else rng.uniform(0.0, 0.25))  # early ones hit creation
            kill(proc)
        check_whole(workspace)


def check_whole(workspace: Path) -> None:
    reports = workspace / "reports"
    if not (reports / LEDGER).exists():
        return  # killed before the file was made: nothing to check
    integrity(reports)
    db = sqlite3.connect(reports / LEDGER)
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'syncs'").fetchone():
        # killed while creating it: no half schema
        assert db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone() == (0,)
        db.close()
        return next_run_closes_everything(workspace)
    # a run's end and the closing of its syncs are one transaction: never an ended run with an open sync
    assert db.execute("SELECT COUNT(*) FROM syncs JOIN runs USING (run) WHERE runs.ended IS NOT NULL "
                      "AND syncs.status = 'running'").fetchone() == (0,)
    if db.execute("SELECT value FROM meta WHERE key = 'jsonl_seen'").fetchone():   # the import is all or nothing
        assert db.execute("SELECT COUNT(*) FROM runs WHERE origin = 'history.jsonl'").fetchone() == \
            (len(jsonl_runs((reports / JSONL).read_text())),)
    db.close()
    next_run_closes_everything(workspace)


def next_run_closes_everything(workspace: Path) -> None:
    reports = workspace / "reports"
    lock, handle = take_lock(workspace)
    with Ledger.open(reports) as nxt:
        nxt.begin("checker", lock=lock)
        nxt.finish("checker")
        assert all(r.status != "running" for r in nxt.recent(10_000))        # the next run closed everything
        assert nxt.last_success("upstream", "pull").revision == "u7"


def test_a_reader_is_not_blocked_by_a_run_writing(tmp_path: Path) -> None:
    """Were the reader to wait for the writer's lock, it would fail with 'database is locked' (busy timeout)."""
    with child(HOLDS_A_WRITE, tmp_path) as proc:
        assert proc.stdout.readline() == "holding\n"
        with Ledger.open(tmp_path / "reports") as reader:
            run, = reader.recent()
            waves = {s.sync_type: s for s in run.syncs}
            assert waves["wave-a"].status == "running" and waves["wave-a"].error is None   # committed state only
            assert waves["pull"].status == "success" and run.live is True
            assert reader.last_success("oca", "pull").revision == "rev-1"
            table = render(reader.recent(), "markdown")
        assert "| run-1 | oca | wave-a | running |" in table
        kill(proc)
    integrity(tmp_path / "reports")
