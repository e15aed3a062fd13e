"""The ledger wired into real runs: rows per (source, wave) with counts, revision and error; a run
killed by SIGKILL (a fault point) ends ``failed`` with a note; ``doit history`` (table and JSON) reads
it, also while another run holds the workspace lock."""
from __future__ import annotations

import json
import signal
from pathlib import Path

from conftest import run_doit, write_config
from slicekit import build, config_for, ledger_runs, start_doit, wait_for

BASE = {"s1/a.txt": "a\n", "s2/b.txt": "b\n", "keep.txt": "keep\n"}
UPSTREAM = {"s1/a.txt": "a2\n", "s2/b.txt": "b2\n", "keep.txt": "keep\n"}
TWO_WAVES = {"a": {"paths": ["s1/**"]}, "b": {"buckets": ["*"]}}
STEPS = [{**BASE, "s1/a.txt": "a2\n"}]   # s1 and s2 change in commits of their own: not coupled, two waves


def rows(reports: Path) -> dict[str, tuple[str, int, int, int, str | None]]:
    """The last run's syncs: sync type -> (status, adopted, deferred, conflicted, revision)."""
    return {s.sync_type: (s.status, s.counts.adopted, s.counts.deferred, s.counts.conflicted, s.revision)
            for s in ledger_runs(reports)[-1].syncs}


def test_a_run_writes_one_row_per_source_and_wave_and_history_prints_them(tmp_path: Path) -> None:
    r = build(tmp_path, BASE, UPSTREAM, waves=TWO_WAVES, steps=STEPS)
    assert run_doit(r.workspace).returncode == 0
    run = ledger_runs(r.reports)[-1]
    assert run.status == "success" and run.ended and run.error is None
    assert rows(r.reports) == {"wave-a": ("success", 1, 0, 0, r.main), "wave-b": ("success", 1, 0, 0, r.main)}
    assert {s.source for s in run.syncs} == {"upstream"}
    assert not (r.reports / "history.jsonl").exists()

    state = (r.reports / ".doit.json").read_bytes()
    table = run_doit(r.workspace, "history")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("| run | source | type | status |") and len(lines) == 5   # head, rule, run, 2 rows
    assert lines[2].startswith(f"| {run.run} | — | run | success | ")                    # the run's own line
    assert {line.split(" | ")[2] for line in lines[3:]} == {"wave-a", "wave-b"}
    assert all(" | success | " in line and f" | {r.main[:12]} | 1 | 0 | 0 | 0 |" in line for line in lines[3:])
    machine = run_doit(r.workspace, "history", "format=json")
    doc = json.loads(machine.stdout)                                   # the JSON is all of stdout
    assert [(x["sync_type"], x["status"], x["adopted"], x["revision"]) for x in doc["runs"][0]["syncs"]] == [
        ("wave-a", "success", 1, r.main), ("wave-b", "success", 1, r.main)]
    assert doc["runs"][0]["run"] == run.run and doc["runs"][0]["status"] == "success"
    assert (r.reports / ".doit.json").read_bytes() == state           # history saves no doit state
    bad = run_doit(r.workspace, "history", "format=xml")
    assert bad.returncode == 1 and "format=xml: use markdown, plain or json" in bad.stderr


def test_work_left_is_partial_with_counts_and_a_failing_check_is_failed_with_its_error(tmp_path: Path) -> None:
    fork = {**BASE, "s2/b.txt": "fork edit\n"}                         # both changed: a conflict in wave b
    r = build(tmp_path, BASE, {**UPSTREAM, "s2/c.txt": "c\n"}, fork, waves=TWO_WAVES, steps=STEPS)
    assert run_doit(r.workspace).returncode == 2
    assert rows(r.reports) == {"wave-a": ("success", 1, 0, 0, r.main), "wave-b": ("partial", 1, 0, 1, r.main)}
    assert ledger_runs(r.reports)[-1].status == "partial"

    write_config(r.workspace, config_for(waves=TWO_WAVES, checks=[{"name": "tool", "run": "no-such-tool-xyz"}]))
    failed = run_doit(r.workspace)
    assert failed.returncode == 3
    run = ledger_runs(r.reports)[-1]
    [wave_a] = [s for s in run.syncs if s.sync_type == "wave-a"]
    assert wave_a.status == "failed" and "no-such-tool-xyz" in (wave_a.error or "")
    assert run.status == "failed" and "no-such-tool-xyz" in (run.error or "")


