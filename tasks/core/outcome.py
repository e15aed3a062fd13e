"""A slice's outcome: one typed record for every mode, from which every surface is rendered.

The outcome says what happened to a slice in the slice's own **unit** — files for a snapshot
slice, upstream commits for a merge range or a cherry-pick slice — and every count a report,
summary, ledger row or JUnit file gives is taken from ``Outcome.counts()`` in that unit. Items
that did not land are of three kinds, never mixed up:

- **deferred**: judged and refused (a check or gate failed, a path is unsafe) — a person fixes the cause;
- **conflicted**: could not be applied (a 3-way merge, a merge or a pick conflicts) — a person resolves it;
- **waiting**: not judged at all, because something earlier must land first (a merge cannot skip
  a commit; a pick needs one that was dropped) — nothing to do but resolve what it waits behind.

The JSON form (``outcome.json``) keeps the keys earlier versions wrote, so outcome files written
before a change of forkwave still read back.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    ADOPTED = "adopted"          # everything the slice holds is on the sync branch
    EMPTY = "empty"              # nothing to change (already applied, or only skipped commits)
    ROLLED_BACK = "rolled-back"  # a person rolled it back; left alone until upstream changes it
    SPLIT = "split"              # part landed, part deferred
    REVERTED = "reverted"        # nothing landed: everything judged was deferred
    CONFLICTED = "conflicted"    # something conflicts: a person resolves it
    FAILED = "failed"            # adopted before, fails its checks as they are now
    WAITING = "waiting"          # nothing judged: it waits behind an earlier slice's culprit
    ERROR = "error"              # a check could not run: nothing was judged

    @property
    def settled(self) -> bool:
        """Nothing left to do."""
        return self in SETTLED

    @property
    def for_a_person(self) -> bool:
        """A person acts on this slice itself (resolve, fix, roll back)."""
        return self in FOR_A_PERSON

    @property
    def state(self) -> str:
        """The slice as the run's last line counts it: adopted, deferred, conflicted, waiting, rolled back."""
        return STATES[self]


SETTLED = frozenset({Status.ADOPTED, Status.EMPTY, Status.ROLLED_BACK})
FOR_A_PERSON = frozenset({Status.SPLIT, Status.REVERTED, Status.CONFLICTED, Status.FAILED})
STATES = {Status.ADOPTED: "adopted", Status.EMPTY: "adopted", Status.ROLLED_BACK: "rolled back",
          Status.SPLIT: "deferred", Status.REVERTED: "deferred", Status.FAILED: "deferred",
          Status.CONFLICTED: "conflicted", Status.WAITING: "waiting", Status.ERROR: "deferred"}
ICONS = {Status.ADOPTED: "✅", Status.EMPTY: "➖", Status.SPLIT: "🟡", Status.REVERTED: "❌",
         Status.CONFLICTED: "⚠️", Status.FAILED: "❌", Status.ROLLED_BACK: "↩️", Status.ERROR: "⛔",
         Status.WAITING: "⏳"}

FILES, COMMITS = "files", "commits"


def status_of(*, error: bool = False, recheck_failed: bool = False, conflicts: bool = False,
              deferred: bool = False, adopted: bool = False, rolled_back: bool = False,
              waiting: bool = False) -> Status:
    """The slice's status; a conflict wins over a split (it needs a person either way), and a slice
    that only waits says so, even when some of it landed earlier.

    >>> status_of(conflicts=True, deferred=True, adopted=True)
    <Status.CONFLICTED: 'conflicted'>
    >>> status_of(waiting=True, adopted=True), status_of(deferred=True)
    (<Status.WAITING: 'waiting'>, <Status.REVERTED: 'reverted'>)
    """
    if error:
        return Status.ERROR
    if recheck_failed:
        return Status.FAILED
    if conflicts:
        return Status.CONFLICTED
    if deferred:
        return Status.SPLIT if adopted else Status.REVERTED
    if waiting:
        return Status.WAITING
    if adopted:
        return Status.ADOPTED
    return Status.ROLLED_BACK if rolled_back else Status.EMPTY


def plural(n: int, unit: str) -> str:
    """``1 file``, ``3 commits``.

    >>> plural(1, "files"), plural(3, "commits"), plural(0, "files")
    ('1 file', '3 commits', '0 files')
    """
    return f"{n} {unit[:-1] if n == 1 else unit}"


# --- the items ---------------------------------------------------------------------------------

def _tuple(value: Iterable[Any] | None) -> tuple[Any, ...]:
    return tuple(value or ())


