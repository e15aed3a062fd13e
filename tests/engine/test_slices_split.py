"""A failing slice is reverted, split and retried: culprits named, the rest adopted; JUnit and reports."""
from __future__ import annotations

import json
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import DoitResult, run_doit
from slicekit import (Repos, build, deferred_files, outcome, pids_matching, rev, slice_names, trailers,
                      tree, wait_for, slice_commits,
)

FILES = [f"pkg/{d}/f{i}.txt" for d in ("a", "b") for i in range(4)]
CULPRIT = "pkg/b/f1.txt"
BASE = {"keep.txt": "keep\n", **{p: f"{p} v1\n" for p in FILES}}
UPSTREAM = {"keep.txt": "keep\n", **{p: f"{p} v2\n" + ("BROKEN\n" if p == CULPRIT else "") for p in FILES}}
CHECKS = [
    {"name": "nobroken", "run": "if grep -rl --exclude=.git BROKEN .; then exit 1; fi"},
    {"name": "always", "run": "echo fine"},
    {"name": "docs-only", "run": "exit 1", "when": ["docs/**"]},   # matches no file: skipped, never fails
]


class Run:
    def __init__(self, repos: Repos, result: DoitResult):
        self.repos, self.result = repos, result


@pytest.fixture(scope="module")
def split_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    # each slice judged and split on its own (the run's batch is tests/engine/test_batch.py's)
    repos = build(tmp_path_factory.mktemp("split"), BASE, UPSTREAM, checks=CHECKS, batch=False)
    return Run(repos, run_doit(repos.workspace))


def test_the_culprit_is_deferred_with_its_check_and_the_rest_adopted(split_run: Run) -> None:
    r, result = split_run.repos, split_run.result
    assert result.returncode != 0
    [name] = slice_names(r)
    assert f"{name}: split — 7 of 8 files adopted, 1 deferred" in result.stdout
    out = outcome(r, name)
    assert out["status"] == "split"
    assert out["adopted"] == sorted(set(FILES) - {CULPRIT})
    [deferred] = out["deferred"]
    assert deferred["files"] == [CULPRIT] and deferred["checks"] == ["nobroken"]
    assert deferred["reason"] == f"nobroken: ./{CULPRIT} (exit code 1)"  # the failing run's own line
    assert CULPRIT in deferred["output"]                              # what the check printed
    # only the adopted files reached the sync branch, in one commit
    synced, upstream = tree(r.fork, "sync/upstream"), tree(r.upstream, r.main)
    assert all(synced[p] == upstream[p] for p in out["adopted"])
    assert synced[CULPRIT] == ("100644", f"{CULPRIT} v1\n".encode())
    [(sha, message)] = slice_commits(r.fork, "main..sync/upstream")
    assert sha == out["commit"] and trailers(message)["Forkwave-Slice"] == name
    assert "(7 of 8 files)" in message and CULPRIT not in message
    assert rev(r.fork, "main") == r.fork_head


def test_attempts_are_recorded_with_their_results_and_logs(split_run: Run) -> None:
    r = split_run.repos
    out = outcome(r, slice_names(r)[0])
    attempts = out["attempts"]
    assert attempts[0]["files"] == sorted(FILES) and attempts[0]["passed"] is False
    assert [a["n"] for a in attempts] == list(range(1, len(attempts) + 1))
    run = [a for a in attempts if not a["inferred"]]
    assert out["runs"] == len(run) and 2 < len(run) <= 7
    assert any(a["inferred"] and not a["results"] for a in attempts)  # a known-failing tree is not re-run
    assert any(a["passed"] and a["on_top_of"] > 0 for a in attempts)  # later parts validated on adopted ones
    for a in run:
        results = {res["name"]: res for res in a["results"]}
        assert list(results) == ["deny", "secrets", "syntax", "nobroken", "always", "docs-only"]
        assert results["docs-only"]["status"] == "skipped"
        assert results["nobroken"]["status"] == ("failed" if CULPRIT in a["files"] else "passed")
        assert a["passed"] == (CULPRIT not in a["files"])
        assert (r.reports / results["always"]["log"]).read_text() == "fine\n"
    report = (r.reports / "slices" / out["slice"] / "report.md").read_text()
    assert f"## Deferred\n\n- `{CULPRIT}`: nobroken: ./{CULPRIT} (exit code 1)" in report
    assert "failed (inferred: this tree already failed)" in report and "## Checks" in report
    assert f"| `{CULPRIT}` | upstream-changed | deferred |" in report
    assert f"Roll back: `doit rollback:{out['slice']}`" in report and out["commit"] in report
    wave = (r.reports / "wave-a" / "report.md").read_text()
    assert "## Deferred (1)" in wave and f"`{CULPRIT}`: nobroken" in wave
    summary = json.loads((r.reports / "summary.json").read_text())
    entry = summary["waves"]["a"][out["slice"]]
    assert summary["status"] == "partial" and [d["files"] for d in entry["deferred"]] == [[CULPRIT]]
    assert entry["commit"] == out["commit"] and summary["files"] == {"adopted": 7, "deferred": 1, "conflicted": 0}


