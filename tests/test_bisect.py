"""bisect: split() tables, and isolate() driven by a deterministic validator (its real input).

``isolate`` is pure: it only calls ``validate(adopted, part)``. The fake validator below is
a model of a check suite: a tree fails when it holds every file of some "bad set".
"""
from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Sequence

import pytest

from tasks.bisect import Verdict, isolate, split


@pytest.mark.parametrize("files,expected", [
    ([], [[], []]),
    (["a"], [[], ["a"]]),
    (["a", "b"], [["a"], ["b"]]),
    (["b", "a"], [["a"], ["b"]]),                                          # sorted first
    (["a/1", "a/2", "a/3", "b/1"], [["a/1", "a/2", "a/3"], ["b/1"]]),      # whole folders on each side
    (["a/1", "a/2", "a/3", "a/4"], [["a/1", "a/2"], ["a/3", "a/4"]]),      # one folder: by file
    (["x/a/1", "x/a/2", "x/b/1", "x/b/2"], [["x/a/1", "x/a/2"], ["x/b/1", "x/b/2"]]),  # below a common prefix
    (["a/1", "b/1", "c/1", "d/1", "d/2", "d/3"],                           # cut nearest the middle
     [["a/1", "b/1", "c/1"], ["d/1", "d/2", "d/3"]]),
    (["a/1", "a/2", "a/3", "a/4", "a/5", "b/1"], [["a/1", "a/2", "a/3", "a/4", "a/5"], ["b/1"]]),
    (["ab/1", "ac/1"], [["ab/1"], ["ac/1"]]),                              # a shared name prefix is not a folder
    (["top", "dir/1", "dir/2"], [["dir/1", "dir/2"], ["top"]]),
])
def test_split(files: list[str], expected: list[list[str]]) -> None:
    assert split(files) == expected


@pytest.mark.parametrize("seed", range(20))
def test_split_halves_partition_the_input(seed: int) -> None:
    rng = random.Random(seed)
    files = sorted({"/".join(rng.choice("abc") for _ in range(rng.randint(1, 3))) + f"/f{i}"
                    for i in range(rng.randint(2, 40))})
    first, second = split(files)
    assert first and second and sorted(first + second) == files
    assert not set(first) & set(second)


class Model:
    """A check suite in miniature: a tree fails when it holds every file of one of ``bad``."""

    def __init__(self, bad: Iterable[Iterable[str]]):
        self.bad = [frozenset(b) for b in bad]
        self.calls: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def failing(self, tree: Iterable[str]) -> list[frozenset[str]]:
        tree = set(tree)
        return [b for b in self.bad if b <= tree]

    def __call__(self, adopted: Sequence[str], part: Sequence[str]) -> Verdict:
        assert not set(adopted) & set(part), "a part is validated on top of files it already holds"
        self.calls.append((tuple(adopted), tuple(part)))
        failing = self.failing([*adopted, *part])
        return Verdict(not failing, [sorted(b) for b in failing])


def files_in_dirs(n: int, per_dir: int = 8) -> list[str]:
    return [f"pkg{i // per_dir}/src/f{i:03d}.ts" for i in range(n)]


def assert_sound(files: Sequence[str], model: Model, result) -> None:
    """Every file adopted or deferred exactly once, and the adopted tree passes."""
    adopted = list(result.adopted)
    deferred = [f for files_, _ in result.deferred for f in files_]
    assert sorted(adopted + deferred) == sorted(files)
    assert len(set(adopted + deferred)) == len(files)
    assert not model.failing(adopted), f"adopted a failing tree: {model.failing(adopted)}"


def test_a_passing_slice_costs_one_run() -> None:
    files = files_in_dirs(32)
    model = Model([])
    result = isolate(files, model)
    assert result.adopted == files and result.deferred == [] and result.runs == 1
    assert model.calls == [((), tuple(files))]


def test_a_slice_whose_every_file_fails_defers_them_all() -> None:
    files = files_in_dirs(4)
    result = isolate(files, Model([[f] for f in files]))
    assert result.adopted == []
    assert sorted(f for fs, _ in result.deferred for f in fs) == files


