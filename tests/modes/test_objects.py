"""The fork's object store receives only what forkwave lands, in every mode and every command a person runs.

Each test counts the fork's unreachable objects (``git fsck --unreachable --no-reflogs``) before and after:
candidates — merge-tree results, picks, snapshot candidates, conflict resolutions, dry-run commits — live in
a private object directory that the run drops. ``git fsck`` must also find the fork whole (every landed commit's
objects copied in) and forkwave's worktree resting on a commit the fork holds.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import run_doit
from slicekit import build as snapshot_build
from slicekit import rev
from tasks.repo import objects

import test_cherrypick as pick
import test_merge as merge


def whole(fork: Path, ws: Path) -> None:
    """The fork is connected, forkwave's worktree rests on a commit it holds, the private directory is gone."""
    fsck = subprocess.run(["git", "-C", str(fork), "fsck", "--no-dangling", "--no-progress"], capture_output=True,
                          text=True)
    assert fsck.returncode == 0 and not fsck.stderr.strip(), fsck.stderr
    for wt in (ws / ".forkwave").glob("worktree*"):  # every slot's worktree
        if wt.is_dir():
            head = subprocess.run(["git", "-C", str(wt), "rev-parse", "HEAD"], capture_output=True, text=True)
            assert head.returncode == 0, head.stderr  # read without any private directory
    assert not any((ws / ".forkwave" / objects.FOLDER).glob("*")), "a private object directory was left behind"


def test_merge_mode_conflicts_checks_resolution_and_rollback_leave_nothing_unreachable(tmp_path: Path) -> None:
    m = merge.build(tmp_path, conflict_at=25, bad_at=31)
    before = objects.unreachable(m.fork)
    loose = int(_count(m.fork)["count"])
    first = run_doit(m.ws)
    assert first.returncode == 2, first.stdout + first.stderr
    assert m.holds(24) and not m.holds(25)
    assert objects.unreachable(m.fork) == before
    whole(m.fork, m.ws)
    # what landed is copied in (commits 21..24 and one merge), no more: the bisection's trees stayed private
    assert int(_count(m.fork)["count"]) - loose < 40
    assert subprocess.run(["git", "-C", str(m.fork), "cat-file", "-e", m.shas[24]]).returncode != 0

    dry = run_doit(m.ws, "dry=1")
    assert dry.returncode in (0, 2), dry.stdout + dry.stderr
    assert objects.unreachable(m.fork) == before

    resolved = run_doit(m.ws, "resolve:slice-1", "take=upstream")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    again = run_doit(m.ws)
    assert m.holds(30) and not m.holds(31), again.stdout + again.stderr
    assert objects.unreachable(m.fork) == before
    whole(m.fork, m.ws)

    rolled = run_doit(m.ws, "rollback:slice-1")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert run_doit(m.ws, "readopt:slice-1").returncode == 0
    run_doit(m.ws)
    assert objects.unreachable(m.fork) == before
    whole(m.fork, m.ws)


def test_snapshot_mode_candidates_and_merged_files_stay_private(tmp_path: Path) -> None:
    base = {"app/a.txt": "1\n2\n3\n", "app/b.txt": "b\n", "docs/guide.md": "a\nb\nc\n"}
    upstream = {"app/a.txt": "1\nU\n3\n", "app/b.txt": "b BROKEN\n", "docs/guide.md": "a\nb\nc\nd\n",
                "app/new.txt": "new\n"}
    fork = {"app/a.txt": "1\n2\n3\nfork\n", "app/b.txt": "b\n", "docs/guide.md": "fork\na\nb\nc\n"}
    r = snapshot_build(tmp_path, base, upstream, fork,
                       checks=[{"name": "nobroken", "run": "! grep -rq BROKEN app"}])
    before = objects.unreachable(r.fork)
    res = run_doit(r.workspace)
    assert res.returncode == 2, res.stdout + res.stderr  # app/b.txt is deferred: candidates were checked out
    tip = rev(r.fork, "refs/heads/sync/upstream")
    assert tip and tip != r.fork_head
    assert objects.unreachable(r.fork) == before
    whole(r.fork, r.workspace)
    assert run_doit(r.workspace, "dry=1").returncode in (0, 2)
    assert objects.unreachable(r.fork) == before


def test_cherry_pick_mode_picks_stay_private_until_they_land(tmp_path: Path) -> None:
    s = pick.build(tmp_path)
    before = objects.unreachable(s.fork)
    res = run_doit(s.ws)
    assert res.returncode == 2, res.stdout + res.stderr  # a broken pick is deferred
    assert s.branch("web") and s.branch("api")
    assert objects.unreachable(s.fork) == before
    whole(s.fork, s.ws)


def test_a_host_check_reads_the_candidate_with_git_and_cannot_write_to_the_fork(tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    m = merge.build(tmp_path, checks=False, top={"checks": [{
        "name": "git", "run": f"git log -1 --format=%s HEAD >> {seen} && git cat-file -e HEAD^{{tree}}"
                              " && ! git update-ref refs/heads/sneaky HEAD"}]})
    before = objects.unreachable(m.fork)
    res = run_doit(m.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "forkwave candidate slice-1" in seen.read_text().splitlines()
    assert rev(m.fork, "refs/heads/sneaky") is None
    assert objects.unreachable(m.fork) == before


def _count(repo: Path) -> dict[str, str]:
    out = subprocess.run(["git", "-C", str(repo), "count-objects", "-v"], capture_output=True, text=True).stdout
    return dict(line.split(": ") for line in out.splitlines())


def test_a_run_killed_with_a_candidate_checked_out_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    m = merge.build(tmp_path, bad_at=31)
    before = objects.unreachable(m.fork)
    killed = run_doit(m.ws, env={"FORKWAVE_FAULT": "before-move"})  # SIGKILL: no atexit, the directory stays
    assert killed.returncode < 0 or killed.returncode == 137, killed.stdout + killed.stderr
    left = list((m.ws / ".forkwave" / objects.FOLDER).iterdir())
    assert len(left) == 1 and any(left[0].rglob("*"))  # the killed run's candidates, never in the fork
    # (until the next run, forkwave's worktree still names the candidate it was checking: `git fsck` says so)
    res = run_doit(m.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    assert m.holds(30) and not m.holds(31)
    whole(m.fork, m.ws)  # the worktree moved off the dropped objects, the killed run's directory gone
    assert objects.unreachable(m.fork) == before


def test_candidates_judged_side_by_side_in_several_worktrees_stay_private(tmp_path: Path) -> None:
    m = merge.build(tmp_path, conflict_at=25, bad_at=22, top={"host": {"slots": 2}})
    before = objects.unreachable(m.fork)
    res = run_doit(m.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    assert m.holds(21) and not m.holds(22)
    assert (m.ws / ".forkwave" / "worktree-1").is_dir()  # a second candidate was judged beside the first
    assert objects.unreachable(m.fork) == before
    whole(m.fork, m.ws)
