"""Pick the runner for a request: host, docker (an image) or compose (a test stack)."""
from __future__ import annotations

from dataclasses import dataclass, field

from checks.host import HostRunner
from checks.model import ERROR, Request, Result, Runner


@dataclass
class Dispatch:
    """A Runner that hands each request to the runner for its kind (created on first use)."""

    runners: dict[str, Runner] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)

    def run(self, request: Request) -> Result:
        try:
            runner = self.runners.get(request.kind) or self._make(request.kind)
        except Exception as exc:  # no engine, no compose: the check errors, the slice is reported
            return Result(request.name, ERROR, 0.0, f"{request.kind} runner unavailable: {exc}")
        self.runners[request.kind] = runner
        return runner.run(request)

    def _make(self, kind: str) -> Runner:
        if kind == "host":
            return HostRunner()
        if kind == "docker":
            from checks.docker_runner import DockerRunner
            return DockerRunner(**self.options)  # type: ignore[arg-type]
        if kind == "compose":
            from checks.compose_runner import ComposeRunner
            return ComposeRunner(**self.options)  # type: ignore[arg-type]
        raise ValueError(f"unknown check kind {kind!r}")
