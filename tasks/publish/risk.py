"""The risk of a sync branch's pull request, and whether it may merge by itself. Pure: outcomes in, numbers out.

The default is the seed's formula, ``files + 3 × type errors + 5 × test failures + 2 if migrations``,
read in forkwave's terms (``tasks.config.DEFAULT_RISK_WEIGHTS``); every term is listed, so a
reviewer sees where the score comes from.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.config import RISK_TERMS
from tasks.core.outcome import Outcome
from tasks.report.reports import side_effects

LEVELS = ("low", "medium", "high")
# terms that count once whatever their number, as the seed's "+ 2 if migrations"
FLAGS = frozenset({"migrations", "lockfiles", "workflows"})
DESCRIBE = {
    "files": "files the pull request changes",
    "failed_checks": "checks that failed on a slice (its files were deferred)",
    "new_failing_tests": "tests failing that passed on the baseline",
    "migrations": "database migrations changed (1 if any)",
    "lockfiles": "dependency manifests or lockfiles changed (1 if any)",
    "workflows": "CI definitions changed (1 if any)",
    "both_changed": "files changed by the fork and upstream, merged 3-way",
    "conflicts": "conflicts left for a person",
}


@dataclass(frozen=True)
class Facts:
    """What a sync branch holds and what is left out of it, per risk term (each a sorted tuple of names)."""

    files: tuple[str, ...] = ()
    failed_checks: tuple[str, ...] = ()      # "slice-3: build"
    new_failing_tests: tuple[str, ...] = ()  # test ids
    migrations: tuple[str, ...] = ()
    lockfiles: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    both_changed: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()           # files deferred, for any reason (not a term: automerge only)
    errors: tuple[str, ...] = ()             # slices whose checks could not run
    not_run: tuple[str, ...] = ()            # slices of the plan without an outcome yet
    waiting: tuple[str, ...] = ()            # paths of commits that wait behind an earlier one

    def value(self, term: str) -> int:
        names = getattr(self, term)
        return int(bool(names)) if term in FLAGS else len(names)

    @property
    def left_for_a_person(self) -> bool:
        return bool(self.conflicts or self.deferred or self.waiting or self.failed_checks or self.errors
                    or self.not_run)


def facts(outcomes: Mapping[str, Outcome | None], changed: Sequence[str]) -> Facts:
    """Facts from the slices' outcomes (``reports/slices/*/outcome.json``) and the paths the PR changes.

    >>> from tasks.core.outcome import Deferral, Status
    >>> o = Outcome("slice-1", "a", "u", Status.SPLIT, "p", adopted=("a.py",),
    ...             files=({"path": "a.py", "class": "both-changed"},),
    ...             deferred=(Deferral(("b.py",), "x", checks=("unit",), tests=({"id": "t::x"},)),))
    >>> f = facts({"slice-1": o, "slice-2": None}, ["a.py", "db/migrations/1.sql"])
    >>> f.files, f.failed_checks, f.new_failing_tests, f.migrations, f.both_changed, f.not_run
    (('a.py', 'db/migrations/1.sql'), ('slice-1: unit',), ('t::x',), ('db/migrations/1.sql',), ('a.py',), ('slice-2',))
    """
    done = {n: o for n, o in outcomes.items() if o}
    effects = side_effects(list(changed))
    in_pr = set(changed)
    merged = {f["path"] for o in done.values() for f in o.files if f.get("class") == "both-changed"}
    adopted = {p for o in done.values() for p in o.adopted}
    return Facts(
        files=tuple(sorted(in_pr)),
        failed_checks=_sorted(f"{n}: {c}" for n, o in done.items() for d in o.deferred
                              for c in d.checks if c != "path-safety"),
        new_failing_tests=_sorted(t["id"] for o in done.values() for d in o.deferred for t in d.tests),
        migrations=tuple(effects["migrations"]),
        lockfiles=tuple(effects["dependency manifests and lockfiles"]),
        workflows=tuple(effects["CI workflows"]),
        both_changed=_sorted(merged & adopted & in_pr),
        conflicts=_sorted(c.path for o in done.values() for c in o.conflicts),
        deferred=_sorted(p for o in done.values() for d in o.deferred for p in d.files),
        waiting=_sorted(p for o in done.values() for w in o.waiting for p in w.files),
        errors=_sorted(n for n, o in done.items() if o.error),
        not_run=_sorted(n for n, o in outcomes.items() if not o),
    )


def _sorted(items: Any) -> tuple[str, ...]:
    return tuple(sorted(set(items)))


@dataclass(frozen=True)
class Term:
    name: str
    value: int
    weight: float
    names: tuple[str, ...]   # what it counted (files, checks, tests)

    @property
    def points(self) -> float:
        return self.value * self.weight


@dataclass(frozen=True)
class Risk:
    score: float
    level: str               # low | medium | high
    terms: tuple[Term, ...]

    def to_json(self) -> dict[str, Any]:
        return {"score": number(self.score), "level": self.level,
                "terms": [{"term": t.name, "value": t.value, "weight": number(t.weight), "points": number(t.points)}
                          for t in self.terms]}


def score(f: Facts, weights: Mapping[str, float], low: float = 5, medium: float = 15) -> Risk:
    """The weighted sum of the terms, and its level (``low`` up to ``low``, ``medium`` up to ``medium``).

    >>> r = score(Facts(files=("a", "b"), failed_checks=("s: unit",), migrations=("m.sql",)),
    ...           {"files": 1, "failed_checks": 3, "new_failing_tests": 5, "migrations": 2})
    >>> r.score, r.level, [(t.name, t.points) for t in r.terms if t.points]
    (7, 'medium', [('files', 2), ('failed_checks', 3), ('migrations', 2)])
    """
    terms = tuple(Term(t, f.value(t), weights.get(t, 0), getattr(f, t)) for t in RISK_TERMS)
    total = sum(t.points for t in terms)
    return Risk(total, level(total, low, medium), terms)


def level(total: float, low: float, medium: float) -> str:
    """The label a score earns.

    >>> [level(x, 5, 15) for x in (0, 5, 5.5, 15, 16)]
    ['low', 'low', 'medium', 'medium', 'high']
    """
    return "low" if total <= low else "medium" if total <= medium else "high"


@dataclass(frozen=True)
class Decision:
    merge: bool
    why: str


def automerge(risk: Risk, f: Facts, automerge_max: float | None, draft: bool = False) -> Decision:
    """May the forge merge the pull request once its required checks pass? Only a small, clean change.

    >>> automerge(score(Facts(files=("a",)), {"files": 1}), Facts(files=("a",)), 5)
    Decision(merge=True, why='risk 1 ≤ automerge_max 5, nothing failed, deferred or conflicted')
    >>> automerge(score(Facts(files=("a",)), {"files": 1}), Facts(files=("a",)), None).why
    'publish.automerge_max is null: never by itself'
    """
    if automerge_max is None:
        return Decision(False, "publish.automerge_max is null: never by itself")
    blockers = [(f.errors, "slice(s) whose checks could not run"), (f.not_run, "slice(s) not run yet"),
                (f.conflicts, "conflict(s) left for a person"), (f.deferred, "file(s) deferred"),
                (f.waiting, "file(s) of upstream commits still waiting"), (f.failed_checks, "failed check(s)")]
    for names, what in blockers:
        if names:
            return Decision(False, f"{len(names)} {what}")
    if not f.files:
        return Decision(False, "nothing to merge")
    if draft:
        return Decision(False, "the pull request is a draft (publish.draft: true)")
    if risk.score > automerge_max:
        return Decision(False, f"risk {number(risk.score)} > automerge_max {number(automerge_max)}")
    return Decision(True, f"risk {number(risk.score)} ≤ automerge_max {number(automerge_max)}, "
                          "nothing failed, deferred or conflicted")


def number(x: float) -> float | int:
    """``3.0`` as ``3`` (weights may be fractions; most are not)."""
    return int(x) if float(x).is_integer() else round(x, 3)
