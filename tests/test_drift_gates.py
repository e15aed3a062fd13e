"""Drift gates and pre-/post-sync checks on real repositories: a gate stops the run right after drift,
before any slice is touched; ``pre: clean`` refuses a dirty fork checkout; ``post:`` runs on the sync tip."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import commit_tree, run_doit, write_config
from test_sources import Vendored, sources_config, vendored  # noqa: F401  (vendored: the two-source fixture)
from slicekit import Repos, build, read, rev, rewrite_config

BASE = {"a.txt": "one\ntwo\nthree\n", "b.txt": "b\n", "c.txt": "c\n", "keep.txt": "k\n"}
UPSTREAM = {"a.txt": "one\ntwo\nTHREE (upstream)\n", "b.txt": "b upstream\n", "c.txt": "c upstream\n",
            "keep.txt": "k\n", "new.txt": "new\n"}
FORK = {"a.txt": "ONE (fork)\ntwo\nthree\n", "b.txt": "b fork\n", "c.txt": "c\n", "keep.txt": "k\n"}
# a.txt: both changed, merges cleanly (different lines); b.txt: both changed, conflicts;
# c.txt: upstream-changed; new.txt: upstream-added; 3 upstream commits since v1 (v1.1, v1.2, v2)


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    steps = [{**BASE, "c.txt": "c step\n"}, {**BASE, "c.txt": "c step 2\n"}]
    r = build(tmp_path, BASE, UPSTREAM, FORK, steps=steps)
    checkout(r.fork)
    return r


def checkout(fork: Path) -> None:
    """The fork's working tree and index as a person's clone has them (the builders write commits only)."""
    subprocess.run(["git", "-C", str(fork), "checkout", "-q", "-f", "main"], check=True)


def untouched(r: Repos) -> None:
    """Nothing past drift happened: no plan, no slice, no sync branch."""
    assert not (r.reports / "plan.json").exists()
    assert not (r.reports / "slices").exists()
    assert rev(r.fork, "refs/heads/sync/upstream") is None


@pytest.mark.parametrize("limit, value, maximum", [
    ("max_both_changed", 2, 1),
    ("max_conflicts", 1, 0),
    ("max_upstream_paths", 4, 3),
    ("max_behind_commits", 3, 2),
])
def test_a_drift_gate_stops_the_run_before_any_slice(repos: Repos, limit: str, value: int, maximum: int) -> None:
    rewrite_config(repos, drift_gates={limit: maximum})
    result = run_doit(repos.workspace)

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"drift gate 'drift_gates.{limit}' stopped the run: {value} " in result.stderr
    assert f"the limit is {maximum}" in result.stderr
    untouched(repos)
    record = read(repos.reports / "drift-gates.json")
    assert record["stopped"] is True
    assert [(t["limit"], t["value"], t["maximum"]) for t in record["trips"]] == [(limit, value, maximum)]
    assert (repos.reports / "drift.json").exists()  # drift itself ran: the board shows what tripped it


def test_gates_within_their_limits_let_the_run_go_on(repos: Repos) -> None:
    rewrite_config(repos, drift_gates={"max_both_changed": 2, "max_conflicts": 1, "max_upstream_paths": 4,
                                       "max_behind_commits": 3})
    result = run_doit(repos.workspace)

    assert result.returncode == 2, result.stdout + result.stderr  # b.txt conflicts: work left, but sliced
    record = read(repos.reports / "drift-gates.json")
    assert record["stopped"] is False
    assert record["numbers"] == {"both_changed": 2, "upstream_paths": 4, "conflicts": 1, "behind_commits": 3}
    assert (repos.reports / "plan.json").exists()
    assert rev(repos.fork, "refs/heads/sync/upstream") is not None


def test_a_tripped_gate_is_judged_again_and_raising_the_limit_lets_the_run_go_on(repos: Repos) -> None:
    rewrite_config(repos, drift_gates={"max_conflicts": 0})
    assert run_doit(repos.workspace).returncode == 2
    again = run_doit(repos.workspace)  # the failed drift keeps no doit state: the gate is asked again
    assert again.returncode == 2 and "max_conflicts" in again.stderr
    untouched(repos)

    rewrite_config(repos, drift_gates={"max_conflicts": None})  # null switches the gate off
    result = run_doit(repos.workspace)
    assert "drift gate" not in result.stderr
    assert (repos.reports / "plan.json").exists()
    assert not (repos.reports / "drift-gates.json").exists()


def test_a_bad_drift_gate_is_a_config_error(repos: Repos) -> None:
    rewrite_config(repos, drift_gates={"max_conflict": 1})
    result = run_doit(repos.workspace)
    assert result.returncode == 1
    assert "drift_gates" in result.stderr and "max_conflict" in result.stderr


# --- pre: and post: ------------------------------------------------------------------------------

def test_pre_clean_refuses_a_dirty_fork_checkout(repos: Repos) -> None:
    rewrite_config(repos, pre=["clean"])
    (repos.fork / "b.txt").write_text("edited, not committed\n")
    result = run_doit(repos.workspace)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "uncommitted changes in b.txt; commit or stash them and run again" in result.stderr
    assert not (repos.reports / "drift.json").exists()  # nothing compared, planned or imported
    untouched(repos)
    assert (repos.fork / "b.txt").read_text() == "edited, not committed\n"  # the checkout is left as it was

    (repos.fork / "b.txt").write_text(FORK["b.txt"])
    (repos.fork / "untracked.txt").write_text("not a change to a tracked file\n")
    result = run_doit(repos.workspace)
    assert "uncommitted" not in result.stderr
    assert read(repos.reports / "pre.json")["passed"] is True
    assert (repos.reports / "plan.json").exists()


def test_a_staged_change_is_uncommitted_too(repos: Repos) -> None:
    rewrite_config(repos, pre=["clean"])
    (repos.fork / "c.txt").write_text("staged\n")
    subprocess.run(["git", "-C", str(repos.fork), "add", "c.txt"], check=True)
    result = run_doit(repos.workspace, "drift")
    assert result.returncode == 1 and "uncommitted changes in c.txt" in result.stderr


def test_a_pre_command_runs_on_the_fork_tip_and_its_failure_stops_the_run(repos: Repos) -> None:
    # the seed's secret scan: grep exits 1 when nothing matches, which is what is expected
    scan = {"name": "no-secrets", "run": "git grep -n -I -E 'password *=' HEAD -- .", "expected_exit_code": 1}
    count = {"name": "files", "run": "ls *.txt | wc -l", "expected_min": 4}
    rewrite_config(repos, pre=[scan, count])
    assert run_doit(repos.workspace).returncode == 2  # the conflict: the pre checks passed
    record = read(repos.reports / "pre.json")
    assert record["commit"] == rev(repos.fork, "refs/heads/main")
    assert [(r["name"], r["passed"], r["value"]) for r in record["results"]] == [
        ("no-secrets", True, None), ("files", True, "4")]

    commit_tree(repos.fork, {**FORK, "settings.txt": "password = hunter2\n"}, message="oops", tick=20)
    checkout(repos.fork)
    result = run_doit(repos.workspace)
    assert result.returncode == 2
    assert "pre: no-secrets FAILED" in result.stdout
    assert "pre 'no-secrets': exit code 0, expected 1" in result.stderr
    assert "settings.txt:1:password = hunter2" in result.stdout  # its output, for the person
    assert read(repos.reports / "pre.json")["passed"] is False
    drift = read(repos.reports / "drift.json")
    assert "settings.txt" not in drift["entries"]  # drift did not run on the new fork tip


def test_post_checks_run_on_the_sync_tip_and_hold_publish(repos: Repos, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    rewrite_config(repos, post=[{"name": "has-new", "run": "test -f new.txt && echo 1", "expected_min": 1},
                                {"name": "too-many", "run": "ls | wc -l", "expected_max": 2}],
                   publish={"remote": str(remote), "forge": "none"})
    result = run_doit(repos.workspace)
    assert result.returncode == 2
    record = read(repos.reports / "post.json")
    assert record["commit"] == rev(repos.fork, "refs/heads/sync/upstream")
    assert [(r["name"], r["passed"]) for r in record["results"]] == [("has-new", True), ("too-many", False)]
    assert "post 'too-many': printed " in result.stderr and "above expected_max 2" in result.stderr

    published = run_doit(repos.workspace, "publish")
    assert published.returncode == 2, published.stdout + published.stderr
    assert "publish: held, nothing pushed: post-sync check failed" in published.stderr
    assert subprocess.run(["git", "-C", str(remote), "for-each-ref"], capture_output=True, text=True).stdout == ""


# --- several sources ---------------------------------------------------------------------------

def test_each_source_has_its_gates_and_verification(vendored: Vendored) -> None:  # noqa: F811  (the fixture)
    r = vendored
    cfg = sources_config(drift_gates={"max_upstream_paths": 100})
    cfg["sources"][0]["drift_gates"] = {"max_upstream_paths": 1}   # web: __manifest__.py, app.js (both), new.js
    cfg["sources"][1]["verify"] = [{"name": "lines", "run": "ls addons/oca/sale/models | wc -l", "expected_min": 2}]
    write_config(r.workspace, cfg)
    result = run_doit(r.workspace, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "drift gate 'sources.0.drift_gates.max_upstream_paths' stopped the run: 3 paths upstream changed" \
        in result.stderr
    web = read(r.reports / "sources" / "web" / "drift-gates.json")
    sale = read(r.reports / "sources" / "sale" / "drift-gates.json")
    assert web["stopped"] is True and web["limits"] == {"max_upstream_paths": 1}
    assert sale["stopped"] is False and sale["limits"] == {"max_upstream_paths": 100}  # the top level's
    assert not (r.reports / "plan.json").exists()  # one source stopped: nothing is planned for any

    cfg["sources"][0]["drift_gates"] = {"max_upstream_paths": None}
    write_config(r.workspace, cfg)
    result = run_doit(r.workspace, timeout=300)
    assert result.returncode == 2  # app.js conflicts
    verified = read(r.reports / "sources" / "sale" / "verify.json")
    assert verified["passed"] is True and verified["results"][0]["value"] == "2"
    assert not (r.reports / "sources" / "web" / "verify.json").exists()

    del cfg["sources"][0]["drift_gates"]
    cfg["drift_gates"] = {"max_upstream_paths": 2}   # the top level's limit names the top-level key
    write_config(r.workspace, cfg)
    result = run_doit(r.workspace, timeout=300)
    assert "drift gate 'drift_gates.max_upstream_paths' stopped the run: 3 paths" in result.stderr


def test_fail_on_diff_watches_a_repository_source_as_a_command_one(tmp_path: Path) -> None:
    """``fail_on_diff: true`` (at the top level with ``upstream:``): upstream work the fork lacks stops every run
    right after drift (exit 2) until ``fail_on_diff=0`` syncs it; with nothing left it passes."""
    r = build(tmp_path, {"a.txt": "1\n", "b.txt": "b\n"}, {"a.txt": "2\n", "b.txt": "b\n"}, fail_on_diff=True)
    held = run_doit(r.workspace)
    assert held.returncode == 2, held.stdout + held.stderr
    assert ("forkwave: error: fail_on_diff: upstream has 1 upstream path main lacks (reports/drift.md); sync with "
            "`doit fail_on_diff=0` (fail_on_diff is true)") in held.stderr
    assert not (r.reports / "plan.json").exists() and rev(r.fork, "refs/heads/sync/upstream") is None
    synced = run_doit(r.workspace, "fail_on_diff=0")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    subprocess.run(["git", "-C", str(r.fork), "update-ref", "refs/heads/main", "refs/heads/sync/upstream"], check=True)
    assert run_doit(r.workspace, "drift").returncode == 0
