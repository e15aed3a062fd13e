"""plan: actionable drift -> coupled groups -> waves -> slices. Pure: data in, frozen data out."""
from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from tasks.core import coupling
from tasks.config import Wave
from tasks.core.vocabulary import ACTIONABLE
from tasks.errors import ForkwaveError
from tasks.globs import globs

T = TypeVar("T")
TOO_LARGE_SHOWN = 10  # commits over the cap listed in plan.json (the count is always given)
# CI definitions: planned in slices of their own, coupled to nothing else. A forge may refuse to take
# them from a token without a special scope (GitHub: `workflow`, for .github/workflows/), and a
# person may want to keep them out (`doit rollback:<slice>`) without losing the code around them.
CI_DEFINITIONS = (".github/workflows/**", ".gitlab-ci.yml", ".gitlab/ci/**", ".circleci/**", "Jenkinsfile",
                  "azure-pipelines.yml", ".azure-pipelines/**", ".buildkite/**", ".travis.yml",
                  "bitbucket-pipelines.yml", ".drone.yml", ".woodpecker.yml", ".woodpecker/**",
                  ".gitea/workflows/**", ".forgejo/workflows/**", "appveyor.yml", ".appveyor.yml")


@dataclass(frozen=True)
class PlanFile:
    path: str
    cls: str
    bucket: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "class": self.cls, "bucket": self.bucket}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanFile:
        return cls(data["path"], data["class"], data.get("bucket") or "")


@dataclass(frozen=True)
class Slice:
    name: str
    wave: str
    files: tuple[PlanFile, ...]
    groups: tuple[coupling.Group, ...] = ()
    ci: bool = False          # CI definitions only (``CI_DEFINITIONS``), in a slice of their own
    source: str | None = None  # with several sources: the one the slice's changes come from
    upstream: str | None = None  # ... and its revision
    commits: tuple[str, ...] = ()  # a commit slice (merge range, picks): its upstream commits, oldest first
    cursor: str | None = None      # cherry-pick: where the source's cursor stands once the slice lands

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "wave": self.wave}
        if self.source is not None:  # keys only where they hold: one source's plans stay as they were
            out |= {"source": self.source, "upstream": self.upstream}
        out |= {"files": [f.to_json() for f in self.files], "groups": [g.to_json() for g in self.groups]}
        if self.ci:
            out["ci"] = True
        if self.commits:
            out["commits"] = list(self.commits)
        if self.cursor:
            out["cursor"] = self.cursor
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Slice:
        return cls(data["name"], data["wave"], tuple(PlanFile.from_json(f) for f in data.get("files", ())),
                   tuple(coupling.Group.from_json(g) for g in data.get("groups", ())), bool(data.get("ci")),
                   data.get("source"), data.get("upstream"), tuple(data.get("commits", ())), data.get("cursor"))