@dataclass(frozen=True)
class Deferral:
    """Files (and, in commit slices, the upstream commit) judged and refused, with why and what to do."""

    files: tuple[str, ...]
    reason: str
    next: str = ""
    checks: tuple[str, ...] = ()
    output: str = ""
    tests: tuple[Mapping[str, str], ...] = ()   # {"id", "line"}: the failing test cases
    log: str | None = None
    commit: str | None = None   # commit slices: the upstream commit that was refused
    extra: Mapping[str, Any] = field(default_factory=dict)   # mode-specific keys kept as written

    KEYS = ("files", "reason", "checks", "output", "next", "tests", "log", "commit")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"files": list(self.files), "reason": self.reason, "checks": list(self.checks),
                               "output": self.output}
        if self.commit:
            out["commit"] = self.commit
        out |= dict(self.extra)
        out["next"] = self.next
        if self.tests:
            out["tests"] = [dict(t) for t in self.tests]
        if self.log:
            out["log"] = self.log
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deferral:
        return cls(_tuple(data.get("files")), data.get("reason", ""), data.get("next", ""),
                   _tuple(data.get("checks")), data.get("output", ""), _tuple(data.get("tests")), data.get("log"),
                   data.get("commit"), {k: v for k, v in data.items() if k not in cls.KEYS})


@dataclass(frozen=True)
class Conflict:
    path: str
    reason: str
    next: str = ""
    file: str | None = None     # the diff3 text for a person, under the slice's ``conflicts/``
    commit: str | None = None   # commit slices: the upstream commit whose merge or pick conflicts

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "reason": self.reason}
        if self.commit:
            out["commit"] = self.commit
        out["next"] = self.next
        if self.file:
            out["file"] = self.file
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Conflict:
        return cls(data["path"], data.get("reason", ""), data.get("next", ""), data.get("file"), data.get("commit"))


@dataclass(frozen=True)
class Wait:
    """Work not judged because something earlier must land first; it names what it waits behind."""

    files: tuple[str, ...]
    reason: str
    next: str = ""
    commits: tuple[str, ...] = ()   # commit slices: the upstream commits that wait
    behind: str | None = None       # the upstream commit it waits behind
    slice: str | None = None        # the slice that holds that commit

    def to_json(self) -> dict[str, Any]:
        return {"files": list(self.files), "commits": list(self.commits), "reason": self.reason,
                "behind": self.behind, "slice": self.slice, "next": self.next}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Wait:
        return cls(_tuple(data.get("files")), data.get("reason", ""), data.get("next", ""),
                   _tuple(data.get("commits")), data.get("behind"), data.get("slice"))


@dataclass(frozen=True)
class Attempt:
    """One judgement of a candidate: which files (or commits) on top of which tip, and the check results
    (``checks.model.Result`` as JSON, with their output)."""

    n: int
    files: tuple[str, ...]
    on_top_of: str | None
    passed: bool
    inferred: bool = False
    ran: bool = True
    results: tuple[Mapping[str, Any], ...] = ()
    commits: str | None = None   # commit slices: which commits the candidate holds, in words

    def to_json(self) -> dict[str, Any]:
        out = {"n": self.n, "files": list(self.files), "on_top_of": self.on_top_of, "passed": self.passed,
               "inferred": self.inferred, "ran": self.ran}
        if self.commits is not None:
            out["commits"] = self.commits
        return out | {"results": [dict(r) for r in self.results]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attempt:
        return cls(data["n"], _tuple(data.get("files")), data.get("on_top_of"), bool(data.get("passed")),
                   bool(data.get("inferred")), bool(data.get("ran", True)), _tuple(data.get("results")),
                   data.get("commits"))


@dataclass(frozen=True)
class Counts:
    """How much of a slice went where, in its unit (files or commits)."""

    unit: str
    total: int
    adopted: int = 0
    deferred: int = 0
    conflicted: int = 0
    waiting: int = 0
    skipped: int = 0   # commits with nothing to pick (already present, empty)

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "total": self.total, "adopted": self.adopted, "deferred": self.deferred,
                "conflicted": self.conflicted, "waiting": self.waiting, "skipped": self.skipped}

    def line(self) -> str:
        """``2 of 20 commits adopted, 1 conflicted, 17 waiting`` (zeros left out, but adopted)."""
        parts = [f"{self.adopted} of {plural(self.total, self.unit)} adopted"]
        parts += [f"{n} {what}" for what, n in (("deferred", self.deferred), ("conflicted", self.conflicted),
                                                ("waiting", self.waiting), ("skipped", self.skipped)) if n]
        return ", ".join(parts)