@pytest.mark.parametrize("per_dir", [8, 32])  # folders of 8, and one flat folder
def test_one_culprit_among_32_in_at_most_11_runs_at_every_position(per_dir: int) -> None:
    files = files_in_dirs(32, per_dir)
    worst = 0
    for culprit in files:
        model = Model([[culprit]])
        result = isolate(files, model)
        assert_sound(files, model, result)
        assert [fs for fs, _ in result.deferred] == [(culprit,)]
        assert result.deferred[0][1] == [[culprit]]   # the failing detail travels with the culprit
        assert result.runs == len(model.calls)       # inferred attempts are not runs
        worst = max(worst, result.runs)
    assert worst <= 11


@pytest.mark.parametrize("n", [2, 8, 32, 64, 100])
def test_one_culprit_costs_at_most_the_documented_bound(n: int) -> None:
    """ceil(log2 n) + 3: the whole slice, one run per level, the culprit alone, the set-aside halves."""
    files = files_in_dirs(n)
    assert max(isolate(files, Model([[c]])).runs for c in files) <= math.ceil(math.log2(n)) + 3


def test_two_culprits_among_64_in_at_most_22_runs_for_every_pair() -> None:
    files = files_in_dirs(64)
    worst = 0
    for a, b in itertools.combinations(files, 2):
        model = Model([[a], [b]])
        result = isolate(files, model)
        assert sorted(fs for fs, _ in result.deferred) == [(a,), (b,)]
        assert sorted(result.adopted) == sorted(set(files) - {a, b})
        assert not model.failing(result.adopted)
        worst = max(worst, result.runs)
    assert worst <= 22


def test_a_pair_that_fails_only_together_is_deferred_as_one_set() -> None:
    files = files_in_dirs(16, 4)
    for a, b in itertools.combinations(files, 2):
        model = Model([[a, b]])
        result = isolate(files, model)
        assert_sound(files, model, result)
        assert [fs for fs, _ in result.deferred] == [tuple(sorted((a, b)))], (a, b)
        assert sorted(result.adopted) == sorted(set(files) - {a, b})


def test_inferred_attempts_are_recorded_but_not_run() -> None:
    files = ["a/1", "a/2", "b/1", "b/2"]
    model = Model([["b/2"]])
    result = isolate(files, model)
    inferred = [a for a in result.attempts if a.inferred]
    assert inferred and all(not a.passed for a in inferred)
    assert ((("a/1", "a/2"), ("b/1", "b/2"))) not in model.calls   # the whole slice already failed: not re-run
    assert len(result.attempts) == result.runs + len(inferred)
    assert result.attempts[0].files == tuple(files) and result.attempts[0].on_top_of == 0


def test_budget_exhaustion_defers_the_rest_unvalidated() -> None:
    files = files_in_dirs(64)
    model = Model([[files[3]], [files[40]]])
    result = isolate(files, model, max_runs=3)
    assert result.runs == len(model.calls) <= 3
    assert_sound(files, model, result)
    reasons = [r for _, r in result.deferred if isinstance(r, str)]
    assert reasons and all("budget exhausted" in r for r in reasons)
    unvalidated = {f for fs, r in result.deferred if isinstance(r, str) for f in fs}
    assert files[40] in unvalidated or files[3] in unvalidated


def test_a_known_first_verdict_is_not_run_again() -> None:
    files = files_in_dirs(8)
    model = Model([[files[5]]])
    whole = model((), files)
    model.calls.clear()
    result = isolate(files, model, first=whole)
    assert ((), tuple(files)) not in model.calls
    assert [fs for fs, _ in result.deferred] == [(files[5],)]
    assert isolate(files, Model([]), first=Verdict(True)).runs == 0


@pytest.mark.parametrize("seed", range(300))
def test_random_bad_sets_are_always_sound(seed: int) -> None:
    rng = random.Random(seed)
    files = sorted({f"{rng.choice('abc')}/{rng.choice('xy')}/f{i}" for i in range(rng.randint(1, 40))})
    bad = [rng.sample(files, rng.randint(1, min(3, len(files)))) for _ in range(rng.randint(0, 3))]
    model = Model(bad)
    result = isolate(files, model, max_runs=rng.choice([5, 64]))
    assert_sound(files, model, result)
    # every deferred set that was validated really fails on its own or with what was adopted
    for fs, detail in result.deferred:
        if not isinstance(detail, str):
            assert model.failing([*result.adopted, *fs])
