"""DockerRunner against the real engine: verdicts, timeouts, env and CA passthrough, file ownership, network."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from checks.docker_runner import DockerRunner
from checks.model import ERROR, FAILED, PASSED
from checks.runners import Dispatch
from conftest import write_config
from dockerkit import HOST_CA, NODE, PYTHON, docker_request
from tasks.config import load_config
from tasks.engine.validate import default_runner
from tasks.workspace import Workspace


@pytest.fixture
def runner(docker_client: Any, tmp_path: Path) -> DockerRunner:
    return DockerRunner(client=docker_client, cache_dir=tmp_path / "cache")


def configured_runner(tmp_path: Path, containers: dict[str, Any]) -> Any:
    """The runner the pipeline builds from a config's ``containers:`` section (slices.default_runner)."""
    cfg = load_config(write_config(tmp_path, {"upstream": {"url": "u.git"}, "fork": {"path": "fork"},
                                              "containers": containers}))
    return default_runner(cfg, Workspace(tmp_path))


def test_a_check_passes_on_exit_code_0_and_its_output_is_logged(runner: DockerRunner, worktree: Path,
                                                                log_dir: Path, label: str) -> None:
    (worktree / "input.txt").write_text("from the worktree\n")
    result = runner.run(docker_request("ok", "cat input.txt; echo to-stderr >&2; pwd", worktree, log_dir, label))
    assert result.status == PASSED and result.message == ""
    assert result.stdout == "from the worktree\n/workspace" and result.stderr == "to-stderr"
    assert (log_dir / "ok.stdout.log").read_text() == "from the worktree\n/workspace\n"
    assert (log_dir / "ok.stderr.log").read_text() == "to-stderr\n"


def test_a_check_fails_on_a_nonzero_exit_code(runner: DockerRunner, worktree: Path, log_dir: Path,
                                              label: str) -> None:
    result = runner.run(docker_request("bad", "echo oops >&2; exit 3", worktree, log_dir, label, image=NODE))
    assert result.status == FAILED
    assert result.message == f"exit code 3 in {NODE}: echo oops >&2; exit 3"
    assert result.stderr == "oops"


