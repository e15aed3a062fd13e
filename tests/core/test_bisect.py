"""bisect: split() tables, and isolate() driven by a deterministic validator (its real input).

``isolate`` is pure: it only calls ``validate(adopted, part, n)``. The fake validator below is
a model of a check suite: a tree fails when it holds every file of some "bad set", and a tree
holding some but not all files of a "needs together" set fails too.
"""
from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Sequence

import pytest

from tasks.core.bisect import Verdict, atoms_of, isolate, split, split_atoms


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

    def __init__(self, bad: Iterable[Iterable[str]], together: Iterable[Iterable[str]] = (),
                 precise: bool = False):
        self.bad = [frozenset(b) for b in bad]
        self.together = [frozenset(t) for t in together]
        self.precise = precise  # like a gate: name the single files that are bad
        self.calls: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self.numbers: list[int] = []

    def failing(self, tree: Iterable[str]) -> list[frozenset[str]]:
        tree = set(tree)
        return [b for b in self.bad if b <= tree] + [t for t in self.together if tree & t and not t <= tree]

    def __call__(self, adopted: Sequence[str], part: Sequence[str], n: int = 0) -> Verdict:
        assert not set(adopted) & set(part), "a part is validated on top of files it already holds"
        self.calls.append((tuple(adopted), tuple(part)))
        self.numbers.append(n)
        failing = self.failing([*adopted, *part])
        blame = tuple(sorted({f for b in failing for f in b})) if self.precise and all(
            len(b) == 1 for b in failing) else ()
        return Verdict(not failing, [sorted(b) for b in failing], blame=blame)


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


# --- atoms: coupled groups, precise blame, last-resort splitting ---------------------------

def test_atoms_of_keeps_each_group_whole_and_the_rest_alone() -> None:
    assert atoms_of(["b", "a", "t/a", "c"], [["a", "t/a"], ["c", "gone"]]) == [("a", "t/a"), ("b",), ("c",)]
    assert split_atoms([("a/1", "t/a"), ("b/1",)]) == [[("a/1", "t/a")], [("b/1",)]]


def test_a_module_and_its_test_that_only_pass_together_land_as_one_atom() -> None:
    files = files_in_dirs(16, 4)
    for a, b in itertools.combinations(files, 2):
        model = Model([], together=[[a, b]])
        result = isolate(files, model, groups=[[a, b]])
        assert result.deferred == [] and sorted(result.adopted) == files and result.runs == 1


def test_a_pair_that_needs_each_other_is_cut_by_the_search_but_kept_as_a_group() -> None:
    files = ["src/mod.py", "tests/test_mod.py", "src/other.py"]
    needs = Model([["src/other.py"]], together=[["src/mod.py", "tests/test_mod.py"]])
    split_apart = isolate(files, needs)
    assert sorted(f for fs, _ in split_apart.deferred for f in fs) == sorted(files)  # the search cut the pair
    kept = isolate(files, Model([["src/other.py"]], together=[["src/mod.py", "tests/test_mod.py"]]),
                   groups=[["src/mod.py", "tests/test_mod.py"]])
    assert [fs for fs, _ in kept.deferred] == [("src/other.py",)]


def test_a_precise_verdict_defers_the_blamed_files_without_a_search() -> None:
    files = files_in_dirs(64)
    bad = [files[3], files[17], files[30], files[41], files[50], files[63]]
    model = Model([[f] for f in bad], precise=True)
    result = isolate(files, model)
    assert sorted(f for fs, _ in result.deferred for f in fs) == sorted(bad)
    assert result.runs == 2  # the whole slice, then the rest without the six blamed files
    assert sorted(result.adopted) == sorted(set(files) - set(bad))


def test_a_blamed_file_takes_what_is_bound_to_it_and_leaves_the_rest_of_its_group() -> None:
    files = ["package.json", "yarn.lock", "src/a.js"]
    model = Model([["package.json"]], precise=True)
    never_cut = isolate(files, model, groups=[["package.json", "yarn.lock"]], refine=lambda atom: [atom])
    assert [fs for fs, _ in never_cut.deferred] == [("package.json", "yarn.lock")]
    assert never_cut.adopted == ["src/a.js"] and never_cut.runs == 2
    # one upstream commit's files: only the blamed file (and its lockfile) stays out
    cochange = isolate(files, Model([["package.json"]], precise=True), groups=[files],
                       refine=lambda atom: [("package.json", "yarn.lock"), ("src/a.js",)])
    assert [fs for fs, _ in cochange.deferred] == [("package.json", "yarn.lock")]
    assert cochange.adopted == ["src/a.js"] and cochange.split_groups == [tuple(sorted(files))]


def test_a_failing_splittable_group_is_cut_as_a_last_resort_and_reported() -> None:
    group = [f"pkg/f{i}.ts" for i in range(8)]
    model = Model([["pkg/f5.ts"]])
    result = isolate(group, model, groups=[group])
    assert [fs for fs, _ in result.deferred] == [("pkg/f5.ts",)]
    assert result.split_groups == [tuple(group)]
    assert sorted(result.adopted) == sorted(set(group) - {"pkg/f5.ts"})


def test_an_unsplittable_group_is_deferred_whole() -> None:
    files = ["package.json", "yarn.lock", "src/a.js"]
    result = isolate(files, Model([["yarn.lock"]]), groups=[["package.json", "yarn.lock"]],
                     refine=lambda atom: [atom] if "yarn.lock" in atom else [(f,) for f in atom])
    assert [fs for fs, _ in result.deferred] == [("package.json", "yarn.lock")]
    assert result.split_groups == []


