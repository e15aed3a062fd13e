"""Schedules: cron expressions checked, sources grouped, and the CI files they generate."""
from __future__ import annotations

import doctest
import json
import os
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tasks.core import schedules
from tasks.core.schedules import ARGS, CiOptions, Schedule, github_workflow, gitlab_ci, group, validate_cron
from tasks.errors import ForkwaveError

CONFIG = [("oca_web", "0 2 * * *"), ("apps_truth", "0 */6 * * *"), ("oca_base", "0  02 * * *"),
          ("docs", None), ("skills", "0 5 * * sun")]


def test_doctests() -> None:
    assert doctest.testmod(schedules).failed == 0


@pytest.mark.parametrize(("expr", "canonical"), [
    ("0 2 * * *", "0 2 * * *"), ("  0   2 * * *  ", "0 2 * * *"), ("00 02 * * *", "0 2 * * *"),
    ("*/15 * * * *", "*/15 * * * *"), ("0 8-18/2 * * 1-5", "0 8-18/2 * * 1-5"), ("0,30 * * * *", "0,30 * * * *"),
    ("0 0 1 jan,jul *", "0 0 1 JAN,JUL *"), ("0 5 * * Sun", "0 5 * * SUN"), ("0 9 * * mon-fri", "0 9 * * MON-FRI"),
    ("59 23 31 12 6", "59 23 31 12 6"), ("0 0 1,15 * 0", "0 0 1,15 * 0"), ("* * * * *", "* * * * *"),
    ("*/5 */2 */3 */4 */2", "*/5 */2 */3 */4 */2"), ("0 0 * * WED", "0 0 * * WED"), ("0 0 * JUL *", "0 0 * JUL *"),
])
def test_valid_crons(expr: str, canonical: str) -> None:
    assert validate_cron(expr) == canonical


@pytest.mark.parametrize(("expr", "message"), [
    ("", "must be a cron expression such as '0 2 * * *'"),
    (5, "must be a cron expression"),
    ("@daily", "'@daily' is a macro GitHub Actions does not take; write '0 0 * * *'"),
    ("@HOURLY", "write '0 * * * *'"),
    ("0 2 * *", "has 4 fields; give 5: minute hour"),
    ("0 0 2 * * *", "has 6 fields; give 5"),
    ("60 * * * *", "minute 60 is out of range; use 0-59"),
    ("0 24 * * *", "hour 24 is out of range; use 0-23"),
    ("0 0 0 * *", "day of month 0 is out of range; use 1-31"),
    ("0 0 * 13 *", "month 13 is out of range; use 1-12"),
    ("0 0 * * 7", "day of week 7 is not a weekday GitHub Actions takes; Sunday is 0 (or SUN)"),
    ("0 0 * * MONDAY", "day of week 'MONDAY' is not a day of week; use 0-6 or SUN-SAT"),
    ("0 0 * FOO *", "month 'FOO' is not a month; use 1-12 or JAN-DEC"),
    ("x * * * *", "minute 'x' is not a minute; use 0-59"),
    ("5-1 * * * *", "minute '5-1' runs backwards"),
    ("*/0 * * * *", "minute '*/0' has step 0"),
    ("5/15 * * * *", "minute '5/15' steps from a single value, which not every cron reads alike; "
                     "write a range, e.g. 5-59/15"),
    ("0 0 ? * *", "uses a Quartz/Jenkins extension"), ("0 0 L * *", "uses a Quartz/Jenkins extension"),
    ("0 0 15W * *", "uses a Quartz/Jenkins extension"), ("0 0 * * 1#2", "uses a Quartz/Jenkins extension"),
    ("H * * * *", "uses a Quartz/Jenkins extension"),
    ("1,,2 * * * *", "minute '' is not a value"), ("1-2-3 * * * *", "minute '1-2-3' is not a value"),
    ("-1 * * * *", "minute '-1' is not a value"),
])
def test_invalid_crons_say_which_field_and_what_to_write(expr: object, message: str) -> None:
    with pytest.raises(ForkwaveError) as err:
        validate_cron(expr, "sources.3.schedule")
    text = str(err.value)
    assert text.startswith("key 'sources.3.schedule': ") and message in text and "\n" not in text


def test_group_by_distinct_schedule_in_config_order() -> None:
    assert group(CONFIG) == (Schedule("0 2 * * *", ("oca_web", "oca_base")),   # "0  02" is the same schedule
                             Schedule("0 */6 * * *", ("apps_truth",)),
                             Schedule("0 5 * * SUN", ("skills",)))
    assert group([("docs", None)]) == ()


