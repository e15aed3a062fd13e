"""All subprocesses go through here: one error type carrying command, code and output, redacted."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.redact import redact_text


@dataclass
class CalledProcessError(ForkwaveFailure):
    """A command failed; ``str()`` is a redacted one-paragraph summary."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    secrets: tuple[str, ...] = ()

    def __str__(self) -> str:
        cmd = redact_text(" ".join(self.argv), self.secrets)
        err = redact_text(self.stderr.decode("utf-8", "replace").strip(), self.secrets)
        tail = err.splitlines()[-5:] if err else []
        return f"command failed (exit {self.returncode}): {cmd}" + "".join(f"\n  {line}" for line in tail)


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    secrets: tuple[str, ...] = (),
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv``, capture bytes; on failure raise ``CalledProcessError`` (redacted)."""
    try:
        proc = subprocess.run(
            list(argv), cwd=cwd, env=None if env is None else dict(env), input=input,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise ForkwaveFailure(f"{argv[0]}: command not found; install it and run again") from exc
    if check and proc.returncode != 0:
        raise CalledProcessError(tuple(argv), proc.returncode, proc.stdout, proc.stderr, secrets)
    return proc
