"""The sync ledger on real SQLite files: rows per (run, source, sync type), statuses, last success,
interrupted runs, the import of history.jsonl (written by the real tasks/runlock.py), migrations."""
from __future__ import annotations

import doctest
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from tasks.core.runsummary import tally
from tasks.errors import ForkwaveError
from tasks.report import ledger as ledger_module
from tasks.core.outcome import Outcome
from tasks.report.ledger import INTERRUPTED, JSONL, LEDGER, SCHEMA_VERSION, Counts, Ledger, migrate


def clock(start: int = 0) -> Callable[[], str]:
    """Distinct, increasing UTC times one minute apart, so ordering is by design, not by luck."""
    ticks = itertools.count(start)
    return lambda: f"2026-01-01T{10 + (n := next(ticks)) // 60:02d}:{n % 60:02d}:00Z"


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    (tmp_path / ".forkwave").mkdir()
    return tmp_path / ".forkwave" / "lock"


@pytest.fixture
def ledger(reports: Path) -> Iterator[Ledger]:
    with Ledger.open(reports, now=clock()) as opened:
        yield opened


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_doctests() -> None:
    assert doctest.testmod(ledger_module).failed == 0


def test_a_new_ledger_is_a_wal_database_with_a_schema_version(ledger: Ledger, reports: Path) -> None:
    db = sqlite3.connect(reports / LEDGER)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"          # kept in the file itself
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert ledger.schema_version() == SCHEMA_VERSION == 3


def test_a_successful_run(ledger: Ledger, lock: Path) -> None:
    assert ledger.begin("r1", lock=lock) == []
    ledger.open_sync("r1", "oca_web", "wave-a", revision="a" * 40)
    assert ledger.recent()[0].status == "running"
    ledger.progress("r1", "oca_web", "wave-a", {"adopted": 2})
    ledger.open_sync("r1", "oca_web", "wave-b")
    ledger.close_sync("r1", "oca_web", "wave-a", "success", counts=Counts(adopted=3))
    ledger.close_sync("r1", "oca_web", "wave-b", "success", revision="b" * 40, counts={"adopted": 1, "exported": 0})
    assert ledger.finish("r1") == "success"
    run, = ledger.recent()
    assert (run.run, run.status, run.pid, run.ended) == ("r1", "success", os.getpid(), "2026-01-01T10:05:00Z")
    a, b = run.syncs
    assert (a.source, a.sync_type, a.status, a.revision, a.counts) == ("oca_web", "wave-a", "success", "a" * 40,
                                                                      Counts(adopted=3))
    assert (a.started, a.ended) == ("2026-01-01T10:01:00Z", "2026-01-01T10:03:00Z")
    assert (b.revision, b.counts.adopted, b.error, b.note) == ("b" * 40, 1, None, None)


def test_partial_and_failed_syncs(ledger: Ledger, lock: Path) -> None:
    ledger.begin("r1", lock=lock)
    counts = tally([Outcome.from_json({"slice": "s", "wave": "a", "upstream": "u", "parent": "p", "status": "split",
                                       "adopted": ["a"], "deferred": [{"files": ["b", "c"]}],
                                       "conflicts": [{"path": "d"}]})])
    ledger.close_sync("r1", "oca", "wave-a", "partial", counts=counts, note="2 deferred")
    ledger.close_sync("r1", "oca", "push", "failed", error="push refused: non-fast-forward")
    assert ledger.finish("r1") == "partial"
    run, = ledger.recent()
    wave, push = sorted(run.syncs, key=lambda s: s.sync_type, reverse=True)
    assert (wave.status, wave.counts, wave.note) == ("partial", Counts(1, 2, 1, 0), "2 deferred")
    assert (push.status, push.error) == ("failed", "push refused: non-fast-forward")


def test_finish_closes_what_the_run_left_open_as_failed(ledger: Ledger, lock: Path) -> None:
    ledger.begin("r1", lock=lock)
    ledger.open_sync("r1", "oca", "wave-a")
    ledger.close_sync("r1", "oca", "wave-b", "success")
    assert ledger.finish("r1", error="fetch: connection refused") == "partial"
    run, = ledger.recent()
    left = next(s for s in run.syncs if s.sync_type == "wave-a")
    assert (left.status, left.error, left.note) == ("failed", "fetch: connection refused",
                                                    "the run ended before this sync did")
    assert run.error == "fetch: connection refused"


