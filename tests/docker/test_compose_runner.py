"""ComposeRunner against the real engine: an HTTP service built from a Dockerfile and a test service
calling it. Passing, failing, timing out and invalid: the stack is always taken down, with nothing left."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from checks.compose_runner import ComposeRunner, project_name
from checks.model import FAILED, PASSED, Request
from conftest import commit_tree, make_repo, run_doit, write_config
from dockerkit import PYTHON

COMPOSE = f"""\
version: "3.7"
services:
  web:
    build: ./web
    stop_signal: SIGKILL   # python as PID 1 ignores SIGTERM: don't wait out the stop timeout
  test:
    image: {PYTHON}
    depends_on: [web]
    volumes: [".:/workspace"]
    working_dir: /workspace
    command: ["sh", "-c", "${{TEST_COMMAND:-python3 probe.py}}"]
    environment:
      PROBE_PATH: "${{PROBE_PATH:-/health}}"
"""

WEB_DOCKERFILE = f"""\
FROM {PYTHON}
RUN mkdir -p /srv && echo ok > /srv/health
WORKDIR /srv
CMD ["python3", "-m", "http.server", "8000"]
"""

# The test service: retry until the web service answers, then the path's HTTP status is the verdict.
PROBE = """\
import os, sys, time, urllib.error, urllib.request
url = "http://web:8000" + os.environ["PROBE_PATH"]
for _ in range(100):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            print("GET", url, resp.status, resp.read().decode().strip())
            sys.exit(0)
    except urllib.error.HTTPError as exc:
        print("GET", url, exc.code)
        sys.exit(1)
    except OSError:
        time.sleep(0.1)
print("web never answered")
sys.exit(2)
"""


@pytest.fixture
def stack(worktree: Path) -> Path:
    (worktree / "web").mkdir()
    (worktree / "web" / "Dockerfile").write_text(WEB_DOCKERFILE)
    (worktree / "docker-compose.yml").write_text(COMPOSE)
    (worktree / "probe.py").write_text(PROBE)
    return worktree


def compose_request(cwd: Path, log_dir: Path, label: str, env: dict[str, str] | None = None,
                    timeout: float = 120, compose: str = "docker-compose.yml") -> Request:
    return Request("stack", None, cwd, env or {}, timeout, log_dir, kind="compose", compose=compose,
                   service="test", label=label)


def project_resources(client: Any, project: str) -> list[str]:
    label = {"label": f"com.docker.compose.project={project}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)] +
            [f"network {n.name}" for n in client.networks.list(filters=label)] +
            [f"volume {v.name}" for v in client.volumes.list(filters=label)] +
            [f"image {t}" for i in client.images.list(name=f"{project}_*") for t in i.tags])


def test_a_stack_passes_when_the_test_service_exits_0(docker_client: Any, stack: Path, log_dir: Path,
                                                      label: str) -> None:
    result = ComposeRunner().run(compose_request(stack, log_dir, label))
    assert result.status == PASSED, result
    stdout = (log_dir / "stack.stdout.log").read_text()
    assert "GET http://web:8000/health 200 ok" in stdout
    assert '"GET /health HTTP/1.1" 200' in stdout           # the web service's own log, collected before `down`
    assert project_resources(docker_client, project_name(label, "stack")) == []


def test_a_stack_fails_when_the_test_service_fails(docker_client: Any, stack: Path, log_dir: Path,
                                                   label: str) -> None:
    result = ComposeRunner().run(compose_request(stack, log_dir, label, env={"PROBE_PATH": "/missing"}))
    assert result.status == FAILED
    assert result.message == "test service test exited 1"
    assert "GET http://web:8000/missing 404" in result.stdout
    assert project_resources(docker_client, project_name(label, "stack")) == []


def test_a_stack_that_outlives_its_timeout_fails_and_is_taken_down(docker_client: Any, stack: Path,
                                                                   log_dir: Path, label: str) -> None:
    result = ComposeRunner().run(compose_request(stack, log_dir, label, env={"TEST_COMMAND": "sleep 300"},
                                                 timeout=8))
    assert result.status == FAILED
    assert result.message.startswith("timed out after 8 s") and result.message.endswith("(stack taken down)")
    assert result.duration < 60
    assert project_resources(docker_client, project_name(label, "stack")) == []


def test_an_invalid_compose_file_fails_with_one_line_naming_it(stack: Path, log_dir: Path, label: str) -> None:
    (stack / "broken.yml").write_text("services:\n  test:\n    image: [not, a, string]\n")
    result = ComposeRunner().run(compose_request(stack, log_dir, label, compose="broken.yml"))
    assert result.status == FAILED
    assert result.message.startswith("compose file broken.yml is invalid: ")
    assert "\n" not in result.message and "['" not in result.message


def test_a_compose_check_validates_a_slice_through_the_pipeline(tmp_path: Path, docker_client: Any) -> None:
    files = {"docker-compose.yml": COMPOSE, "web/Dockerfile": WEB_DOCKERFILE, "probe.py": PROBE}
    upstream = {**files, "web/Dockerfile": WEB_DOCKERFILE.replace("echo ok", "echo ok-v2")}
    up = make_repo(tmp_path / "upstream.git", bare=True)
    commit_tree(up, files, message="v1", tag="v1")
    commit_tree(up, upstream, message="v2", tick=10)
    make_repo(tmp_path / "fork", files, message="fork", tick=5)
    ws = tmp_path / "ws"
    ws.mkdir()
    # each slice judged in its own container run (its attempts and logs are read): no batch
    write_config(ws, {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1", "batch": False,
                      "waves": {"a": {"buckets": ["*"]}},
                      "checks": [{"name": "stack", "compose": "docker-compose.yml", "service": "test",
                                  "timeout": 300}]})
    result = run_doit(ws, "wave_a", timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    [log] = (ws / "reports" / "slices" / "slice-1" / "logs").glob("*/attempt-1/stack.stdout.log")
    text = log.read_text()
    assert "GET http://web:8000/health 200 ok-v2" in text    # the candidate's stack, not the fork's
    [project] = re.findall(r"--- service logs \((fw-slice-1-1-stack-\d+)\) ---", text)
    assert project_resources(docker_client, project) == []
