"""Commit ranges: cutting first-parent history into slices, and bisecting a failing range by commit."""
from __future__ import annotations

import doctest
import math
from collections.abc import Callable

import pytest

from tasks.core import commit, ranges
from tasks.core.bisect import Verdict
from tasks.core.commit import Commit
from tasks.core.ranges import CLEAN, CULPRIT, EMPTY, START_FAILS, cut, first_bad, max_calls
from tasks.errors import ForkwaveError


@pytest.mark.parametrize("module", [ranges, commit])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(("n", "size", "lengths"), [
    (0, 20, []),
    (1, 20, [1]),
    (20, 20, [20]),
    (21, 20, [20, 1]),
    (40, 20, [20, 20]),
    (41, 20, [20, 20, 1]),
    (7, 3, [3, 3, 1]),
    (5, 1, [1, 1, 1, 1, 1]),
    (3, 100, [3]),
])
def test_cut_keeps_order_and_fills_ranges_first(n: int, size: int, lengths: list[int]) -> None:
    commits = [f"c{i}" for i in range(n)]
    parts = cut(commits, size)
    assert [len(p) for p in parts] == lengths
    assert [c for p in parts for c in p] == commits


def test_cut_defaults_to_twenty() -> None:
    assert [len(p) for p in cut(list(range(45)))] == [20, 20, 5]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "20", None])
def test_cut_refuses_a_size_that_is_no_positive_count(bad: object) -> None:
    with pytest.raises(ForkwaveError, match=r"slices\.max_commits: .* no positive whole number"):
        cut([1, 2], bad)  # type: ignore[arg-type]


def judge(culprit: int, log: list[int]):  # type: ignore[no-untyped-def]
    """A deterministic check: the tree of commits 1..i passes while it lacks commit ``culprit`` (0-based)."""
    def verdict(i: int) -> bool:
        log.append(i)
        return i <= culprit
    return verdict


@pytest.mark.parametrize("n", range(1, 65))
def test_every_position_found_within_ceil_log2(n: int) -> None:
    for culprit in range(n):
        log: list[int] = []
        found = first_bad(n, judge(culprit, log))
        assert (found.status, found.culprit, found.good) == (CULPRIT, culprit, culprit), (n, culprit)
        assert found.calls == len(log) <= (math.ceil(math.log2(n)) if n > 1 else 0)
        assert len(set(log)) == len(log) and all(0 < i < n for i in log), log  # never the known ends, never twice


@pytest.mark.parametrize("n", range(1, 65))
def test_every_position_with_the_ends_checked_within_ceil_log2_plus_two(n: int) -> None:
    for culprit in range(n):
        log: list[int] = []
        found = first_bad(n, judge(culprit, log), check_ends=True)
        assert found.culprit == culprit
        assert log[:2] == [n, 0]  # the whole range first, then the start
        assert found.calls <= max_calls(n, check_ends=True) == (math.ceil(math.log2(n)) if n > 1 else 0) + 2


def test_the_benchmark_target_for_two_hundred_commits_is_ten() -> None:
    assert max_calls(200, check_ends=True) == 10
    assert max(first_bad(200, judge(c, []), check_ends=True).calls for c in range(200)) == 10


def test_a_range_that_passes_is_clean() -> None:
    log: list[int] = []
    found = first_bad(9, judge(99, log), check_ends=True)
    assert (found.status, found.culprit, found.good, log) == (CLEAN, None, 9, [9])
    assert first_bad(9, judge(99, log), known={9: True}).status == CLEAN


def test_a_start_that_already_fails_blames_no_commit() -> None:
    found = first_bad(9, lambda i: False, check_ends=True)
    assert (found.status, found.culprit, found.good, found.asked) == (START_FAILS, None, 0, (9, 0))
    log: list[int] = []
    assert first_bad(9, judge(-1, log), known={0: False}).status == START_FAILS and log == []


def test_an_empty_range_asks_nothing() -> None:
    found = first_bad(0, lambda i: pytest.fail("asked"))
    assert (found.status, found.calls, found.good) == (EMPTY, 0, 0)


def test_negative_range_is_an_error() -> None:
    with pytest.raises(ForkwaveError, match="bisect: a range of -1 commits"):
        first_bad(-1, lambda i: True)


