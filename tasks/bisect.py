"""Revert and split: find the largest passing part of a failing slice and name the culprits.

Pure: ``isolate(files, validate)`` only calls ``validate(adopted, part)``, which answers
whether ``adopted + part`` passes on top of the slice's starting point.

The search is cumulative: a part that passes is adopted at once, and later parts are
validated on top of it. That makes one inference exact rather than hopeful — when a
failing set splits into (first, second) and ``first`` passes, then ``adopted + first +
second`` is the very tree that already failed, so ``second`` is split without running it
again. When ``first`` fails instead, ``second`` is set aside, and everything set aside is
validated together in one run once the culprit is found — not one run per level. So one
culprit among n files costs at most ceil(log2(n)) + 3 runs: the whole slice, one per level,
the culprit once alone (see below), and the set-aside halves together.

Files that only fail together: when a single file fails on top of parts adopted earlier in
the same slice, it is validated once alone; if it passes alone, the adopted files it
breaks with are found by halving, and the whole set is deferred as inseparable.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Validate = Callable[[Sequence[str], Sequence[str]], "Verdict"]
MAX_RUNS = 64


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: Any = None  # whatever the validator wants recorded (check results)


@dataclass(frozen=True)
class Attempt:
    files: tuple[str, ...]
    on_top_of: int          # how many files of this slice were adopted underneath
    passed: bool
    inferred: bool = False  # not run: the same tree already failed
    detail: Any = None


@dataclass
class Result:
    adopted: list[str] = field(default_factory=list)
    deferred: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)  # (files, failing detail)
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return sum(1 for a in self.attempts if not a.inferred)


def split(files: Sequence[str]) -> list[list[str]]:
    """Two halves, by directory first (whole folders on each side), then by file.

    >>> split(["a/1", "a/2", "a/3", "b/1"])
    [['a/1', 'a/2', 'a/3'], ['b/1']]
    >>> split(["a/1", "a/2", "a/3", "a/4"])
    [['a/1', 'a/2'], ['a/3', 'a/4']]
    """
    files = sorted(files)
    prefix = _common_dir(files)
    groups: dict[str, list[str]] = {}
    for f in files:
        head = f[len(prefix):].split("/", 1)[0]
        groups.setdefault(head, []).append(f)
    if len(groups) > 1 and all(len(g) < len(files) for g in groups.values()):
        ordered = [groups[k] for k in sorted(groups)]
        # cut between folders at the point closest to the middle
        best, acc, cut_at = None, 0, 1
        for i, g in enumerate(ordered[:-1], 1):
            acc += len(g)
            score = abs(len(files) - 2 * acc)
            if best is None or score < best:
                best, cut_at = score, i
        return [sum(ordered[:cut_at], []), sum(ordered[cut_at:], [])]
    mid = len(files) // 2
    return [files[:mid], files[mid:]]


def _common_dir(files: Sequence[str]) -> str:
    if not files:
        return ""
    first, last = min(files), max(files)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    common = first[:i]
    return common[: common.rfind("/") + 1]


class _Search:
    def __init__(self, validate: Validate, max_runs: int):
        self.validate, self.max_runs = validate, max_runs
        self.result = Result()
        self.pending: list[str] = []  # halves set aside while their sibling is narrowed

    def drain(self) -> None:
        """Validate everything set aside in one run, and narrow again if it fails."""
        while self.pending:
            batch, self.pending = sorted(self.pending), []
            self.solve(batch)

    def run(self, part: Sequence[str]) -> Verdict:
        verdict = self.validate(tuple(self.result.adopted), tuple(part))
        self.result.attempts.append(Attempt(tuple(part), len(self.result.adopted), verdict.passed,
                                            detail=verdict.detail))
        return verdict

    def out_of_budget(self, part: Sequence[str]) -> bool:
        if self.result.runs < self.max_runs:
            return False
        self.result.deferred.append((tuple(part), "split budget exhausted: not validated"))
        return True

    def solve_failing(self, part: Sequence[str], failure: Any) -> None:
        """``adopted + part`` is known to fail."""
        if len(part) == 1:
            self.isolate_single(part, failure)
            return
        first, second = split(part)
        if self.out_of_budget(part):
            return
        v = self.run(first)
        if v.passed:
            self.result.adopted.extend(first)
            self.result.attempts.append(Attempt(tuple(second), len(self.result.adopted), False, inferred=True,
                                                detail=failure))
            self.solve_failing(second, failure)
        else:
            self.pending.extend(second)
            self.solve_failing(first, v.detail)

    def solve(self, part: Sequence[str]) -> None:
        if not part or self.out_of_budget(part):
            return
        v = self.run(part)
        if v.passed:
            self.result.adopted.extend(part)
        else:
            self.solve_failing(part, v.detail)

    def isolate_single(self, part: Sequence[str], failure: Any) -> None:
        adopted = list(self.result.adopted)
        # out of budget: defer with the failure already seen (out_of_budget() would defer it a second time)
        if not adopted or self.result.runs >= self.max_runs:
            self.result.deferred.append((tuple(part), failure))
            return
        saved, self.result.adopted = self.result.adopted, []
        alone = self.run(part)
        if not alone.passed:
            self.result.adopted = saved
            self.result.deferred.append((tuple(part), alone.detail))
            return
        partners = self.find_partners(adopted, part)
        rest = [f for f in adopted if f not in partners]
        check = self.run(rest) if rest else Verdict(True)
        if check.passed:
            self.result.adopted = rest
            self.result.deferred.append((tuple(sorted(partners + list(part))), failure))
        else:  # cannot separate cleanly: keep what passed before, defer the single file
            self.result.adopted = saved
            self.result.deferred.append((tuple(part), failure))

    def find_partners(self, adopted: list[str], part: Sequence[str]) -> list[str]:
        """The shortest prefix of ``adopted`` that makes ``part`` fail; its last file is a partner.

        Repeats on the remaining prefix until ``part`` passes with what is left.
        """
        partners: list[str] = []
        pool = adopted
        while pool and self.result.runs < self.max_runs:
            lo, hi = 1, len(pool)  # answer in [lo, hi]: pool[:hi] + partners + part fails
            while lo < hi and self.result.runs < self.max_runs:
                mid = (lo + hi) // 2
                if self.run(partners + pool[:mid] + list(part)).passed:
                    lo = mid + 1
                else:
                    hi = mid
            partners.append(pool[lo - 1])
            pool = pool[: lo - 1]
            if not pool or self.run(partners + list(part)).passed is False:
                break
        return partners


def isolate(files: Sequence[str], validate: Validate, first: Verdict | None = None,
            max_runs: int = MAX_RUNS) -> Result:
    """Adopt what passes, defer culprits (single files or sets that only fail together).

    ``first`` is the verdict of the whole slice when the caller already has it.
    """
    search = _Search(validate, max_runs)
    if first is None:
        search.solve(list(files))
    elif first.passed:
        search.result.adopted.extend(files)
    else:
        search.solve_failing(list(files), first.detail)
    search.drain()
    return search.result
