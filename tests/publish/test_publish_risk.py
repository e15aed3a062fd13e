"""Risk: the seed's formula and its terms (tables), facts from outcomes, and the automerge decision."""
from __future__ import annotations

import doctest
from typing import Any

import pytest

from tasks.core.outcome import Outcome
from tasks.config import DEFAULT_RISK_WEIGHTS, RISK_TERMS
from tasks.publish import risk
from tasks.publish.risk import Facts, automerge, facts, score

SEED = DEFAULT_RISK_WEIGHTS


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(risk).failed == 0


def files(n: int) -> tuple[str, ...]:
    return tuple(f"src/f{i}.py" for i in range(n))


@pytest.mark.parametrize("f,expected", [
    # the seed: filesChanged + 3 × typeErrors + 5 × testFailures + (2 if migrations)
    (Facts(), 0),
    (Facts(files=files(3)), 3),
    (Facts(files=files(3), failed_checks=("slice-1: tsc",)), 6),
    (Facts(files=files(3), failed_checks=("slice-1: tsc", "slice-2: tsc")), 9),
    (Facts(files=files(1), new_failing_tests=("t::a", "t::b")), 11),
    (Facts(files=files(2), migrations=("db/migrations/1.sql", "db/migrations/2.sql")), 4),   # once, however many
    (Facts(files=files(4), failed_checks=("s: unit",), new_failing_tests=("t::x",), migrations=("m.sql",)), 14),
    # terms the seed does not weigh count nothing by default
    (Facts(files=files(1), lockfiles=("yarn.lock",), workflows=(".github/workflows/ci.yml",),
           both_changed=("a",), conflicts=("b", "c")), 1),
])
def test_the_default_is_the_seeds_formula(f: Facts, expected: int) -> None:
    assert score(f, SEED).score == expected


@pytest.mark.parametrize("weights,expected", [
    ({"files": 0.5}, 2),                                        # fractions
    ({"files": 1, "conflicts": 4}, 4 + 8),
    ({"lockfiles": 3, "workflows": 10}, 13),                    # flags count once
    ({"both_changed": 2}, 2),
    ({t: 1 for t in RISK_TERMS}, 4 + 1 + 1 + 1 + 1 + 1 + 1 + 2),
    ({}, 0),
])
def test_weights_and_extra_terms(weights: dict[str, float], expected: float) -> None:
    f = Facts(files=files(4), failed_checks=("s: unit",), new_failing_tests=("t::x",), migrations=("m.sql",),
              lockfiles=("yarn.lock", "package.json"), workflows=(".gitlab-ci.yml",), both_changed=("a",),
              conflicts=("b", "c"))
    assert score(f, weights).score == expected


def test_every_term_is_listed_with_its_value_weight_and_points() -> None:
    r = score(Facts(files=files(2), migrations=("m.sql",), conflicts=("x",)), SEED | {"conflicts": 3})
    assert [t.name for t in r.terms] == list(RISK_TERMS)
    rows = {t["term"]: (t["value"], t["weight"], t["points"]) for t in r.to_json()["terms"]}
    assert rows["files"] == (2, 1, 2) and rows["migrations"] == (1, 2, 2) and rows["conflicts"] == (1, 3, 3)
    assert rows["lockfiles"] == (0, 0, 0)
    assert r.to_json()["score"] == 7 and r.level == "medium"


@pytest.mark.parametrize("total,low,medium,level", [
    (0, 5, 15, "low"), (5, 5, 15, "low"), (5.5, 5, 15, "medium"), (15, 5, 15, "medium"), (15.1, 5, 15, "high"),
    (3, 0, 0, "high"), (0, 0, 0, "low"),
])
def test_levels(total: float, low: float, medium: float, level: str) -> None:
    assert risk.level(total, low, medium) == level


CLEAN = Facts(files=files(3))