def test_only_the_four_statuses_exist(ledger: Ledger, reports: Path) -> None:
    with pytest.raises(ValueError, match="not 'running'"):
        ledger.close_sync("r1", "oca", "wave-a", "running")
    with pytest.raises(ValueError, match="not 'ok'"):
        ledger.close_sync("r1", "oca", "wave-a", "ok")
    db = sqlite3.connect(reports / LEDGER)
    db.execute("INSERT INTO runs (run, started) VALUES ('x', 'T')")
    with pytest.raises(sqlite3.IntegrityError):                   # the schema itself refuses another word
        db.execute("INSERT INTO syncs (run, source, sync_type, status, started, ended) VALUES ('x', 's', 't', "
                   "'done', 'T', 'T')")
    with pytest.raises(sqlite3.IntegrityError):                   # and a closed sync without an end
        db.execute("INSERT INTO syncs (run, source, sync_type, status, started) VALUES ('x', 's', 't', "
                   "'success', 'T')")


def test_last_success_per_source_and_sync_type(ledger: Ledger, lock: Path) -> None:
    assert ledger.last_success("oca", "wave-a") is None
    for run, status, rev in (("r1", "success", "rev1"), ("r2", "success", "rev2"), ("r3", "partial", "rev3"),
                             ("r4", "failed", "rev4")):
        ledger.begin(run, lock=lock)
        ledger.open_sync(run, "oca", "wave-a", revision=rev)
        ledger.close_sync(run, "oca", "wave-a", status)
        ledger.close_sync(run, "apps", "wave-a", "success", revision=f"apps-{rev}")
        ledger.finish(run)
    last = ledger.last_success("oca", "wave-a")
    assert (last.run, last.revision) == ("r2", "rev2")             # partial and failed runs do not count
    assert last.ended == next(s.ended for s in ledger.run("r2").syncs if s.source == "oca")
    assert ledger.last_success("apps", "wave-a").revision == "apps-rev4"
    assert ledger.last_success("oca", "wave-b") is None


def test_recent_is_newest_first_and_filters(ledger: Ledger, lock: Path) -> None:
    for i in range(5):
        ledger.begin(f"r{i}", lock=lock)
        ledger.close_sync(f"r{i}", "oca" if i % 2 else "apps", "pull", "success")
        ledger.finish(f"r{i}")
    assert [r.run for r in ledger.recent()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.run for r in ledger.recent(2)] == ["r4", "r3"]
    assert [r.run for r in ledger.recent(source="oca")] == ["r3", "r1"]
    assert [r.run for r in ledger.recent(source="oca", sync_type="push")] == []


def test_the_next_run_holding_the_lock_closes_a_dead_runs_rows(reports: Path, lock: Path) -> None:
    with Ledger.open(reports, now=clock()) as first:
        first.begin("r1", lock=lock, pid=dead_pid())
        first.open_sync("r1", "oca", "wave-a")
        first.close_sync("r1", "oca", "pull", "success")
    with Ledger.open(reports, now=clock(100)) as second:
        assert second.begin("r2", lock=lock) == ["r1"]
        r1 = second.run("r1")
    wave = next(s for s in r1.syncs if s.sync_type == "wave-a")
    assert (wave.status, wave.note, wave.ended) == ("failed", INTERRUPTED, "2026-01-01T11:40:00Z")
    assert next(s for s in r1.syncs if s.sync_type == "pull").status == "success"    # what it closed stays
    assert r1.status == "failed" and r1.ended and r1.note == INTERRUPTED   # a dead run failed, whatever it closed


def test_holding_the_lock_closes_a_run_whose_pid_lives_on(reports: Path, lock: Path) -> None:
    """A pid reused by another process is no proof of life: the lock the run held is ours now."""
    with Ledger.open(reports) as ledger:
        ledger.begin("r1", lock=lock, pid=os.getpid())             # "alive": this very process
        ledger.open_sync("r1", "oca", "wave-a")
        ledger.current = None                                      # as a new process would see it
        assert ledger.reap(holding=None) == []                     # a reader cannot tell it is over
        assert ledger.reap(holding=lock) == ["r1"]


