"""forkwave's exit codes: what a run's outcomes mean to the shell (and to CI), in one table."""
from __future__ import annotations

from collections.abc import Iterable

OK = 0        # every slice adopted (or nothing to do)
USAGE = 1     # bad config or usage: fix the command or the config
PERSON = 2    # work left for a person: deferred or conflicted slices
FAILURE = 3   # forkwave or its environment failed: fetch, git, a check that cannot run

MEANING = {
    OK: "all adopted",
    USAGE: "bad config or usage",
    PERSON: "work left for a person (deferred or conflicted slices)",
    FAILURE: "forkwave or its environment failed",
}

# When several apply, the first of these wins: a failure means the results are incomplete;
# a usage error means the run was not the one asked for; only then is the work left what counts.
SEVERITY = (FAILURE, USAGE, PERSON, OK)

# codes raised after the last task, where no task can carry them (doit saving its own state)
LATE: list[int] = []

def combine(codes: Iterable[int]) -> int:
    """The run's exit code from the codes of its parts.

    >>> combine([PERSON, OK, FAILURE]), combine([]), combine([OK, PERSON])
    (3, 0, 2)
    """
    found = set(codes)
    return next((code for code in SEVERITY if code in found), OK)