def add(counts: Iterable[Counts]) -> dict[str, dict[str, int]]:
    """Counts summed per unit: ``{"files": {...}, "commits": {...}}`` (units no slice has are left out).

    >>> add([Counts("files", 3, adopted=2, deferred=1),  # doctest: +NORMALIZE_WHITESPACE
    ...      Counts("commits", 5, adopted=5), Counts("files", 1, 1)])
    {'files': {'total': 4, 'adopted': 3, 'deferred': 1, 'conflicted': 0, 'waiting': 0, 'skipped': 0},
    'commits': {'total': 5, 'adopted': 5, 'deferred': 0, 'conflicted': 0, 'waiting': 0, 'skipped': 0}}
    """
    out: dict[str, dict[str, int]] = {}
    for c in counts:
        row = out.setdefault(c.unit, dict.fromkeys(("total", "adopted", "deferred", "conflicted", "waiting",
                                                    "skipped"), 0))
        for k in row:
            row[k] += getattr(c, k)
    return out


# --- the outcome ---------------------------------------------------------------------------------

# what merge and cherry-pick outcomes record of their own, kept at the top level of outcome.json
MODE_KEYS = ("range", "reverted", "culprit", "review", "picked", "skipped", "dropped", "rollback")


@dataclass(frozen=True)
class Outcome:
    slice: str
    wave: str
    upstream: str
    status: Status
    parent: str                                    # the sync tip the run started on
    mode: str = "snapshot"
    unit: str = FILES
    source: str | None = None
    commit: str | None = None                      # what the sync branch moved to this run
    verified_at: str = ""                          # the commit whose tree the outcome was judged on
    commits: tuple[str, ...] = ()                  # the slice's own commits on the sync branch
    files: tuple[Mapping[str, Any], ...] = ()      # {"path", "class", "bucket"}
    adopted: tuple[str, ...] = ()                  # paths on the sync branch now
    landed: tuple[str, ...] = ()                   # ... of them, landed by this run
    removed: tuple[str, ...] = ()                  # ... of them, deletions
    deferred: tuple[Deferral, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    waiting: tuple[Wait, ...] = ()
    resolved: tuple[Mapping[str, Any], ...] = ()   # {"path", "commit", "by"}
    rolled_back: tuple[Mapping[str, Any], ...] = ()  # {"path", "commit"}
    reported: tuple[Mapping[str, Any], ...] = ()   # {"path", "reason"}: left alone by policy, for review
    applied_before: tuple[str, ...] = ()
    groups_split: tuple[tuple[str, ...], ...] = ()
    slice_commits: tuple[str, ...] = ()            # commit slices: the upstream commits the slice holds
    adopted_commits: tuple[str, ...] = ()          # ... of them, on the sync branch now
    landed_commits: tuple[str, ...] = ()           # ... of them, landed by this run
    runs: int = 0
    attempts: tuple[Attempt, ...] = ()
    duration: float = 0.0
    validated_with: str | None = None
    run: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    retried: tuple[Mapping[str, Any], ...] = ()    # joint retries that landed files of it
    validated: Mapping[str, Any] = field(default_factory=dict)  # how: "batch" (with the run's record), "alone", "split"
    record: Mapping[str, Any] = field(default_factory=dict)  # MODE_KEYS: the mode's own record

    # --- what it says ---------------------------------------------------------------------------

    def counts(self) -> Counts:
        if self.unit == COMMITS:
            return Counts(COMMITS, len(self.slice_commits), adopted=len(self.adopted_commits),
                          deferred=len({d.commit for d in self.deferred if d.commit}),
                          conflicted=len({c.commit for c in self.conflicts if c.commit}),
                          waiting=len({c for w in self.waiting for c in w.commits}),
                          skipped=len(self.record.get("skipped") or ()))
        return Counts(FILES, len(self.files), adopted=len(self.adopted),
                      deferred=len({f for d in self.deferred for f in d.files}),
                      conflicted=len({c.path for c in self.conflicts}),
                      waiting=len({f for w in self.waiting for f in w.files}))

    def landed_by(self, run: str) -> tuple[str, ...]:
        """What run ``run`` landed of the slice, in its unit (paths, or upstream commits): the outcome's own
        ``landed`` when that run wrote it, and the files a joint retry of that run landed.

        >>> o = Outcome("s1", "a", "u", Status.ADOPTED, "p", adopted=("a", "b", "c"), landed=("a", "b"), run="r1",
        ...             retried=({"wave": "a", "commit": "c1", "files": ["c"], "run": "r2"},))
        >>> o.landed_by("r1"), o.landed_by("r2"), o.landed_by("r3")
        (('a', 'b'), ('c',), ())
        """
        own = (self.landed_commits if self.unit == COMMITS else self.landed) if self.run == run else ()
        retried = [f for r in self.retried if r.get("run") == run for f in r.get("files") or ()]
        return tuple(dict.fromkeys((*own, *retried)))

    @property
    def left(self) -> bool:
        """Work left: for a person, or waiting behind what a person must do (a conflict or deferral counts
        whatever the status says: an item left is never success)."""
        return (not self.status.settled or bool(self.conflicts or self.deferred or self.waiting)) \
            and self.status is not Status.ROLLED_BACK

    def evolve(self, **changes: Any) -> Outcome:
        return replace(self, **changes)

    # --- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"slice": self.slice, "wave": self.wave}
        if self.source:
            out["source"] = self.source
        out |= {"mode": self.mode, "unit": self.unit, "upstream": self.upstream, "status": str(self.status),
                "parent": self.parent, "commit": self.commit, "verified_at": self.verified_at,
                "commits": list(self.commits), "files": [dict(f) for f in self.files],
                "adopted": list(self.adopted), "landed": list(self.landed), "removed": list(self.removed),
                "deferred": [d.to_json() for d in self.deferred],
                "conflicts": [c.to_json() for c in self.conflicts],
                "waiting": [w.to_json() for w in self.waiting],
                "resolved": [dict(r) for r in self.resolved], "rolled_back": [dict(r) for r in self.rolled_back],
                "reported": [dict(r) for r in self.reported], "applied_before": list(self.applied_before),
                "groups_split": [list(g) for g in self.groups_split]}
        if self.unit == COMMITS:
            out |= {"slice_commits": list(self.slice_commits), "adopted_commits": list(self.adopted_commits),
                    "landed_commits": list(self.landed_commits)}
        out |= {k: self.record[k] for k in MODE_KEYS if k in self.record}
        out |= {"counts": self.counts().to_json(), "runs": self.runs,
                "attempts": [a.to_json() for a in self.attempts], "duration": round(self.duration, 3),
                "validated_with": self.validated_with, "run": self.run, "inputs": dict(self.inputs)}
        if self.retried:
            out["retried"] = [dict(r) for r in self.retried]
        if self.validated:
            out["validated"] = dict(self.validated)
        if self.error:
            out["error"] = self.error
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        known = {f.name for f in fields(cls)}
        simple = {k: v for k, v in data.items() if k in known and k not in _TYPED}
        return cls(
            **simple,
            status=Status(data.get("status", "error")),
            mode=data.get("mode", "snapshot"),
            unit=data.get("unit", COMMITS if data.get("mode") in ("merge", "cherry-pick") else FILES),
            commits=_tuple(data.get("commits")), files=_tuple(data.get("files")),
            adopted=_tuple(data.get("adopted")), landed=_tuple(data.get("landed")),
            removed=_tuple(data.get("removed")),
            deferred=tuple(Deferral.from_json(d) for d in data.get("deferred") or ()),
            conflicts=tuple(Conflict.from_json(c) for c in data.get("conflicts") or ()),
            waiting=tuple(Wait.from_json(w) for w in data.get("waiting") or ()),
            resolved=_tuple(data.get("resolved")), rolled_back=_tuple(data.get("rolled_back")),
            reported=_tuple(data.get("reported")), applied_before=_tuple(data.get("applied_before")),
            groups_split=tuple(tuple(g) for g in data.get("groups_split") or ()),
            slice_commits=_tuple(data.get("slice_commits") or (data.get("range") or {}).get("commits")),
            adopted_commits=_tuple(data.get("adopted_commits")), landed_commits=_tuple(data.get("landed_commits")),
            attempts=tuple(Attempt.from_json(a) for a in data.get("attempts") or ()),
            inputs=dict(data.get("inputs") or {}), retried=_tuple(data.get("retried")),
            validated=dict(data.get("validated") or {}),
            record={k: data[k] for k in MODE_KEYS if k in data},
        )


_TYPED = {"status", "mode", "unit", "commits", "files", "adopted", "landed", "removed", "deferred", "conflicts",
          "waiting", "resolved", "rolled_back", "reported", "applied_before", "groups_split", "slice_commits",
          "adopted_commits", "landed_commits", "attempts", "inputs", "retried", "record", "validated"}


def paths_of(items: Sequence[Deferral | Wait]) -> list[str]:
    """The distinct files of some items, in order."""
    return list(dict.fromkeys(f for item in items for f in item.files))
