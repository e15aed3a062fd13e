"""The command line: exit codes, quiet output with one summary line, unknown names, `doit list`, config discovery.

Pure parts (the exit-code table, doit's argv, the summary line) by tables; the rest through
the real CLI (doit as a subprocess) on real repositories.
"""
from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import pytest
from doit import create_after
from doit.task import DelayedLoader, Task

from conftest import FAILING_URL, DoitResult, Executable, run_doit, write_config
from slicekit import Repos, build, config_for, ledger_runs, outcome, read, slice_names
from tasks import exitcodes
from tasks.core.outcome import Conflict, Outcome, Status
from tasks.cli import Request, parse, summary_line, unknown
from tasks.config import find_config
from tasks.errors import ForkwaveError

QUIET = {"FORKWAVE_SHOW_TASKS": ""}  # the output a person sees (the tests' default adds doit's task lines)
BASE = {"README.md": "# base\n", "src/a.py": "A = 1\n", "src/b.py": "B = 1\n", "shared.txt": "base\n"}
UPSTREAM = {**BASE, "src/a.py": "A = 2\n", "src/c.py": "C = 3\n", "shared.txt": "upstream\n"}


# --- tables -----------------------------------------------------------------------------------

@pytest.mark.parametrize("codes,expected", [
    ([], 0), ([0, 0], 0), ([2], 2), ([0, 2, 0], 2), ([2, 1], 1), ([1, 3], 3), ([3, 2, 1, 0], 3), ([1], 1),
])
def test_the_worst_part_decides_the_exit_code(codes: list[int], expected: int) -> None:
    assert exitcodes.combine(codes) == expected


@pytest.mark.parametrize("status,state,left", [
    (Status.ADOPTED, "adopted", False), (Status.EMPTY, "adopted", False), (Status.SPLIT, "deferred", True),
    (Status.REVERTED, "deferred", True), (Status.FAILED, "deferred", True), (Status.CONFLICTED, "conflicted", True),
    (Status.WAITING, "waiting", True), (Status.ROLLED_BACK, "rolled back", False), (Status.ERROR, "deferred", True),
])
def test_every_status_has_a_state_and_says_whether_work_is_left(status: Status, state: str, left: bool) -> None:
    assert status.state == state
    outcome = Outcome("slice-1", "a", "u", status, "p")
    assert outcome.left is left
    with_conflict = outcome.evolve(conflicts=(Conflict("x", "3-way merge conflict"),))
    assert with_conflict.left is (status is not Status.ROLLED_BACK)      # an item left is never success


@pytest.mark.parametrize("argv,expected", [
    ([], Request("run")),
    (["-f", "dodo.py", "-d", "ws"], Request("run")),
    (["-f", "dodo.py", "-d", "ws", "wave_a", "config=x.yaml", "offline=1"], Request("run", ("wave_a",))),
    (["validate:slice-3"], Request("run", ("validate:slice-3",))),
    (["run", "-v", "2", "drift", "plan"], Request("run", ("drift", "plan"))),
    (["--continue", "reports/drift.json"], Request("run", ("reports/drift.json",))),
    (["list", "--all"], Request("list")),
    (["-d", "ws", "list", "wave_a"], Request("list", ("wave_a",))),
    (["clean", "-n", "drift", "validate:slice-1"], Request("clean", ("drift", "validate:slice-1"))),
    (["clean", "--clean-all"], Request("clean")),
    (["forget", "fetch"], Request("forget", ("fetch",))),
    (["info", "validate:slice-2"], Request("info", ("validate:slice-2",))),
    (["since=2026-01-01", "drift"], Request("run", ("drift",))),
    (["--no-such-option", "drift"], Request("run")),                   # doit rejects it itself
])
def test_parse_reads_argv_as_doit_does(argv: list[str], expected: Request) -> None:
    assert parse(argv) == expected


