"""The CI examples publish: GitHub's workflow runs `doit` then `doit publish` with the permissions it needs,
and the GitLab example caches reports/ the same way and clones with the token in no command line."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, make_repo
from forgekit import TOKEN, SmartHttp, git_argv_logger
from test_workflow import WORKFLOW, problems

GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


def steps_of(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps") or ()]


def test_the_github_workflow_runs_doit_then_doit_publish_with_the_permissions_it_needs() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert problems(workflow) == []
    assert workflow["permissions"]["contents"] == "write" and workflow["permissions"]["pull-requests"] == "write"
    runs = [str(s.get("run", "")) for s in steps_of(workflow)]
    doit = next(i for i, r in enumerate(runs) if r.startswith("doit ") and "publish" not in r)
    publish = next(i for i, r in enumerate(runs) if r.strip() == "doit publish")
    assert doit < publish
    assert runs[doit].endswith("|| test $? -eq 2")            # work left for a person still publishes (a draft)
    step = steps_of(workflow)[publish]
    assert "if" not in step                                   # only after a run that worked (0 or 2)
    assert step["env"]["FORKWAVE_TOKEN"] == "${{ secrets.FORK_TOKEN }}"
    assert not any("git -C fork push" in r for r in runs)    # doit publish pushes now, never by force


def gitlab_job() -> dict[str, Any]:
    return yaml.safe_load(GITLAB.read_text(encoding="utf-8"))["forkwave"]


def test_the_gitlab_example_caches_reports_always_and_publishes_after_doit() -> None:
    job = gitlab_job()
    reports = [c for c in job["cache"] if c["paths"] == ["reports/"]]
    assert reports and reports[0]["when"] == "always"
    assert job["script"] == ["doit $DOIT_TARGET || test $? -eq 2", "doit publish"]
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"] == "reports/slices/*/junit.xml"
    for line in job["before_script"]:                         # the token only inside a helper, read at run time
        if "FORKWAVE_TOKEN" in line:
            assert "credential.helper='!f()" in line and '"password=$FORKWAVE_TOKEN"' in line


def test_the_gitlab_examples_clone_authenticates_with_the_token_in_no_argv(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    make_repo(tmp_path / "srv" / "acme" / "app.git", {"README.md": "# app\n"}, bare=True)
    lines = [line for line in gitlab_job()["before_script"] if line.startswith("git ")]
    bin_dir, log = git_argv_logger(tmp_path)
    work = tmp_path / "job"
    work.mkdir()
    with SmartHttp(tmp_path / "srv", user="oauth2") as server:
        env = {**os.environ, "FORKWAVE_TOKEN": TOKEN, "CI_SERVER_URL": server.url, "FORK_PROJECT": "acme/app",
               "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        for line in lines:
            subprocess.run(["bash", "-ec", line], cwd=work, env=env, check=True, capture_output=True)
    assert (work / "fork" / "README.md").read_text() == "# app\n"
    assert any(auth for _, _, auth in server.log)
    assert "clone" in log.read_text() and TOKEN not in log.read_text()