def test_without_the_lock_a_dead_pid_is_closed_and_a_live_one_is_not(reports: Path, tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with Ledger.open(reports) as ledger:
            ledger.begin("dead", lock=tmp_path / "elsewhere-1", pid=dead_pid())
            ledger.begin("alive", lock=tmp_path / "elsewhere-2", pid=sleeper.pid)
            for run in ("dead", "alive"):
                ledger.open_sync(run, "oca", "wave-a")
            ledger.current = None
            assert ledger.live("alive") is True and ledger.live("dead") is False
            assert ledger.reap(holding=tmp_path / "our-lock") == ["dead"]
            sleeper.kill()
            sleeper.wait()
            assert ledger.live("alive") is False
            assert ledger.reap() == ["alive"]
    finally:
        sleeper.kill()


def test_a_reused_pid_is_not_the_run(reports: Path, tmp_path: Path) -> None:
    """Same pid, another start time: the process that wrote the row is gone."""
    with Ledger.open(reports) as ledger:
        ledger.begin("r1", lock=tmp_path / "x", pid=os.getpid())
        ledger.open_sync("r1", "oca", "wave-a")
        ledger.current = None
        sqlite3.connect(reports / LEDGER, isolation_level=None).execute("UPDATE runs SET pid_start = '1'")
        assert ledger.live("r1") is False and ledger.reap() == ["r1"]


def test_a_run_on_another_machine_is_left_unless_we_hold_its_lock(reports: Path, lock: Path) -> None:
    with Ledger.open(reports) as ledger:
        ledger.begin("r1", lock=lock, pid=dead_pid())
        ledger.open_sync("r1", "oca", "wave-a")
        ledger.current = None
        sqlite3.connect(reports / LEDGER, isolation_level=None).execute("UPDATE runs SET machine = 'ci-runner-7/x'")
        assert ledger.live("r1") is None and ledger.reap() == []
        assert ledger.recent()[0].live is None
        assert ledger.reap(holding=lock) == ["r1"]                 # a restored CI cache: same workspace lock


def test_a_live_run_reads_as_live(ledger: Ledger, lock: Path) -> None:
    ledger.begin("r1", lock=lock)
    ledger.open_sync("r1", "oca", "wave-a")
    assert ledger.recent()[0].live is True and ledger.live("r1") is True


# --- history.jsonl, as tasks/runlock.py wrote it before the ledger -------------------------

# three runs as the old runlock wrote them: one partial, one killed (left running), one that closed it
OLD_RUNLOCK = [
    {"run": "20261101T100000Z-aaaaaa", "status": "running", "start": "2026-11-01T10:00:00Z", "pid": 11,
     "upstream": "rev-1"},
    {"run": "20261101T100000Z-aaaaaa", "status": "partial", "end": "2026-11-01T10:05:00Z", "upstream": "rev-1",
     "slices": {"slice-1": "adopted", "slice-2": "split"}, "adopted": ["a.py", "b.py", "c.py"],
     "deferred": ["d.py"], "conflicted": ["e.py"]},
    {"run": "20261102T100000Z-bbbbbb", "status": "running", "start": "2026-11-02T10:00:00Z", "pid": 12,
     "upstream": "rev-2"},
    {"run": "20261102T100000Z-bbbbbb", "status": "failed", "end": "2026-11-03T10:00:00Z",
     "note": "interrupted (no end recorded)"},
    {"run": "20261103T100000Z-cccccc", "status": "running", "start": "2026-11-03T10:00:00Z", "pid": 13,
     "upstream": "rev-3"},
    {"run": "20261103T100000Z-cccccc", "status": "success", "end": "2026-11-03T10:01:00Z", "upstream": "rev-3",
     "slices": {}, "adopted": [], "deferred": [], "conflicted": []},
]


def test_history_jsonl_of_the_old_runlock_is_imported_on_first_use(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / JSONL).write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in OLD_RUNLOCK))
    ids = list(dict.fromkeys(e["run"] for e in OLD_RUNLOCK))
    with Ledger.open(reports) as ledger:
        runs = {r.run: r for r in ledger.recent()}
        assert sorted(runs) == sorted(ids) and len(ids) == 3
        first, killed, third = (runs[i] for i in ids)
        sync, = first.syncs
        assert (sync.source, sync.sync_type, sync.status, sync.revision) == ("upstream", "pull", "partial", "rev-1")
        assert sync.counts == Counts(adopted=3, deferred=1, conflicted=1)
        assert first.origin == "history.jsonl" and first.pid == 11 and first.ended
        assert (killed.status, killed.syncs[0].note) == ("failed", "interrupted (no end recorded)")
        assert third.syncs[0].revision == "rev-3"
        detail = sqlite3.connect(ledger.path).execute("SELECT detail FROM syncs WHERE run = ?", (ids[0],)).fetchone()
        assert json.loads(detail[0]) == {"slices": {"slice-1": "adopted", "slice-2": "split"}}
    with Ledger.open(reports) as again:                      # no second copy
        assert len(again.recent()) == 3