def test_known_answers_are_reused_never_asked_again() -> None:
    first = first_bad(64, judge(40, []))
    log: list[int] = []
    again = first_bad(64, judge(40, log), known=first.answers)
    assert (again.culprit, log) == (40, [])
    log = []
    narrowed = first_bad(64, judge(40, log), known={32: True, 48: False})
    assert narrowed.culprit == 40 and not {32, 48} & set(log) and len(log) <= 4


def test_answers_hold_every_verdict_known_at_the_end() -> None:
    found = first_bad(16, judge(5, []), known={15: False})
    assert found.answers[16] is False and found.answers[15] is False
    assert all(found.answers[i] == (i <= 5) for i in found.asked)


@pytest.mark.parametrize("pattern", ["GGBBGGBB", "GBGBGBGB", "GGGGGGGB", "BGGGGGGB", "GGBGGGGB", "BBBBBBBB"])
def test_a_verdict_that_is_not_monotonic_still_names_a_pass_then_a_failure(pattern: str) -> None:
    """``pattern[i-1]`` is the verdict on commits 1..i (the start passes); like ``git bisect``, any
    commit that fails right after a passing one is a correct answer."""
    n = len(pattern)
    found = first_bad(n, lambda i: pattern[i - 1] == "G", known={n: pattern[-1] == "G"})
    assert found.status == CULPRIT
    good, bad = found.good, found.good + 1
    assert (good == 0 or pattern[good - 1] == "G") and pattern[bad - 1] == "B"


def test_culprit_record_names_the_commit_and_where_it_was_found() -> None:
    c = Commit("ab" * 20, ("cd" * 20,), "Ann", "a@x", 1_700_000_000, 1_700_000_100, "feat: cache", "", ("a.py",))
    found = first_bad(20, judge(10, []), check_ends=True)
    record = ranges.culprit_record(c, found, failures=["unit: test_cache failed"])
    assert record == {"sha": c.sha, "short": "abababab" + "ab", "subject": "feat: cache", "author": "Ann <a@x>",
                      "date": "2023-11-14T22:13:20Z", "files": ["a.py"], "position": 11, "of": 20,
                      "runs": found.calls, "landed_before": 10, "failures": ["unit: test_cache failed"]}
    assert ranges.culprit_line(c).startswith("ababababab feat: cache (Ann <a@x>, 2023-11-14T22:13:20Z; 1 file: a.py")


# --- judged ahead on free slots ---------------------------------------------------------------------

class Ahead:
    """``bisect.Slots`` with ``width`` slots: what it is told to judge ahead it judges at once, out of order."""

    def __init__(self, truth: Callable[[int], bool], width: int = 2):
        self.truth, self.width = truth, width
        self.judged: dict[int, bool] = {}
        self.told: list[list[int]] = []

    def judge_ahead(self, points):  # type: ignore[no-untyped-def]
        self.told.append([p.i for p in points])
        for p in points:
            self.judged.setdefault(p.i, self.truth(p.i))

    def ready(self):  # type: ignore[no-untyped-def]
        return {i: Verdict(ok) for i, ok in self.judged.items()}

    def wait(self, point) -> bool:  # type: ignore[no-untyped-def]
        return True


@pytest.mark.parametrize("width", [2, 3])
@pytest.mark.parametrize("n,bad", [(20, b) for b in range(0, 21)] + [(1, 0), (1, 1), (2, 1), (7, 3)])
def test_a_bisection_judged_ahead_asks_and_finds_what_it_does_alone(n: int, bad: int, width: int) -> None:
    """The commits from ``bad`` on fail (``bad`` 0: the start fails too)."""
    def truth(i: int) -> bool:
        return i < bad if bad else False

    asked_alone: list[int] = []
    asked: list[int] = []
    alone = first_bad(n, lambda i: asked_alone.append(i) or truth(i), check_ends=True)
    ahead = Ahead(truth, width)
    found = first_bad(n, lambda i: asked.append(i) or truth(i), check_ends=True, slots=ahead)
    assert found == alone and asked == asked_alone        # the same points, in the same order, the same answer
    assert set(asked) <= set(ahead.judged) and all(len(t) <= width for t in ahead.told)
    assert ahead.told[-1] == []                          # what is left is dropped at the end


def test_what_a_bisection_judges_ahead_is_the_point_now_then_the_next_after_a_failure() -> None:
    ahead = Ahead(lambda i: i < 6, width=3)
    first_bad(8, lambda i: i < 6, check_ends=True, slots=ahead)
    # the whole range; if it fails, the start; if that passes, the middle
    assert ahead.told[0] == [8, 0, 4]