@pytest.mark.parametrize("f,maximum,draft,merge,why", [
    (CLEAN, 5, False, True, "risk 3 ≤ automerge_max 5, nothing failed, deferred or conflicted"),
    (Facts(files=files(5)), 5, False, True, "risk 5 ≤ automerge_max 5, nothing failed, deferred or conflicted"),
    (Facts(files=files(6)), 5, False, False, "risk 6 > automerge_max 5"),
    (CLEAN, None, False, False, "publish.automerge_max is null: never by itself"),
    (CLEAN, 0, False, False, "risk 3 > automerge_max 0"),
    (Facts(files=files(1), conflicts=("a",)), 100, False, False, "1 conflict(s) left for a person"),
    (Facts(files=files(1), deferred=("a", "b")), 100, False, False, "2 file(s) deferred"),
    (Facts(files=files(1), failed_checks=("slice-1: unit",)), 100, False, False, "1 failed check(s)"),
    (Facts(files=files(1), errors=("slice-2",)), 100, False, False, "1 slice(s) whose checks could not run"),
    (Facts(files=files(1), not_run=("slice-3",)), 100, False, False, "1 slice(s) not run yet"),
    (Facts(), 5, False, False, "nothing to merge"),
    (CLEAN, 5, True, False, "the pull request is a draft (publish.draft: true)"),
])
def test_automerge_only_for_a_small_clean_change(f: Facts, maximum: float | None, draft: bool, merge: bool,
                                                 why: str) -> None:
    decision = automerge(score(f, SEED), f, maximum, draft=draft)
    assert (decision.merge, decision.why) == (merge, why)


def outcome(name: str, status: str = "adopted", **kw: Any) -> Outcome:
    """An outcome as ``outcome.json`` holds it."""
    return Outcome.from_json({"slice": name, "wave": "a", "upstream": "u", "parent": "p", "status": status,
                              "adopted": [], "deferred": [], "conflicts": [], "files": []} | kw)


def test_facts_from_outcomes_and_the_paths_the_pull_request_changes() -> None:
    outcomes = {
        "slice-1": outcome("slice-1", adopted=["src/a.py", "src/b.py"],
                           files=[{"path": "src/a.py", "class": "both-changed"}, {"path": "src/b.py", "class": "x"}]),
        "slice-2": outcome("slice-2", "split", adopted=["src/c.py"], deferred=[
            {"files": ["src/d.py"], "reason": "unit failed", "checks": ["unit", "lint"],
             "tests": [{"id": "tests/test_d.py::test_x", "line": "E"}]},
            {"files": ["evil/../x"], "reason": "blocked: ..", "checks": ["path-safety"]}]),
        "slice-3": outcome("slice-3", "conflicted", conflicts=[{"path": "src/e.py", "reason": "3-way merge conflict"}]),
        "slice-4": outcome("slice-4", "error", error="tool missing"),
        "slice-5": None,
    }
    changed = ["src/a.py", "src/b.py", "src/c.py", "db/migrations/001.sql", "yarn.lock", ".github/workflows/ci.yml"]
    f = facts(outcomes, changed)
    assert f.files == tuple(sorted(changed))
    assert f.failed_checks == ("slice-2: lint", "slice-2: unit")            # a blocked path is no failed check
    assert f.new_failing_tests == ("tests/test_d.py::test_x",)
    assert f.migrations == ("db/migrations/001.sql",) and f.lockfiles == ("yarn.lock",)
    assert f.workflows == (".github/workflows/ci.yml",)
    assert f.both_changed == ("src/a.py",)
    assert f.conflicts == ("src/e.py",) and f.deferred == ("evil/../x", "src/d.py")
    assert f.errors == ("slice-4",) and f.not_run == ("slice-5",)
    assert f.left_for_a_person


def test_a_both_changed_file_already_in_the_base_branch_does_not_count() -> None:
    """A merged file adopted by an earlier pull request that was merged is not part of this one."""
    o = outcome("slice-1", adopted=["a.py"], files=[{"path": "a.py", "class": "both-changed"}])
    assert facts({"slice-1": o}, ["b.py"]).both_changed == ()
