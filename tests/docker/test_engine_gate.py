"""Without an engine, docker tests skip on a developer machine and fail in CI; a check errors, not crashes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checks.model import ERROR
from checks.runners import Dispatch
from dockerkit import REPO, docker_request, engine_problem

NO_ENGINE = "unix:///nonexistent/docker.sock"
ONE_TEST = "tests/docker/test_docker_runner.py::test_a_check_fails_on_a_nonzero_exit_code"


def pytest_without_engine(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"DOCKER_HOST": NO_ENGINE}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           f"--basetemp={tmp_path / 'inner'}", ONE_TEST],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_without_an_engine_docker_tests_are_skipped_locally(tmp_path: Path) -> None:
    proc = pytest_without_engine(tmp_path, ci=None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout
    assert "no Docker engine answers (" in proc.stdout and "start one and build the images: bash .ci/docker.sh" \
        in proc.stdout


def test_without_an_engine_docker_tests_fail_in_ci(tmp_path: Path) -> None:
    proc = pytest_without_engine(tmp_path, ci="true")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 error" in proc.stdout and "skipped" not in proc.stdout
    assert "CI=true and the docker tests must run, but no Docker engine answers" in proc.stdout


def test_the_skip_message_names_missing_images_when_the_engine_runs() -> None:
    client, problem = engine_problem(("forkwave/base:bookworm", "forkwave/absent:0"))
    assert client is None
    assert problem == ("the Docker engine runs, but image(s) forkwave/absent:0 are missing; "
                       "build them: doit images (or bash .ci/docker.sh as root)")


def test_a_container_check_without_an_engine_is_an_error_result(monkeypatch: pytest.MonkeyPatch, worktree: Path,
                                                                log_dir: Path, label: str) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    result = Dispatch().run(docker_request("build", "true", worktree, log_dir, label))
    assert result.status == ERROR and result.message.startswith("docker runner unavailable: ")