RUNLOCK = """
import os, signal, sys
from pathlib import Path
from tasks.engine import runlock
from tasks.workspace import Workspace
from tasks.core.outcome import Outcome
def outcome(name, status, **data):
    return Outcome.from_json({"slice": name, "wave": "a", "upstream": "u", "parent": "p", "status": status, **data})
run = runlock.acquire(Workspace(Path(sys.argv[1])), sys.argv[2])
run.record("slice-1", outcome("slice-1", "adopted", adopted=["a.py", "b.py"], landed=["a.py", "b.py"], run=run.id),
           source="oca", wave="a", revision=sys.argv[2])
run.record("slice-2", outcome("slice-2", "split", adopted=["c.py"], landed=["c.py"], run=run.id,
                              deferred=[{"files": ["d.py"]}], conflicts=[{"path": "e.py"}]),
           source="oca", wave="a", revision=sys.argv[2])
if sys.argv[3] == "kill":
    runlock.enter("wave a")
    os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[3] == "fail":
    runlock.mark_failed("fetch: the mirror is gone")
"""


def runlock_run(workspace: Path, upstream: str, how: str = "exit") -> int:
    proc = subprocess.run([sys.executable, "-c", RUNLOCK, str(workspace), upstream, how], cwd=ROOT,
                          capture_output=True, timeout=60)
    return proc.returncode


def test_runlock_writes_the_ledger_and_the_next_run_closes_a_killed_one(tmp_path: Path) -> None:
    assert runlock_run(tmp_path, "rev-1") == 0
    assert runlock_run(tmp_path, "rev-2", "kill") == -signal.SIGKILL      # left 'running'
    with Ledger.open(tmp_path / "reports") as ledger:
        killed = next(r for r in ledger.recent() if r.syncs[0].revision == "rev-2")
        assert (killed.status, killed.live, killed.syncs[0].counts) == ("running", False, Counts(3, 1, 1))
    assert runlock_run(tmp_path, "rev-3", "fail") == 0                    # closed it as interrupted
    assert not (tmp_path / "reports" / JSONL).exists()                    # the old file is no longer written
    with Ledger.open(tmp_path / "reports") as ledger:
        runs = {r.syncs[0].revision: r for r in ledger.recent()}   # run ids of one second need not sort
        first, killed, third = runs["rev-1"], runs["rev-2"], runs["rev-3"]
        sync, = first.syncs
        assert (sync.source, sync.sync_type, sync.status, sync.revision) == ("oca", "wave-a", "partial", "rev-1")
        assert sync.counts == Counts(adopted=3, deferred=1, conflicted=1) and first.status == "partial"
        assert (killed.status, killed.syncs[0].status, killed.syncs[0].note) == ("failed", "failed", INTERRUPTED)
        assert killed.note == "interrupted during wave a (no end recorded)"  # the phase it died in
        assert killed.syncs[0].counts == Counts(3, 1, 1)                   # what it had done stays readable
        # an error after something landed: partial, with the error
        assert (third.status, third.error, third.syncs[0].error) == ("partial",) + ("fetch: the mirror is gone",) * 2


