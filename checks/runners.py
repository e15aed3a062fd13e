"""Where each check runs: on the host, or on one of the Docker engines — each with its slots.

``Dispatch`` is the one ``Runner`` the pipeline uses. A request's ``kind`` picks the runner (host,
docker, compose); a container or compose check takes a free slot on an engine (the first in
config order with one free), a host check one of the host's slots, and waits while none is free,
so several threads can hand it checks at once (``tasks.engine.validate`` judges candidates side
by side) and no engine runs more than its ``slots``.

An engine that fails under a check (``EngineGone``: it stopped answering, or its daemon went down
and took the container with it) is marked down for the rest of the run, and the check runs again
on another engine; the result says so (``Result.rerun``, also in its message) and ``events`` keeps
the line for the reports. Only when no engine is left does the check end in an error.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterator

from checks.engines import Engine, EngineGone, from_config
from checks.host import HostRunner
from checks.model import ERROR, Cancelled, Request, Result, Runner, cancelled
from tasks.config import Engine as EngineConfig

WAIT = 0.5  # seconds between looks at a cancel flag while a check waits for a slot


class Dispatch:
    """A Runner that hands each request to the runner for its kind, on a free slot of the host or an engine."""

    def __init__(self, options: dict[str, Any] | None = None, engines: Sequence[EngineConfig] = (),
                 host_slots: int = 1) -> None:
        self.options = dict(options or {})
        self.engines: list[Engine] = from_config(engines or (EngineConfig(),), self.options.get("cache_dir"))
        self.host_slots = host_slots
        self.runners: dict[tuple[str, str], Runner] = {}
        self.events: list[str] = []   # what happened to engines this run, one line each
        self._busy: dict[str, int] = {"host": 0} | {e.name: 0 for e in self.engines}
        self._cond = threading.Condition()

    # --- how many at once -------------------------------------------------------------------------

    def width(self, kinds: Iterable[str]) -> int:
        """How many candidates can be judged at once when each runs checks of ``kinds``: the fewest slots
        any of those kinds has (1 with no check at all)."""
        slots = [self._capacity(kind) for kind in set(kinds)]
        return max(1, min(slots)) if slots else 1

    def _capacity(self, kind: str) -> int:
        if kind == "host":
            return self.host_slots
        return sum(e.slots for e in self._fit(kind))

    def _fit(self, kind: str) -> list[Engine]:
        """The engines that can run a check of ``kind`` now: up, and for compose, one that sees this
        machine's files (a compose file mounts them)."""
        return [e for e in self.engines if not e.down and (kind != "compose" or not e.copies)]

    # --- running ----------------------------------------------------------------------------------

    def run(self, request: Request) -> Result:
        if request.kind == "host":
            with self._slot(request, "host"):
                return self._runner("host", None).run(request)
        if request.kind not in ("docker", "compose"):
            raise ValueError(f"unknown check kind {request.kind!r}")
        return self._on_engines(request)

    def _on_engines(self, request: Request) -> Result:
        moved: list[str] = []
        while True:
            engine = self._take(request)
            if engine is None:
                return self._none_left(request)
            try:
                result = self._runner(request.kind, engine).run(request)
            except EngineGone as exc:
                self._down(exc.engine, exc.why)
                moved.append(f"{exc.engine.describe()} {exc.why}")
                continue
            except Cancelled:
                raise
            except Exception as exc:  # no compose, a broken engine config: the check errors, the slice is reported
                return Result(request.name, ERROR, 0.0, f"{request.kind} runner unavailable: {exc}")
            finally:
                self._give(engine)
            result = replace(result, engine=engine.name)
            if moved:
                result = result.moved(f"ran on {engine.describe()} after " + "; ".join(moved))
            return result

    def _none_left(self, request: Request) -> Result:
        down = [f"{e.name}: {e.down}" for e in self.engines if e.down]
        if request.kind == "compose" and len(down) < len(self.engines):
            return Result(request.name, ERROR, 0.0, "compose checks need an engine on this machine (`files: mount`): "
                                                    "a compose file mounts the worktree; none is left in "
                                                    "containers.engines")
        return Result(request.name, ERROR, 0.0,
                      f"{request.kind} runner unavailable: no Docker engine answers ({'; '.join(down)})")

    def _down(self, engine: Engine, why: str) -> None:
        with self._cond:
            first = not engine.down
            engine.mark_down(why)
            if first:
                left = [e.name for e in self.engines if not e.down]
                self.events.append(f"{engine.describe()} {why}; its checks ran on "
                                   + (", ".join(left) if left else "no engine (none left)"))
            self._cond.notify_all()

    def _runner(self, kind: str, engine: Engine | None) -> Runner:
        key = (kind, engine.name if engine else "host")
        if key not in self.runners:  # two threads may both make one: the second is dropped
            self.runners.setdefault(key, self._make(kind, engine))
        return self.runners[key]

    def _make(self, kind: str, engine: Engine | None) -> Runner:
        if kind == "host":
            return HostRunner()
        if kind == "docker":
            from checks.docker_runner import DockerRunner
            return DockerRunner(**self.options, engine=engine, engines=self.engines)
        if kind == "compose":
            from checks.compose_runner import ComposeRunner
            return ComposeRunner(**self.options, engine=engine)
        raise ValueError(f"unknown check kind {kind!r}")

    # --- slots ------------------------------------------------------------------------------------

    @contextmanager
    def _slot(self, request: Request, name: str) -> Iterator[None]:
        with self._cond:
            while self._busy[name] >= self.host_slots:
                self._wait(request)
            self._busy[name] += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy[name] -= 1
                self._cond.notify_all()

    def _take(self, request: Request) -> Engine | None:
        """A free slot on an engine that fits ``request`` (first in config order), waiting for one; None
        when no engine that fits is left."""
        with self._cond:
            while True:
                fit = self._fit(request.kind)
                if not fit:
                    return None
                free = next((e for e in fit if self._busy[e.name] < e.slots), None)
                if free is not None:
                    self._busy[free.name] += 1
                    return free
                self._wait(request)

    def _give(self, engine: Engine) -> None:
        with self._cond:
            self._busy[engine.name] -= 1
            self._cond.notify_all()

    def _wait(self, request: Request) -> None:
        if cancelled(request):
            raise Cancelled(request.name)
        self._cond.wait(WAIT if request.cancel is not None else None)