def test_a_run_killed_mid_wave_ends_failed_with_a_note_and_keeps_its_counts(tmp_path: Path) -> None:
    r = build(tmp_path, BASE, UPSTREAM, waves=TWO_WAVES, steps=STEPS)
    killed = run_doit(r.workspace, env={"FORKWAVE_FAULT": "after-outcome:2"})   # SIGKILL after wave b's slice
    assert killed.returncode == -signal.SIGKILL
    before = ledger_runs(r.reports)[-1]
    assert before.status == "running" and before.live is False
    assert {s.sync_type: s.status for s in before.syncs} == {"wave-a": "success", "wave-b": "running"}

    shown = run_doit(r.workspace, "history", "format=plain")
    assert "running (pid" in shown.stdout and "gone: the next run closes it" in shown.stdout

    assert run_doit(r.workspace).returncode == 0                       # resumes, and closes the killed run
    runs = {run.run: run for run in ledger_runs(r.reports)}
    old = runs[before.run]
    assert old.status == "failed" and old.note == "interrupted during wave b (no end recorded)"
    assert {s.sync_type: (s.status, s.note) for s in old.syncs} == {
        "wave-a": ("success", None), "wave-b": ("failed", "interrupted (no end recorded)")}
    assert list(runs.values())[-1].status == "success"
    last = json.loads(run_doit(r.workspace, "history", "format=json", "limit=1").stdout)["runs"]
    assert [x["run"] for x in last] == [list(runs)[-1]]
    bad = run_doit(r.workspace, "history", "limit=none")
    assert bad.returncode == 1 and "limit=none: give a whole number of runs, 1 or more" in bad.stderr


def test_history_in_the_demo_workspace_is_json_only(tmp_path: Path) -> None:
    shown = run_doit(tmp_path, "history", "format=json")             # no config: the demo, nothing run yet
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"runs": []}


def test_history_reads_while_another_run_holds_the_lock(tmp_path: Path) -> None:
    hold, started = tmp_path / "HOLD", tmp_path / "STARTED"
    hold.touch()
    slow = {"name": "slow", "run": f"[ -z \"$FORKWAVE_SLICE\" ] && exit 0; touch {started}; "
                                   f"while [ -e {hold} ]; do sleep 0.05; done"}
    r = build(tmp_path, BASE, UPSTREAM, checks=[slow])
    proc = start_doit(r.workspace, log=tmp_path / "run.log")
    try:
        wait_for(started.exists, 60, "the slow check to start")
        blocked = run_doit(r.workspace, "fetch")
        assert blocked.returncode == 3 and "another forkwave run holds" in blocked.stderr
        shown = run_doit(r.workspace, "history", "format=json")
        assert shown.returncode == 0, shown.stderr
        [current] = json.loads(shown.stdout)["runs"]
        assert current["status"] == "running" and current["live"] is True and current["pid"] == proc.pid
        assert [(s["sync_type"], s["status"]) for s in current["syncs"]] == [("wave-a", "running")]
    finally:
        hold.unlink()
        proc.wait(timeout=120)
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()
    assert ledger_runs(r.reports)[-1].status == "success"


def test_the_run_summary_json_beside_summary_json_in_the_seeds_shape(tmp_path: Path) -> None:
    fork = {**BASE, "s2/b.txt": "fork edit\n"}                         # wave b: a conflict
    r = build(tmp_path, BASE, UPSTREAM, fork, waves=TWO_WAVES, steps=STEPS)
    assert run_doit(r.workspace).returncode == 2
    doc = json.loads((r.reports / "run-summary.json").read_text())
    assert (r.reports / "summary.json").exists()
    assert list(doc) == ["timestamp", "total_targets", "successful", "failed", "total_duration", "results", "status",
                         "message"]
    assert (doc["status"], doc["message"]) == ("partial", "work left for a person (deferred or conflicted slices)")
    assert doc["timestamp"] == ledger_runs(r.reports)[-1].started
    assert (doc["total_targets"], doc["successful"], doc["failed"]) == (1, 0, 1)
    [result] = doc["results"]
    assert {k: result[k] for k in ("target", "direction", "success", "status", "outputs_created",
                                   "verification_passed")} == {
        "target": "upstream", "direction": "pull", "success": False, "status": "partial",
        "outputs_created": [], "verification_passed": None}   # s1/a.txt landed, but changed: no output created
    assert "2 slices: 1 adopted, 1 conflicted" in result["message"]
    assert 0 < result["duration"] <= doc["total_duration"]

    before = (r.reports / "run-summary.json").read_bytes()
    assert run_doit(r.workspace, "drift").returncode == 0               # a run that reaches no slice
    assert (r.reports / "run-summary.json").read_bytes() == before     # leaves the last summary as it was