@pytest.mark.parametrize(("sources", "message"), [
    ([("a", "0 2 * * *"), ("b", "0 25 * * *")], "key 'sources.1.schedule': '0 25 * * *': hour 25 is out of range"),
    ([("a", None), ("a", None)], "key 'sources.1.name': 'a' is used twice"),
    ([("a b", None)], "key 'sources.0.name': 'a b' must be letters, digits"),
    ([("oca_*", None)], "key 'sources.0.name': 'oca_*' must be letters"),
    ([("a,b", None)], "key 'sources.0.name': 'a,b' must be letters"),
    ([("-x", None)], "key 'sources.0.name': '-x' must be letters"),
])
def test_group_errors_name_the_source(sources: list[tuple[str, str | None]], message: str) -> None:
    with pytest.raises(ForkwaveError, match="^" + message.replace("*", r"\*")):
        group(sources)


# --- the GitHub workflow --------------------------------------------------------------

def vendored_schema(name: str) -> dict[str, Any]:
    """SchemaStore's schema as check-jsonschema ships it (offline, pinned by the package)."""
    return json.loads(resources.files("check_jsonschema.builtin_schemas").joinpath(f"vendor/{name}.json").read_text())


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    text = github_workflow(group(CONFIG))
    return yaml.safe_load(text)


def test_workflow_is_valid_for_githubs_schema(workflow: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(vendored_schema("github-workflows")).validate(workflow)


def test_workflow_on_is_the_key_on_not_true(workflow: dict[str, Any]) -> None:
    """YAML 1.1 reads a bare ``on:`` as ``True``: GitHub copes, every other YAML tool does not."""
    assert "on" in workflow and True not in workflow


def test_one_cron_per_distinct_schedule(workflow: dict[str, Any]) -> None:
    assert [s["cron"] for s in workflow["on"]["schedule"]] == ["0 2 * * *", "0 */6 * * *", "0 5 * * SUN"]


def test_each_scheduled_job_runs_only_its_sources(workflow: dict[str, Any]) -> None:
    jobs = {j["if"]: j["env"]["FORKWAVE_SOURCES"] for j in workflow["jobs"].values() if "schedule ==" in j["if"]}
    assert jobs == {
        "github.event_name == 'schedule' && github.event.schedule == '0 2 * * *'": "oca_web,oca_base",
        "github.event_name == 'schedule' && github.event.schedule == '0 */6 * * *'": "apps_truth",
        "github.event_name == 'schedule' && github.event.schedule == '0 5 * * SUN'": "skills",
    }
    crons = {s["cron"] for s in workflow["on"]["schedule"]}
    assert {cond.split("== '")[-1].rstrip("'") for cond in jobs} == crons     # every job's cron is a trigger


def test_the_manual_trigger_takes_a_pattern_a_direction_and_dry(workflow: dict[str, Any]) -> None:
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert inputs["direction"]["options"] == ["all", "pull", "push", "both"]
    assert inputs["sources"]["default"] == "" and inputs["dry"]["type"] == "boolean"
    manual = workflow["jobs"]["manual"]
    assert manual["if"] == "github.event_name == 'workflow_dispatch'"
    assert manual["env"] == {"FORKWAVE_SOURCES": "${{ inputs.sources }}",
                             "FORKWAVE_DIRECTION": "${{ inputs.direction }}", "FORKWAVE_DRY": "${{ inputs.dry }}"}


def test_job_and_step_shapes(workflow: dict[str, Any]) -> None:
    for job_id, job in workflow["jobs"].items():
        assert job_id.replace("-", "_").isidentifier()
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step           # exactly one of them
            assert "${{ inputs" not in step.get("run", "")           # a person's input never spliced into a script


def test_reports_are_restored_and_saved_with_the_same_key(workflow: dict[str, Any]) -> None:
    steps = workflow["jobs"]["sync-1"]["steps"]
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert restore["with"]["path"] == save["with"]["path"] == "reports/"
    assert restore["with"]["key"] == save["with"]["key"] and save["if"] == "always()"
    assert restore["with"]["restore-keys"].strip() == "forkwave-reports-${{ github.ref_name }}-"
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"].strip())


def test_a_config_without_schedules_keeps_the_manual_trigger() -> None:
    workflow = yaml.safe_load(github_workflow(group([("docs", None)])))
    jsonschema.Draft7Validator(vendored_schema("github-workflows")).validate(workflow)
    assert "schedule" not in workflow["on"] and list(workflow["jobs"]) == ["manual"]


def test_options_reach_the_workflow() -> None:
    text = github_workflow(group(CONFIG), CiOptions(python="3.12", fork_path="the-fork", publish=False))
    workflow = yaml.safe_load(text)
    steps = workflow["jobs"]["manual"]["steps"]
    assert {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}} in steps
    assert not any("doit publish" in s.get("run", "") for s in steps)
    assert any(s.get("with", {}).get("path") == "the-fork" for s in steps)
    assert "&id" not in text and "*id" not in text                        # no YAML anchors


