"""Merge mode's plan (pure): consecutive ranges of upstream commits as slices, in order, never reordered."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.config import Wave
from tasks.core.plan import Plan, PlanFile, Slice
from tasks.core.ranges import cut


@dataclass(frozen=True)
class RangeSlice(Slice):
    """A slice that is a range of upstream commits (oldest first); its files are the ones they change."""

    commits: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return super().to_json() | {"commits": list(self.commits)}


def plan_ranges(drift: Mapping[str, Any], waves: Sequence[Wave], max_commits: int, max_files: int,
                bucket_of: Callable[[str], str]) -> Plan:
    """Ranges of at most ``max_commits`` of ``drift["commits"]``, all in the first wave: waves cannot
    reorder a merge (it cannot skip a commit), so slice k+1 always comes after slice k.

    >>> d = {"upstream": {"sha": "u"}, "base": {"sha": "b"}, "entries": {},
    ...      "commits": [{"sha": s, "paths": [f"{s}.txt"]} for s in "xyz"]}
    >>> p = plan_ranges(d, [Wave("a"), Wave("b")], 2, 25, lambda p: "root")
    >>> [(s.name, s.commits, [f.path for f in s.files]) for s in p.slices], p.waves
    ([('slice-1', ('x', 'y'), ['x.txt', 'y.txt']), ('slice-2', ('z',), ['z.txt'])], (('a', ('slice-1', 'slice-2')), ('b', ())))
    """
    entries = drift.get("entries") or {}
    first = waves[0].name
    slices = []
    for k, group in enumerate(cut(list(drift.get("commits") or ()), max_commits), 1):
        paths = sorted({p for c in group for p in c["paths"]})
        files = tuple(PlanFile(p, entries.get(p, {}).get("class", "upstream-changed"),
                               entries.get(p, {}).get("bucket") or bucket_of(p)) for p in paths)
        slices.append(RangeSlice(f"slice-{k}", first, files, commits=tuple(c["sha"] for c in group)))
    names = tuple(s.name for s in slices)
    return Plan(drift["upstream"]["sha"], (drift.get("base") or {}).get("sha"), max_files,
                tuple((w.name, names if w.name == first else ()) for w in waves), tuple(slices), (),
                coupling={"ranges": len(slices), "max_commits": max_commits})
