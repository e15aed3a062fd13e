"""Land everything that can land, with as few check runs as it takes.

Every check here appends a line to a file when it runs, so the tests count real runs — not
attempts, not memo answers.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import commit_tree, run_doit
from slicekit import build, outcome, read, rev, slice_names, tree


def counting(name: str, log: Path, body: str) -> dict:
    """A check that records each run (and whether it was the baseline) before doing ``body``."""
    return {"name": name, "run": f'echo "${{FORKWAVE_SLICE:-baseline}}" >> {log}; {body}'}


def runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


# --- the verdict memo ----------------------------------------------------------------------------

def test_a_run_with_nothing_changed_runs_no_check_even_with_work_left(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    base = {"keep.txt": "k\n", **{f"d{i}/f.txt": f"{i}\n" for i in range(4)}}
    upstream = {**base, **{f"d{i}/f.txt": f"{i} v2\n" for i in range(4)}, "d2/f.txt": "2 BROKEN\n"}
    check = counting("nobroken", log, "! grep -rq --exclude-dir=.git BROKEN .")
    r = build(tmp_path, base, upstream, checks=[check], slices={"max_files": 1})

    first = run_doit(r.workspace)
    assert first.returncode == 2                                  # d2 deferred: work left for a person
    counted = len(runs(log))
    assert counted >= 5
    tip = rev(r.fork, "sync/upstream")

    second = run_doit(r.workspace)

    assert second.returncode == 2 and "unchanged since run" in second.stdout
    assert len(runs(log)) == counted                               # zero checks
    assert rev(r.fork, "sync/upstream") == tip
    name = next(n for n in slice_names(r) if outcome(r, n)["status"] != "adopted")
    assert outcome(r, name)["deferred"][0]["files"] == ["d2/f.txt"]

    # an input changes (a fix upstream): only then does the slice run again
    commit_tree(r.upstream, {**upstream, "d2/f.txt": "2 fixed\n"}, message="fix", tick=30)
    assert run_doit(r.workspace).returncode == 0
    assert len(runs(log)) > counted


def test_a_tree_is_never_checked_twice_across_runs_and_a_restored_memo(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    base = {"keep.txt": "k\n", "a/x.txt": "x\n"}
    r = build(tmp_path, base, {**base, "a/x.txt": "x v2\n", "b/y.txt": "y\n"},
              checks=[counting("ok", log, "true")], slices={"max_files": 1})
    assert run_doit(r.workspace).returncode == 0
    counted = len(runs(log))

    # start the sync over (the branch goes) but keep the memo, as a CI cache of reports/ would
    import subprocess
    subprocess.run(["git", "-C", str(r.fork), "branch", "-D", "sync/upstream"], check=True, capture_output=True)
    for path in (r.reports / "slices").glob("*/outcome.json"):
        path.unlink()
    assert run_doit(r.workspace).returncode == 0
    assert len(runs(log)) == counted                               # the same trees: answered by the memo
    assert all(not a["ran"] for n in slice_names(r) for a in outcome(r, n)["attempts"])


# --- test-level gating ------------------------------------------------------------------------------

JUNIT = """\
import sys, xml.sax.saxutils as x
cases = []
for name in ("a", "b"):
    text = open(f"t/{name}.txt").read()
    failing = "BROKEN" in text
    body = f'<failure message="{name} is broken">trace</failure>' if failing else ""
    cases.append(f'<testcase classname="suite" name="test_{name}">{body}</testcase>')
