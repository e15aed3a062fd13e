"""Merge mode's plan (pure): consecutive ranges of upstream commits as slices, in order, never reordered."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tasks.config import Wave
from tasks.core.plan import Plan, PlanFile, Slice
from tasks.core.ranges import cut


def plan_ranges(drift: Mapping[str, Any], waves: Sequence[Wave], max_commits: int, max_files: int,
                bucket_of: Callable[[str], str]) -> Plan:
    """Ranges of at most ``max_commits`` of ``drift["commits"]``, all in the first wave: waves cannot
    reorder a merge (it cannot skip a commit), so slice k+1 always comes after slice k.

    >>> d = {"upstream": {"sha": "u"}, "base": {"sha": "b"}, "entries": {},
    ...      "commits": [{"sha": s, "paths": [f"{s}.txt"]} for s in "xyz"]}
    >>> p = plan_ranges(d, [Wave("a"), Wave("b")], 2, 25, lambda p: "root")
    >>> [(s.name, s.commits, [f.path for f in s.files]) for s in p.slices], p.waves  # doctest: +NORMALIZE_WHITESPACE
    ([('slice-1', ('x', 'y'), ['x.txt', 'y.txt']), ('slice-2', ('z',), ['z.txt'])], (('a', ('slice-1', 'slice-2')),
    ('b', ())))
    """
    entries = drift.get("entries") or {}
    first = waves[0].name
    slices = []
    for k, group in enumerate(cut(list(drift.get("commits") or ()), max_commits), 1):
        paths = sorted({p for c in group for p in c["paths"]})
        files = tuple(PlanFile(p, entries.get(p, {}).get("class", "upstream-changed"),
                               entries.get(p, {}).get("bucket") or bucket_of(p)) for p in paths)
        slices.append(Slice(f"slice-{k}", first, files, commits=tuple(c["sha"] for c in group)))
    names = tuple(s.name for s in slices)
    return Plan(drift["upstream"]["sha"], (drift.get("base") or {}).get("sha"), max_files,
                tuple((w.name, names if w.name == first else ()) for w in waves), tuple(slices), (),
                coupling={"ranges": len(slices), "max_commits": max_commits})


def plan_picks(drift: Mapping[str, Any], waves: Sequence[Wave], max_commits: int, max_files: int,
               bucket_of: Callable[[str], str]) -> Plan:
    """Cherry-pick slices: up to ``max_commits`` commits to pick each, in source order, all in the first
    wave; each slice's ``cursor`` is the last source commit it covers (skipped ones included), where the
    source's cursor stands once it lands. The cursor names main-line commits only: a pull request's
    commits (``unit``: the merge that brought them) move it to their merge once the last of them is
    covered.

    >>> d = {"upstream": {"sha": "u"}, "base": None, "entries": {}, "commits": [
    ...     {"sha": "a", "pick": True, "paths": ["x"]}, {"sha": "b", "pick": False, "paths": ["y"]},
    ...     {"sha": "c", "pick": True, "paths": ["z"]}]}
    >>> [(s.commits, s.cursor) for s in plan_picks(d, [Wave("a")], 1, 25, str).slices]
    [(('a',), 'b'), (('c',), 'c')]
    >>> d["commits"] = [{"sha": "m", "pick": False, "paths": []},
    ...                 {"sha": "p", "pick": True, "paths": ["x"], "unit": "m"},
    ...                 {"sha": "q", "pick": True, "paths": ["y"], "unit": "m"}]
    >>> [(s.commits, s.cursor) for s in plan_picks(d, [Wave("a")], 1, 25, str).slices]
    [(('p',), None), (('q',), 'm')]
    """
    first = waves[0].name
    listed = list(drift.get("commits") or ())
    ends = {i for i, c in enumerate(listed) if i + 1 == len(listed) or _unit(listed[i + 1]) != _unit(c)}
    groups: list[list[int]] = []
    todo: list[int] = []
    for i, c in enumerate(listed):
        if c["pick"] and sum(1 for t in todo if listed[t]["pick"]) == max_commits:
            groups.append(todo)
            todo = []
        todo.append(i)
    if any(listed[t]["pick"] for t in todo):
        groups.append(todo)
    slices = []
    for k, group in enumerate(groups, 1):
        picks = [listed[i] for i in group if listed[i]["pick"]]
        paths = sorted({p for c in picks for p in c["paths"]})
        files = tuple(PlanFile(p, "upstream-changed", bucket_of(p)) for p in paths)
        slices.append(Slice(f"slice-{k}", first, files, commits=tuple(c["sha"] for c in picks),
                            cursor=_end(listed, group, ends)))
    names = tuple(s.name for s in slices)
    return Plan(drift["upstream"]["sha"], (drift.get("base") or {}).get("sha"), max_files,
                tuple((w.name, names if w.name == first else ()) for w in waves), tuple(slices), (),
                coupling={"slices": len(slices), "max_commits": max_commits})


def _unit(c: Mapping[str, Any]) -> str:
    """The main-line commit an entry belongs to: its merge for a pull request's commit, else itself."""
    return str(c.get("unit") or c["sha"])


def _end(listed: Sequence[Mapping[str, Any]], group: Sequence[int], ends: set[int]) -> str | None:
    """The newest main-line commit a group covers whole that is not an earlier run's dropped one being
    retried: a cursor only moves forward, and past a pull request only once all of it is covered."""
    return next((_unit(listed[i]) for i in reversed(group) if i in ends and not listed[i].get("retry")), None)
