"""Never write a branch that is not forkwave's, never wedge, never lose a record.

Kills are real SIGKILLs of a doit process group, aimed at named fault points
(``FORKWAVE_FAULT``, see ``tasks/faults.py``) or at moments read off the file system; a
full disk is a real tmpfs.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import commit_tree, git_out, run_doit
from slicekit import (Repos, build, outcome, rev, rewrite_config, slice_names, start_doit, tree, wait_for)

BASE = {"keep.txt": "keep\n", **{f"s{i}/f.txt": f"{i} v1\n" for i in range(1, 4)}}
UPSTREAM = {"keep.txt": "keep\n", "s1/f.txt": "1 v2\n", "s2/f.txt": "2 BROKEN\n", "s3/f.txt": "3 v2\n",
            "s4/new.txt": "new\n"}
NOBROKEN = {"name": "nobroken", "run": "if grep -rq --exclude-dir=.git BROKEN .; then exit 1; fi"}


def four_slices(tmp_path: Path, **config) -> Repos:
    config.setdefault("checks", [NOBROKEN])
    return build(tmp_path, BASE, UPSTREAM, slices={"max_files": 1}, **config)


def result_of(r: Repos) -> tuple[dict[str, tuple[str, bytes]], dict[str, tuple]]:
    """The final sync tree and, per slice, what it ended as (without run-specific fields)."""
    outcomes = {n: outcome(r, n) for n in slice_names(r)}
    return tree(r.fork, "sync/upstream"), {
        n: (o["status"], tuple(o["adopted"]), tuple(tuple(d["files"]) for d in o["deferred"]), len(o["commits"]))
        for n, o in outcomes.items()}


def checkout_state(repo: Path) -> dict[str, str]:
    return {"head": git_out(repo, "rev-parse", "--symbolic-full-name", "HEAD"),
            "status": git_out(repo, "status", "--porcelain=v2", "--untracked-files=all")}


# --- item 2: never move the sync branch under someone's checkout -------------------------------------

def test_a_sync_branch_checked_out_elsewhere_is_never_moved(tmp_path: Path) -> None:
    r = four_slices(tmp_path)
    subprocess.run(["git", "-C", str(r.fork), "branch", "sync/upstream", "main"], check=True)
    subprocess.run(["git", "-C", str(r.fork), "checkout", "-q", "-f", "sync/upstream"], check=True)
    before, tip = checkout_state(r.fork), rev(r.fork, "sync/upstream")

    result = run_doit(r.workspace, "wave_a")

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"sync/upstream is checked out in {r.fork}" in result.stderr
    assert f"git -C {r.fork} switch main" in result.stderr
    assert rev(r.fork, "sync/upstream") == tip and checkout_state(r.fork) == before
    assert "Traceback" not in result.stderr

    subprocess.run(["git", "-C", str(r.fork), "checkout", "-q", "main"], check=True)  # the person switches away
    assert run_doit(r.workspace, "wave_a").returncode == 2                          # s2 is broken
    assert tree(r.fork, "sync/upstream")["s1/f.txt"] == ("100644", b"1 v2\n")


# --- item 16: one fork, one workspace at a time ---------------------------------------------------------

def test_a_second_workspace_on_the_same_fork_is_refused_up_front(tmp_path: Path) -> None:
    hold, started = tmp_path / "HOLD", tmp_path / "STARTED"
    hold.touch()
    slow = {"name": "slow", "run": f"[ -z \"$FORKWAVE_SLICE\" ] && exit 0; touch {started}; "
                                   f"while [ -e {hold} ]; do sleep 0.05; done"}
    r = four_slices(tmp_path, checks=[slow])
    other = tmp_path / "ws2"
    other.mkdir()
    shutil.copy(r.workspace / "forkwave.yaml", other / "forkwave.yaml")
    proc = start_doit(r.workspace, log=tmp_path / "first.log")
    try:
        wait_for(started.exists, 60, "the first workspace's check to start")
        second = run_doit(other, "wave_a", timeout=60)
        assert second.returncode == 3
        assert "another forkwave workspace is syncing" in second.stderr and "forkwave.lock" in second.stderr
        assert str(r.workspace) in second.stderr                                   # who holds it
    finally:
        hold.unlink()
        proc.wait(timeout=60)
    assert not (other / "reports" / "slices").exists()                            # nothing of it ran


# --- item 13: a slice too large for the environment -----------------------------------------------------

def test_twenty_thousand_files_reach_the_check_through_a_file(tmp_path: Path) -> None:
    many = {f"gen/d{i // 500}/f{i}.txt": f"{i}\n" for i in range(20_000)}
    check = {"name": "count", "run": 'test -z "${FORKWAVE_FILES+set}" && test "$(wc -l < "$FORKWAVE_FILES_FROM")" '
                                     '-eq 20000 && grep -qx gen/d39/f19999.txt "$FORKWAVE_FILES_FROM"'}
    r = build(tmp_path, {"keep.txt": "k\n"}, {"keep.txt": "k\n", **many}, checks=[check],
              slices={"max_files": 20_000})

    result = run_doit(r.workspace, "wave_a", timeout=600)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [name] = slice_names(r)
    out = outcome(r, name)
    assert out["status"] == "adopted" and len(out["adopted"]) == 20_000
    assert out["validated"] == {"how": "batch", "run": out["run"], "runs": 1, "slices": 1,
                                "record": "reports/batch.json"}     # the check ran once, in the batch


# --- item 14: a check that cannot run is an error, never pre-existing -----------------------------------

@pytest.mark.parametrize("check,why", [
    ({"name": "build", "run": f"no-such-tool-{uuid.uuid4().hex[:8]} build"}, "exit 127: command not found"),
    ({"name": "build", "run": "sleep 30", "timeout": 1}, "timed out after 1 s"),
])
def test_a_check_that_cannot_run_stops_the_wave_before_any_slice_lands(
        tmp_path: Path, check: dict, why: str) -> None:
    r = four_slices(tmp_path, checks=[check])

    result = run_doit(r.workspace, "wave_a", timeout=120)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "check 'build' cannot run" in result.stderr and why in result.stderr  # on the first candidate: the
    assert rev(r.fork, "sync/upstream") in (None, r.fork_head)                    # baseline runs only after a failure
    assert "Traceback" not in result.stderr                                       # (nothing landed, not even s1)
    memo = [json.loads(p.read_text()) for p in (r.reports / "memo").rglob("*.json")] if (r.reports / "memo").exists() \
        else []
    assert not [m for m in memo if m.get("name") == "build"]  # an error is no verdict (the gates' verdicts are)


# --- items 11 and 12: kills at the worst moments --------------------------------------------------------

def run_to_the_end(r: Repos, tries: int = 4) -> int:
    for _ in range(tries):
        code = run_doit(r.workspace, timeout=120).returncode
        if code in (0, 2):
            return code
    raise AssertionError("the run did not finish after a kill")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The same wave, never interrupted."""
    r = four_slices(tmp_path_factory.mktemp("reference"))
    assert run_doit(r.workspace, timeout=120).returncode == 2
    return result_of(r)


