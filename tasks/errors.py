"""The one user-facing error type, and where it is turned into a message and exit code 1."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any


class ForkwaveError(Exception):
    """A problem the user can fix: the message names the file/key/path and the next step."""

    exit_code = 1  # bad config or usage


class RunFailure(ForkwaveError):
    """forkwave or its environment failed (a check that cannot run, a full disk, a git failure)."""

    exit_code = 3


class CannotRun(RunFailure):
    """A check could not run at all (command not found, missing image, timeout on the baseline):
    it judged nothing, so nothing it would have judged may land."""


def user_errors(action: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a doit action: a ForkwaveError prints one line and fails the task, no traceback.

    doit would otherwise print the whole traceback for an exception raised by an action.
    Returning a ``TaskFailed`` makes doit report the message and exit non-zero.
    """
    from doit.exceptions import TaskFailed

    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except ForkwaveError as exc:
            print(f"forkwave: error: {exc}", file=sys.stderr)
            from tasks import runlock

            runlock.mark_failed()
            return TaskFailed(str(exc))

    return wrapper