def test_history_jsonl_that_grows_is_imported_again_and_native_runs_win(tmp_path: Path, lock: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    jsonl = reports / "history.jsonl"
    jsonl.write_text('{"run": "j1", "status": "running", "start": "2025-12-01T10:00:00Z", "pid": 1}\n'
                     '{"run": "j2", "status": "success", "start": "2025-12-02T10:00:00Z", '
                     '"end": "2025-12-02T10:05:00Z", "upstream": "u2", "adopted": ["x"]}\n'
                     '{"run": "j3", "sta')                                  # a line a full disk cut short
    with Ledger.open(reports) as ledger:
        assert {r.run: r.status for r in ledger.recent()} == {"j1": "running", "j2": "success"}
        assert ledger.last_success("upstream", "pull").revision == "u2"
        ledger.begin("j2", lock=lock)                                   # the ledger takes a run id over
        ledger.close_sync("j2", "oca", "wave-a", "success")
        ledger.finish("j2")
    with open(jsonl, "a") as fh:
        fh.write('\n{"run": "j1", "status": "failed", "end": "2025-12-03T10:00:00Z", "note": "interrupted"}\n'
                 '{"run": "j2", "status": "failed", "end": "2025-12-03T10:00:00Z"}\n')
    with Ledger.open(reports) as ledger:
        runs = {r.run: r for r in ledger.recent()}
        assert runs["j1"].status == "failed" and runs["j1"].syncs[0].note == "interrupted"
        assert [(s.source, s.status) for s in runs["j2"].syncs] == [("oca", "success")]   # not the jsonl's


def test_a_custom_legacy_source_name(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "history.jsonl").write_text('{"run": "j", "status": "success", "start": "T", "end": "T"}\n')
    with Ledger.open(reports, legacy_source="twenty") as ledger:
        assert ledger.last_success("twenty", "pull").run == "j"


# --- schema ---------------------------------------------------------------------------

def test_a_migration_keeps_the_rows_and_bumps_the_version(ledger: Ledger, reports: Path, lock: Path) -> None:
    ledger.begin("r1", lock=lock)
    ledger.close_sync("r1", "oca", "wave-a", "success", revision="rev")
    ledger.finish("r1")
    v4 = (*ledger_module.MIGRATIONS, ("ALTER TABLE syncs ADD COLUMN duration REAL",
                                      "UPDATE syncs SET duration = 0"))
    db = sqlite3.connect(reports / LEDGER, isolation_level=None)
    assert migrate(db, reports / LEDGER, v4) == 4
    assert db.execute("SELECT run, revision, duration FROM syncs").fetchall() == [("r1", "rev", 0.0)]
    assert migrate(db, reports / LEDGER, v4) == 4                       # idempotent
    db.close()
    with pytest.raises(ForkwaveError, match="schema version 4 is newer than this forkwave knows \\(3\\); upgrade"):
        Ledger.open(reports)


def test_a_failed_migration_changes_nothing(ledger: Ledger, reports: Path) -> None:
    broken = (*ledger_module.MIGRATIONS, ("ALTER TABLE syncs ADD COLUMN a TEXT", "THIS IS NOT SQL"))
    db = sqlite3.connect(reports / LEDGER, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, reports / LEDGER, broken)
    assert "a" not in [c[1] for c in db.execute("PRAGMA table_info(syncs)")]
    assert ledger.schema_version() == 3


def test_an_empty_file_becomes_a_ledger(reports: Path) -> None:
    reports.mkdir()
    (reports / LEDGER).write_bytes(b"")
    with Ledger.open(reports) as ledger:
        assert ledger.schema_version() == 3


def test_an_unreadable_ledger_is_set_aside(reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports.mkdir()
    (reports / LEDGER).write_bytes(b"this is not a database, and it is long enough to have a header" * 10)
    with Ledger.open(reports) as ledger:
        assert ledger.recent() == []
    err = capsys.readouterr().err
    assert err.startswith(f"forkwave: warning: {reports / LEDGER} could not be read (file is not a database); "
                          "set aside as ledger.sqlite.unreadable-")
    aside, = reports.glob("ledger.sqlite.unreadable-*")
    assert aside.read_bytes().startswith(b"this is not a database")


def test_a_write_sqlite_refuses_is_a_warning_not_a_crash(reports: Path, lock: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with Ledger.open(reports) as ledger:
        ledger.begin("r1", lock=lock)
        blocker = sqlite3.connect(reports / LEDGER, isolation_level=None, timeout=0)
        blocker.execute("BEGIN IMMEDIATE")                             # another writer that never lets go
        ledger._db.execute("PRAGMA busy_timeout = 50")
        ledger.close_sync("r1", "oca", "wave-a", "success")
        blocker.execute("ROLLBACK")
        assert "could not be recorded (database is locked)" in capsys.readouterr().err
        assert ledger.run("r1").syncs == ()                            # lost, and the next run closes r1


def test_a_full_disk_costs_the_record_not_the_run(reports: Path, lock: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite's own SQLITE_FULL (max_page_count caps the file), then the disk has room again."""
    with Ledger.open(reports) as ledger:
        ledger.begin("r1", lock=lock)
        pages = ledger._db.execute("PRAGMA page_count").fetchone()[0]
        ledger._db.execute(f"PRAGMA max_page_count = {pages}")
        for i in range(50):
            ledger.close_sync("r1", "oca", f"wave-{i}", "success", note="n" * 4000)
        assert "could not be recorded (database or disk is full)" in capsys.readouterr().err
        ledger._db.execute("PRAGMA max_page_count = 1073741823")
        ledger.close_sync("r1", "oca", "after", "success")              # no transaction was left open
        assert ledger.finish("r1") == "success"
        assert "after" in {s.sync_type for s in ledger.run("r1").syncs}


RUN_TARGETS = """
import sys
from pathlib import Path
from tasks.engine import runlock
from tasks.workspace import Workspace
from tasks.core.outcome import Outcome
def outcome(name, status, **data):
    return Outcome.from_json({"slice": name, "wave": "a", "upstream": "u", "parent": "p", "status": status, **data})
run = runlock.acquire(Workspace(Path(sys.argv[1])), "rev")
run.targets = ["oca", "apps"]
run.record("slice-1", outcome("slice-1", "adopted", adopted=["a.py"], landed=["a.py"], run=run.id,
                              files=[{"path": "a.py", "class": "upstream-added"}]), source="oca", wave="a",
           revision="rev")
run.close("oca", "wave-a")
run.record("slice-2", outcome("slice-2", "conflicted", conflicts=[{"path": "b.py"}]), source="oca", wave="b",
           revision="rev")
run.record("export-1", outcome("export-1", "adopted", adopted=["x.py"]), source="oca", kind="push", revision="rev",
           exported=["x.py"], created=["x.py"])
"""


def test_the_run_summary_has_one_target_per_source_and_direction(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", RUN_TARGETS, str(tmp_path)], cwd=ROOT, capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "reports" / "run-summary.json").read_text())
    results = {(r["target"], r["direction"]): r for r in doc["results"]}
    assert list(results) == [("oca", "pull"), ("apps", "pull"), ("oca", "push")]
    assert results[("oca", "pull")]["status"] == "partial" and results[("oca", "pull")]["outputs_created"] == ["a.py"]
    assert results[("apps", "pull")]["message"] == "nothing to do" and results[("apps", "pull")]["success"]
    assert results[("oca", "push")]["success"] and results[("oca", "push")]["outputs_created"] == ["x.py"]
    assert (doc["total_targets"], doc["successful"], doc["failed"]) == (3, 2, 1)
    with Ledger.open(tmp_path / "reports") as ledger:
        [run] = ledger.recent()
        assert {(s.sync_type, s.status) for s in run.syncs} == {("wave-a", "success"), ("wave-b", "failed"),
                                                               ("push", "success")}


def test_every_column_of_a_run_and_its_sync_reads_back_into_its_field(ledger: Ledger, lock: Path) -> None:
    """Rows become records by column name: a run's recorded status and phase, a sync's counts, error and note
    each land in their own field (a shifted column would put one where another belongs)."""
    ledger.begin("r1", lock=lock, pid=4242)
    ledger.enter("r1", "wave a")
    ledger.close_sync("r1", "oca_web", "wave-a", "partial", revision="b" * 40, error="1 slice failed",
                      note="left for a person", counts=Counts(adopted=5, deferred=4, conflicted=3, exported=2,
                                                              waiting=1, unit="commits"))
    ledger.finish("r1", status="partial", error="work left", note="see the report")
    for run in (ledger.recent()[0], ledger.run("r1")):
        assert run is not None
        assert (run.run, run.pid, run.origin, run.error, run.note) == ("r1", 4242, "ledger", "work left",
                                                                        "see the report")
        assert (run.recorded, run.phase, run.status) == ("partial", "wave a", "partial")
        assert run.ended is not None and run.started < run.ended
        (sync,) = run.syncs
        assert (sync.run, sync.source, sync.sync_type, sync.status, sync.revision) == (
            "r1", "oca_web", "wave-a", "partial", "b" * 40)
        assert sync.counts == Counts(adopted=5, deferred=4, conflicted=3, exported=2, waiting=1, unit="commits")
        assert (sync.error, sync.note) == ("1 slice failed", "left for a person")
        assert sync.ended is not None and sync.started <= sync.ended
