"""``verify:`` with thresholds on real repositories: run on the sync tip after a wave lands, the last number
printed against ``expected_min``/``expected_max``; a failure fails the run, is reported with its output and
holds ``doit publish``."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import run_doit
from slicekit import Repos, build, ledger_runs, read, rev, rewrite_config

BASE = {f"addons/m{i}/__manifest__.py": f"{{'name': 'm{i}'}}\n" for i in range(3)}
UPSTREAM = {**BASE, **{f"addons/m{i}/__manifest__.py": f"{{'name': 'm{i}'}}\n" for i in range(3, 6)}}
COUNT = "find addons -name __manifest__.py | wc -l"


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    r = build(tmp_path, BASE, UPSTREAM)
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "remote.git")], check=True)
    return r


def configure(r: Repos, *verify: dict[str, Any]) -> None:
    rewrite_config(r, verify=list(verify), publish={"remote": str(r.root / "remote.git"), "forge": "none"})


def remote_refs(r: Repos) -> str:
    return subprocess.run(["git", "-C", str(r.root / "remote.git"), "for-each-ref"], capture_output=True,
                          text=True, check=True).stdout


def test_verification_passes_on_the_sync_tip_and_publish_goes_ahead(repos: Repos) -> None:
    configure(repos, {"name": "modules", "run": COUNT, "expected_min": 6},
              {"name": "exits", "run": "true", "expected_exit_code": 0})
    result = run_doit(repos.workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    record = read(repos.reports / "verify.json")
    assert record["commit"] == rev(repos.fork, "refs/heads/sync/upstream")
    assert record["passed"] is True and record["wave"] == "a"
    assert [(r["name"], r["value"], r["reason"]) for r in record["results"]] == [
        ("modules", "6", "verify 'modules': printed 6, within expected_min 6"),
        ("exits", None, "verify 'exits': exit code 0 as expected")]
    assert "verify: modules passed" in result.stdout

    again = run_doit(repos.workspace, "wave_a")  # the same tip and commands: recalled, not run again
    assert again.returncode == 0
    published = run_doit(repos.workspace, "publish")
    assert published.returncode == 0, published.stdout + published.stderr
    assert "refs/heads/sync/upstream" in remote_refs(repos)


def test_a_verification_below_expected_min_fails_the_run_with_its_output_and_holds_publish(repos: Repos) -> None:
    configure(repos, {"name": "modules", "run": f"echo 'counting modules'; {COUNT}", "expected_min": 100})
    result = run_doit(repos.workspace)

    assert result.returncode == 2, result.stdout + result.stderr
    said = "verification failed for upstream: verify 'modules': printed 6, below expected_min 100"
    assert result.stderr.count("forkwave: error: ") == 1 and f"forkwave: error: {said}" in result.stderr  # once
    assert result.stdout.splitlines()[-1].endswith(f"— exit 2: {said}")   # the last line says why, not "slices"
    assert "counting modules" in result.stdout  # the output, for the person
    record = read(repos.reports / "verify.json")
    assert record["passed"] is False
    assert record["results"][0]["stdout"].split() == ["counting", "modules", "6"]
    log = repos.workspace / record["results"][0]["log"]
    assert log.read_text().endswith("6\n")
    # the slices themselves landed: verification judges what they made, it does not undo them
    assert read(repos.reports / "slices" / "slice-1" / "outcome.json")["status"] == "adopted"
    last = ledger_runs(repos.reports)[-1]  # the ledger: the wave landed, the run did not verify: partial
    assert {s.sync_type: s.status for s in last.syncs} == {"wave-a": "success", "verify": "failed"}
    assert last.status == "partial" and last.error == said
    summary = read(repos.reports / "run-summary.json")
    assert (summary["status"], summary["results"][0]["status"], summary["results"][0]["verification_passed"]) == (
        "partial", "partial", False)
    assert (read(repos.reports / "summary.json")["status"], read(repos.reports / "summary.json")["run"]) == (
        "partial", {"id": last.run, "status": "partial"})

    published = run_doit(repos.workspace, "publish")
    assert published.returncode == 2, published.stdout + published.stderr
    assert f"publish: held, nothing pushed: {said}" in published.stderr
    assert remote_refs(repos) == ""

    configure(repos, {"name": "modules", "run": COUNT, "expected_min": 6, "expected_max": 6})
    assert run_doit(repos.workspace).returncode == 0  # new commands on the same tip: run again, and pass
    assert run_doit(repos.workspace, "publish").returncode == 0
    assert "refs/heads/sync/upstream" in remote_refs(repos)


def test_a_wrong_exit_code_and_no_number_fail_the_verification(repos: Repos) -> None:
    configure(repos, {"name": "code", "run": "exit 3"},
              {"name": "silent", "run": "echo no digits here", "expected_max": 10})
    result = run_doit(repos.workspace)

    assert result.returncode == 2
    record = read(repos.reports / "verify.json")
    assert [r["reason"] for r in record["results"]] == [
        "verify 'code': exit code 3, expected 0",
        "verify 'silent': printed no number to compare with expected_max 10 (the last number on stdout counts)"]


def test_a_verification_that_cannot_run_is_a_failure_of_the_environment(repos: Repos) -> None:
    configure(repos, {"name": "tool", "run": "no-such-tool-anywhere --count"})
    result = run_doit(repos.workspace)
    assert result.returncode == 3
    assert "cannot run (exit 127: command not found)" in result.stderr


def test_publish_holds_until_the_sync_tip_is_verified(repos: Repos) -> None:
    assert run_doit(repos.workspace).returncode == 0  # no verify yet
    configure(repos, {"name": "modules", "run": COUNT, "expected_min": 1})
    published = run_doit(repos.workspace, "publish")
    assert published.returncode == 2
    assert "verification of upstream has not run on sync/upstream" in published.stderr
    assert remote_refs(repos) == ""


def test_verify_entries_are_checked_with_the_config(repos: Repos) -> None:
    for bad, words in [
        ({"name": "m", "run": "x", "expected_min": 5, "expected_max": 2}, "expected_min 5 is above expected_max 2"),
        ({"name": "m", "run": "x", "expected_min": "many"}, "verify.0.expected_min"),
        ({"name": "m", "run": "x", "expected_exit_code": 256}, "verify.0.expected_exit_code"),
        ({"name": "m"}, "verify.0.run"),
        ({"name": "m", "run": "x", "expected": 1}, "verify.0.expected"),
    ]:
        configure(repos, bad)
        result = run_doit(repos.workspace, "list")
        assert result.returncode == 1 and words in result.stderr, (bad, result.stderr)
    configure(repos, {"name": "m", "run": "x"}, {"name": "m", "run": "y"})
    assert "'m' is used twice" in run_doit(repos.workspace, "list").stderr
