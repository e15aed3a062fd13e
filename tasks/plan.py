"""plan: actionable drift -> waves -> slices. Pure: data in, frozen data out."""
from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.config import Wave
from tasks.drift import ACTIONABLE
from tasks.globs import globs


@dataclass(frozen=True)
class PlanFile:
    path: str
    cls: str
    bucket: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "class": self.cls, "bucket": self.bucket}


@dataclass(frozen=True)
class Slice:
    name: str
    wave: str
    files: tuple[PlanFile, ...]


@dataclass(frozen=True)
class Plan:
    upstream: str
    base: str | None
    max_files: int
    waves: tuple[tuple[str, tuple[str, ...]], ...]
    slices: tuple[Slice, ...]
    unassigned: tuple[PlanFile, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "base": self.base,
            "max_files": self.max_files,
            "waves": [{"name": w, "slices": list(names)} for w, names in self.waves],
            "slices": [{"name": s.name, "wave": s.wave, "files": [f.to_json() for f in s.files]}
                       for s in self.slices],
            "unassigned": [f.to_json() for f in self.unassigned],
        }


def assign_wave(path: str, bucket: str, waves: Sequence[Wave]) -> str | None:
    """The wave a path belongs to.

    A wave matches a path when one of its ``paths`` globs matches it or its ``buckets``
    list names the path's bucket. Explicit matches win over bucket wildcards (``"*"``),
    then config order decides: so with ``b: {buckets: ["*"]}`` before
    ``c: {paths: ["**/*.md"]}``, a README still lands in c, as the config reads.

    >>> ws = [Wave("a", ("server",)), Wave("b", ("*",)), Wave("c", (), ("**/*.md",))]
    >>> assign_wave("s/x.ts", "server", ws), assign_wave("u/x.ts", "ui", ws), assign_wave("u/R.md", "ui", ws)
    ('a', 'b', 'c')
    >>> assign_wave("s/R.md", "server", ws)
    'a'
    """
    for wave in waves:
        if bucket in wave.buckets or globs(wave.paths)(path):
            return wave.name
    for wave in waves:
        if any(fnmatch.fnmatchcase(bucket, pat) for pat in wave.buckets):
            return wave.name
    return None


def cut(paths: Sequence[str], max_files: int) -> list[list[str]]:
    """Cut sorted ``paths`` into groups of at most ``max_files``, keeping directories whole.

    A directory subtree that fits stays in one group; neighbouring small ones share a
    group; a subtree too large is split into its own files and its subdirectories,
    recursively, and a flat directory too large into near-equal runs of sorted names.

    >>> cut(["a/1", "a/2", "b/1", "c/1", "c/2"], 3)
    [['a/1', 'a/2', 'b/1'], ['c/1', 'c/2']]
    >>> cut([f"d/{i}" for i in range(5)], 2)
    [['d/0', 'd/1'], ['d/2', 'd/3'], ['d/4']]
    """
    groups: list[list[str]] = []
    for unit in _units(sorted(paths), "", max_files):
        if groups and len(groups[-1]) + len(unit) <= max_files:
            groups[-1].extend(unit)
        else:
            groups.append(list(unit))
    return groups


def _units(paths: list[str], prefix: str, max_files: int) -> list[list[str]]:
    if len(paths) <= max_files:
        return [paths] if paths else []
    direct: list[str] = []
    subdirs: dict[str, list[str]] = {}
    for p in paths:
        head, sep, _ = p[len(prefix):].partition("/")
        if sep:
            subdirs.setdefault(head, []).append(p)
        else:
            direct.append(p)
    units = _even_runs(direct, max_files)
    for name in sorted(subdirs):
        units.extend(_units(subdirs[name], f"{prefix}{name}/", max_files))
    return units


def _even_runs(items: list[str], max_files: int) -> list[list[str]]:
    if not items:
        return []
    n = math.ceil(len(items) / max_files)
    size, extra = divmod(len(items), n)
    runs, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        runs.append(items[start:end])
        start = end
    return runs


def plan_waves(drift: Mapping[str, Any], waves: Sequence[Wave], max_files: int) -> Plan:
    """Assign every actionable path of ``drift`` to a wave and cut waves into slices."""
    by_wave: dict[str, list[str]] = {w.name: [] for w in waves}
    unassigned: list[PlanFile] = []
    entries = drift["entries"]
    for path, e in entries.items():
        if e["class"] not in ACTIONABLE:
            continue
        wave = assign_wave(path, e["bucket"], waves)
        if wave is None:
            unassigned.append(PlanFile(path, e["class"], e["bucket"]))
        else:
            by_wave[wave].append(path)
    slices: list[Slice] = []
    wave_index: list[tuple[str, tuple[str, ...]]] = []
    for w in waves:
        names = []
        for group in cut(by_wave[w.name], max_files):
            name = f"slice-{len(slices) + 1}"
            files = tuple(PlanFile(p, entries[p]["class"], entries[p]["bucket"]) for p in group)
            slices.append(Slice(name, w.name, files))
            names.append(name)
        wave_index.append((w.name, tuple(names)))
    base = drift.get("base") or {}
    return Plan(drift["upstream"]["sha"], base.get("sha"), max_files, tuple(wave_index), tuple(slices),
                tuple(sorted(unassigned, key=lambda f: f.path)))
