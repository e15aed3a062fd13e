"""Commit ranges (pure): cut first-parent history into slices, bisect a failing range like ``git bisect``.

A range's commits are numbered 1..n, oldest first. ``verdict(i)`` judges the tree with commits
1..i applied on top of the range's start (``i = 0``: the start itself, ``i = n``: the whole
range) and answers True when it passes. ``first_bad`` finds the first ``i`` that fails: commits
1..i-1 can land, commit ``i`` is the culprit.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tasks.core import bisect
from tasks.core.commit import Commit, iso_date, short_list
from tasks.errors import ForkwaveError

T = TypeVar("T")
MAX_COMMITS = 20  # slices.max_commits' default

CULPRIT = "culprit"      # the first failing commit was found
CLEAN = "clean"          # the whole range passes: nothing to blame
START_FAILS = "start-fails"  # the start already fails: no commit of the range can be blamed
EMPTY = "empty"          # a range of no commits


def cut(commits: Sequence[T], max_commits: int = MAX_COMMITS) -> tuple[tuple[T, ...], ...]:
    """Consecutive ranges of at most ``max_commits``, in order; only the last may be shorter.

    Full ranges first (not balanced ones) keep earlier ranges the same when upstream adds
    commits, so their candidate trees — and verdicts in the memo — stay the same.

    >>> cut(list("abcde"), 2)
    (('a', 'b'), ('c', 'd'), ('e',))
    >>> cut([], 20)
    ()
    """
    if isinstance(max_commits, bool) or not isinstance(max_commits, int) or max_commits < 1:
        raise ForkwaveError(f"slices.max_commits: {max_commits!r} is no positive whole number; write e.g. 20")
    return tuple(tuple(commits[i:i + max_commits]) for i in range(0, len(commits), max_commits))


@dataclass(frozen=True)
class Bisection:
    """What ``first_bad`` found.

    ``good``: how many commits (1..good) pass and can land; ``culprit``: the first failing
    commit's index in the range (0-based, so ``commits[culprit]``), or None; ``asked``: the
    ``i`` given to ``verdict``, in order; ``answers``: every answer known at the end (i → passed),
    to hand to a later search.
    """

    n: int
    status: str
    good: int
    culprit: int | None
    asked: tuple[int, ...]
    answers: Mapping[int, bool]

    @property
    def calls(self) -> int:
        return len(self.asked)


def max_calls(n: int, *, check_ends: bool = False) -> int:
    """The most ``verdict`` calls ``first_bad`` makes on a range of ``n`` commits.

    >>> max_calls(200), max_calls(200, check_ends=True), max_calls(1), max_calls(0)
    (8, 10, 0, 0)
    """
    return (math.ceil(math.log2(n)) if n > 1 else 0) + (2 if check_ends and n else 0)


@dataclass(frozen=True)
class Point:
    """One question of ``first_bad``: does the tree with commits 1..``i`` of the range pass?"""

    i: int

    @property
    def key(self) -> int:
        return self.i


def first_bad(n: int, verdict: Callable[[int], bool], known: Mapping[int, bool] | None = None, *,
              check_ends: bool = False, slots: bisect.Slots | None = None) -> Bisection:
    """The first of ``n`` commits whose tree fails, like ``git bisect`` on first-parent history.

    The start (``i = 0``) is taken as good and the whole range (``i = n``) as bad, unless
    ``known`` says otherwise or ``check_ends`` asks ``verdict`` about them first (the range
    once, then the start). ``known`` answers are never asked again: the search narrows to
    the gap between the last known pass and the first known failure, then halves it, so at
    most ``max_calls(n, check_ends=...)`` calls: ceil(log2 n), plus 2 with ``check_ends``.
    A verdict that is not monotonic (a later commit fixes what an earlier one broke) still
    yields a commit that fails right after one that passes, as ``git bisect`` does.

    >>> b = first_bad(8, lambda i: i < 6); b.culprit, b.good, b.asked
    (5, 5, (4, 6, 5))
    >>> first_bad(8, lambda i: i < 6, known={4: True, 7: False}).asked
    (5, 6)
    >>> first_bad(8, lambda i: True, check_ends=True).status
    'clean'

    ``slots`` (room for several candidates at once) is told, while each ``verdict`` runs, which ``Point``s
    the search asks next under either answer (``bisect.speculate``), and judges them on its free slots;
    ``verdict`` is still called for each point the search asks, in the same order, so the result — and
    every call — is the one without it.
    """
    if slots is not None and slots.width > 1:
        def search(ask: bisect.Ask) -> Bisection:
            return _first_bad(n, lambda i: ask(Point(i)).passed, known, check_ends)
        return bisect.speculate(search, lambda p: bisect.Verdict(bool(verdict(p.i))), slots)
    return _first_bad(n, verdict, known, check_ends)


def _first_bad(n: int, verdict: Callable[[int], bool], known: Mapping[int, bool] | None,
               check_ends: bool) -> Bisection:
    if n < 0:
        raise ForkwaveError(f"bisect: a range of {n} commits; count the commits from 0")
    answers = dict(known or {})
    asked: list[int] = []

    def ask(i: int) -> bool:
        if i not in answers:
            asked.append(i)
            answers[i] = bool(verdict(i))
        return answers[i]

    if n == 0:
        return Bisection(0, EMPTY, 0, None, (), answers)
    if check_ends and ask(n):
        return Bisection(n, CLEAN, n, None, tuple(asked), answers)
    if not answers.setdefault(n, False) and check_ends and not ask(0):
        return Bisection(n, START_FAILS, 0, None, tuple(asked), answers)
    if answers.get(n) and not _any_failure(answers, n):
        return Bisection(n, CLEAN, n, None, tuple(asked), answers)
    lo, hi = _gap(answers, n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ask(mid) else (lo, mid)
    if hi == 0:
        return Bisection(n, START_FAILS, 0, None, tuple(asked), answers)
    return Bisection(n, CULPRIT, hi - 1, hi - 1, tuple(asked), answers)


def _any_failure(answers: Mapping[int, bool], n: int) -> bool:
    return any(not ok for i, ok in answers.items() if 0 <= i <= n)


def _gap(answers: Mapping[int, bool], n: int) -> tuple[int, int]:
    """(last known pass before the first known failure, first known failure); the start passes unless known.

    >>> _gap({0: True, 3: True, 9: False, 6: False, 2: False}, 9)
    (0, 2)
    >>> _gap({0: False, 9: False}, 9)
    (-1, 0)
    """
    hi = min(i for i, ok in answers.items() if not ok and 0 <= i <= n)
    passes = [i for i, ok in answers.items() if ok and 0 <= i < hi]
    if passes:
        return max(passes), hi
    return (0, hi) if answers.get(0, True) and hi > 0 else (-1, hi)


def culprit_line(commit: Commit) -> str:
    """One line naming a culprit for a report or a task's failure message.

    >>> c = Commit("3f1d2b4a23" + "0" * 30, author_name="Ann", author_email="a@x", author_date=1_700_000_000,
    ...            subject="feat: faster cache", paths=("a.py", "b.py"))
    >>> culprit_line(c)
    '3f1d2b4a23 feat: faster cache (Ann <a@x>, 2023-11-14T22:13:20Z; 2 files: a.py, b.py)'
    """
    files = f"{len(commit.paths)} file{'s' if len(commit.paths) != 1 else ''}"
    listed = f": {short_list(commit.paths)}" if commit.paths else ""
    return f"{commit.short} {commit.subject} ({commit.author}, {iso_date(commit.author_date)}; {files}{listed})"


def culprit_record(commit: Commit, bisection: Bisection, *, failures: Sequence[str] = ()) -> dict[str, Any]:
    """A culprit as JSON for ``outcome.json``: who, what, where in the range, how it was found, why it fails.

    ``failures`` are the failing checks or test cases and their first error lines, as the
    validator reports them.
    """
    return {
        "sha": commit.sha, "short": commit.short, "subject": commit.subject, "author": commit.author,
        "date": iso_date(commit.author_date), "files": list(commit.paths),
        "position": bisection.good + 1, "of": bisection.n, "runs": bisection.calls,
        "landed_before": bisection.good, "failures": list(failures),
    }