def _tasks() -> list[Task]:
    @create_after(executed="plan", creates=["validate"], target_regex=r"reports/slices/.*/outcome\.json$")
    def task_validate() -> None:
        """placeholder"""

    delayed: DelayedLoader = task_validate.doit_create_after
    return [Task("drift", [], targets=["reports/drift.json"]), Task("plan", []),
            Task("validate", None, loader=delayed), Task("import", None, task_dep=["import:slice-1"]),
            Task("import:slice-1", [], subtask_of="import")]


@pytest.mark.parametrize("req,bad", [
    (Request("run", ("drift", "plan")), []),
    (Request("run", ("wavex", "drift")), ["wavex"]),
    (Request("run", ("reports/drift.json",)), []),                       # a target
    (Request("run", ("reports/slices/slice-9/outcome.json",)), []),      # a delayed creator's target
    (Request("run", ("validate:slice-9",)), []),                         # checked once plan has run
    (Request("run", ("import:slice-9",)), ["import:slice-9"]),           # not delayed: known now
    (Request("run", ("dri*",)), []),
    (Request("clean", ("validate:slice-9",)), ["validate:slice-9"]),     # clean sees every real task
    (Request("clean", ("reports/drift.json", "import:slice-1", "dr*")), ["reports/drift.json"]),
    (Request("forget", ("dri*",)), ["dri*"]),
    (Request("list", ("plan", "nope")), ["nope"]),
])
def test_unknown_names_as_doit_would_find_them(req: Request, bad: list[str]) -> None:
    assert unknown(req, _tasks()) == bad


@pytest.mark.parametrize("slices,code,stopped,line", [
    ({}, 0, [], "forkwave: done — exit 0: done"),
    ({"slice-1": ("a", "adopted"), "slice-2": ("a", "adopted")}, 0, [],
     "forkwave: 2 slices: 2 adopted, 0 deferred, 0 conflicted; open reports/wave-a/report.md — exit 0: all adopted"),
    ({"slice-1": ("a", "adopted"), "slice-2": ("b", "deferred"), "slice-3": ("c", "conflicted")}, 2, [],
     "forkwave: 3 slices: 1 adopted, 1 deferred, 1 conflicted; open reports/wave-b/report.md, "
     "reports/wave-c/report.md — exit 2: work left for a person (deferred or conflicted slices)"),
    ({"slice-1": ("a", "rolled back")}, 0, [],
     "forkwave: 1 slice: 0 adopted, 0 deferred, 0 conflicted, 1 rolled back; open reports/wave-a/report.md "
     "— exit 0: all adopted"),
    ({}, 3, ["fetch"], "forkwave: stopped at fetch (the error is above) — exit 3: forkwave or its environment failed"),
    ({}, 1, ["validate:slice-9"],
     "forkwave: stopped at validate:slice-9 (the error is above) — exit 1: bad config or usage"),
])
def test_summary_line(slices: dict[str, tuple[str, str]], code: int, stopped: list[str], line: str) -> None:
    assert summary_line(slices, code, stopped) == line


@pytest.mark.parametrize("slices,stopped,planned,line", [
    ({}, ["batch"], 12,
     "forkwave: 12 slices planned, none run; stopped before any slice (the error is above) — exit 3: "
                        "forkwave or its environment failed"),
    ({"slice-1": ("a", "error")}, ["validate:slice-1"], 7,
     "forkwave: 7 slices planned, 1 run: 0 adopted, 0 deferred, 0 conflicted, 1 error; 6 not run; open "
     "reports/wave-a/report.md; stopped at validate:slice-1 (the error is above) — exit 3: forkwave or its "
     "environment failed"),
    ({"slice-1": ("a", "adopted")}, [], 1,   # every slice the run reached ran: no "planned"
     "forkwave: 1 slice: 1 adopted, 0 deferred, 0 conflicted; open reports/wave-a/report.md — exit 3: forkwave or its "
     "environment failed"),
])
def test_the_last_line_counts_the_slices_an_error_kept_from_running(
        slices: dict[str, tuple[str, str]], stopped: list[str], planned: int, line: str) -> None:
    assert summary_line(slices, 3, stopped, planned=planned) == line


