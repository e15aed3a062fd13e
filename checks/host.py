"""Run a check's command on the host, in the slice's worktree, in its own process group."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from checks import tracking
from checks.model import ERROR, FAILED, PASSED, QUIET, Cancelled, Request, Result, tail
from tasks.progress import Heartbeat, LastLine
from tasks.redact import LineRedactor, Redactor

GRACE = 5.0  # seconds between SIGTERM and SIGKILL on timeout
# the shell's own codes for a command it could not start: the check never ran, so it judged nothing
CANNOT_RUN = {126: "not executable", 127: "command not found"}
DRAIN = 5.0  # seconds to keep reading a log pipe that a left-behind process still holds open


class RedactedLog:
    """A log file that only ever receives redacted bytes: writers get a pipe, a thread redacts
    each line before it reaches the file, so a secret a check prints never touches the disk.

    ``with RedactedLog(path, redactor) as sink:`` — pass ``sink`` as a subprocess's stdout or
    stderr (or write to it); on exit the pipe is drained and the file is complete. ``last``, when
    given, sees the same redacted lines as the file (a heartbeat's last output line).
    """

    def __init__(self, path: Path, redactor: Redactor, last: LastLine | None = None):
        self.path, self.lines, self.last = path, LineRedactor(redactor), last
        self.closing = threading.Event()

    def __enter__(self) -> IO[bytes]:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb", buffering=0)
        self.sink = os.fdopen(write_fd, "wb")
        self.out = open(self.path, "wb")
        self.thread = threading.Thread(target=self._pump, name=f"log {self.path.name}", daemon=True)
        self.thread.start()
        return self.sink

    def _pump(self) -> None:
        """Copy until EOF; once the parent is done, stop at the first idle moment or after ``DRAIN``
        (a background process the check left running may hold the pipe open forever)."""
        deadline = float("inf")
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.reader], [], [], 0.2)
            if ready:
                data = self.reader.read(1 << 16)
                if not data:
                    break
                self._write(self.lines.feed_bytes(data))
            elif self.closing.is_set():
                break
            if self.closing.is_set() and deadline == float("inf"):
                deadline = time.monotonic() + DRAIN
        self._write(self.lines.close_bytes())

    def _write(self, redacted: bytes) -> None:
        self.out.write(redacted)
        if self.last is not None and redacted:
            self.last.feed(redacted.decode("utf-8", "replace"))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.sink.close()
        self.closing.set()
        self.thread.join()
        self.reader.close()
        self.out.close()


def describe(request: Request) -> str:
    """How a heartbeat names a running check: ``check 'unit' (slice-3-1)``."""
    return f"check {request.name!r}" + (f" ({request.label})" if request.label else "")


POLL = 0.5  # seconds between looks at a cancel flag while a process group runs


def run_group(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, out: IO[bytes],
              err: IO[bytes], cancel: threading.Event | None = None,
              stdin: IO[bytes] | int = subprocess.DEVNULL) -> tuple[int, bool]:
    """Run ``argv`` in its own process group; (exit code, timed out). The group never outlives us.

    ``cancel`` set while it runs: the group is killed and ``Cancelled`` raised (its verdict is no longer wanted).
    """
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=out, stderr=err,
                            start_new_session=True)
    tracking.started("pgid", proc.pid)
    deadline = time.monotonic() + max(timeout, 0.001)
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                return proc.wait(timeout=max(min(left, POLL) if cancel is not None else left, 0.001)), False
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    _kill_group(proc)
                    raise Cancelled(" ".join(argv[:3])) from None
                if time.monotonic() >= deadline:
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
        redactor = Redactor.for_env(env)
        start = time.monotonic()
        last = LastLine()
        with RedactedLog(out_path, redactor, last) as out, RedactedLog(err_path, redactor, last) as err, \
                Heartbeat(describe(request), (lambda: QUIET) if request.quiet else last):
            try:
                with open(request.stdin or os.devnull, "rb") as given:
                    code, timed_out = run_group(["bash", "-c", request.command], request.cwd, env, request.timeout,
                                                out, err, request.cancel, given)
            except OSError as exc:
                return Result(request.name, ERROR, 0.0, redactor.text(f"could not start: {exc}"))
        duration = time.monotonic() - start
        stdout = out_path.read_text("utf-8", "replace")
        stderr = err_path.read_text("utf-8", "replace")
        if timed_out:
            return Result(request.name, FAILED, duration,
                          f"timed out after {request.timeout:g} s (process group killed)",
                          tail(stdout), tail(stderr), timed_out=True)
        if code in CANNOT_RUN:
            return Result(request.name, ERROR, duration, f"cannot run (exit {code}: {CANNOT_RUN[code]}): "
                          f"{request.command}; install what it needs on this machine or fix `run`",
                          tail(stdout), tail(stderr), exit_code=code)
        if code != 0:
            return Result(request.name, FAILED, duration, redactor.line(f"exit code {code}: {request.command}"),
                          tail(stdout), tail(stderr), exit_code=code)
        return Result(request.name, PASSED, duration, "", tail(stdout), tail(stderr), exit_code=code)


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
