"""Signs of life on long work: a heartbeat with the elapsed time and the last output line, redacted.

Real slow commands (``sleep`` with output) with the interval set low through FORKWAVE_HEARTBEAT;
the container check's heartbeat is in tests/docker/test_docker_runner.py, the fetch's in
tests/repo/test_fetch_progress.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from checks.host import HostRunner
from checks.images import BuildProgress
from checks.model import PASSED, Request
from conftest import run_doit
from slicekit import build
from tasks.errors import ForkwaveError
from tasks.progress import LastLine, interval

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # a GitHub token's shape: redacted wherever it is shown
BEAT = re.compile(r"^(?P<what>.+): still running after (?P<secs>\d+) s; (?:last output: (?P<last>.*)|no output yet)$")


def beats(stderr: str) -> list[re.Match[str]]:
    return [m for line in stderr.splitlines() if (m := BEAT.match(line))]


def test_a_slow_host_check_prints_heartbeats_with_elapsed_time_and_its_last_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORKWAVE_HEARTBEAT", "0.4")
    command = f"echo step one; sleep 1.3; echo step two {TOKEN} >&2; sleep 1.3; echo done"
    result = HostRunner().run(Request("slow", command, tmp_path, log_dir=tmp_path / "logs", timeout=60,
                                      label="slice-1-1"))
    assert result.status == PASSED
    lines = beats(capfd.readouterr().err)
    assert len(lines) >= 4, lines                                 # 2.6 s at one beat per 0.4 s
    assert {m["what"] for m in lines} == {"check 'slow' (slice-1-1)"}
    secs = [int(m["secs"]) for m in lines]
    assert secs == sorted(secs) and secs[-1] >= 2                  # the elapsed time grows
    said = [m["last"] for m in lines]
    assert "step one" in said and "step two ***" in said          # stdout and stderr, as they come
    assert said.index("step one") < said.index("step two ***")
    assert TOKEN not in "".join(m[0] for m in lines)
    assert TOKEN not in (tmp_path / "logs" / "slow.stderr.log").read_text()


def test_a_quick_check_prints_no_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORKWAVE_HEARTBEAT", "5")
    assert HostRunner().run(Request("quick", "echo hi", tmp_path, log_dir=tmp_path / "logs")).status == PASSED
    assert beats(capfd.readouterr().err) == []


def test_a_slow_check_in_a_real_run_beats_on_stderr_that_is_no_terminal(tmp_path: Path) -> None:
    """doit as a subprocess, stderr a pipe (as in CI): the heartbeat names the slice's check and its output."""
    base = {"README.md": "# base\n", "src/a.py": "A = 1\n"}
    r = build(tmp_path, base, {**base, "src/a.py": "A = 2\n"},
              checks=[{"name": "slow", "run": "echo installing; sleep 1.5"}])
    result = run_doit(r.workspace, env={"FORKWAVE_HEARTBEAT": "0.4", "FORKWAVE_SHOW_TASKS": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = beats(result.stderr)
    assert any(m["what"].startswith("check 'slow' (batch-1") and m["last"] == "installing" for m in lines), \
        result.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-3", "99999"])
def test_a_bad_heartbeat_interval_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      value: str) -> None:
    monkeypatch.setenv("FORKWAVE_HEARTBEAT", value)
    with pytest.raises(ForkwaveError) as err:
        interval()
    assert str(err.value).startswith(f"FORKWAVE_HEARTBEAT={value}: give the seconds between progress lines")
    result = run_doit(tmp_path, "list", env={"FORKWAVE_HEARTBEAT": value})
    assert result.returncode == 1 and result.stderr.startswith(f"forkwave: error: FORKWAVE_HEARTBEAT={value}: ")


def test_last_line_keeps_the_last_progress_update() -> None:
    last = LastLine()
    last.feed("Receiving objects:  10% (1/10)\rReceiving obj")
    assert last() == "Receiving objects:  10% (1/10)"
    last.feed("ects:  90% (9/10)\r\n\n")
    assert last() == "Receiving objects:  90% (9/10)"


def test_an_image_build_shows_its_steps_and_beats_with_the_build_logs_last_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """The build scripts' shape (containers/lib.sh): their own lines and each step on stderr, docker's output
    in the log they name. A real script, no docker: the docker-marked test builds a real image."""
    monkeypatch.setenv("FORKWAVE_HEARTBEAT", "0.3")
    log = tmp_path / "build.log"
    script = (f"echo '[build-node] building forkwave/node:9 (log: {log})' >&2; "
              f"echo 'Step 1/2 : FROM forkwave/base' >> {log}; "
              "echo '[build-node] forkwave/node:9: Step 1/2 : FROM x' >&2; "
              f"echo 'Step 2/2 : RUN yarn install' >> {log}; "
              "echo '[build-node] forkwave/node:9: Step 2/2 : RUN y' >&2; "
              f"echo 'fetching packages {TOKEN}' >> {log}; sleep 1.2; echo forkwave/node:9")
    done = BuildProgress("image build: node 9", {"PATH": "/usr/bin:/bin"}).run(["bash", "-c", script],
                                                                                {"PATH": "/usr/bin:/bin"})
    assert done.stdout.decode().strip() == "forkwave/node:9"
    err = capfd.readouterr().err
    assert "[build-node] forkwave/node:9: Step 1/2 : FROM x\n[build-node] forkwave/node:9: Step 2/2 : RUN y" in err
    lines = beats(err)
    assert lines and all(m["what"] == "image build: node 9" for m in lines)
    assert lines[-1]["last"] == "fetching packages ***"              # the log's last line, redacted
