"""One error every slice would meet stops the run before its slices, said once; the last line counts what ran.

Real runs: a misspelled check command on twelve slices, a sync branch checked out in a person's worktree of a
merge-mode fork with twenty slices. The lines are counted.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DoitResult, git_out, run_doit
from slicekit import Repos, build, outcome, rev, slice_names
from test_merge import build as build_merge

TWELVE = {f"s{i:02}/f.txt": f"{i} v1\n" for i in range(1, 13)}
TWO_WAVES = {"a": {"buckets": [f"s{i:02}*" for i in range(1, 8)]}, "b": {"buckets": ["*"]}}
MISSPELLED = {"name": "tests", "run": "pytset -q"}


def twelve_slices(tmp_path: Path, **config: object) -> Repos:
    upstream = {p: c.replace("v1", "v2") for p, c in TWELVE.items()}
    return build(tmp_path, {"keep.txt": "k\n", **TWELVE}, {"keep.txt": "k\n", **upstream}, waves=TWO_WAVES,
                 slices={"max_files": 1}, checks=[MISSPELLED], **config)


def errors(result: DoitResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("forkwave: error:")]


def last(result: DoitResult) -> str:
    return result.stdout.rstrip("\n").splitlines()[-1]


def test_a_check_that_cannot_run_stops_a_whole_run_before_its_slices_once(tmp_path: Path) -> None:
    r = twelve_slices(tmp_path)

    result = run_doit(r.workspace)

    assert result.returncode == 3, result.stdout + result.stderr
    assert len(slice_names(r)) == 12
    [line] = errors(result)
    # met by the batch's first judging (the baseline runs only to excuse a failure), said once and plainly
    assert "check 'tests' cannot run (exit 127: command not found): pytset -q" in line, line
    assert result.stdout.count("pytset") == 0                           # stdout never repeats it
    assert last(result) == ("forkwave: 12 slices planned, none run; stopped before any slice (the error is above) "
                            "— exit 3: forkwave or its environment failed")
    assert not any((r.reports / "slices" / n / "outcome.json").exists() for n in slice_names(r))
    assert rev(r.fork, "sync/upstream") in (None, r.fork_head)


def test_without_the_batch_the_first_slice_meets_it_and_the_others_say_nothing(tmp_path: Path) -> None:
    """``doit wave_a`` runs its slices unchained: each used to print the error again (seven times)."""
    r = twelve_slices(tmp_path, batch=False)

    result = run_doit(r.workspace, "wave_a")

    assert result.returncode == 3, result.stdout + result.stderr
    assert len(errors(result)) == 1 and result.stdout.count("pytset") == 0
    wave_a = slice_names(r, "a")
    slice_lines = [line for line in result.stdout.splitlines() if line.startswith("[wave a")]
    assert slice_lines == [f"[wave a 1/{len(wave_a)}] slice-1: 1 file ...",
                           f"[wave a 1/{len(wave_a)}] slice-1: error (reports/slices/slice-1/report.md)"]
    assert outcome(r, "slice-1")["status"] == "error"
    assert last(result) == (f"forkwave: {len(wave_a)} slices planned, 1 run: 0 adopted, 0 deferred, 0 conflicted, "
                            f"1 error; {len(wave_a) - 1} not run; open reports/wave-a/report.md; stopped at "
                            "validate:slice-1 (the error is above) — exit 3: forkwave or its environment failed")


def test_fixed_the_run_goes_on_and_counts_every_slice(tmp_path: Path) -> None:
    r = twelve_slices(tmp_path)
    assert run_doit(r.workspace).returncode == 3
    from slicekit import rewrite_config

    rewrite_config(r, waves=TWO_WAVES, slices={"max_files": 1}, checks=[{"name": "tests", "run": "true"}])

    result = run_doit(r.workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    assert last(result) == ("forkwave: 12 slices: 12 adopted, 0 deferred, 0 conflicted; open reports/wave-a/report.md, "
                            "reports/wave-b/report.md — exit 0: all adopted")


@pytest.fixture
def busy_merge_fork(tmp_path: Path):
    """A merge-mode fork with twenty one-commit slices, its sync branch checked out in a person's worktree."""
    m = build_merge(tmp_path, top={"slices": {"max_commits": 1}})
    git_out(m.fork, "branch", "sync/upstream", "main")
    mine = tmp_path / "mine"
    git_out(m.fork, "worktree", "add", "--quiet", str(mine), "sync/upstream")
    return m, mine


@pytest.mark.parametrize("args,planned", [((), 20), (("wave_a",), 20), (("validate:slice-3", "validate:slice-4"), 2)])
def test_a_sync_branch_checked_out_in_a_worktree_is_said_once_before_any_slice(
        busy_merge_fork, args: tuple[str, ...], planned: int) -> None:
    m, mine = busy_merge_fork
    tip = m.sync()
    if args[:1] == ("validate:slice-3",):
        assert run_doit(m.ws, "plan").returncode == 0   # a person names slices of a plan that printed them

    result = run_doit(m.ws, *args)

    assert result.returncode == 1, result.stdout + result.stderr
    [line] = errors(result)
    assert f"sync/upstream is checked out in {mine}" in line and f"git -C {mine} switch main" in line
    assert "checked out" not in result.stdout
    assert not [x for x in result.stdout.splitlines() if x.startswith("[wave a")]   # no slice started
    assert last(result) == (f"forkwave: {planned} slices planned, none run; stopped before any slice (the error is "
                            "above) — exit 1: bad config or usage")
    assert m.sync() == tip