def test_a_slow_container_check_beats_with_its_last_output_line(runner: DockerRunner, worktree: Path, log_dir: Path,
                                                                label: str, monkeypatch: pytest.MonkeyPatch,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    """A heartbeat while the container runs: elapsed time and the container's last line so far, redacted."""
    monkeypatch.setenv("FORKWAVE_HEARTBEAT", "0.5")
    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    command = f"echo resolving packages; sleep 2; echo fetching {token} >&2; sleep 2; echo done"
    result = runner.run(docker_request("install", command, worktree, log_dir, label))
    assert result.status == PASSED, result.message
    beats = re.findall(rf"^check 'install' \({label}\) in {re.escape(PYTHON)}: still running after (\d+) s; "
                       r"last output: (.*)$", capfd.readouterr().err, re.M)
    assert len(beats) >= 4, beats
    said = [line for _, line in beats]
    assert "resolving packages" in said and "fetching ***" in said            # as the container prints them
    assert said.index("resolving packages") < said.index("fetching ***")
    assert int(beats[-1][0]) >= 3 and all(token not in line for line in said)


def test_a_missing_image_is_an_error_naming_it_and_nothing_is_pulled(runner: DockerRunner, worktree: Path,
                                                                     log_dir: Path, label: str) -> None:
    result = runner.run(docker_request("img", "true", worktree, log_dir, label, image="forkwave/absent:never"))
    assert result.status == ERROR
    assert "image forkwave/absent:never not found" in result.message and "doit images" in result.message


def test_a_timeout_kills_and_removes_the_container_promptly(runner: DockerRunner, docker_client: Any,
                                                            worktree: Path, log_dir: Path, label: str) -> None:
    start = time.monotonic()
    result = runner.run(docker_request("slow", "echo started; sleep 120", worktree, log_dir, label, timeout=2))
    elapsed = time.monotonic() - start
    assert result.status == FAILED
    assert result.message == "timed out after 2 s (container killed and removed)"
    assert result.stdout == "started"                       # what it printed before being killed is kept
    assert elapsed < 6, f"took {elapsed:.1f} s to come back from a 2 s timeout"
    left = docker_client.containers.list(all=True, filters={"label": ["forkwave=check", f"forkwave.attempt={label}"]})
    assert left == []


def test_pass_env_and_the_check_env_reach_the_container(tmp_path: Path, worktree: Path, log_dir: Path,
                                                        label: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FW_PASSED", "from-host")
    monkeypatch.setenv("FW_BOTH", "from-host")
    monkeypatch.setenv("FW_NOT_LISTED", "must-not-leak")
    monkeypatch.delenv("FW_UNSET", raising=False)
    runner = configured_runner(tmp_path, {"pass_env": ["FW_PASSED", "FW_BOTH", "FW_UNSET"]})
    request = docker_request("env", "env | sort", worktree, log_dir, label,
                             env={"FW_CHECK": "from-check", "FW_BOTH": "from-check"})
    result = runner.run(request)
    assert result.status == PASSED, result
    env = dict(line.split("=", 1) for line in (log_dir / "env.stdout.log").read_text().splitlines() if "=" in line)
    assert env["FW_PASSED"] == "from-host" and env["FW_CHECK"] == "from-check"
    assert env["FW_BOTH"] == "from-check"                   # the check's own env wins over pass_env
    assert "FW_NOT_LISTED" not in env and "FW_UNSET" not in env
    assert env["HOME"] == "/tmp/home" and env["npm_config_cache"] == "/cache/npm"


def test_the_ca_bundle_is_mounted_over_the_system_one_and_named_for_every_tool(
        tmp_path: Path, worktree: Path, log_dir: Path, label: str) -> None:
    bundle = tmp_path / "test-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nZm9ya3dhdmUgdGVzdCBDQQ==\n-----END CERTIFICATE-----\n")
    runner = configured_runner(tmp_path, {"ca_bundle": str(bundle)})
    command = ("cat /etc/ssl/certs/ca-certificates.crt; "
               "echo NODE=$NODE_EXTRA_CA_CERTS PIP=$PIP_CERT GIT=$GIT_SSL_CAINFO SSL=$SSL_CERT_FILE; "
               "touch /etc/ssl/certs/ca-certificates.crt 2>/dev/null || echo read-only")
    result = runner.run(docker_request("ca", command, worktree, log_dir, label, image=NODE))
    assert result.status == PASSED, result
    ca = "/etc/ssl/certs/ca-certificates.crt"
    assert result.stdout.splitlines() == [*bundle.read_text().splitlines(),
                                          f"NODE={ca} PIP={ca} GIT={ca} SSL={ca}", "read-only"]


def test_files_written_in_the_container_belong_to_the_worktree_owner(docker_client: Any, worktree: Path,
                                                                     log_dir: Path, label: str) -> None:
    os.chown(worktree, 1234, 1234)  # we run as root: a worktree owned by someone else is the real test
    runner = DockerRunner(client=docker_client)
    result = runner.run(docker_request("owner", "id -u; id -g; touch made.txt && mkdir -p dist && echo x > dist/out",
                                       worktree, log_dir, label))
    assert result.status == PASSED, result
    assert result.stdout.splitlines() == ["1234", "1234"]
    for path in (worktree / "made.txt", worktree / "dist", worktree / "dist" / "out"):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (1234, 1234), path


PROBE = "ls /sys/class/net; getent hosts registry.npmjs.org >/dev/null && echo resolved"


@pytest.mark.parametrize("where", ["check", "containers"])
def test_network_none_leaves_only_the_loopback(docker_client: Any, worktree: Path, log_dir: Path, label: str,
                                               where: str) -> None:
    if where == "check":
        runner, request = DockerRunner(client=docker_client), docker_request("net", PROBE, worktree, log_dir, label,
                                                                             network="none")
    else:  # containers: {network: none} in the config, for every container check
        runner, request = DockerRunner(client=docker_client, network="none"), docker_request("net", PROBE, worktree,
                                                                                             log_dir, label)
    result = runner.run(request)
    assert result.status == FAILED and result.stdout == "lo"


def test_the_default_network_reaches_out(docker_client: Any, worktree: Path, log_dir: Path, label: str) -> None:
    result = DockerRunner(client=docker_client).run(docker_request("net", PROBE, worktree, log_dir, label))
    assert result.status == PASSED and "eth0" in result.stdout and "resolved" in result.stdout


def test_dispatch_sends_image_checks_to_docker_and_keeps_the_runner(worktree: Path, log_dir: Path,
                                                                    label: str) -> None:
    dispatch = Dispatch(options={"ca_bundle": HOST_CA})
    first = dispatch.run(docker_request("one", "test -e /.dockerenv && cat /etc/debian_version", worktree,
                                        log_dir, label))
    second = dispatch.run(docker_request("two", "python3 -c 'print(1 + 1)'", worktree, log_dir, label, image=PYTHON))
    assert (first.status, second.status, second.stdout) == (PASSED, PASSED, "2")
    assert first.stdout.startswith("12.")
    assert list(dispatch.runners) == [("docker", "local")]   # one runner for the one engine
