"""Describing a check run apart from running it (tox's ExecuteRequest -> Outcome)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
PREEXISTING = "pre-existing"  # failed, but failed on the baseline too: does not block (gating: baseline)
TAIL_LINES = 40


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

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED, PREEXISTING)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "status": self.status, "duration": round(self.duration, 3),
                "message": self.message, "log": self.log}


class Runner(Protocol):
    def run(self, request: Request) -> Result: ...


def tail(text: str, lines: int = TAIL_LINES) -> str:
    parts = text.splitlines()
    return "\n".join(parts[-lines:])
