"""The GitHub Actions workflow (.github/workflows/forkwave.yml) has what Actions and our CI story need.

The checker is a plain function, so it is tested on a known-good and known-bad workflow too.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "forkwave.yml"
JUNIT_ACTIONS = ("mikepenz/action-junit-report", "dorny/test-reporter",
                 "EnricoMi/publish-unit-test-result-action")


def runs_after_failure(step: dict[str, Any]) -> bool:
    """A step that still runs when an earlier one failed (a wave with a reverted slice fails the job)."""
    condition = str(step.get("if", ""))
    return any(c in condition for c in ("always()", "!cancelled()", "failure()"))


def mentions(step: dict[str, Any], text: str) -> bool:
    return text in yaml.safe_dump(step.get("with") or {})


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def problems(workflow: Any) -> list[str]:
    """What is missing or wrong, as readable sentences (empty: fine)."""
    if not isinstance(workflow, dict):
        return ["the workflow is not a mapping"]
    found = []
    # YAML 1.1 reads a bare `on:` key as the boolean True
    if not (workflow.get("on") or workflow.get(True)):
        found.append("no `on:` triggers")
    jobs = workflow.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return found + ["no jobs"]
    steps: list[dict[str, Any]] = []
    for job_id, job in jobs.items():
        if not isinstance(job, dict) or not job.get("runs-on"):
            found.append(f"job {job_id!r} has no runs-on")
            continue
        job_steps = job.get("steps") or []
        if not job_steps:
            found.append(f"job {job_id!r} has no steps")
        for i, step in enumerate(job_steps):
            if not isinstance(step, dict) or bool(step.get("uses")) == bool(step.get("run")):
                found.append(f"job {job_id!r} step {i} needs exactly one of uses/run")
            else:
                steps.append(step)
    if not any(uses(s, "actions/checkout") for s in steps):
        found.append("no actions/checkout step")
    if not any("doit" in str(s.get("run", "")) for s in steps):
        found.append("no step runs doit")
    caches = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache") and mentions(s, "reports")]
    if not caches:
        found.append("no actions/cache step for reports/")
    saves_always = [s for s in caches if (uses(s, "actions/cache/save") and runs_after_failure(s))
                    or (uses(s, "actions/cache") and (s.get("with") or {}).get("save-always") is True)]
    if caches and not saves_always:
        found.append("the reports/ cache is not saved when the run fails (actions/cache/save with if: always())")
    junit = [s for s in steps if any(uses(s, a) for a in JUNIT_ACTIONS) and mentions(s, "junit")]
    if not junit:
        found.append("no step publishes the JUnit files")
    elif not all(runs_after_failure(s) for s in junit):
        found.append("JUnit results are not published when the run fails")
    artifacts = [s for s in steps if uses(s, "actions/upload-artifact") and mentions(s, "reports")]
    if not artifacts:
        found.append("no upload-artifact step for reports/")
    elif not all(runs_after_failure(s) for s in artifacts):
        found.append("reports/ are not uploaded when the run fails")
    return found


GOOD = """
name: forkwave
on:
  schedule: [{cron: "0 5 * * 1"}]
  workflow_dispatch: {}
jobs:
  sync:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache/restore@v4
        with: {path: reports/, key: "forkwave-${{ github.run_id }}", restore-keys: forkwave-}
      - run: pip install -e . && doit
      - uses: mikepenz/action-junit-report@v4
        if: always()
        with: {report_paths: "reports/**/junit.xml"}
      - uses: actions/upload-artifact@v4
        if: ${{ !cancelled() }}
        with: {name: reports, path: reports/}
      - uses: actions/cache/save@v4
        if: always()
        with: {path: reports/, key: "forkwave-${{ github.run_id }}"}
"""


def test_the_checker_accepts_a_good_workflow_and_names_what_a_bad_one_lacks() -> None:
    assert problems(yaml.safe_load(GOOD)) == []
    unsaved = GOOD.replace("if: always()\n        with: {path: reports/, key", "with: {path: reports/, key")
    no_junit = unsaved.replace("mikepenz/action-junit-report@v4", "actions/upload-artifact@v4")
    assert problems(yaml.safe_load(no_junit)) == [
        "the reports/ cache is not saved when the run fails (actions/cache/save with if: always())",
        "no step publishes the JUnit files"]
    no_runner = GOOD.replace("runs-on: ubuntu-latest", "runs-on: ''")
    assert problems(yaml.safe_load(no_runner))[0] == "job 'sync' has no runs-on"
    upload_on_success = GOOD.replace("        if: ${{ !cancelled() }}\n", "")
    assert problems(yaml.safe_load(upload_on_success)) == ["reports/ are not uploaded when the run fails"]
    bare = yaml.safe_load(GOOD.replace("- run: pip install -e . && doit", "- name: nothing"))
    assert "job 'sync' step 2 needs exactly one of uses/run" in problems(bare)
    assert "no step runs doit" in problems(bare)


@pytest.mark.skipif(not WORKFLOW.exists(), reason=f"{WORKFLOW.relative_to(ROOT)} not written yet (the lead adds it)")
def test_the_forkwave_workflow() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert problems(workflow) == []


def test_problems_reports_a_workflow_that_is_not_a_mapping() -> None:
    assert problems(yaml.safe_load("- just a list\n")) == ["the workflow is not a mapping"]
    assert problems({"on": {"push": None}, "jobs": {}}) == ["no jobs"]
