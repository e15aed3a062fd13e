"""All subprocesses go through here: one error type carrying command, code and output, redacted."""
from __future__ import annotations

import codecs
import os
import selectors
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tasks.errors import ForkwaveFailure
from tasks.progress import pieces
from tasks.redact import Redactor, redact_text


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


def stream(
    argv: Sequence[str],
    *,
    on_output: Callable[[str], None],
    keep: Callable[[str], bool] = lambda piece: True,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    r"""``run``, with the output shown as it comes: each piece of stdout and stderr (a line, or a
    progress update ending in ``\r``) goes to ``on_output`` redacted, the moment it is complete.

    stdout is captured whole, as ``run`` does; stderr keeps only the pieces ``keep`` accepts
    (a fetch keeps git's messages, not its progress), so errors read as they would without it.
    """
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise ForkwaveFailure(f"{argv[0]}: command not found; install it and run again") from exc
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    split = {proc.stdout: _Pieces(), proc.stderr: _Pieces()}
    redactor = Redactor(secrets)
    deadline = None if timeout is None else time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for pipe in split:
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map():
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise subprocess.TimeoutExpired(list(argv), timeout or 0, bytes(out), bytes(err))
            for key, _ in sel.select(timeout=0.5):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                if key.fileobj is proc.stdout:
                    out.extend(data)
                for piece in split[key.fileobj].feed(data):  # type: ignore[index]
                    if key.fileobj is proc.stderr and keep(piece):
                        err.extend(piece.encode("utf-8"))
                    body = piece.rstrip("\r\n")
                    on_output(redactor.line(body) + piece[len(body):])
    code = proc.wait()
    if check and code != 0:
        raise CalledProcessError(tuple(argv), code, bytes(out), bytes(err), secrets)
    return subprocess.CompletedProcess(list(argv), code, bytes(out), bytes(err))


class _Pieces:
    """Bytes of one pipe in, complete pieces of text out (``tasks.progress.pieces``); ``b""`` ends it."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.partial = ""

    def feed(self, data: bytes) -> list[str]:
        done = pieces(self.partial + self.decoder.decode(data, final=not data))
        self.partial = done.pop() if data and done and done[-1][-1] not in "\r\n" else ""
        return done
