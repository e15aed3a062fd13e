"""`doit clean`: forkwave's generated state for the tasks given, or the whole workspace; never the fork's branches."""
from __future__ import annotations

import fcntl
import json
from pathlib import Path

from conftest import git_out, run_doit
from slicekit import Repos, build, ledger_runs, read, slice_names

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


def ran_with_a_check(tmp_path: Path) -> Repos:
    """A run whose check leaves verdicts in the memo and whose run is in the ledger."""
    r = build(tmp_path, BASE, UPSTREAM, FORK, slices={"max_files": 2},
              checks=[{"name": "count", "run": f"echo run >> {tmp_path / 'checks-ran.txt'}"}])
    assert run_doit(r.workspace).returncode == 2
    return r


def history(r: Repos) -> dict[str, object]:
    """The workspace's history: the ledger's runs and every file of the verdict memo with its bytes."""
    memo = r.reports / "memo"
    return {"runs": [(run.run, run.status) for run in ledger_runs(r.reports)],
            "memo": {str(p.relative_to(memo)): p.read_bytes() for p in sorted(memo.rglob("*")) if p.is_file()}}


def test_clean_with_no_task_resets_the_workspace_keeps_the_history_and_leaves_the_fork_alone(tmp_path: Path) -> None:
    r = ran_with_a_check(tmp_path)
    (r.reports / "README.md").write_text("what this folder is\n")          # forkwave's own checkout has one
    sync = git_out(r.fork, "rev-parse", "sync/upstream").strip()
    before, kept = fork_state(r), history(r)
    assert kept["runs"] and kept["memo"]                                   # there is history to keep

    result = run_doit(r.workspace, "clean")

    assert result.returncode == 0, result.stdout + result.stderr
    left = {p.name for p in r.reports.iterdir()} - {"ledger.sqlite-wal", "ledger.sqlite-shm"}
    assert left == {".doit.json", "README.md", "ledger.sqlite", "memo"}
    assert history(r) == kept                                              # the ledger and the memo as they were
    assert json.loads((r.reports / ".doit.json").read_text()) == {}        # doit's own state is reset
    assert listing(r.workspace / ".forkwave") == ["lock"]
    assert fork_state(r) == before and "sync/upstream" in before["refs"]   # the fork's branches stay
    assert result.stdout.splitlines()[-1] == (
        f"clean: workspace {r.workspace} reset (the fork's branches are untouched); kept the run ledger "
        "(reports/ledger.sqlite) and the verdict memo (reports/memo/): `doit clean all=1` removes them too")
    ran = (tmp_path / "checks-ran.txt").read_text().count("run")
    assert ran > 0

    again = run_doit(r.workspace)                                          # the next run starts over ...
    assert again.returncode == 2 and again.status()["fetch"] == "ran"
    assert git_out(r.fork, "rev-parse", "sync/upstream").strip() == sync   # what landed stays landed
    assert read(r.reports / "plan.json")["slices"]
    assert len(ledger_runs(r.reports)) == len(kept["runs"]) + 1            # ... and its run joins the history
    assert (tmp_path / "checks-ran.txt").read_text().count("run") == ran   # the memo answered: no check ran again


def test_clean_all_removes_the_history_too(tmp_path: Path) -> None:
    r = ran_with_a_check(tmp_path)
    assert history(r)["runs"]
    before = fork_state(r)

    result = run_doit(r.workspace, "clean", "all=1")

    assert result.returncode == 0, result.stdout + result.stderr
    assert listing(r.reports) == [".doit.json"]
    assert listing(r.workspace / ".forkwave") == ["lock"]
    assert fork_state(r) == before
    assert result.stdout.splitlines()[-1] == (f"clean: workspace {r.workspace} reset (the fork's branches are "
                                              "untouched)")
    assert ledger_runs(r.reports) == []                                    # a new, empty ledger


def test_clean_of_one_task_ignores_all_and_keeps_the_history(tmp_path: Path) -> None:
    """all=1 speaks of the reset only: `doit clean TASK` removes that task's files, never the history."""
    r = ran_with_a_check(tmp_path)
    kept = history(r)
    result = run_doit(r.workspace, "clean", "drift", "all=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (r.reports / "drift.json").exists() and (r.reports / "plan.json").exists()
    assert history(r) == kept


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
