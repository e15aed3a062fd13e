"""`doit clean`: forkwave's generated state for the tasks given, or the whole workspace; never the fork's branches."""
from __future__ import annotations

import fcntl
import json
from pathlib import Path

from conftest import git_out, run_doit
from slicekit import Repos, build, read, slice_names

BASE = {"README.md": "# base\n", "src/a.py": "A = 1\n", "shared.txt": "base\n"}
UPSTREAM = {**BASE, "src/a.py": "A = 2\n", "src/c.py": "C = 3\n", "shared.txt": "upstream\n"}
FORK = {**BASE, "shared.txt": "fork\n"}  # a conflict: the run leaves work for a person


def ran_once(tmp_path: Path) -> Repos:
    r = build(tmp_path, BASE, UPSTREAM, FORK, slices={"max_files": 2})
    assert run_doit(r.workspace).returncode == 2
    return r


def fork_state(r: Repos) -> dict[str, str]:
    """Everything of the fork a person has: every ref, HEAD, index and working tree."""
    return {"refs": git_out(r.fork, "for-each-ref", "--format=%(refname) %(objectname)"),
            "head": git_out(r.fork, "symbolic-ref", "HEAD"),
            "status": git_out(r.fork, "status", "--porcelain", "--untracked-files=all")}


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_clean_a_slice_removes_its_validation_state_and_the_worktree_only(tmp_path: Path) -> None:
    r = ran_once(tmp_path)
    name = slice_names(r)[0]
    folder = r.reports / "slices" / name
    assert (folder / "outcome.json").exists() and (r.workspace / ".forkwave" / "worktree").is_dir()
    before, other = fork_state(r), listing(r.reports / "slices" / slice_names(r)[1])

    result = run_doit(r.workspace, "clean", f"validate:{name}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in folder.iterdir()] == ["import.json"]           # the import manifest is import's
    assert not (r.workspace / ".forkwave" / "worktree").exists()
    assert str(r.workspace / ".forkwave" / "worktree") not in git_out(r.fork, "worktree", "list")
    assert listing(r.reports / "slices" / slice_names(r)[1]) == other       # other slices untouched
    assert (r.reports / "drift.json").exists() and (r.workspace / ".forkwave" / "upstream.git").is_dir()
    assert fork_state(r) == before
    again = run_doit(r.workspace, f"validate:{name}")
    assert again.status()[f"validate:{name}"] == "ran" and (folder / "outcome.json").exists()


def test_clean_a_step_removes_its_reports_and_it_runs_again(tmp_path: Path) -> None:
    r = ran_once(tmp_path)
    result = run_doit(r.workspace, "clean", "drift", "fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    for gone in ("reports/drift.json", "reports/drift.md", "reports/upstream.json", ".forkwave/upstream.git"):
        assert not (r.workspace / gone).exists(), gone
    assert (r.reports / "plan.json").exists()                              # plan was not asked for
    again = run_doit(r.workspace, "plan")
    assert again.returncode == 0 and {again.status()[t] for t in ("fetch", "drift")} == {"ran"}


def test_clean_with_no_task_resets_the_workspace_and_leaves_the_fork_alone(tmp_path: Path) -> None:
    r = ran_once(tmp_path)
    (r.reports / "README.md").write_text("what this folder is\n")          # forkwave's own checkout has one
    sync = git_out(r.fork, "rev-parse", "sync/upstream").strip()
    before = fork_state(r)

    result = run_doit(r.workspace, "clean")

    assert result.returncode == 0, result.stdout + result.stderr
    assert listing(r.reports) == [".doit.json", "README.md"]
    assert json.loads((r.reports / ".doit.json").read_text()) == {}        # doit's own state is reset too
    assert listing(r.workspace / ".forkwave") == ["lock"]
    assert fork_state(r) == before and "sync/upstream" in before["refs"]   # the fork's branches stay
    assert "reset" in result.stdout.splitlines()[-1]
    again = run_doit(r.workspace)                                          # and the next run starts over
    assert again.returncode == 2 and again.status()["fetch"] == "ran"
    assert git_out(r.fork, "rev-parse", "sync/upstream").strip() == sync   # what landed stays landed
    assert read(r.reports / "plan.json")["slices"]


def test_clean_refuses_while_a_run_holds_the_workspace(tmp_path: Path) -> None:
    r = ran_once(tmp_path)
    before = listing(r.workspace)
    with open(r.workspace / ".forkwave" / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_doit(r.workspace, "clean")
    assert result.returncode == 3
    assert "another forkwave run holds" in result.stderr and "wait for it to finish, then clean" in result.stderr
    assert listing(r.workspace) == before


def test_clean_demo_removes_the_demo_repositories(tmp_path: Path) -> None:
    assert run_doit(tmp_path, "demo").returncode == 0
    assert (tmp_path / ".forkwave" / "demo" / "fork").is_dir()
    result = run_doit(tmp_path, "clean", "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / ".forkwave" / "demo").exists()
