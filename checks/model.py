"""Describing a check run apart from running it (tox's ExecuteRequest -> Outcome)."""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
PREEXISTING = "pre-existing"  # failed, but failed on the baseline too: does not block (gating: baseline)
TAIL_LINES = 40
QUIET = "(held back until it is sanitised)"  # a quiet request's heartbeat, instead of its last output line


@dataclass(frozen=True)
class Request:
    """One check to run in one worktree. ``kind`` picks the runner: host, docker or compose."""

    name: str
    command: str | None
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 1800
    log_dir: Path | None = None
    kind: str = "host"
    image: str | None = None
    network: str | None = None
    cpus: float | None = None
    memory: str | None = None
    compose: str | None = None
    service: str | None = None
    label: str = ""  # unique per slice and attempt (container / compose project names)
    node: str | None = None  # a node version or range for a forkwave/node check (the check's ``node:``)
    stdin: Path | None = None  # a file given as standard input (a command source's push: the paths it sends)
    mounts: tuple[tuple[str, str], ...] = ()  # in a container: (host folder, where) mounted as well, read-write
    cwd_writable: bool = True  # in a container: ``cwd`` mounted read-write (a worktree) or read-only
    quiet: bool = False  # the heartbeat names it without its last output line (output sanitised only afterwards)
    outputs: tuple[str, ...] = ()  # worktree paths the check writes that forkwave reads (its ``junit:`` file)
    # set when the verdict is no longer wanted (a candidate judged ahead that the search will not ask for):
    # the runner stops the check and raises ``Cancelled``
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)


class Cancelled(Exception):
    """A check stopped because its verdict is no longer wanted: it judged nothing."""


def cancelled(request: Request) -> bool:
    return request.cancel is not None and request.cancel.is_set()


@dataclass(frozen=True)
class Result:
    """What a check or gate concluded. ``message`` is one line; ``output`` is a tail."""

    name: str
    status: str
    duration: float = 0.0
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    log: str | None = None  # path of the full log, relative to reports/
    kind: str = "check"     # check | gate
    files: tuple[str, ...] = ()               # the files a gate blames (exactly those fail it)
    tests: tuple[tuple[str, str], ...] = ()   # failing test cases (id, first error line), from `junit:`
    error: str = ""                           # the first meaningful error line of the output
    timed_out: bool = False
    memo: bool = False                        # answered from the verdict memo, not run now
    engine: str = ""                          # the Docker engine it ran on (container and compose checks)
    rerun: str = ""                           # why it ran again on ``engine``: the engine it started on failed
    # the command's own exit code, when it ran to the end; not recorded (last: ``from_json`` fills the rest by position)
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED, PREEXISTING)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "kind": self.kind, "status": self.status,
                                  "duration": round(self.duration, 3), "message": self.message, "log": self.log}
        out["files"] = list(self.files)
        for key in ("tests", "error", "timed_out", "memo", "engine", "rerun"):
            value = getattr(self, key)
            if value:
                out[key] = [list(t) for t in value] if key == "tests" else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        """A result ``to_json`` wrote, read back from JSON (whose values are typed only by this record's shape)."""
        return cls(str(data["name"]), str(data["status"]), float(data.get("duration") or 0.0),
                   str(data.get("message") or ""), str(data.get("stdout") or ""), str(data.get("stderr") or ""),
                   data.get("log"), str(data.get("kind") or "check"),
                   tuple(data.get("files") or ()),
                   tuple(tuple(t) for t in data.get("tests") or ()),
                   str(data.get("error") or ""), bool(data.get("timed_out")), bool(data.get("memo")),
                   str(data.get("engine") or ""), str(data.get("rerun") or ""))

    def moved(self, note: str) -> Result:
        """This result, from a check that ran again elsewhere: ``note`` says why, in its message too."""
        return replace(self, rerun=note, message=f"{self.message}; {note}" if self.message else note)

    def unmoved(self) -> Result:
        """Without the note of ``moved`` (the verdict memo keeps what the tree did, not what the engines did)."""
        if not self.rerun:
            return self
        message = self.message.removesuffix(self.rerun).removesuffix("; ")
        return replace(self, rerun="", message=message)


class Runner(Protocol):
    def run(self, request: Request) -> Result: ...


def tail(text: str, lines: int = TAIL_LINES) -> str:
    parts = text.splitlines()
    return "\n".join(parts[-lines:])
