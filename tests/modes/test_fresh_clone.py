"""A fresh clone of the fork, with the state only on its remote: it knows every processed commit, a
person's resolution and a rollback, starts its branch from the remote's (tracking it), and publishes
as a fast-forward — in cherry-pick mode and in snapshot mode.

The fork has an ``origin`` (a bare repository, as a forge would hold it); the first workspace syncs
and publishes (``forge: none``); then a second workspace syncs a ``git clone`` of that origin.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from conftest import commit_tree, git_out, run_doit, write_config
from forgekit import bare_remote
from siblingkit import ANN, build as sibling, config as sibling_config, pull_request
from slicekit import build as snapshot_repos, config_for, read, rev, tree

PUBLISH = {"forge": "none", "automerge_max": None}   # push and write reports/pr.md; never merge


def with_origin(fork: Path, remote: Path) -> Path:
    bare_remote(remote)
    git_out(fork, "remote", "add", "origin", str(remote))
    git_out(fork, "push", "-q", "origin", "main")
    return remote


def clone(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(remote), str(where)], check=True)
    return where


def tracking(repo: Path, branch: str) -> tuple[str, str]:
    return (git_out(repo, "config", f"branch.{branch}.remote").strip(),
            git_out(repo, "config", f"branch.{branch}.merge").strip())


def test_cherry_pick_a_fresh_clone_picks_nothing_twice_keeps_a_rollback_and_publishes(tmp_path: Path) -> None:
    s = sibling(tmp_path)
    cfg = sibling_config(s.shas, s.runs) | {"publish": PUBLISH}
    write_config(s.ws, cfg)
    origin = with_origin(s.fork, tmp_path / "fork.git")
    assert run_doit(s.ws).returncode == 0
    assert s.picked() == [s.shas["pr2"], s.shas["pr4"]]
    rolled = run_doit(s.ws, "rollback:slice-1")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    published = run_doit(s.ws, "publish")
    assert published.returncode == 0, published.stdout + published.stderr
    shared = rev(origin, "refs/heads/sync/web")
    assert shared == s.branch()
    # the sibling merges one more pull request; a fresh clone of the fork syncs it in a fresh workspace
    files = {p: c.decode() for p, (_, c) in tree(s.web, "main").items()}
    pull_request(s.web, files, 5, "feat(cite): export", [("export", "feat(cite): export", {"web/cite/x.txt": "x\n"})],
                 60, s.shas)
    fresh = clone(origin, tmp_path / "clone")
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    write_config(ws2, cfg | {"fork": {"path": "../clone", "branch": "main"}})
    before = s.check_runs()
    res = run_doit(ws2)
    assert res.returncode == 0, res.stdout + res.stderr
    assert tracking(fresh, "sync/web") == ("origin", "refs/heads/sync/web")
    mine = rev(fresh, "refs/heads/sync/web") or ""
    assert git_out(fresh, "merge-base", "--is-ancestor", shared or "", mine) == ""   # started from origin's
    assert s.picked(f"main..{mine}", fresh) == [s.shas["pr2"], s.shas["pr4"], s.shas["pr5"]]   # each once
    files_now = tree(fresh, mine)
    assert "web/cite/viewer.txt" not in files_now and "web/cite/x.txt" in files_now   # the rollback stands
    assert s.check_runs() == before + 1     # the new pull request (it passes: no baseline); nothing judged again
    again = run_doit(ws2, "publish")
    assert again.returncode == 0, again.stdout + again.stderr
    assert rev(origin, "refs/heads/sync/web") == mine and "someone else pushed" not in again.stderr


def test_cherry_pick_a_fresh_clone_with_nothing_new_runs_no_check(tmp_path: Path) -> None:
    s = sibling(tmp_path)
    cfg = sibling_config(s.shas, s.runs) | {"publish": PUBLISH}
    write_config(s.ws, cfg)
    origin = with_origin(s.fork, tmp_path / "fork.git")
    assert run_doit(s.ws).returncode == 0 and run_doit(s.ws, "publish").returncode == 0
    fresh = clone(origin, tmp_path / "clone")
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    write_config(ws2, cfg | {"fork": {"path": "../clone", "branch": "main"}})
    before = s.check_runs()
    res = run_doit(ws2)
    assert res.returncode == 0, res.stdout + res.stderr
    assert s.check_runs() == before and rev(fresh, "refs/heads/sync/web") == rev(origin, "refs/heads/sync/web")
    published = run_doit(ws2, "publish")
    assert published.returncode == 0, published.stdout + published.stderr


BASE = {"keep.txt": "keep\n", "conf/default.json": '{"a": 1}\n', "src/app.js": "app v1\n"}
UPSTREAM = {"keep.txt": "keep\n", "conf/default.json": '{"a": 2}\n', "src/app.js": "app v2\n"}
FORK = {**BASE, "conf/default.json": '{"a": 1, "acme": true}\n'}            # both changed the one line
RESOLVED = '{"a": 2, "acme": true}\n'


def snapshot_config(**kw: Any) -> dict[str, Any]:
    return config_for(slices={"max_files": 1}, publish=PUBLISH, **kw)


def test_snapshot_a_fresh_clone_keeps_a_persons_resolution_and_imports_nothing_again(tmp_path: Path) -> None:
    r = snapshot_repos(tmp_path, BASE, UPSTREAM, FORK, slices={"max_files": 1}, publish=PUBLISH)
    origin = with_origin(r.fork, tmp_path / "fork.git")
    assert run_doit(r.workspace).returncode == 2                  # conf/default.json conflicts
    person = tmp_path / "person"
    subprocess.run(["git", "-C", str(r.fork), "worktree", "add", "-q", str(person), "sync/upstream"], check=True)
    (person / "conf" / "default.json").write_text(RESOLVED)
    git_out(person, "commit", "-qam", "resolve default.json")
    git_out(r.fork, "worktree", "remove", str(person))
    assert run_doit(r.workspace).returncode == 0
    assert run_doit(r.workspace, "publish").returncode == 0
    shared = rev(origin, "refs/heads/sync/upstream")
    fresh = clone(origin, tmp_path / "clone")
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    write_config(ws2, snapshot_config(fork={"path": "../clone", "branch": "main"}))
    res = run_doit(ws2)
    assert res.returncode == 0, res.stdout + res.stderr
    assert rev(fresh, "refs/heads/sync/upstream") == shared         # nothing imported again, nothing lost
    assert tree(fresh, "sync/upstream")["conf/default.json"][1] == RESOLVED.encode()
    assert tracking(fresh, "sync/upstream") == ("origin", "refs/heads/sync/upstream")
    statuses = {read(ws2 / "reports" / "slices" / x["name"] / "outcome.json")["status"]
                for x in read(ws2 / "reports" / "plan.json")["slices"]}
    assert statuses <= {"adopted", "empty"}
    published = run_doit(ws2, "publish")
    assert published.returncode == 0, published.stdout + published.stderr


def test_a_new_sync_branch_is_never_cut_over_a_remote_one(tmp_path: Path) -> None:
    """A clone whose remote has the sync branch, and a fork branch that moved since: the branch starts from
    the remote's, not from ``fork.branch``."""
    r = snapshot_repos(tmp_path, BASE, UPSTREAM, BASE, publish=PUBLISH)
    origin = with_origin(r.fork, tmp_path / "fork.git")
    assert run_doit(r.workspace).returncode == 0 and run_doit(r.workspace, "publish").returncode == 0
    fresh = clone(origin, tmp_path / "clone")
    commit_tree(fresh, {**BASE, "fork-only.txt": "ours\n"}, message="fork: more", tick=20, author=ANN)
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    write_config(ws2, snapshot_config(fork={"path": "../clone", "branch": "main"}))
    res = run_doit(ws2)
    assert res.returncode == 0, res.stdout + res.stderr
    tip = rev(fresh, "refs/heads/sync/upstream") or ""
    assert git_out(fresh, "merge-base", "--is-ancestor", rev(origin, "refs/heads/sync/upstream") or "", tip) == ""
    assert run_doit(ws2, "publish").returncode == 0

