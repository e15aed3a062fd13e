"""Classify every fork-side path from its (base, upstream, fork) entries, and build the drift report.

Pure: the repository side (``tasks.repo.drift``) compares trees by object id and hands the
differing paths here as triples; this module names each one's class, bucket and wave
priority.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.config import Config
from tasks.core.vocabulary import ACTIONABLE, CLASSES, THREE_WAY, TWO_WAY, UPSTREAM_WORK, Base, Entry  # noqa: F401
from tasks.globs import globs

def classify(base: Base, upstream: Entry, fork: Entry) -> str:
    """The drift class of one path. ``base`` is False when no base is known (2-way).

    >>> a, b, c = ("100644", "a" * 40), ("100644", "b" * 40), ("100755", "a" * 40)
    >>> classify(False, a, None), classify(False, a, b), classify(False, None, a)
    ('missing', 'differs', 'extra')
    >>> classify(a, b, a), classify(a, a, b), classify(a, b, c), classify(None, a, None)
    ('upstream-changed', 'fork-changed', 'both-changed', 'upstream-added')
    >>> classify(a, None, a), classify(a, a, None), classify(a, b, b)
    ('upstream-deleted', 'fork-deleted', 'identical')
    """
    if upstream == fork:
        return "identical"
    if base is False:
        return "missing" if fork is None else "extra" if upstream is None else "differs"
    if base is None:
        return "upstream-added" if fork is None else "fork-added" if upstream is None else "both-changed"
    if fork == base:
        return "upstream-deleted" if upstream is None else "upstream-changed"
    if upstream == base:
        return "fork-deleted" if fork is None else "fork-changed"
    return "both-changed"


def default_bucket(path: str) -> str:
    """``packages/<name>`` for monorepo packages, else the top-level folder, else ``(root)``."""
    parts = path.split("/")
    if parts[0] == "packages" and len(parts) > 2:
        return f"packages/{parts[1]}"
    return parts[0] if len(parts) > 1 else "(root)"


class Bucketer:
    """Configured buckets first (first match wins), then the default rule."""

    def __init__(self, cfg: Config):
        self._names = [b.name for b in cfg.buckets for _ in b.paths]
        self._globs = globs(tuple(p for b in cfg.buckets for p in b.paths))

    def __call__(self, path: str) -> str:
        hit = self._globs.first(path)
        return default_bucket(path) if hit is None else self._names[hit]


def build_report(cfg: Config, triples: Mapping[str, tuple[Base, Entry, Entry]], fork_files: int,
                 three_way: bool, renamed: Mapping[str, str] | None = None,
                 window: set[str] | None = None) -> dict[str, Any]:
    """Pure: classify, apply ignore/deny, group by bucket. Returns the drift.json body.

    ``renamed`` maps a fork path to the (fork-side named) upstream path it was paired with;
    such entries carry ``renamed_from``, and may be identical (a pure rename). With a
    ``window`` (``since=``: fork-side paths upstream changed after that point), actionable
    paths outside it are ``before-since``: reported, not planned.
    """
    renamed = renamed or {}
    ignored, denied, bucket_of = globs(cfg.ignore), cfg.is_denied, Bucketer(cfg)
    entries: dict[str, dict[str, Any]] = {}
    for path in sorted(triples):
        base, up, fork = triples[path]
        cls = classify(base, up, fork)
        if ignored(path):
            cls = "ignored"
        elif cls in ACTIONABLE and denied(path):
            cls = "blocked"
        elif cls in ACTIONABLE and window is not None and path not in window and renamed.get(path) not in window:
            cls = "before-since"
        entries[path] = {"class": cls, "bucket": bucket_of(path), "upstream": _fmt(up), "fork": _fmt(fork),
                         "base": None if base is False else _fmt(base)}
        if path in renamed:
            entries[path]["renamed_from"] = renamed[path]
    totals = Counter(e["class"] for e in entries.values())
    totals["identical"] = fork_files - sum(1 for e in entries.values() if e["fork"] and e["class"] != "identical")
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    paths: dict[str, list[str]] = defaultdict(list)
    for path, e in entries.items():
        if e["class"] != "identical":
            buckets[e["bucket"]][e["class"]] += 1
            paths[e["class"]].append(path)
    critical = critical_buckets(cfg, entries)
    return {
        "mode": "3-way" if three_way else "2-way",
        "totals": {c: totals[c] for c in CLASSES if totals[c]},
        "buckets": {b: dict(sorted(c.items())) for b, c in sorted(buckets.items())},
        "critical_buckets": sorted(b for b in buckets if b in critical),
        "paths": {c: paths[c] for c in CLASSES if paths.get(c)},
        "renamed": {new: renamed[new] for new in sorted(renamed)},
        "entries": {p: e for p, e in entries.items() if e["class"] != "identical" or "renamed_from" in e},
    }


def reclassified(report: Mapping[str, Any], changes: Mapping[str, tuple[str, str | None]]) -> dict[str, Any]:
    """``report`` (a ``drift.json`` body) with some entries' class and base changed (path -> (class, base as
    ``mode oid``)), its totals, buckets and per-class lists counted again. Critical buckets stay: every class a
    caller moves an entry between is upstream work.

    >>> r = {"totals": {"identical": 3, "differs": 1}, "buckets": {"docs": {"differs": 1}}, "paths": {"differs": ["d"]},
    ...      "entries": {"d": {"class": "differs", "bucket": "docs", "base": None, "fork": "100644 f"}}}
    >>> out = reclassified(r, {"d": ("upstream-changed", "100644 f")})
    >>> out["totals"], out["buckets"], out["paths"], out["entries"]["d"]["base"]  # doctest: +NORMALIZE_WHITESPACE
    ({'identical': 3, 'upstream-changed': 1}, {'docs': {'upstream-changed': 1}}, {'upstream-changed': ['d']},
    '100644 f')
    """
    if not changes:
        return dict(report)
    entries = {p: dict(e) for p, e in report["entries"].items()}
    for path, (cls, base) in changes.items():
        entries[path] |= {"class": cls, "base": base}
    counted = Counter(e["class"] for e in entries.values() if e["class"] != "identical")
    totals = {"identical": report["totals"].get("identical", 0), **counted}
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    paths: dict[str, list[str]] = defaultdict(list)
    for path in sorted(entries):
        e = entries[path]
        if e["class"] != "identical":
            buckets[e["bucket"]][e["class"]] += 1
            paths[e["class"]].append(path)
    return {**report, "entries": entries,
            "totals": {c: totals[c] for c in CLASSES if totals.get(c)},
            "buckets": {b: dict(sorted(c.items())) for b, c in sorted(buckets.items())},
            "paths": {c: paths[c] for c in CLASSES if paths.get(c)}}


def _fmt(entry: Entry) -> str | None:
    return None if not entry else f"{entry[0]} {entry[1]}"


def upstream_work(counts: Mapping[str, int]) -> int:
    return sum(n for c, n in counts.items() if c in ACTIONABLE)


def critical_buckets(cfg: Config, entries: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """P0 buckets: those with upstream work (added, changed, deleted, both-changed) in a bucket the
    first wave names or at a path its patterns match. A fork-only edit under ``**/auth/**`` does
    not make its bucket P0: there is nothing to sync there."""
    if not cfg.waves:
        return set()
    first = cfg.waves[0]
    named = {b for b in first.buckets if b != "*"}
    hits = globs(first.paths)
    return {e["bucket"] for p, e in entries.items()
            if e["class"] in UPSTREAM_WORK and (e["bucket"] in named or hits(p))}


@dataclass(frozen=True)
class Bases:
    """Which upstream revision each path is compared against.

    ``groups`` (wave -> sha) comes from the state the fork recorded when waves landed;
    ``default`` covers every other path: the config's ``base``, else the detected one.
    """

    source: str                              # config | state | detected | none
    default: str | None = None
    groups: Mapping[str, str] = field(default_factory=dict)
    rev: str | None = None                   # as the config or the state names it

    def for_wave(self, wave: str | None) -> str | None:
        return self.groups.get(wave or "", self.default)

    @property
    def shas(self) -> set[str]:
        return {s for s in (self.default, *self.groups.values()) if s}

    def to_json(self) -> dict[str, Any] | None:
        if not self.shas:
            return None
        return {"source": self.source, "rev": self.rev, "sha": self.default,
                "groups": dict(sorted(self.groups.items()))}