# --- exit codes through the real CLI ------------------------------------------------------------

def assert_quiet(result: DoitResult) -> None:
    """No doit noise: no task blocks, no tracebacks, no task lines; the summary line is the last."""
    both = result.stdout + result.stderr
    for noise in ("TaskFailed", "UnmetDependency", "taskid:", "Traceback", "########"):
        assert noise not in both, both
    assert not [line for line in result.stdout.splitlines() if line[:3] in (".  ", "-- ")], result.stdout
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith("forkwave: ") and f" — exit {result.returncode}: " in last, result.stdout


def adoptable(tmp_path: Path, **config: Any) -> Repos:
    """Upstream-only changes: every slice can be adopted."""
    return build(tmp_path, BASE, UPSTREAM, **config)


def test_exit_0_when_every_slice_is_adopted(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, env=QUIET)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_quiet(result)
    n = len(slice_names(r))
    assert result.stdout.splitlines()[-1] == (f"forkwave: {n} slice{'s' * (n > 1)}: {n} adopted, 0 deferred, "
                                              "0 conflicted; open reports/wave-a/report.md — exit 0: all adopted")
    assert result.stderr == ""


def test_exit_2_for_work_left_and_doit_saved_its_state_first(tmp_path: Path) -> None:
    """A conflict and a deferred file: exit 2, one line per slice; doit's state was saved before the
    reporter's SystemExit (the adopted slice is up to date next time) and the ledger closed the run."""
    fork = {**BASE, "shared.txt": "fork\n"}
    upstream = {**UPSTREAM, "src/bad.py": "def broken(:\n"}
    r = build(tmp_path, BASE, upstream, fork, slices={"max_files": 2}, gates=["syntax"])
    result = run_doit(r.workspace, env=QUIET)
    assert result.returncode == 2, result.stdout + result.stderr
    assert_quiet(result)
    states = {n: outcome(r, n)["status"] for n in slice_names(r)}
    assert "conflicted" in states.values() and ("split" in states.values() or "reverted" in states.values())
    assert result.stdout.splitlines()[-1].endswith("— exit 2: work left for a person (deferred or conflicted slices)")
    slice_lines = [line for line in result.stdout.splitlines() if "] slice-" in line and not line.endswith(" ...")]
    assert len(slice_lines) == len(states)                                # one result line per slice
    last = ledger_runs(r.reports)[-1]
    assert last.status in ("partial", "failed") and last.ended                   # atexit still ran

    again = run_doit(r.workspace)                                         # with doit's task lines
    assert again.returncode == 2
    adopted = [n for n, s in states.items() if s == "adopted"]
    assert adopted and all(again.status()[f"validate:{n}"] == "up to date" for n in adopted)
    assert {again.status()[t] for t in ("fetch", "drift", "plan")} == {"up to date"}


