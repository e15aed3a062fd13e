"""The user-facing error types, and where an action's error becomes one line and an exit code."""
from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from typing import Any

from doit.exceptions import TaskFailed

from tasks import exitcodes


class ForkwaveError(Exception):
    """A problem the user can fix: the message names the file/key/path and the next step (exit 1)."""

    exit_code = exitcodes.USAGE
    # every slice of the run needs what is missing, so each would fail alike: the run stops before (or at) its
    # first slice and says it once (``tasks.actions.run_wide``)
    run_wide = False


class ForkwaveFailure(ForkwaveError):
    """forkwave or its environment failed: a fetch, a git command, a tool or check that cannot run,
    a full disk (exit 3)."""

    exit_code = exitcodes.FAILURE


class CannotRun(ForkwaveFailure):
    """A check could not run at all (command not found, missing image, timeout on the baseline):
    it judged nothing, so nothing it would have judged may land."""

    run_wide = True


class Precondition(ForkwaveError):
    """Something every slice of the run needs is not there — the sync branch checked out in a person's
    worktree: each slice would be refused alike, so the run stops before its slices (exit 1)."""

    run_wide = True


class Busy(ForkwaveFailure):
    """Another forkwave run holds the workspace, or another workspace is syncing the fork (exit 3): nothing of
    this run may touch the fork until it ends."""

    run_wide = True


def user_errors(action: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a doit action: a ForkwaveError prints one line and fails the task with its exit code.

    doit would otherwise print the whole traceback for an exception raised by an action.
    The returned failure carries the exit code; forkwave's reporter (``tasks.cli``) does not
    print it again.
    """

    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except ForkwaveError as exc:
            return _fail(str(exc), exc.exit_code)
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            return _fail(f"{where}no space left on device; free some space and run again (what was written "
                         "before stays whole)", exitcodes.FAILURE)

    return wrapper


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


ON_FAILURE: list[Callable[[str], None]] = []  # what else a failed action means (the run ledger registers here)


def _fail(message: str, code: int) -> Failed:
    print(f"forkwave: error: {message}", file=sys.stderr)
    for hook in ON_FAILURE:
        hook(message)
    return Failed(message, code)


class Failed(TaskFailed):
    """A task failure that was already reported (printed once) and says which exit code it stands for."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code



class Stopped(Failed):
    """The run-wide error that stopped the run's slices (``ForkwaveError.run_wide``), printed once."""


class NotRun(Failed):
    """A slice task a run-wide error kept from running: it says nothing (the error was said once) and the last
    line counts it among the slices not run."""


class Held(Failed):
    """Work left for a person that no slice outcome shows — a failed verification or pre-sync check, a
    tripped drift gate: exit 2 even when every slice was adopted."""

    def __init__(self, message: str):
        super().__init__(message, exitcodes.PERSON)
