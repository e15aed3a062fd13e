"""Re-runs: only what is not adopted runs again; resets, check changes, a SIGKILL, two runs, a CI cache."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from conftest import commit_tree, doit_ok, run_doit
from slicekit import (Repos, build, ledger_runs, outcome, pids_matching, read, rev, rewrite_config, slice_names,
                      start_doit, trailers, tree, wait_for, slice_commits,
)

BASE = {"keep.txt": "keep\n"}
UPSTREAM = {"keep.txt": "keep\n", "s1/a.txt": "a\n", "s2/b.txt": "b BROKEN\n", "s3/c.txt": "c\n"}
NOBROKEN = {"name": "nobroken", "run": "! grep -rq --exclude=.git BROKEN ."}
LINT = {"name": "lint", "run": "echo lint-v1", "when": ["s1/**"]}


def three_slices(tmp_path: Path, upstream: dict[str, str] = UPSTREAM, **config) -> Repos:
    """slice-1 (s1/a.txt), slice-2 (s2/b.txt, fails nobroken), slice-3 (s3/c.txt)."""
    config.setdefault("checks", [NOBROKEN, LINT])
    # one upstream commit per file: no co-change coupling, so a later upstream fix keeps the numbering
    changed = [p for p in sorted(upstream) if upstream[p] != BASE.get(p)]
    steps = [BASE | {p: upstream[p] for p in changed[:i]} for i in range(1, len(changed))]
    return build(tmp_path, BASE, upstream, steps=steps, slices={"max_files": 1}, **config)


def validate_status(result) -> dict[str, str]:
    return {k: v for k, v in result.status().items() if k.startswith("validate:")}


def test_a_second_run_runs_only_the_slice_that_was_not_adopted(tmp_path: Path) -> None:
    r = three_slices(tmp_path)
    first = run_doit(r.workspace)
    assert first.returncode != 0
    assert [outcome(r, n)["status"] for n in slice_names(r)] == ["adopted", "reverted", "adopted"]
    tip, adopted_bytes = rev(r.fork, "sync/upstream"), (r.reports / "slices/slice-1/outcome.json").read_bytes()

    second = run_doit(r.workspace)

    assert second.returncode != 0
    # nothing changed for the reverted slice either: it is not run again, its line says so
    assert validate_status(second) == {"validate:slice-1": "up to date", "validate:slice-2": "up to date",
                                       "validate:slice-3": "up to date"}
    status = second.status()
    assert all(status[t] == "up to date" for t in ("fetch", "drift", "plan", "import:slice-1", "import:slice-2"))
    assert "[wave a 2/3] slice-2: reverted — unchanged since run" in second.stdout
    assert rev(r.fork, "sync/upstream") == tip
    assert (r.reports / "slices/slice-1/outcome.json").read_bytes() == adopted_bytes

    # fixed upstream: the reverted slice is adopted on top of the others, the adopted ones stay put
    fixed = commit_tree(r.upstream, {**UPSTREAM, "s2/b.txt": "b fixed\n"}, message="fix", tick=30)
    third = run_doit(r.workspace)
    assert third.returncode == 0, third.stdout + third.stderr
    assert outcome(r, "slice-2")["status"] == "adopted" and outcome(r, "slice-2")["upstream"] == fixed
    assert tree(r.fork, "sync/upstream")["s2/b.txt"] == ("100644", b"b fixed\n")


def test_deleting_or_resetting_the_sync_branch_makes_adopted_slices_run_again(tmp_path: Path) -> None:
    r = three_slices(tmp_path, {**UPSTREAM, "s2/b.txt": "b\n"})
    doit_ok(r.workspace)
    assert validate_status(doit_ok(r.workspace)) == dict.fromkeys(
        ("validate:slice-1", "validate:slice-2", "validate:slice-3"), "up to date")

    subprocess.run(["git", "-C", str(r.fork), "branch", "-D", "sync/upstream"], check=True, capture_output=True)
    again = doit_ok(r.workspace)
    assert set(validate_status(again).values()) == {"ran"}
    log = slice_commits(r.fork, "main..sync/upstream")
    assert [trailers(m)["Forkwave-Slice"] for _, m in reversed(log)] == ["slice-1", "slice-2", "slice-3"]

    subprocess.run(["git", "-C", str(r.fork), "branch", "-f", "sync/upstream", "main"], check=True)
    reset = doit_ok(r.workspace)
    assert set(validate_status(reset).values()) == {"ran"}
    assert len(slice_commits(r.fork, "main..sync/upstream")) == 3
    assert tree(r.fork, "sync/upstream")["s3/c.txt"] == ("100644", b"c\n")


def test_changing_a_check_re_runs_only_the_slices_it_applies_to(tmp_path: Path) -> None:
    r = three_slices(tmp_path, {**UPSTREAM, "s2/b.txt": "b\n"})
    doit_ok(r.workspace)
    tip = rev(r.fork, "sync/upstream")
    commit_of_1 = outcome(r, "slice-1")["commit"]

    rewrite_config(r, slices={"max_files": 1}, checks=[NOBROKEN, {**LINT, "run": "echo lint-v2"}])
    changed = doit_ok(r.workspace)

    # lint applies to s1/** only: slice-1 runs again, slices 2 and 3 are up to date
    assert validate_status(changed) == {"validate:slice-1": "ran", "validate:slice-2": "up to date",
                                        "validate:slice-3": "up to date"}
    out = outcome(r, "slice-1")
    assert out["status"] == "adopted" and out["commits"] == [commit_of_1]      # verified again, not re-imported
    [attempt] = out["attempts"]
    lint = next(res for res in attempt["results"] if res["name"] == "lint")
    assert lint["status"] == "passed" and (r.reports / lint["log"]).read_text() == "lint-v2\n"
    assert rev(r.fork, "sync/upstream") == tip
    assert validate_status(doit_ok(r.workspace)) == dict.fromkeys(
        ("validate:slice-1", "validate:slice-2", "validate:slice-3"), "up to date")

    # a check that now fails everywhere, the sync branch included: pre-existing, it does not block
    broken_lint = {**LINT, "run": "echo lint-v3; exit 2"}
    rewrite_config(r, slices={"max_files": 1}, checks=[NOBROKEN, broken_lint])
    lenient = doit_ok(r.workspace)
    assert validate_status(lenient)["validate:slice-1"] == "ran"
    [lint] = [res for a in outcome(r, "slice-1")["attempts"] for res in a["results"] if res["name"] == "lint"]
    assert lint["status"] == "pre-existing" and "fails on the baseline too" in lint["message"]
    assert outcome(r, "slice-1")["status"] == "adopted"
    baseline = json.loads((r.reports / "wave-a" / "baseline.json").read_text())
    assert {res["name"]: res["status"] for res in baseline["results"]}["lint"] == "failed"

    # with gating: strict it blocks: the task fails, and the report says what to do
    rewrite_config(r, slices={"max_files": 1}, checks=[NOBROKEN, broken_lint], gating="strict")
    failing = run_doit(r.workspace)
    assert failing.returncode != 0
    assert validate_status(failing)["validate:slice-1"] == "ran"
    out = outcome(r, "slice-1")
    assert out["status"] == "failed" and out["adopted"] == [] and out["commits"] == [commit_of_1]
    assert out["deferred"][0]["reason"] == "still on the sync branch, fails re-checking: lint: lint-v3 (exit code 2)"
    assert "Roll back:" in (r.reports / "slices/slice-1/report.md").read_text()
    assert rev(r.fork, "sync/upstream") == tip
    still = run_doit(r.workspace)            # same inputs, same verdict: nothing re-runs, the run still fails
    assert still.returncode != 0 and validate_status(still)["validate:slice-1"] == "up to date"
    assert "slice-1: failed — unchanged since run" in still.stdout
    assert outcome(r, "slice-1")["status"] == "failed"

    rewrite_config(r, slices={"max_files": 1}, checks=[NOBROKEN, LINT], gating="strict")  # the check is fixed
    fixed = doit_ok(r.workspace)
    assert validate_status(fixed)["validate:slice-1"] == "ran"
    out = outcome(r, "slice-1")
    assert out["status"] == "adopted" and out["adopted"] == ["s1/a.txt"] and out["commits"] == [commit_of_1]


def test_sigkill_mid_wave_leaves_only_whole_slices_and_the_next_run_resumes(tmp_path: Path) -> None:
    hold, started, marker = tmp_path / "HOLD", tmp_path / "STARTED", f"fwslow-{uuid.uuid4().hex}"
    hold.touch()
    # the first run's check waits for HOLD forever (the kill orphans it); later runs pass at once
    slow = {"name": "slow", "when": ["s2/**"],
            "run": f"[ -z \"$FORKWAVE_SLICE\" ] && exit 0; [ -e {started} ] && exit 0; touch {started}; "
                   f"while [ -e {hold} ]; do sleep 0.05; done; echo {marker}"}  # baseline: FORKWAVE_SLICE unset
    # each slice judged on its own, so the kill falls between whole slices of one wave
    r = three_slices(tmp_path, {**UPSTREAM, "s2/b.txt": "b\n"}, checks=[NOBROKEN, slow], batch=False)
    proc = start_doit(r.workspace, log=tmp_path / "killed.log")
    try:
        wait_for(started.exists, 60, "the slow check of slice-2 to start")
        # a second run on the same workspace stops at once, naming the lock
        second = run_doit(r.workspace, timeout=60)
        assert second.returncode != 0
        assert "another forkwave run holds" in second.stderr and ".forkwave/lock" in second.stderr
        assert f"pid {proc.pid}" in second.stderr
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    killed_log = (tmp_path / "killed.log").read_text()
    assert "slice-1: adopted" in killed_log and "slice-2: 1 file ..." in killed_log

    # the sync branch holds whole, validated slices only: slice-1, nothing of slice-2
    assert not (r.reports / "slices/slice-2/outcome.json").exists()
    [(sha, message)] = slice_commits(r.fork, "main..sync/upstream")
    assert trailers(message) == {"Upstream-Revision": r.main, "Forkwave-Slice": "slice-1"}
    assert sha == outcome(r, "slice-1")["commit"]
    assert tree(r.fork, "sync/upstream") == {**tree(r.fork, "main"), "s1/a.txt": ("100644", b"a\n")}
    killed = ledger_runs(r.reports)[-1]
    killed_run = killed.run
    assert killed.status == "running" and killed.ended is None and killed.live is False
    assert [(s.sync_type, s.status, s.counts.adopted) for s in killed.syncs] == [("wave-a", "running", 1)]

    assert pids_matching(marker), "the killed run's check outlives it (its own process group)"
    before = (r.reports / "slices/slice-1/outcome.json").read_bytes()
    resumed = doit_ok(r.workspace)
    assert not pids_matching(marker), "the next run reaps the orphaned check"
    assert "cleaned up after an interrupted run: process group" in resumed.stderr
    hold.unlink()

    assert "slice-1: adopted already" in resumed.stdout                    # not validated again
    assert (r.reports / "slices/slice-1/outcome.json").read_bytes() == before
    assert [outcome(r, n)["status"] for n in slice_names(r)] == ["adopted"] * 3
    log = slice_commits(r.fork, "main..sync/upstream")
    assert [trailers(m)["Forkwave-Slice"] for _, m in reversed(log)] == ["slice-1", "slice-2", "slice-3"]
    assert log[-1][0] == sha                                                # slice-1's commit is the same
    runs = {run.run: run for run in ledger_runs(r.reports)}
    assert runs[killed_run].status == "failed" and runs[killed_run].syncs[0].note == "interrupted (no end recorded)"
    assert list(runs.values())[-1].status == "success"


def test_a_second_run_while_the_lock_is_held_stops_with_a_clear_message(tmp_path: Path) -> None:
    r = three_slices(tmp_path)
    state = r.workspace / ".forkwave"
    state.mkdir()
    with open(state / "lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 4242 since 2024-01-01T00:00:00Z\n")
        held.flush()
        result = run_doit(r.workspace)
    assert result.returncode != 0
    assert (f"another forkwave run holds {state / 'lock'} (pid 4242 since 2024-01-01T00:00:00Z); "
            "wait for it to finish or stop it, then run again") in result.stderr
    assert "Traceback" not in result.stderr
    assert not (r.reports / "plan.json").exists() and rev(r.fork, "sync/upstream") is None
    assert not (r.reports / "ledger.sqlite").exists()                      # the blocked run is not a run
    assert run_doit(r.workspace).returncode != 0 and rev(r.fork, "sync/upstream")  # lock released: it runs


def test_reports_restored_into_a_fresh_checkout_re_run_nothing(tmp_path: Path) -> None:
    a = tmp_path / "a"
    r = three_slices(a, {**UPSTREAM, "s2/b.txt": "b\n"})
    doit_ok(r.workspace)
    sync_tip = rev(r.fork, "sync/upstream")

    # CI: a new checkout elsewhere (fork, upstream, config), reports/ from the cache, no .forkwave/
    b = tmp_path / "b"
    for name in ("upstream.git", "fork"):
        shutil.copytree(a / name, b / name, symlinks=True)
    (b / "ws").mkdir()
    shutil.copy(r.workspace / "forkwave.yaml", b / "ws" / "forkwave.yaml")
    shutil.copytree(r.reports, b / "ws" / "reports")
    later = time.time() + 3600
    for path in (b / "ws" / "reports").rglob("*"):
        os.utime(path, (later, later))
    a.rename(tmp_path / "a-gone")                                           # nothing may point back at a/

    result = doit_ok(b / "ws")

    # `images` is up to date when the local Docker engine has them: not something reports/ can carry
    status = {t: s for t, s in result.status().items() if t != "images"}
    assert {t: s for t, s in status.items() if s != "up to date"} == {}
    for task in ("fetch", "drift", "plan", "import:slice-1", "validate:slice-1", "validate:slice-3", "wave_a",
                 "report"):
        assert status[task] == "up to date", task
    left = {p.name for p in (b / "ws" / ".forkwave").iterdir()} if (b / "ws" / ".forkwave").exists() else set()
    assert left <= {"config.checked", "lock"}            # no mirror, no worktree needed: only the run's lock
    assert rev(b / "fork", "sync/upstream") == sync_tip
    assert read(b / "ws" / "reports" / "summary.json")["status"] == "success"
    last = ledger_runs(b / "ws" / "reports")[-1]                           # a run with nothing new is a run
    assert last.status == "success" and all(s.counts.adopted == 0 for s in last.syncs)
