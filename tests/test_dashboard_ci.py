"""The CI files put the dashboard where a person looks: GitHub's job summary gets ``reports/dashboard.md`` (the
step's script, run here in bash), GitLab exposes ``reports/index.html`` as an artifact of its own — without a
glob, which GitLab refuses beside ``expose_as`` — taken from whichever sync job ran. Both the files ``doit ci``
writes and the examples, each valid for its CI's published schema."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import ROOT
from tasks.core import schedules
from test_schedules_ci import schema

GROUPS = schedules.group([("web", "0 2 * * *"), ("sale", "0 3 * * *"), ("docs", None)])


def summary_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job["steps"] if "summary" in s.get("name", "")]


def run_step(script: str, cwd: Path) -> str:
    summary = cwd / "summary.md"
    summary.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"} | {
        "GITHUB_STEP_SUMMARY": str(summary), "PATH": "/usr/bin:/bin"}      # no doit on PATH: the fallback fails
    subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, check=True)
    return summary.read_text()


@pytest.mark.parametrize("workflow", ["generated", "example"])
def test_githubs_job_summary_is_the_dashboard(tmp_path: Path, workflow: str) -> None:
    text = (schedules.github_workflow(GROUPS) if workflow == "generated"
            else (ROOT / ".github" / "workflows" / "forkwave.yml").read_text())
    steps = summary_steps(yaml.safe_load(text))
    assert steps and all(s["if"] == "always()" for s in steps)
    (tmp_path / "reports").mkdir()
    assert run_step(steps[0]["run"], tmp_path) == ""                  # no run wrote one: the step still passes
    (tmp_path / "reports" / "dashboard.md").write_text("# Sync dashboard\n\n## What waits for you\n")
    assert run_step(steps[0]["run"], tmp_path) == "# Sync dashboard\n\n## What waits for you\n"
    uploads = [s for job in yaml.safe_load(text)["jobs"].values() for s in job["steps"]
               if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert "reports/index.html" in uploads[0]["with"]["path"].splitlines()


def test_the_generated_gitlab_file_exposes_the_dashboard_page_from_whichever_job_ran() -> None:
    doc = yaml.safe_load(schedules.gitlab_ci(GROUPS))
    jsonschema.Draft7Validator(schema("gitlab-ci")).validate(doc)
    job = doc["dashboard"]
    assert job["stage"] == ".post" and job["artifacts"]["expose_as"] == schedules.EXPOSE_AS
    assert job["artifacts"]["paths"] == ["reports/index.html"] and job["artifacts"]["when"] == "always"
    assert not any("*" in p for p in job["artifacts"]["paths"])      # GitLab refuses a glob beside expose_as
    assert [n["job"] for n in job["needs"]] == ["sync-1", "sync-2", "manual"]
    assert all(n["optional"] and n["artifacts"] for n in job["needs"])
    assert job["rules"][0]["when"] == "always"                         # after a failed sync job too
    assert "reports/index.html" in doc[".forkwave"]["artifacts"]["paths"]
    header = schedules.gitlab_ci(GROUPS).split("\nvariables:")[0]
    assert "job `dashboard`'s artifact, exposed as \"forkwave dashboard\"" in header


def test_the_gitlab_example_exposes_the_dashboard_page_too() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())
    jsonschema.Draft7Validator(schema("gitlab-ci")).validate(doc)
    job = doc["dashboard"]
    assert job["artifacts"]["paths"] == ["reports/index.html"] and job["artifacts"]["expose_as"]
    assert [n["job"] for n in job["needs"]] == ["forkwave"]
    assert "reports/index.html" in doc["forkwave"]["artifacts"]["paths"]