@dataclass(frozen=True)
class Plan:
    upstream: str
    base: str | None
    max_files: int
    waves: tuple[tuple[str, tuple[str, ...]], ...]
    slices: tuple[Slice, ...]
    unassigned: tuple[PlanFile, ...]
    coupling: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)  # several sources: name -> upstream revision
    batch_size: int | None = None  # ``batch_size=N`` cut this plan: the commands it prints say so (``again``)

    def to_json(self) -> dict[str, Any]:
        head = {"sources": dict(self.sources)} if self.sources else {}
        return head | {
            "upstream": self.upstream,
            "base": self.base,
            "max_files": self.max_files,
            **({"batch_size": self.batch_size} if self.batch_size else {}),
            "coupling": dict(self.coupling),
            "waves": [{"name": w, "slices": list(names)} for w, names in self.waves],
            "slices": [s.to_json() for s in self.slices],
            "unassigned": [f.to_json() for f in self.unassigned],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(data["upstream"], data.get("base"), data.get("max_files", 0),
                   tuple((w["name"], tuple(w["slices"])) for w in data.get("waves", ())),
                   tuple(Slice.from_json(s) for s in data.get("slices", ())),
                   tuple(PlanFile.from_json(f) for f in data.get("unassigned", ())),
                   dict(data.get("coupling") or {}), dict(data.get("sources") or {}), data.get("batch_size"))

    def again(self, name: str) -> str:
        """The command that runs slice ``name`` again, with the options that named it (see ``again``)."""
        return again(name, self.batch_size)

    def slice(self, name: str) -> Slice:
        """The slice called ``name``; an error naming the plan's slices when there is none."""
        for s in self.slices:
            if s.name == name:
                return s
        known = f"{self.slices[0].name}..{self.slices[-1].name}" if self.slices else "none: the plan is empty"
        raise ForkwaveError(f"{name}: no such slice in reports/plan.json (slices: {known}); see reports/wave-*.md")

    def members(self, wave: str) -> tuple[str, ...]:
        """The slices of ``wave``, in plan order."""
        return dict(self.waves).get(wave, ())

    def revision(self, slice_: Slice) -> str:
        """The upstream revision a slice is synced to (its source's, with several sources)."""
        return slice_.upstream or self.upstream

    def view(self, slice_: Slice) -> Plan:
        """The plan as the slice's source sees it: ``upstream`` is that source's revision."""
        return replace(self, upstream=self.revision(slice_))

    def of_source(self, source: str) -> Plan:
        """The part of a plan of several sources that is ``source``'s: its slices, its revision."""
        mine = tuple(s for s in self.slices if s.source == source)
        names = {s.name for s in mine}
        return replace(self, upstream=self.sources.get(source, self.upstream), slices=mine,
                       waves=tuple((w, tuple(n for n in members if n in names)) for w, members in self.waves),
                       unassigned=(), sources={source: self.sources[source]} if source in self.sources else {},
                       coupling={source: self.coupling[source]} if source in self.coupling else {})


def again(name: str, batch_size: int | None = None) -> str:
    """``doit validate:<name>``, with the ``batch_size=`` that cut the plan naming it: slices are numbered in plan
    order, so the same name in a plan cut otherwise is other files (a person's commands — resolve, rollback,
    readopt — act on the plan as it stands and need no option).

    >>> again("slice-58"), again("slice-58", 5)
    ('doit validate:slice-58', 'doit validate:slice-58 batch_size=5')
    """
    return f"doit validate:{name}" + (f" batch_size={batch_size}" if batch_size else "")


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


@dataclass(frozen=True, slots=True)
class Block(Generic[T]):
    """Something ``pack`` keeps whole: ``size`` files, placed in the tree at ``path``, ordered by (path, part)."""

    path: str
    part: int
    size: int
    item: T


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
    return pack([Block(p, 0, 1, p) for p in paths], max_files)


def pack(blocks: Sequence[Block[T]], max_files: int) -> list[list[T]]:
    """``cut`` for blocks of several files: each block stays whole and counts ``size`` files.

    A block larger than ``max_files`` (a manifest with its lockfile, say) gets a run of its own.

    >>> pack([Block("a/x", 0, 2, "ax"), Block("a/y", 0, 2, "ay"), Block("b/z", 0, 1, "bz")], 3)
    [['ax'], ['ay', 'bz']]
    """
    runs: list[list[Block[T]]] = []
    for unit in _units(sorted(blocks, key=lambda b: (b.path, b.part)), "", max_files):
        if runs and _size(runs[-1]) + _size(unit) <= max_files:
            runs[-1].extend(unit)
        else:
            runs.append(list(unit))
    return [[b.item for b in run] for run in runs]


def _size(blocks: Sequence[Block[T]]) -> int:
    return sum(b.size for b in blocks)


def _units(blocks: list[Block[T]], prefix: str, max_files: int) -> list[list[Block[T]]]:
    if _size(blocks) <= max_files:
        return [blocks] if blocks else []
    direct: list[Block[T]] = []
    subdirs: dict[str, list[Block[T]]] = {}
    for b in blocks:
        head, sep, _ = b.path[len(prefix):].partition("/")
        if sep:
            subdirs.setdefault(head, []).append(b)
        else:
            direct.append(b)
    units = _even_runs(direct, max_files)
    for name in sorted(subdirs):
        units.extend(_units(subdirs[name], f"{prefix}{name}/", max_files))
    return units


def _even_runs(items: list[Block[T]], max_files: int) -> list[list[Block[T]]]:
    """Near-equal consecutive runs: each aims at what is left over the runs left (ceil(n / max) in all)."""
    runs: list[list[Block[T]]] = []
    rest, i = _size(items), 0
    planned = math.ceil(rest / max_files)
    while i < len(items):
        target = min(max_files, math.ceil(rest / max(1, planned - len(runs))))
        run: list[Block[T]] = []
        while i < len(items) and (not run or _size(run) + items[i].size <= target):
            run.append(items[i])
            i += 1
        runs.append(run)
        rest -= _size(run)
    return runs


# --- coupled groups into pieces that fit a slice ------------------------------------------

@dataclass(frozen=True)
class Piece:
    """Files that go into one slice together; the piece takes the earliest wave of ``anchor``."""

    files: tuple[str, ...]
    anchor: frozenset[str]
    key: tuple[str, int]      # its group's first path, then the part number: parts stay in order


def pieces(paths: Sequence[str], links: Sequence[coupling.Link], max_files: int,
           last_touch: Mapping[str, int]) -> list[Piece]:
    """Every coupled group (a component of ``links``; a lone path is one too) as pieces of at most
    ``max_files``: whole when it fits, else cut (see ``cut_group``)."""
    groups = coupling.components(paths, links)
    group_of = {p: g[0] for g in groups for p in g}
    links_of: dict[str, list[coupling.Link]] = {}
    for link in links:
        links_of.setdefault(group_of[link.files[0]], []).append(link)
    out = []
    for g in groups:
        if len(g) <= max_files:
            out.append(Piece(g, frozenset(g), (g[0], 0)))
            continue
        for i, (files, anchor) in enumerate(cut_group(g, links_of[g[0]], max_files, last_touch)):
            out.append(Piece(files, anchor, (g[0], i)))
    return out


def cut_group(group: Sequence[str], links: Sequence[coupling.Link], max_files: int,
              last_touch: Mapping[str, int]) -> list[tuple[tuple[str, ...], frozenset[str]]]:
    """Cut a coupled group larger than ``max_files`` into (files, anchor) pieces.

    Its *units* — what tests, lockfiles and ``couple:`` rules hold together — stay whole; only
    commit links are cut, along upstream commit order: units are taken by the last commit that
    changed them (the newest state they need), oldest first, a piece closing when the next
    commit's units would overflow it; one commit's units too many for a piece are cut by
    directory. Last resort: a unit itself larger than ``max_files`` is cut by directory, its
    manifest/lockfile sets whole (never split, even past ``max_files``); its pieces keep the
    whole unit as their anchor, so they stay in the unit's wave.

    >>> t = coupling.Link("test", "test of a/x.py", ("a/x.py", "t/test_x.py"))
    >>> c = [coupling.Link("commit", f"commit {i}", f)
    ...      for i, f in enumerate([("a/x.py", "b/y.py"), ("b/y.py", "c/z.py")])]
    >>> [f for f, _ in cut_group(["a/x.py", "b/y.py", "c/z.py", "t/test_x.py"], [t, *c], 3,
    ...                          {"a/x.py": 0, "t/test_x.py": 0, "b/y.py": 1, "c/z.py": 1})]
    [('a/x.py', 't/test_x.py'), ('b/y.py', 'c/z.py')]
    """
    firm = [lk for lk in links if lk.kind != "commit"]
    hard = [lk for lk in links if lk.kind == "lockfile"]
    units: list[tuple[int, tuple[str, ...], frozenset[str]]] = []  # (commit index, files, anchor)
    for unit in coupling.components(group, firm):
        when = max(last_touch.get(p, -1) for p in unit)
        if len(unit) <= max_files:
            units.append((when, unit, frozenset(unit)))
            continue
        atoms = coupling.components(unit, hard)
        for part in pack([Block(a[0], 0, len(a), a) for a in atoms], max_files):
            units.append((when, tuple(sorted(p for a in part for p in a)), frozenset(unit)))
    units.sort(key=lambda u: (u[0], u[1][0]))
    runs: list[list[tuple[int, tuple[str, ...], frozenset[str]]]] = []
    current: list[tuple[int, tuple[str, ...], frozenset[str]]] = []
    for _, batch_iter in itertools.groupby(units, key=lambda u: u[0]):
        batch = list(batch_iter)
        size = sum(len(u[1]) for u in batch)
        if sum(len(u[1]) for u in current) + size <= max_files:
            current += batch
            continue
        if current:
            runs.append(current)
        if size <= max_files:
            current = batch
            continue
        parts = pack([Block(u[1][0], 0, len(u[1]), u) for u in batch], max_files)
        runs += parts[:-1]
        current = parts[-1]
    if current:
        runs.append(current)
    return [(tuple(sorted(p for u in run for p in u[1])), frozenset(p for u in run for p in u[2])) for run in runs]


def plan_waves(drift: Mapping[str, Any], waves: Sequence[Wave], max_files: int,
               couple: Sequence[Sequence[str]] = (), commits: Sequence[coupling.Commit] = ()) -> Plan:
    """Couple the actionable paths of ``drift``, give each coupled group the earliest wave of its
    members, and cut waves into slices that keep groups whole.

    ``couple`` are the config's ``couple:`` rules; ``commits`` the upstream first-parent commits
    since the bases, oldest first (``coupling.history``). A path no wave names joins the wave of a
    group it belongs to; a group with no member in any wave is unassigned.
    """
    entries = drift["entries"]
    planned = sorted(p for p, e in entries.items() if e["class"] in ACTIONABLE)
    wave_of = {p: assign_wave(p, entries[p]["bucket"], waves) for p in planned}
    cap = coupling.commit_cap(max_files)
    history = _cochange(drift, planned, wave_of, commits, cap)
    links = coupling.path_links(planned, couple) + list(history.links)
    ci = frozenset(filter(globs(CI_DEFINITIONS), planned))
    if ci:
        links = apart(links, ci)
    by_wave: dict[str, list[Piece]] = {w.name: [] for w in waves}
    unassigned: list[str] = []
    for piece in pieces(planned, links, max_files, history.last_touch):
        wave = _earliest(piece.anchor, wave_of, waves)
        if wave is None:
            unassigned += piece.files
        else:
            by_wave[wave].append(piece)
    cuts: list[tuple[str, list[tuple[str, ...]]]] = []
    for w in waves:
        # CI definitions after the wave's other slices, never sharing one with them
        kinds = [by_wave[w.name]] if not ci else [[pc for pc in by_wave[w.name] if pc.files[0] not in ci],
                                                  [pc for pc in by_wave[w.name] if pc.files[0] in ci]]
        runs = [run for kind in kinds for run in pack([Block(pc.key[0], pc.key[1], len(pc.files), pc) for pc in kind],
                                                      max_files)]
        cuts.append((w.name, [tuple(sorted(p for pc in run for p in pc.files)) for run in runs]))
    slices, wave_index = _slices(cuts, entries, links, planned, ci)
    base = drift.get("base") or {}
    return Plan(drift["upstream"]["sha"], base.get("sha"), max_files, tuple(wave_index), tuple(slices),
                tuple(PlanFile(p, entries[p]["class"], entries[p]["bucket"]) for p in sorted(unassigned)),
                _summary(history, slices, cap))


def apart(links: Sequence[coupling.Link], ci: frozenset[str]) -> list[coupling.Link]:
    """``links`` with CI definitions coupled to nothing but each other: a link joining both is cut in two.

    >>> [lk.files for lk in apart([coupling.Link("commit", "commit x", (".gitlab-ci.yml", "a", "b"))],
    ...                           frozenset({".gitlab-ci.yml"}))]
    [('a', 'b')]
    """
    out = []
    for link in links:
        inside = tuple(f for f in link.files if f in ci)
        if not inside or len(inside) == len(link.files):
            out.append(link)
            continue
        outside = tuple(f for f in link.files if f not in ci)
        out += [coupling.Link(link.kind, link.why, part) for part in (outside, inside)
                if len(part) > 1]
    return out


def _summary(history: coupling.CoChange, slices: Sequence[Slice], cap: int) -> dict[str, Any]:
    """plan.json's ``coupling``: the commit cap, commits used and skipped, groups and how many were cut."""
    largest = sorted(history.too_large, key=lambda c: (-c.size, c.sha))[:TOO_LARGE_SHOWN]
    return {
        "commit_cap": cap,
        "commits": {"used": len(history.links), "too_large": len(history.too_large)},
        "too_large": [{"sha": c.sha, "files": c.size} for c in largest],
        "groups": sum(1 for s in slices for g in s.groups if len(g.files) > 1),
        "split": sum(1 for s in slices for g in s.groups if g.split),
        "never_split": "a manifest and its lockfile",
    }


def _cochange(drift: Mapping[str, Any], planned: Sequence[str], wave_of: Mapping[str, str | None],
              commits: Sequence[coupling.Commit], cap: int) -> coupling.CoChange:
    """Commit links, each path counted from its own base (its wave's recorded one, else the default)."""
    base = drift.get("base") or {}
    groups, default = base.get("groups") or {}, base.get("sha")
    entries = drift["entries"]
    alias = {entries[p]["renamed_from"]: p for p in planned if entries[p].get("renamed_from")}
    return coupling.cochange(set(planned), commits, lambda p: groups.get(wave_of[p] or "", default), alias, cap)


def _earliest(files: frozenset[str], wave_of: Mapping[str, str | None], waves: Sequence[Wave]) -> str | None:
    named = {wave_of[p] for p in files} - {None}
    return next((w.name for w in waves if w.name in named), None)


def _slices(cuts: Sequence[tuple[str, Sequence[tuple[str, ...]]]], entries: Mapping[str, Any],
            links: Sequence[coupling.Link], planned: Sequence[str], ci: frozenset[str] = frozenset()
            ) -> tuple[list[Slice], list[tuple[str, tuple[str, ...]]]]:
    """Name the cuts ``slice-1..N`` across waves and record the coupled groups each holds."""
    named = [(f"slice-{i}", wave, files) for i, (wave, files) in
             enumerate(((w, f) for w, runs in cuts for f in runs), 1)]
    slice_of = {p: name for name, _, files in named for p in files}
    size_of = {p: len(g) for g in coupling.components(planned, links) for p in g}
    links_of: dict[str, list[int]] = {}
    for i, link in enumerate(links):
        for p in link.files:
            links_of.setdefault(p, []).append(i)
    slices = []
    for name, wave, files in named:
        mine = [links[i] for i in sorted({i for p in files for i in links_of.get(p, ())})]
        slices.append(Slice(name, wave, tuple(PlanFile(p, entries[p]["class"], entries[p]["bucket"]) for p in files),
                            coupling.groups_in(files, mine, slice_of, size_of), ci=bool(files) and files[0] in ci))
    index = [(wave, tuple(name for name, w, _ in named if w == wave)) for wave, _ in cuts]
    return slices, index


def combine(plans: Sequence[tuple[str, Plan]], waves: Sequence[Wave]) -> Plan:
    """One plan from each source's: waves keep their order, and within a wave the sources keep
    theirs (config order); each source numbers its own slices, ``slice-<source>-1..N``, each naming
    its source and that source's revision. ``upstream`` is every source's revision, one string.

    A source's slice names depend on nothing but its own plan: a run of some sources (``sources=``, one
    CI schedule) names them as a run of all does, so the slices of the others, their outcome files and
    the commands their reports print keep meaning what they meant.

    >>> a = Plan("aaa", None, 2, (("x", ("slice-1",)),), (Slice("slice-1", "x", (PlanFile("p", "c", "b"),)),), ())
    >>> b = Plan("bbb", None, 2, (("x", ("slice-1",)),), (Slice("slice-1", "x", (PlanFile("q", "c", "b"),)),), ())
    >>> [(s.name, s.source, s.upstream) for s in combine([("web", a), ("sale", b)], [Wave("x")]).slices]
    [('slice-web-1', 'web', 'aaa'), ('slice-sale-1', 'sale', 'bbb')]
    """
    slices: list[Slice] = []
    index: list[tuple[str, tuple[str, ...]]] = []
    count = {source: 0 for source, _ in plans}
    for w in waves:
        names = []
        for source, plan in plans:
            members = dict(plan.waves).get(w.name, ())
            for s in (s for s in plan.slices if s.name in members):
                count[source] += 1
                name = f"slice-{source}-{count[source]}"
                slices.append(replace(s, name=name, source=source, upstream=plan.upstream))
                names.append(name)
        index.append((w.name, tuple(names)))
    unassigned = tuple(sorted((f for _, p in plans for f in p.unassigned), key=lambda f: f.path))
    return Plan(",".join(f"{name}:{p.upstream}" for name, p in plans), None, plans[0][1].max_files if plans else 0,
                tuple(index), tuple(slices), unassigned,
                {name: dict(p.coupling) for name, p in plans}, {name: p.upstream for name, p in plans})