@pytest.mark.parametrize("fault", ["checkout:1", "checkout:2", "checkout:4", "before-move:1", "after-move:1",
                                   "after-move:2", "after-outcome:1", "after-outcome:2", "after-move:3"])
def test_a_kill_at_any_point_resumes_to_the_same_result(tmp_path: Path, fault: str, reference: tuple) -> None:
    r = four_slices(tmp_path)
    killed = run_doit(r.workspace, env={"FORKWAVE_FAULT": fault}, timeout=120)
    assert killed.returncode == -signal.SIGKILL, (fault, killed.stdout, killed.stderr)

    assert run_to_the_end(r) == 2
    final_tree, outcomes = result_of(r)
    assert (final_tree, outcomes) == reference
    # every commit forkwave made is on record, so the roll-back list names each one
    made = [line.split()[0] for line in git_out(r.fork, "log", "--format=%H %B", "main..sync/upstream").splitlines()
            if line and len(line.split()[0]) == 40]
    recorded = {c for n in slice_names(r) for c in outcome(r, n)["commits"]}
    slice_commits = [c for c in made if "Forkwave-Slice" in git_out(r.fork, "log", "-1", "--format=%B", c)]
    assert set(slice_commits) <= recorded, (fault, slice_commits, recorded)
    assert not (r.reports / "journal").exists() or not any((r.reports / "journal").iterdir())


