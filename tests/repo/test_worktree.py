"""The private worktree: node_modules survives checkouts while the lockfiles are unchanged."""
from __future__ import annotations

from pathlib import Path

from conftest import commit_tree, make_repo
from tasks.repo import git, worktree


def test_node_modules_is_kept_until_a_lockfile_changes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    c1 = commit_tree(repo, {"package-lock.json": '{"v": 1}\n', "packages/a/yarn.lock": "x\n", "src.js": "1\n"})
    c2 = commit_tree(repo, {"package-lock.json": '{"v": 1}\n', "packages/a/yarn.lock": "x\n", "src.js": "2\n"}, tick=1)
    c3 = commit_tree(repo, {"package-lock.json": '{"v": 1}\n', "packages/a/yarn.lock": "y\n", "src.js": "2\n"}, tick=2)
    wt = tmp_path / "wt"
    git.git(repo, "worktree", "add", "--detach", str(wt), c1)
    worktree.checkout(wt, c1)
    (wt / "node_modules").mkdir()
    (wt / "node_modules" / "dep.js").write_text("dep\n")
    (wt / "dist").mkdir()
    (wt / "dist" / "out.js").write_text("built\n")

    worktree.checkout(wt, c2)                       # source changed, lockfiles did not
    assert (wt / "node_modules" / "dep.js").exists()
    assert not (wt / "dist").exists()               # other untracked output never survives
    assert (wt / "src.js").read_text() == "2\n"

    worktree.checkout(wt, c3)                       # a nested lockfile changed: reinstall from scratch
    assert not (wt / "node_modules").exists()
