"""Run a check's command on the host, in the slice's worktree, in its own process group."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from checks import tracking
from checks.model import ERROR, FAILED, PASSED, Request, Result, tail
from tasks.redact import redact_text

GRACE = 5.0  # seconds between SIGTERM and SIGKILL on timeout
# the shell's own codes for a command it could not start: the check never ran, so it judged nothing
CANNOT_RUN = {126: "not executable", 127: "command not found"}


def run_group(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, out: IO[bytes],
              err: IO[bytes]) -> tuple[int, bool]:
    """Run ``argv`` in its own process group; (exit code, timed out). The group never outlives us."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            start_new_session=True)
    tracking.started("pgid", proc.pid)
    try:
        return proc.wait(timeout=max(timeout, 0.001)), False
    except subprocess.TimeoutExpired:
        return _kill_group(proc), True
    except BaseException:  # Ctrl-C: never leave the group running
        _kill_group(proc)
        raise
    finally:
        tracking.finished("pgid", proc.pid)


class HostRunner:
    def run(self, request: Request) -> Result:
        log_dir = request.log_dir
        assert log_dir is not None and request.command
        log_dir.mkdir(parents=True, exist_ok=True)
        out_path, err_path = log_dir / f"{request.name}.stdout.log", log_dir / f"{request.name}.stderr.log"
        env = {**os.environ, **request.env}
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                code, timed_out = run_group(["bash", "-c", request.command], request.cwd, env, request.timeout, out, err)
            except OSError as exc:
                return Result(request.name, ERROR, 0.0, f"could not start: {exc}")
        duration = time.monotonic() - start
        stdout = redact_text(out_path.read_text("utf-8", "replace"))
        stderr = redact_text(err_path.read_text("utf-8", "replace"))
        if timed_out:
            return Result(request.name, FAILED, duration, f"timed out after {request.timeout:g} s (process group killed)",
                          tail(stdout), tail(stderr), timed_out=True)
        if code in CANNOT_RUN:
            return Result(request.name, ERROR, duration, f"cannot run (exit {code}: {CANNOT_RUN[code]}): "
                          f"{request.command}; install what it needs on this machine or fix `run`",
                          tail(stdout), tail(stderr))
        if code != 0:
            return Result(request.name, FAILED, duration, f"exit code {code}: {request.command}", tail(stdout), tail(stderr))
        return Result(request.name, PASSED, duration, "", tail(stdout), tail(stderr))


def _kill_group(proc: subprocess.Popen[bytes]) -> int:
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()
