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
    files: tuple[str, ...] = ()  # a gate's verdict on files: exactly those it blames (empty for checks)

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED, PREEXISTING)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "status": self.status, "duration": round(self.duration, 3),
                "message": self.message, "log": self.log, "files": list(self.files)}


@dataclass(frozen=True)
class SecretsPolicy:
    """``secrets:`` in the config: ``allow`` regexes drop a finding whose value or line they match
    (``re.search``); files matching the ``paths`` globs are not scanned for secrets."""

    allow: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


class Runner(Protocol):
    def run(self, request: Request) -> Result: ...


def tail(text: str, lines: int = TAIL_LINES) -> str:
    parts = text.splitlines()
    return "\n".join(parts[-lines:])