def test_a_kill_during_a_large_checkout_leaves_a_worktree_the_next_run_can_use(tmp_path: Path) -> None:
    many = {f"big/d{i // 400}/f{i}.txt": f"{i}\n" for i in range(20_000)}
    base = {"keep.txt": "k\n", **many}
    upstream = {**base, "a/one.txt": "one\n", "b/two.txt": "two\n"}
    r = build(tmp_path, base, upstream, checks=[{"name": "ok", "run": "true"}], slices={"max_files": 1})
    worktree_git = r.fork / ".git" / "worktrees" / "worktree"
    proc = start_doit(r.workspace, log=tmp_path / "killed.log")
    try:
        wait_for(lambda: (worktree_git / "index.lock").exists(), 120, "a checkout in the private worktree")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    result = run_doit(r.workspace, timeout=300)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "command failed (exit 128)" not in result.stderr
    synced = tree(r.fork, "sync/upstream")
    assert synced["a/one.txt"] == ("100644", b"one\n") and synced["b/two.txt"] == ("100644", b"two\n")
    assert not (worktree_git / "index.lock").exists()


def test_a_stale_lock_in_the_private_worktree_is_cleared(tmp_path: Path) -> None:
    r = four_slices(tmp_path)
    run_doit(r.workspace)
    lock = r.fork / ".git" / "worktrees" / "worktree" / "index.lock"
    lock.write_text("left by a killed git\n")
    commit_tree(r.upstream, {**UPSTREAM, "s2/f.txt": "2 fixed\n"}, message="fix", tick=30)

    result = run_doit(r.workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    assert tree(r.fork, "sync/upstream")["s2/f.txt"] == ("100644", b"2 fixed\n")


# --- item 15: a full disk --------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            raise AssertionError(f"cannot mount a tmpfs: {mounted.stderr.decode()}")
        pytest.skip("cannot mount a tmpfs here")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
    return filler


def test_a_full_disk_is_one_line_and_corrupts_nothing(tmp_path: Path, small_disk: Path, reference: tuple) -> None:
    r = four_slices(tmp_path)
    ws = small_disk / "ws"
    shutil.copytree(r.workspace, ws)
    rewrite = (ws / "forkwave.yaml").read_text().replace("../upstream.git", str(r.upstream)).replace(
        "../fork", str(r.fork))
    (ws / "forkwave.yaml").write_text(rewrite)
    filler = fill(small_disk)

    full = run_doit(ws, timeout=120)

    assert full.returncode == 3, full.stdout + full.stderr
    assert "no space left on device" in full.stderr.lower() and "Traceback" not in full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("forkwave: error:")]
    assert errors and len(errors) == len(set(errors))                            # each error once
    for path in (ws / "reports").rglob("*.json"):                                # nothing torn
        json.loads(path.read_text())
    state = ws / "reports" / ".doit.json"
    assert state.exists() is False or json.loads(state.read_text()) is not None

    filler.unlink()
    assert run_doit(ws, timeout=120).returncode == 2
    subprocess.run(["git", "-C", str(r.fork), "worktree", "prune"], check=True)
    assert result_of(Repos(r.root, r.upstream, r.fork, ws, r.v1, r.main, r.fork_head)) == reference


def test_an_unreadable_doit_state_is_set_aside_with_a_warning(tmp_path: Path) -> None:
    r = four_slices(tmp_path)
    assert run_doit(r.workspace).returncode == 2
    (r.reports / ".doit.json").write_text("")                                     # what a full disk left behind

    again = run_doit(r.workspace)

    assert again.returncode == 2, again.stdout + again.stderr
    assert "could not be read" in again.stderr and "set aside" in again.stderr and "Traceback" not in again.stderr
    assert json.loads((r.reports / ".doit.json").read_text())
    assert list(r.reports.glob(".doit.json.unreadable-*"))
    rewrite_config(r, slices={"max_files": 1}, checks=[NOBROKEN])
    assert run_doit(r.workspace).returncode == 2                                  # and it keeps working