def test_the_generated_file_is_deterministic() -> None:
    assert github_workflow(group(CONFIG)) == github_workflow(group(list(CONFIG)))
    assert gitlab_ci(group(CONFIG)) == gitlab_ci(group(list(CONFIG)))


# --- the GitLab CI file ---------------------------------------------------------------

@pytest.fixture(scope="module")
def gitlab() -> dict[str, Any]:
    return yaml.safe_load(gitlab_ci(group(CONFIG)))


def test_gitlab_file_is_valid_for_gitlabs_schema(gitlab: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(vendored_schema("gitlab-ci")).validate(gitlab)


def test_gitlab_jobs_run_by_schedule_variable(gitlab: dict[str, Any]) -> None:
    jobs = {j["rules"][0]["if"]: j.get("variables", {}).get("FORKWAVE_SOURCES") for name, j in gitlab.items()
            if not name.startswith(".") and name not in ("variables", "dashboard")}
    assert jobs == {
        '$CI_PIPELINE_SOURCE == "schedule" && $SCHEDULE == "0 2 * * *"': "oca_web,oca_base",
        '$CI_PIPELINE_SOURCE == "schedule" && $SCHEDULE == "0 */6 * * *"': "apps_truth",
        '$CI_PIPELINE_SOURCE == "schedule" && $SCHEDULE == "0 5 * * SUN"': "skills",
        '$CI_PIPELINE_SOURCE == "web"': None,                                   # by hand: the form's variables
    }
    assert gitlab["variables"]["FORKWAVE_DIRECTION"]["options"] == ["all", "pull", "push", "both"]


def test_gitlab_header_says_which_pipeline_schedules_to_create() -> None:
    text = gitlab_ci(group(CONFIG))
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "#   0 2 * * *        oca_web, oca_base" in header
    assert any("variable SCHEDULE set to" in line for line in header)
    assert gitlab_ci(group(CONFIG)).count("reports/") >= 2       # cached and uploaded


def test_gitlab_caches_reports_always(gitlab: dict[str, Any]) -> None:
    cache = gitlab[".forkwave"]["cache"][0]
    assert cache == {"key": "forkwave-reports-$CI_COMMIT_REF_SLUG", "paths": ["reports/"], "when": "always"}


# --- the doit arguments the CI script builds ------------------------------------------

@pytest.mark.parametrize(("env", "argv"), [
    ({}, []),
    ({"FORKWAVE_SOURCES": "oca_web,oca_base"}, ["sources=oca_web,oca_base"]),
    ({"FORKWAVE_SOURCES": "oca_*", "FORKWAVE_DIRECTION": "pull"}, ["sources=oca_*", "direction=pull"]),
    ({"FORKWAVE_DIRECTION": "all", "FORKWAVE_DRY": "false"}, []),
    ({"FORKWAVE_DIRECTION": "", "FORKWAVE_DRY": "true"}, ["dry=1"]),
    ({"FORKWAVE_DRY": "1", "FORKWAVE_DIRECTION": "both"}, ["direction=both", "dry=1"]),
    ({"FORKWAVE_SOURCES": "$(touch pwned); a b *"}, ["sources=$(touch pwned); a b *"]),   # one word, never run
])
def test_ci_script_passes_the_selection_to_doit(tmp_path: Path, env: dict[str, str], argv: list[str]) -> None:
    """The script's own lines run in bash with a stand-in ``doit`` that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "doit").write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done > "$ARGV_OUT"\n')
    (bin_dir / "doit").chmod(0o755)
    (tmp_path / "a").write_text("")                              # a glob that could expand, if it were unquoted
    out = tmp_path / "argv"
    run_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "ARGV_OUT": str(out), **env}
    subprocess.run(["bash", "-euo", "pipefail", "-c", ARGS + 'doit "$@"'], cwd=tmp_path, env=run_env, check=True)
    assert [a.decode() for a in out.read_bytes().split(b"\0")[:-1]] == argv
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("schema", "broken"), [
    ("github-workflows", {"on": {"schedule": [{"cron": "0 2 * * *"}]}, "jobs": {"a": {"steps": [{"run": "x"}]}}}),
    ("github-workflows", {"on": {"schedule": "0 2 * * *"}, "jobs": {"a": {"runs-on": "x", "steps": [{"run": "x"}]}}}),
    ("gitlab-ci", {"a": {"script": ["x"], "rules": "always"}}),
    ("gitlab-ci", {"a": {"script": ["x"], "cache": {"when": "sometimes"}}}),
])
def test_the_schemas_do_refuse_broken_files(schema: str, broken: dict[str, Any]) -> None:
    """The schema checks above can fail: the vendored schemas are not empty shells."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(vendored_schema(schema)).validate(broken)