def test_attempt_numbers_are_passed_to_the_validator_and_count_inferred_ones() -> None:
    files = ["a/1", "a/2", "b/1", "b/2"]
    model = Model([["b/2"]])
    result = isolate(files, model)
    assert [a.n for a in result.attempts] == list(range(1, len(result.attempts) + 1))
    assert model.numbers == [a.n for a in result.attempts if not a.inferred]


def test_memo_answers_do_not_count_against_the_budget() -> None:
    files = files_in_dirs(16)
    model = Model([[files[9]]])

    def memoised(adopted: Sequence[str], part: Sequence[str], n: int) -> Verdict:
        v = model(adopted, part, n)
        return Verdict(v.passed, v.detail, ran=False)

    result = isolate(files, memoised, max_runs=1)
    assert result.runs == 0 and [fs for fs, _ in result.deferred] == [(files[9],)]


# --- looking ahead: several candidates at once, the same search ------------------------------------

class Ahead:
    """A validator with ``width`` slots, as ``bisect.Slots`` sees one: what it is told to judge ahead it
    judges (with the model) out of order, and the search then asks it — or never does."""

    def __init__(self, model: Model, width: int = 2):
        self.model, self.width = model, width
        self.judged: dict[tuple[tuple[str, ...], tuple[str, ...]], Verdict] = {}
        self.told: list[list[tuple[tuple[str, ...], tuple[str, ...]]]] = []

    def judge_ahead(self, calls):  # type: ignore[no-untyped-def]
        self.told.append([c.key for c in calls])
        for c in calls:
            if c.key not in self.judged:
                self.judged[c.key] = Model(self.model.bad, self.model.together, self.model.precise)(c.adopted, c.part)

    def ready(self):  # type: ignore[no-untyped-def]
        return dict(self.judged)

    def wait(self, call) -> bool:  # type: ignore[no-untyped-def]
        return True


SEARCHES = [  # (files, bad sets, sets that only work together, precise)
    *[(files_in_dirs(16), [[f]], [], False) for f in files_in_dirs(16)],
    *[(files_in_dirs(16), [[a], [b]], [], False) for a, b in itertools.combinations(files_in_dirs(16)[::3], 2)],
    (files_in_dirs(24), [[files_in_dirs(24)[3], files_in_dirs(24)[17]]], [], False),      # fail only together
    (files_in_dirs(24), [], [[files_in_dirs(24)[2], files_in_dirs(24)[20]]], False),      # pass only together
    (files_in_dirs(24), [[files_in_dirs(24)[5]], [files_in_dirs(24)[9]]], [], True),      # a gate names them
    (files_in_dirs(12), [[f] for f in files_in_dirs(12)], [], False),                     # everything fails
    (files_in_dirs(12), [], [], False),                                                    # nothing does
]


@pytest.mark.parametrize("width", [2, 3])
@pytest.mark.parametrize("files,bad,together,precise", SEARCHES)
def test_judging_ahead_changes_nothing_the_search_asks_or_decides(files: list[str], bad: list[list[str]],
                                                                  together: list[list[str]], precise: bool,
                                                                  width: int) -> None:
    alone, model = Model(bad, together, precise), Model(bad, together, precise)
    ahead = Ahead(Model(bad, together, precise), width)
    one = isolate(files, alone, groups=[together[0]] if together else ())
    many = isolate(files, model, groups=[together[0]] if together else (), slots=ahead)
    assert (many.adopted, many.deferred, many.split_groups) == (one.adopted, one.deferred, one.split_groups)
    assert many.attempts == one.attempts
    assert (model.calls, model.numbers) == (alone.calls, alone.numbers)   # the same questions, in the same order
    assert all(len(told) <= width for told in ahead.told)
    assert set(model.calls) <= set(ahead.judged)                         # every question was judged ahead
    assert ahead.told[-1] == []                                          # and what was left is dropped at the end


def test_what_is_judged_ahead_is_the_call_now_then_the_next_after_a_failure_then_after_a_pass() -> None:
    files = files_in_dirs(8, per_dir=8)
    ahead = Ahead(Model([[files[5]]]), width=3)
    isolate(files, Model([[files[5]]]), slots=ahead)
    whole, first_half, its_half = ((), tuple(files)), ((), tuple(files[:4])), ((), tuple(files[:2]))
    assert ahead.told[0] == [whole, first_half, its_half]
    # verdicts judged ahead are followed, not guessed: the whole slice failed and its first half passed, so
    # next comes the second half's first quarter on top of it, then what follows that failing, then passing
    on_top = tuple(files[:4])
    assert ahead.told[1] == [(on_top, tuple(files[4:6])), (on_top, (files[4],)), (tuple(files[:6]), (files[6],))]
    assert ahead.told[-1] == []


def test_a_validator_with_one_slot_is_not_told_anything() -> None:
    files = files_in_dirs(8)
    ahead = Ahead(Model([[files[1]]]), width=1)
    isolate(files, Model([[files[1]]]), slots=ahead)
    assert ahead.told == []


def test_what_is_judged_ahead_is_dropped_when_the_search_stops_with_an_error() -> None:
    files = files_in_dirs(8)
    ahead = Ahead(Model([]), width=2)

    def broken(adopted: Sequence[str], part: Sequence[str], n: int) -> Verdict:
        raise RuntimeError("a check could not run")

    with pytest.raises(RuntimeError):
        isolate(files, broken, slots=ahead)
    assert ahead.told[-1] == []
