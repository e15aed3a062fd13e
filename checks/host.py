"""Run a check's command on the host, in the slice's worktree, in its own process group."""
from __future__ import annotations

import os
import signal
import subprocess
import time

from checks.model import ERROR, FAILED, PASSED, Request, Result, tail
from tasks.redact import redact_text

GRACE = 5.0  # seconds between SIGTERM and SIGKILL on timeout


class HostRunner:
    def run(self, request: Request) -> Result:
        log_dir = request.log_dir
        assert log_dir is not None
        log_dir.mkdir(parents=True, exist_ok=True)
        out_path, err_path = log_dir / f"{request.name}.stdout.log", log_dir / f"{request.name}.stderr.log"
        env = {**os.environ, **request.env}
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(["bash", "-c", request.command], cwd=request.cwd, env=env,
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            except OSError as exc:
                return Result(request.name, ERROR, 0.0, f"could not start: {exc}")
            timed_out = False
            try:
                code = proc.wait(timeout=request.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                code = _kill_group(proc)
            except BaseException:  # Ctrl-C: never leave the group running
                _kill_group(proc)
                raise
        duration = time.monotonic() - start
        stdout = redact_text(out_path.read_text("utf-8", "replace"))
        stderr = redact_text(err_path.read_text("utf-8", "replace"))
        if timed_out:
            return Result(request.name, FAILED, duration, f"timed out after {request.timeout:g} s (process group killed)",
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