open("report.xml", "w").write("<testsuite>" + "".join(cases) + "</testsuite>")
sys.exit(1 if any("failure" in c for c in cases) else 0)
"""


def test_with_junit_only_new_failing_tests_block(tmp_path: Path) -> None:
    base = {"run_tests.py": JUNIT, "t/a.txt": "a BROKEN\n", "t/b.txt": "b\n", "src/one.txt": "1\n",
            "src/two.txt": "2\n"}
    upstream = {**base, "src/one.txt": "1 v2\n", "t/b.txt": "b BROKEN\n", "src/two.txt": "2 v2\n"}
    check = {"name": "tests", "run": "python3 run_tests.py", "junit": "report.xml"}
    # each slice judged on its own: the attempts record each verdict against the baseline
    r = build(tmp_path, base, upstream, checks=[check], slices={"max_files": 1}, batch=False)

    assert run_doit(r.workspace).returncode == 2

    baseline = read(r.reports / "wave-a" / "baseline.json")
    [tests] = baseline["results"]
    assert tests["status"] == "failed" and tests["tests"] == [["suite::test_a", "a is broken"]]
    by_file = {f["path"]: n for n in slice_names(r) for f in outcome(r, n)["files"]}
    # leaves test_a failing, breaks nothing new: pre-existing, adopted
    one = outcome(r, by_file["src/one.txt"])
    assert one["status"] == "adopted"
    [result] = [x for x in one["attempts"][0]["results"] if x["name"] == "tests"]
    assert result["status"] == "pre-existing" and "fail on the baseline too" in result["message"]
    # breaks test_b: a new failure, blocked, named with its first error line
    b = outcome(r, by_file["t/b.txt"])
    assert b["status"] == "reverted"
    [deferred] = b["deferred"]
    assert deferred["tests"] == [{"id": "suite::test_b", "line": "b is broken"}]
    assert deferred["reason"] == "tests: suite::test_b: b is broken"
    report = (r.reports / "slices" / b["slice"] / "report.md").read_text()
    assert "test `suite::test_b`: b is broken" in report
    assert tree(r.fork, "sync/upstream")["t/b.txt"] == ("100644", b"b\n")


# --- the joint retry ---------------------------------------------------------------------------------

@pytest.mark.parametrize("batched", [True, False])
def test_a_deletion_blocked_by_an_old_test_a_later_wave_removes_lands_in_the_same_run(tmp_path: Path,
                                                                                     batched: bool) -> None:
    log = tmp_path / "runs.log"
    base = {"lib/__init__.py": "", "lib/legacy.py": "def old(): return 1\n", "lib/core.py": "x = 1\n",
            "tests/__init__.py": "", "tests/test_imports.py": "from lib.legacy import old\n"}
    no_legacy = {k: v for k, v in base.items() if k != "lib/legacy.py"}          # upstream commit 1
    core = {**no_legacy, "lib/core.py": "x = 2\n"}                               # upstream commit 2
    upstream = {k: v for k, v in core.items() if k != "tests/test_imports.py"}    # commit 3: the old test goes
    imports = counting("imports", log, "for f in tests/test_*.py; do [ -e \"$f\" ] || continue; "
                                       "m=${f%.py}; python3 -c \"import ${m//\\//.}\" || exit 1; done")
    r = build(tmp_path, base, upstream, steps=[no_legacy, core], checks=[imports], batch=batched,
              waves={"a": {"paths": ["lib/**"]}, "b": {"paths": ["tests/**"]}}, slices={"max_files": 1})

    result = run_doit(r.workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    synced = tree(r.fork, "sync/upstream")
    assert "lib/legacy.py" not in synced and "tests/test_imports.py" not in synced
    assert synced["lib/core.py"] == ("100644", b"x = 2\n")
    name = next(n for n in slice_names(r) if "lib/legacy.py" in [f["path"] for f in outcome(r, n)["files"]])
    out = outcome(r, name)
    assert out["status"] == "adopted" and "lib/legacy.py" in out["removed"]
    if batched:  # judged with wave b's deletion of the old test from the start: nothing to retry
        assert out["validated"]["how"] == "batch" and "retried" not in out
        assert runs(log) == ["batch"]  # it passes: no baseline
    else:
        assert out["retried"][0]["wave"] == "b"                   # landed by wave b's joint retry
        retry = read(r.reports / "wave-b" / "retry.json")
        assert retry["adopted"] == ["lib/legacy.py"] and retry["runs"] == 1
        assert "## Joint retry" in (r.reports / "wave-b" / "report.md").read_text()
    assert run_doit(r.workspace).returncode == 0                  # and a second run has nothing left


# --- coupled groups ------------------------------------------------------------------------------------

def test_a_manifest_and_its_lockfile_are_never_split_even_when_the_lockfile_fails(tmp_path: Path) -> None:
    base = {"package.json": '{"name": "app", "version": "1.0.0"}\n', "yarn.lock": "# v1\n", "src/a.js": "a\n"}
    upstream = {"package.json": '{"name": "app", "version": "2.0.0"}\n', "yarn.lock": "# v2 BROKEN\n",
                "src/a.js": "a v2\n"}
    check = {"name": "lock", "run": "! grep -q BROKEN yarn.lock"}
    r = build(tmp_path, base, upstream, checks=[check])

    assert run_doit(r.workspace).returncode == 2

    [name] = slice_names(r)
    out = outcome(r, name)
    assert [sorted(d["files"]) for d in out["deferred"]] == [["package.json", "yarn.lock"]]
    assert out["adopted"] == ["src/a.js"]
    # the upstream commit's group was cut as a last resort — along the lockfile link, never through it
    assert out["groups_split"] == [["package.json", "src/a.js", "yarn.lock"]]
    synced = tree(r.fork, "sync/upstream")
    assert synced["package.json"] == ("100644", base["package.json"].encode())   # never one without the other


def test_six_files_a_gate_names_are_deferred_in_two_runs(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    base = {"keep.txt": "k\n"}
    bad = {f"pkg{i}/config.js": f'export const token = "{token[:-1]}{i}";\n' for i in range(6)}
    good = {f"pkg{i}/index.js": f"export const n = {i};\n" for i in range(20)}
    r = build(tmp_path, base, {**base, **bad, **good}, checks=[counting("build", log, "true")],
              slices={"max_files": 40})

    assert run_doit(r.workspace).returncode == 2

    [name] = slice_names(r)
    out = outcome(r, name)
    assert sorted(f for d in out["deferred"] for f in d["files"]) == sorted(bad)
    assert all(d["checks"] == ["secrets"] for d in out["deferred"])
    assert len(out["deferred"]) == 6                               # each with its own reason
    assert sorted(out["adopted"]) == sorted(good)
    assert [x for x in runs(log) if x != "baseline"] == ["batch"]  # one check run: the gate needed no search
    assert out["validated"]["how"] == "batch" and out["validated"]["runs"] == 1
    assert len(read(r.reports / "batch.json")["attempts"]) == 2    # the gate named them; the rest judged again
    assert token not in json.dumps(out)