def test_exit_3_when_the_fetch_fails_and_the_error_is_printed_once(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    write_config(r.workspace, config_for(upstream={"url": FAILING_URL}))
    result = run_doit(r.workspace, env=QUIET)
    assert result.returncode == 3, result.stdout + result.stderr
    assert_quiet(result)
    assert result.stderr.count("could not fetch") == 1
    assert result.stdout.splitlines()[-1] == ("forkwave: stopped at fetch (the error is above) — exit 3: "
                                              "forkwave or its environment failed")


def test_exit_3_when_another_run_holds_the_workspace(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    (r.workspace / ".forkwave").mkdir()
    with open(r.workspace / ".forkwave" / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_doit(r.workspace, "fetch", env=QUIET)
    assert result.returncode == 3
    assert result.stderr.count("another forkwave run holds") == 1


@pytest.mark.parametrize("args", [("wavex",), ("drift", "wavex"), ("list", "wavex"), ("info", "wavex"),
                                  ("forget", "wavex"), ("clean", "wavex")])
def test_exit_1_for_an_unknown_task_name(tmp_path: Path, args: tuple[str, ...]) -> None:
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ("forkwave: error: unknown task 'wavex' (did you mean 'wave_a'?); "
                             "`doit list` shows the tasks\n")
    assert result.stdout == "" and not (r.workspace / "reports").exists()  # nothing ran


def test_exit_1_for_an_unknown_slice(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, "validate:slice-99", env=QUIET)
    assert result.returncode == 1
    assert_quiet(result)
    assert result.stderr.count("slice-99: no such slice in reports/plan.json") == 1
    cleaned = run_doit(r.workspace, "clean", "validate:slice-99")        # the plan exists now
    assert cleaned.returncode == 1
    assert cleaned.stderr == ("forkwave: error: unknown task 'validate:slice-99' (did you mean 'validate:slice-1'?); "
                              "`doit list --all` shows the tasks\n")


def test_a_config_error_is_exit_1_with_one_line(tmp_path: Path) -> None:
    write_config(tmp_path, config_for(slices={"max_files": 0}))
    result = run_doit(tmp_path, "wave_a")
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1


# --- doit list ------------------------------------------------------------------------------------

def test_list_describes_each_group_wave_and_slice(tmp_path: Path) -> None:
    r = adoptable(tmp_path, waves={"a": {"paths": ["src/**"]}, "b": {"buckets": ["*"]}}, slices={"max_files": 1})
    before = {line.split()[0]: line for line in run_doit(r.workspace, "list").stdout.splitlines()}
    assert "wave a: validate its slices (once plan has run)" in before["wave_a"]
    assert before["import"] != before["validate"] != before["wave_a"]
    run_doit(r.workspace, "plan")
    listed = {line.split()[0]: line.split(None, 1)[1] for line in run_doit(r.workspace, "list", "--all").stdout
              .splitlines()}
    plan = read(r.reports / "plan.json")
    waves = {w["name"]: w["slices"] for w in plan["waves"]}
    assert listed["wave_a"] == f"wave a: validate its {len(waves['a'])} slices, then write reports/wave-a/"
    assert listed["wave_b"] == "wave b: validate its 1 slice, then write reports/wave-b/"
    for s in plan["slices"]:
        assert listed[f"validate:{s['name']}"] == f"wave {s['wave']}, 1 file: validate onto sync/upstream"
        assert listed[f"import:{s['name']}"] == f"wave {s['wave']}, 1 file: import manifest"
    assert listed["validate"].startswith("per slice: import onto the sync branch")
    assert listed["import"].startswith("per slice: its import manifest")


# --- config discovery and the demo's first line ------------------------------------------------------

MINIMAL = {"upstream": {"url": "../up.git"}, "fork": {"path": "../fork"}}


@pytest.mark.parametrize("name", ["forkwave.yaml", "forkwave.yml", ".forkwave.yaml", ".forkwave.yml"])
def test_a_config_under_any_of_its_names_is_found(tmp_path: Path, name: str) -> None:
    path = write_config(tmp_path, MINIMAL, name=name)
    assert find_config(None, tmp_path) == path


def test_two_configs_at_once_are_an_error_naming_both(tmp_path: Path) -> None:
    write_config(tmp_path, MINIMAL, name="forkwave.yaml")
    write_config(tmp_path, MINIMAL, name=".forkwave.yaml")
    with pytest.raises(ForkwaveError) as err:
        find_config(None, tmp_path)
    assert str(err.value) == (f"{tmp_path}: found forkwave.yaml and .forkwave.yaml; keep one of them "
                              "(or choose with config=PATH)")
    assert find_config("forkwave.yaml", tmp_path) == tmp_path / "forkwave.yaml"   # an explicit choice is fine
    result = run_doit(tmp_path, "list")
    assert result.returncode == 1 and "found forkwave.yaml and .forkwave.yaml" in result.stderr


def test_doit_uses_a_forkwave_yml(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    (r.workspace / "forkwave.yaml").rename(r.workspace / "forkwave.yml")
    result = run_doit(r.workspace, "plan", env=QUIET)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo" not in result.stdout and read(r.reports / "upstream.json")["url"] == "../upstream.git"


def test_the_demo_says_so_in_its_first_line_and_its_fork_checkout_is_clean(tmp_path: Path) -> None:
    result = run_doit(tmp_path, "demo", env=QUIET)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith(f"forkwave: no forkwave.yaml in {tmp_path}: running the "
                                                   "bundled demo")
    fork = tmp_path / ".forkwave" / "demo" / "fork"
    from conftest import git_out

    assert git_out(fork, "status", "--porcelain", "--untracked-files=all") == ""
    assert (fork / "packages" / "acme-server" / "package.json").is_file()      # the files are there
    assert git_out(fork, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_executables_stay_executable_in_the_demo_checkout(tmp_path: Path) -> None:
    from tasks.repo import synth

    repo = synth.init_repo(tmp_path / "r")
    synth.commit_tree(repo, {"run.sh": Executable("#!/bin/sh\n"), "a.txt": "a\n"})
    synth.check_out(repo)
    assert (repo / "run.sh").stat().st_mode & 0o111 and (repo / "a.txt").read_text() == "a\n"


def test_exit_3_for_a_crash_with_its_traceback_shown_once(tmp_path: Path) -> None:
    """A plan whose wave names a slice it does not list breaks the slice creator in the middle of
    the run: doit's runner is unwinding when it calls the reporter, and that must not become exit 0."""
    r = adoptable(tmp_path)
    assert run_doit(r.workspace, "plan").returncode == 0
    path = r.reports / "plan.json"
    plan = read(path)
    plan["slices"] = []
    path.write_text(json.dumps(plan))
    result = run_doit(r.workspace, "wave_a", env=QUIET)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.count("Traceback") == 1 and result.stderr.count("KeyError") == 1
    assert "forkwave crashed; this is a bug" in result.stderr
    assert result.stdout.splitlines()[-1] == ("forkwave: 1 slice planned, none run; stopped at KeyError (the error is "
                                              "above) — exit 3: forkwave or its environment failed")


def test_exit_1_for_a_config_error_an_action_finds(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    write_config(r.workspace, config_for(fork={"path": "../no-such-fork", "branch": "main"}))
    result = run_doit(r.workspace, env=QUIET)
    assert result.returncode == 1, result.stdout + result.stderr
    assert_quiet(result)
    assert result.stderr.count("fork.path: ") == 1
    assert result.stdout.splitlines()[-1] == ("forkwave: stopped at drift (the error is above) — exit 1: "
                                              "bad config or usage")


def test_forget_and_info_find_slice_tasks(tmp_path: Path) -> None:
    """doit never runs delayed creators for forget/info: forkwave makes the slice tasks for them."""
    r = adoptable(tmp_path)
    assert run_doit(r.workspace).returncode == 0
    name = slice_names(r)[0]
    info = run_doit(r.workspace, "info", f"validate:{name}")
    assert info.returncode == 0 and f"reports/slices/{name}/outcome.json" in info.stdout
    assert run_doit(r.workspace).status()[f"validate:{name}"] == "up to date"
    assert run_doit(r.workspace, "forget", f"validate:{name}").returncode == 0
    assert run_doit(r.workspace).status()[f"validate:{name}"] == "ran"


# --- a strict command line: variables, help, suggestions, doit's own crashes ---------------------------

from tasks.cli import suggest, variables  # noqa: E402
from tasks.context import VARIABLES  # noqa: E402

KNOWN = ", ".join(f"{v.name}=" for v in VARIABLES)


@pytest.mark.parametrize("argv,found", [
    (["-f", "dodo.py", "-d", "ws", "wave_a", "dry=1"], {"dry": "1"}),
    (["-d", "x=y", "since=a=b", "drift"], {"since": "a=b"}),           # -d's value is no variable
    (["list", "--all"], {}),
])
def test_variables_are_read_as_doit_reads_them(argv: list[str], found: dict[str, str]) -> None:
    assert variables(argv) == found


@pytest.mark.parametrize("name,names,expected", [
    ("valdate:slice-1", ["validate", "import", "wave_a"], ["validate:slice-1"]),   # before plan: by the group
    ("validate:slcie-1", ["validate", "validate:slice-1", "validate:slice-2"], ["validate:slice-1"]),
    ("wavea", ["wave_a", "wave_b", "wave_c", "_workspace"], ["wave_a"]),
    ("_workspac", ["_workspace", "plan"], []),                                    # private tasks never
    ("xyz", ["plan", "drift"], []),
])
def test_suggestions_for_a_mistyped_task(name: str, names: list[str], expected: list[str]) -> None:
    assert suggest(name, names) == expected


def test_every_variable_forkwave_reads_is_in_the_table() -> None:
    """The table is the truth: every get_var()/_var()/_flag() name in the code is a row, and every row is read."""
    import re

    from conftest import ROOT

    code = "\n".join(p.read_text(encoding="utf-8")
                     for folder in ("tasks", "checks") for p in (ROOT / folder).rglob("*.py"))
    read = set(re.findall(r"""(?:get_var|_var|_flag)\(["'](\w+)["']""", code))
    assert read == {v.name for v in VARIABLES}


@pytest.mark.parametrize("args,guess", [
    (("dyr=1",), "dry="),
    (("list", "confg=x.yaml"), "config="),
    (("wave_a", "batchsize=3"), "batch_size="),
    (("history", "fromat=json"), "format="),
])
def test_an_unknown_variable_is_exit_1_before_anything_runs(tmp_path: Path, args: tuple[str, ...], guess: str) -> None:
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    name = next(a for a in args if "=" in a).split("=")[0]
    assert result.stderr == (f"forkwave: error: unknown variable {name}= (did you mean {guess!r}?); the variables "
                             f"are {KNOWN}; `doit help` says what each does\n")
    assert result.stdout == "" and not (r.workspace / "reports").exists()          # nothing ran
    from conftest import git_out
    assert "sync/upstream" not in git_out(r.fork, "for-each-ref")                    # nothing landed


def test_an_unknown_variable_is_named_without_its_value(tmp_path: Path) -> None:
    """A value may be a credential typed into the wrong variable: the error never repeats it."""
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, "fetch", "tokn=ghp_0123456789abcdefghijklmnopqrstuvwxyz")
    assert result.returncode == 1 and "unknown variable tokn=;" in result.stderr
    assert "ghp_" not in result.stdout + result.stderr


def test_doit_help_is_an_overview_of_forkwave(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, "help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("forkwave: keep a fork in sync")
    for shown in ("doit wave_a", "doit validate:slice-3", "doit resolve:slice-3", "doit publish", "doit clean [TASK]",
                  *(v.shape for v in VARIABLES)):
        assert shown in result.stdout, shown
    assert "automation tool" not in result.stdout                                    # not doit's generic help
    import subprocess
    import sys

    from conftest import ROOT
    here = subprocess.run([sys.executable, "-m", "doit", "help"], cwd=ROOT, capture_output=True, text=True)
    assert here.returncode == 0 and here.stdout == result.stdout                     # in the checkout, no -f


@pytest.mark.parametrize("task,own,not_own", [
    ("fetch", ["offline=1"], ["take=", "full=1"]),
    ("drift", ["full=1", "since=DATE|SHA|last-success"], ["offline=1"]),
    ("resolve", ["path=P", "take=fork|upstream"], ["limit="]),
    ("history", ["format=markdown|plain|json", "limit=N"], ["path="]),
])
def test_doit_help_task_gives_its_doc_and_its_variables(tmp_path: Path, task: str, own: list[str],
                                                        not_own: list[str]) -> None:
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, "help", task)
    assert result.returncode == 0, result.stderr
    mine, every = result.stdout.split("Variables every task reads:")
    assert mine.startswith(f"doit {task}\n") and "Variables it reads:" in mine
    for shape in own:
        assert shape in mine
    for shape in not_own:
        assert shape not in result.stdout
    assert "config=PATH" in every and "dry=1" in every
    assert not (r.workspace / "reports").exists()                                    # help runs nothing


def test_doit_help_clean_adds_the_all_variable(tmp_path: Path) -> None:
    result = run_doit(adoptable(tmp_path).workspace, "help", "clean")
    assert result.returncode == 0 and " clean [TASK ...]" in result.stdout          # doit's own help first
    assert result.stdout.rstrip().endswith("all=1  `doit clean` with no task removes the ledger and the verdict "
                                           "memo too")


@pytest.mark.parametrize("args,line", [
    (("valdate:slice-1",), "unknown task 'valdate:slice-1' (did you mean 'validate:slice-1'?); `doit list --all` "
                           "shows the tasks"),
    (("wavea",), "unknown task 'wavea' (did you mean 'wave_a'?); `doit list` shows the tasks"),
    (("help", "valdate:slice-1"), "unknown task 'valdate:slice-1' (did you mean 'validate:slice-1'?); "
                                  "`doit list --all` shows the tasks"),
    (("help", "fecth"), "unknown task 'fecth' (did you mean 'fetch'?); `doit list` shows the tasks"),
])
def test_an_unknown_task_gets_a_suggestion(tmp_path: Path, args: tuple[str, ...], line: str) -> None:
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == f"forkwave: error: {line}\n" and result.stdout == ""


def test_forget_without_a_task_is_one_line_and_exit_1(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    assert run_doit(r.workspace, "plan").returncode == 0
    result = run_doit(r.workspace, "forget")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ("forkwave: error: `doit forget` needs a task: `doit forget drift` runs drift (and what "
                             "needs it) again next time; `doit forget --all` forgets every task\n")
    assert run_doit(r.workspace, "plan").status()["plan"] == "up to date"            # nothing was forgotten
    assert run_doit(r.workspace, "forget", "--all").returncode == 0
    assert run_doit(r.workspace, "plan").status()["plan"] == "ran"


def test_dumpdb_shows_forkwaves_json_state(tmp_path: Path) -> None:
    r = adoptable(tmp_path)
    empty = run_doit(r.workspace, "dumpdb")
    assert empty.returncode == 1 and "Traceback" not in empty.stderr
    assert empty.stderr == (f"forkwave: error: no doit state at {r.workspace / 'reports' / '.doit.json'}: nothing "
                            "has run in this workspace yet (or give --db-file PATH)\n")
    assert run_doit(r.workspace, "plan").returncode == 0
    result = run_doit(r.workspace, "dumpdb")
    assert result.returncode == 0, result.stderr
    state = json.loads((r.reports / ".doit.json").read_text())
    assert [line.split(" -> ")[0] for line in result.stdout.splitlines() if " -> " in line] == list(state)


def test_any_other_doit_crash_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """doit's list with a template naming no field raises KeyError deep inside doit."""
    r = adoptable(tmp_path)
    result = run_doit(r.workspace, "list", "--template", "{bogus}")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr == ("forkwave: error: `doit list` crashed inside doit (KeyError: 'bogus'); `doit help list` "
                             "shows its usage\n")


def test_doits_own_commands_are_unchanged_for_another_project(tmp_path: Path) -> None:
    """The plugins are installed for every doit in the environment: another dodo.py sees doit as it is."""
    import subprocess
    import sys

    (tmp_path / "dodo.py").write_text('def task_x():\n    return {"actions": ["true"]}\n')

    def doit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "doit", *args], cwd=tmp_path, capture_output=True, text=True)

    assert doit("help").stdout.startswith("doit -- automation tool")
    forget = doit("forget")
    assert forget.returncode == 3 and "Traceback" in forget.stderr                  # doit's own behaviour
    assert doit("x", "dyr=1").returncode == 0                                         # doit ignores variables