def cases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def test_junit_per_slice_and_per_wave(split_run: Run) -> None:
    """The checks' verdict on what landed, then one failing case per item left: a CI test view shows the
    slice red once, for the deferred file — not once per bisection attempt."""
    r = split_run.repos
    name = slice_names(r)[0]
    out = outcome(r, name)
    root = ET.parse(r.reports / "slices" / name / "junit.xml").getroot()
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == name
    testcases = suite.findall("testcase")
    assert {c.get("classname") for c in testcases} == {f"forkwave.a.{name}"}
    checks, [deferred] = testcases[:6], testcases[6:]                 # the landed candidate's verdict, the culprit
    assert [c.get("name") for c in checks] == ["deny", "secrets", "syntax", "nobroken", "always", "docs-only"]
    assert all(c.find("failure") is None for c in checks)             # what landed passed every check
    skipped = checks[5].find("skipped")
    assert skipped is not None and "when" in skipped.get("message") and "docs/**" in skipped.get("message")
    assert deferred.get("name") == f"deferred: {CULPRIT}"
    failure = deferred.find("failure")
    assert failure is not None and failure.get("message") == out["deferred"][0]["reason"]
    assert int(suite.get("failures")) == 1 and len([a for a in out["attempts"] if not a["inferred"]]) > 1
    wave = ET.parse(r.reports / "wave-a" / "junit.xml").getroot()
    assert [s.get("name") for s in wave.findall("testsuite")] == [name]
    assert len(cases(r.reports / "wave-a" / "junit.xml")) == len(testcases)


def test_two_files_that_fail_only_together_are_deferred_as_one_set(tmp_path: Path) -> None:
    base = {"keep.txt": "keep\n"}
    added = {"a/x.txt": "x\n", "b/y.txt": "y\n", **{f"c/{i}.txt": f"{i}\n" for i in range(4)}}
    check = {"name": "pair", "run": "if [ -e a/x.txt ] && [ -e b/y.txt ]; then echo 'x and y clash'; exit 3; fi"}
    r = build(tmp_path, base, {**base, **added}, checks=[check])

    result = run_doit(r.workspace, "wave_a")

    assert result.returncode != 0
    out = outcome(r, slice_names(r)[0])
    assert out["status"] == "split"
    assert deferred_files(out) == [["a/x.txt", "b/y.txt"]]
    [deferred] = out["deferred"]
    assert deferred["checks"] == ["pair"] and "x and y clash" in deferred["output"]
    assert out["adopted"] == [f"c/{i}.txt" for i in range(4)]
    synced = tree(r.fork, "sync/upstream")
    assert "a/x.txt" not in synced and "b/y.txt" not in synced and "c/3.txt" in synced
    assert "(fail only together)" in (r.reports / "slices" / out["slice"] / "report.md").read_text()


def test_a_check_that_times_out_fails_quickly_and_leaves_no_process(tmp_path: Path) -> None:
    marker = f"fwmark-{uuid.uuid4().hex}"
    sleep = f"sleep 30.{uuid.uuid4().int % 10**6:06d}"                # a command line no other process has
    base = {"keep.txt": "keep\n"}
    r = build(tmp_path, base, {**base, "new.txt": "new\n"},  # only the slice's tree is slow, not the baseline
              checks=[{"name": "slow", "run": f"if [ -e new.txt ]; then {sleep} && echo {marker}; fi", "timeout": 1}],
              batch=False)

    started = time.monotonic()
    result = run_doit(r.workspace, "wave_a", timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert elapsed < 12, f"a 1 s timeout took {elapsed:.1f} s"
    out = outcome(r, slice_names(r)[0])
    assert out["status"] == "reverted" and out["adopted"] == [] and out["commit"] is None
    [deferred] = out["deferred"]
    assert deferred["checks"] == ["slow"]
    assert deferred["reason"] == "slow: timed out after 1 s (process group killed)"
    [attempt] = out["attempts"]
    slow = next(res for res in attempt["results"] if res["name"] == "slow")
    assert slow["status"] == "failed" and 1 <= slow["duration"] < 8
    assert rev(r.fork, "sync/upstream") == r.fork_head                # nothing adopted
    failure = next(c for c in cases(r.reports / "slices" / out["slice"] / "junit.xml")
                   if c.get("name", "").startswith("deferred: ")).find("failure")
    assert failure is not None and "timed out after 1 s" in failure.get("message")
    assert pids_gone(marker) and pids_gone(sleep)


def pids_gone(pattern: str) -> bool:
    wait_for(lambda: not pids_matching(pattern), 5, f"no process matching {pattern!r}")
    return True
