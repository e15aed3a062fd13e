"""Judging several candidates at once: one worker per slot, each with a private worktree of its own.

The check runner (``checks.runners.Dispatch``) knows how many checks the host and the engines run
at once; ``width`` is how many candidates can be judged side by side with them. A ``Bench`` of
that width runs each candidate's judging on a worker that holds one worktree slot
(``tasks.repo.worktree``: slot 0 is the private worktree, slot *k* ``.forkwave/worktree-<k>``), so
two candidates are never checked out in one folder. With width 1 there is no bench at all: the
candidate is judged on the caller's thread, as it always was.

The bench also keeps what is judged on it (``jobs``, by candidate), for every validator of the slice:
a candidate a commit mode's search judged ahead with one validator is claimed by the validator of the
call that asks for it, and never judged twice.
"""
from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from checks.model import Runner
from checks.runners import Dispatch

T = TypeVar("T")


def width(runner: Runner | None, kinds: Iterable[str]) -> int:
    """How many candidates ``runner`` can judge at once when each runs checks of ``kinds``."""
    return runner.width(kinds) if isinstance(runner, Dispatch) else 1


class Bench:
    def __init__(self, width: int):
        self.width = width
        self._pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="candidate")
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(width):
            self._slots.put(slot)
        self._cancels: list[threading.Event] = []
        self.jobs: dict[Hashable, Any] = {}        # candidate -> its judging (``tasks.engine.validate``'s jobs)
        self.numbers = itertools.count(1)          # ahead-<k>: where a judging ahead keeps its logs

    def submit(self, work: Callable[[int], T], cancel: threading.Event | None = None) -> Future[T]:
        """Run ``work(slot)`` on a free worker with a worktree slot of its own; ``cancel`` is what stops its
        checks (``close(abort=True)`` sets it)."""
        if cancel is not None:
            self._cancels.append(cancel)

        def job() -> T:
            slot = self._slots.get()
            try:
                return work(slot)
            finally:
                self._slots.put(slot)
        return self._pool.submit(job)

    def close(self, abort: bool = False) -> None:
        """Wait for what runs (a cancelled candidate stops at once) and drop what never started; ``abort`` (the
        run is stopping: Ctrl-C, an error) stops everything that runs, the baseline too."""
        if abort:
            for cancel in self._cancels:
                cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def make(runner: Runner | None, kinds: Iterable[str]) -> Bench | None:
    """A bench when the runner can judge more than one candidate at once, else None."""
    n = width(runner, kinds)
    return Bench(n) if n > 1 else None
