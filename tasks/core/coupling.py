"""coupling: which planned paths only work together (coupled groups), as links between paths. Pure.

Four kinds of link join paths, strongest first:

- ``lockfile``: a manifest and the lockfile of its workspace (``lockfile of <manifest>``) — never split;
- ``test``: a module and its test (``test of <module>``), and ``couple``: a ``couple:`` rule of the
  config (``couple: <i>``) — split only when the group cannot fit in a slice;
- ``commit``: the files one upstream commit changed since the path's base (``commit <sha>``) — a
  co-change component too large for a slice is cut along upstream commit order (``tasks.core.plan``).

Links only ever join planned paths (actionable drift). The planner turns them into slices
(``tasks.core.plan``); each slice of ``plan.json`` records its groups, and ``slice_groups`` gives the
slice runner those groups back as a partition of the slice's files.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.core.paths import map_path
from tasks.config import MapRule
from tasks.globs import globs

# A commit changing more files than this is a mass change (a reformat, a rename of the
# brand, a dependency bump across packages): its files rarely need each other, and gluing
# them would make one component of the whole repository. code-maat, the reference tool for
# co-change analysis, drops change sets above 30 files by default (``max-changeset-size``);
# a slice size above that raises the cap to the slice size.
COMMIT_CAP = 30
KINDS = ("lockfile", "test", "couple", "commit")  # strongest first


def commit_cap(max_files: int) -> int:
    """The largest commit (files changed upstream) whose files are coupled."""
    return max(COMMIT_CAP, max_files)


@dataclass(frozen=True, slots=True)
class Link:
    """Paths that only work together, and why."""

    kind: str                # one of KINDS
    why: str                 # "commit <sha>", "test of <path>", "lockfile of <manifest>", "couple: <i>"
    files: tuple[str, ...]   # sorted, at least two


@dataclass(frozen=True, slots=True)
class Commit:
    """One upstream first-parent commit: the fork-side paths it changed and the bases it is newer than."""

    sha: str
    files: tuple[str, ...]
    bases: frozenset[str]
    size: int                # paths it changed upstream, before mapping (for the cap)


@dataclass(frozen=True, slots=True)
class Split:
    """A group whose files did not fit in one slice: where the rest went, and which links were cut."""

    group_files: int          # files of the whole coupled group
    slices: tuple[str, ...]   # the other slices holding some of them ("unassigned" if no wave takes them)
    broken: tuple[str, ...]   # the links cut (their ``why``)

    def to_json(self) -> dict[str, Any]:
        return {"group_files": self.group_files, "with": list(self.slices), "broken": list(self.broken)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Split:
        return cls(data["group_files"], tuple(data["with"]), tuple(data["broken"]))


@dataclass(frozen=True, slots=True)
class Group:
    """A coupled group as one slice holds it: its links restricted to its files here."""

    files: tuple[str, ...]
    links: tuple[Link, ...]
    split: Split | None = None

    @property
    def why(self) -> tuple[str, ...]:
        return tuple(lk.why for lk in self.links)

    @property
    def unsplittable(self) -> bool:
        return any(lk.kind == "lockfile" for lk in self.links)

    def to_json(self) -> dict[str, Any]:
        return {"files": list(self.files), "why": list(self.why),
                "links": [{"kind": lk.kind, "why": lk.why, "files": list(lk.files)} for lk in self.links],
                "split": self.split.to_json() if self.split else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Group:
        links = tuple(Link(lk["kind"], lk["why"], tuple(lk["files"])) for lk in data.get("links", ()))
        return cls(tuple(data["files"]), links, Split.from_json(data["split"]) if data.get("split") else None)


def components(paths: Iterable[str], links: Iterable[Link]) -> list[tuple[str, ...]]:
    """The connected components of ``paths`` under ``links`` (files outside ``paths`` are ignored).

    >>> components(["a", "b", "c", "d"], [Link("test", "test of a", ("a", "c")), Link("commit", "x", ("c", "d", "z"))])
    [('a', 'c', 'd'), ('b',)]
    """
    parent = {p: p for p in paths}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        inside = [f for f in link.files if f in parent]
        for f in inside[1:]:
            a, b = find(inside[0]), find(f)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for p in parent:
        members[find(p)].append(p)
    return sorted(tuple(sorted(m)) for m in members.values())


# --- upstream commits -------------------------------------------------------------------

def bases_of(drift: Mapping[str, Any]) -> list[str]:
    """Every base a drift report compares against (its default and per-wave ones), sorted."""
    base = drift.get("base") or {}
    return sorted({s for s in (base.get("sha"), *(base.get("groups") or {}).values()) if s})


def history(logs: Mapping[str, Sequence[tuple[str, Sequence[str]]]], rules: Sequence[MapRule]) -> list[Commit]:
    """One list of commits, oldest first, from each base's ``git.first_parent_paths`` log (newest first).

    A commit newer than several bases appears once and names them all; paths are mapped to
    fork-side names. The order is the longest log's (the oldest base sees every later commit).

    >>> h = history({"b1": [("c2", ["up/x"]), ("c1", ["y"])], "b2": [("c2", ["up/x"])]}, [MapRule("up/", "fk/")])
    >>> [(c.sha, c.files, sorted(c.bases)) for c in h]
    [('c1', ('y',), ['b1']), ('c2', ('fk/x',), ['b1', 'b2'])]
    """
    order: dict[str, Sequence[str]] = {}
    bases: dict[str, set[str]] = defaultdict(set)
    for base in sorted(logs, key=lambda b: (-len(logs[b]), b)):
        for sha, paths in reversed(logs[base]):
            order.setdefault(sha, paths)
            bases[sha].add(base)
    mapped: dict[str, str] = {}

    def fork_side(path: str) -> str:
        if path not in mapped:
            mapped[path] = map_path(path, rules)
        return mapped[path]

    return [Commit(sha, tuple(sorted({fork_side(p) for p in paths})), frozenset(bases[sha]), len(paths))
            for sha, paths in order.items()]


@dataclass(frozen=True)
class CoChange:
    links: tuple[Link, ...]
    last_touch: Mapping[str, int]      # path -> index of the last commit (oldest = 0) that changed it
    too_large: tuple[Commit, ...]      # commits over the cap, not used


def cochange(paths: Collection[str], commits: Sequence[Commit], base_of: Callable[[str], str | None],
             alias: Mapping[str, str], cap: int) -> CoChange:
    """Commit links between planned ``paths``: each commit (at most ``cap`` files) joins the
    planned files it changed since their own base. ``alias`` maps the upstream-side name of a
    path the fork renamed to the fork's name."""
    links: list[Link] = []
    last: dict[str, int] = {}
    too_large: list[Commit] = []
    for i, c in enumerate(commits):
        if c.size > cap:
            too_large.append(c)
            continue
        members = sorted({m for m in (alias.get(f, f) for f in c.files) if m in paths and base_of(m) in c.bases})
        for m in members:
            last[m] = i
        if len(members) > 1:
            links.append(Link("commit", f"commit {c.sha}", tuple(members)))
    return CoChange(tuple(links), last, tuple(too_large))


# --- tests of modules -------------------------------------------------------------------

_JS = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")
_JS_EXT = r"\.[cm]?[jt]sx?"
SAME = ()  # a rule whose source has the test's own extension

# (test basename pattern with a ``stem`` group, source extensions, the source must be in the same folder,
#  the test must be under a folder of this name)
TEST_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...], bool, str | None], ...] = tuple(
    (re.compile(p), exts, same_dir, under) for p, exts, same_dir, under in (
        (r"^test_(?P<stem>.+)\.py$", (".py",), False, None),
        (r"^(?P<stem>.+)_test\.py$", (".py",), False, None),
        (rf"^(?P<stem>.+)\.(?:spec|test|e2e-spec|e2e|int-spec|integration)(?:{_JS_EXT})$", _JS, False, None),
        (rf"^(?P<stem>.+)(?:{_JS_EXT})$", _JS, False, "__tests__"),
        (r"^(?P<stem>.+)_test\.go$", (".go",), True, None),
        (r"^(?P<stem>.+)_(?:spec|test)\.rb$", (".rb",), False, None),
        (r"^test_(?P<stem>.+)\.rb$", (".rb",), False, None),
        (r"^(?P<stem>.+?)(?:Tests?|IT|Spec)\.(?:java|kt|scala|groovy)$", SAME, False, None),
        (r"^(?P<stem>.+)Test\.php$", (".php",), False, None),
        (r"^(?P<stem>.+?)Tests?\.(?:cs|swift)$", SAME, False, None),
        (r"^(?P<stem>.+)_test\.exs$", (".ex", ".exs"), False, None),
        (r"^(?P<stem>.+)_test\.dart$", (".dart",), False, None),
        (r"^(?P<stem>.+)_(?:test|unittest)\.(?:cc|cpp|c)$", (".cc", ".cpp", ".c"), True, None),
    ))
# Folder names that say "tests here" or "sources here": left out when comparing where a test
# and its module live, so tests/unit/foo/test_bar.py still points at src/pkg/foo/bar.py.
_NEUTRAL_DIRS = frozenset({"test", "tests", "__tests__", "__test__", "spec", "specs", "testing", "unit",
                           "integration", "e2e", "src", "lib", "main"})


def tested_names(path: str) -> tuple[tuple[str, ...], bool] | None:
    """(source basenames it may test, same folder only) if ``path`` is a test by its name, else None.

    >>> tested_names("tests/test_task.py"), tested_names("src/__tests__/Button.tsx")[0][:2]
    ((('task.py',), False), ('Button.js', 'Button.jsx'))
    >>> tested_names("pkg/x_test.go"), tested_names("doit/task.py")
    ((('x.go',), True), None)
    """
    folder, _, name = path.rpartition("/")
    for pattern, exts, same_dir, under in TEST_RULES:
        if under and under not in folder.split("/"):
            continue
        m = pattern.match(name)
        if m:
            stem = m.group("stem")
            names = tuple(stem + e for e in exts) if exts else (stem + name[name.rindex("."):],)
            return names, same_dir
    return None


def _logical(folder: str) -> tuple[str, ...]:
    return tuple(d for d in folder.split("/") if d and d not in _NEUTRAL_DIRS)


def _leading(a: str, b: str) -> int:
    """Leading folders two paths share."""
    n = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1]):
        if x != y:
            break
        n += 1
    return n


def pair_tests(paths: Collection[str]) -> list[Link]:
    """A test and the module it tests, both planned.

    The module is a planned non-test file with one of the names the test's name points at
    (``tested_names``) whose folder shares the most *trailing* folder names with the test's
    (names such as ``tests``, ``__tests__`` and ``src`` left out, so ``tests/unit/foo/test_bar.py``
    points at ``src/pkg/foo/bar.py``), then the most leading folders. A tie, or several
    candidates sharing no folder at all, gives no link: a guess would glue unrelated files.
    Candidates are looked up by (name, trailing folders), so a name used thousands of times
    (``index.ts``) costs no more than a rare one.

    >>> [l.why for l in pair_tests(["doit/task.py", "tests/test_task.py", "tests/test_other.py"])]
    ['test of doit/task.py']
    """
    subjects = {p: tested_names(p) for p in sorted(paths)}
    sources = {p for p, subject in subjects.items() if subject is None}
    by_tail: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)  # (name, last k folders) -> sources
    for src in sorted(sources):
        folder, _, name = src.rpartition("/")
        logical = _logical(folder)
        for k in range(len(logical) + 1):
            by_tail[(name, logical[len(logical) - k:])].append(src)
    links = []
    for test, subject in subjects.items():
        if subject is not None and (source := _module_of(test, subject, sources, by_tail)):
            links.append(Link("test", f"test of {source}", tuple(sorted((source, test)))))
    return links


def _module_of(test: str, subject: tuple[tuple[str, ...], bool], sources: Collection[str],
               by_tail: Mapping[tuple[str, tuple[str, ...]], Sequence[str]]) -> str | None:
    names, same_dir = subject
    folder = test.rpartition("/")[0]
    if same_dir:
        found = [f for f in (f"{folder}/{n}" if folder else n for n in names) if f in sources]
        return found[0] if len(found) == 1 else None
    logical = _logical(folder)
    for k in range(len(logical), -1, -1):
        candidates = sorted({s for n in names for s in by_tail.get((n, logical[len(logical) - k:]), ())})
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            if k == 0:
                return None
            scored = sorted(((_leading(test, s), s) for s in candidates), reverse=True)
            return scored[0][1] if scored[0][0] > scored[1][0] else None
    return None


# --- manifests and lockfiles ------------------------------------------------------------

# lockfile -> (the manifest it locks, whether a workspace member's manifest uses a lockfile in an
# ancestor folder: npm/yarn/pnpm/bun workspaces, uv and pdm workspaces, Cargo workspaces, umbrellas)
LOCKFILES: dict[str, tuple[str, bool]] = {
    "yarn.lock": ("package.json", True), "package-lock.json": ("package.json", True),
    "pnpm-lock.yaml": ("package.json", True), "npm-shrinkwrap.json": ("package.json", True),
    "bun.lock": ("package.json", True), "bun.lockb": ("package.json", True),
    "uv.lock": ("pyproject.toml", True), "pdm.lock": ("pyproject.toml", True),
    "poetry.lock": ("pyproject.toml", False), "Pipfile.lock": ("Pipfile", False),
    "Cargo.lock": ("Cargo.toml", True),
    "go.sum": ("go.mod", False), "go.work.sum": ("go.work", False),
    "Gemfile.lock": ("Gemfile", False), "gems.locked": ("gems.rb", False),
    "composer.lock": ("composer.json", False),
    "mix.lock": ("mix.exs", True), "pubspec.lock": ("pubspec.yaml", True),
    "Package.resolved": ("Package.swift", False), "flake.lock": ("flake.nix", False),
}
MANIFESTS = frozenset(m for m, _ in LOCKFILES.values())


def lockfile_links(paths: Collection[str]) -> list[Link]:
    """Each planned manifest with the planned lockfiles of its workspace: those in its own folder,
    else (where the ecosystem has workspaces) in the nearest ancestor folder that has one.

    >>> [l.files for l in lockfile_links(["yarn.lock", "packages/a/package.json", "go.mod", "x/go.sum"])]
    [('packages/a/package.json', 'yarn.lock')]
    """
    locks: dict[str, list[str]] = defaultdict(list)  # folder -> planned lockfiles there
    for p in sorted(paths):
        folder, _, name = p.rpartition("/")
        if name in LOCKFILES:
            locks[folder].append(p)
    links = []
    for manifest in sorted(paths):
        folder, _, name = manifest.rpartition("/")
        if name not in MANIFESTS:
            continue
        here = folder
        found: list[str] = []
        while not found:
            found = [lk for lk in locks.get(here, ()) if LOCKFILES[lk.rpartition("/")[2]][0] == name
                     and (here == folder or LOCKFILES[lk.rpartition("/")[2]][1])]
            if not here:
                break
            here = here.rpartition("/")[0]
        if found:
            links.append(Link("lockfile", f"lockfile of {manifest}", tuple(sorted((manifest, *found)))))
    return links


def couple_links(paths: Collection[str], rules: Sequence[Sequence[str]]) -> list[Link]:
    """One link per ``couple:`` rule: every planned path matching any of its globs.

    >>> couple_links(["db/migrations/1.sql", "src/entities/a.ts", "src/x.ts"], [["**/migrations/**", "**/entities/**"]])
    [Link(kind='couple', why='couple: 0', files=('db/migrations/1.sql', 'src/entities/a.ts'))]
    """
    links = []
    for i, rule in enumerate(rules):
        match = globs(tuple(rule))
        members = tuple(sorted(p for p in paths if match(p)))
        if len(members) > 1:
            links.append(Link("couple", f"couple: {i}", members))
    return links


def path_links(paths: Collection[str], rules: Sequence[Sequence[str]] = ()) -> list[Link]:
    """Every link that needs no history: lockfiles, tests, ``couple:`` rules."""
    return lockfile_links(paths) + pair_tests(paths) + couple_links(paths, rules)


# --- groups inside a slice --------------------------------------------------------------

def groups_in(files: Sequence[str], links: Sequence[Link], slice_of: Mapping[str, str],
              group_size: Mapping[str, int]) -> tuple[Group, ...]:
    """The coupled groups of one slice: ``links`` joined inside ``files``, with their reasons, and
    for a group whose links reach files elsewhere (``slice_of``), where those went and which
    links were cut. Files that are coupled to nothing are left out."""
    inside = set(files)
    comps = components(files, links)
    out = []
    for comp in comps:
        members = set(comp)
        touching = [lk for lk in links if members.intersection(lk.files)]
        here = {Link(lk.kind, lk.why, tuple(sorted(members.intersection(lk.files)))) for lk in touching}
        cut = [lk for lk in touching if not inside.issuperset(lk.files)]
        split = None
        if cut:
            elsewhere = sorted({slice_of.get(f, "unassigned") for lk in cut for f in lk.files if f not in inside})
            split = Split(group_size[comp[0]], tuple(elsewhere), _reasons(cut))
        if len(comp) > 1 or split:
            out.append(Group(comp, tuple(sorted((lk for lk in here if len(lk.files) > 1), key=_strength)), split))
    return tuple(out)


def _strength(link: Link) -> tuple[int, str]:
    return KINDS.index(link.kind), link.why


def _reasons(links: Iterable[Link]) -> tuple[str, ...]:
    """Distinct ``why``s, strongest kind first."""
    return tuple(w for _, w in sorted({_strength(lk) for lk in links}))


def slice_groups(slice_: Mapping[str, Any], kinds: Collection[str] | None = None) -> list[tuple[str, ...]]:
    """The groups of a ``plan.json`` slice as a partition of its files, for the slice runner: it
    keeps each part whole when it splits a failing slice (a manifest and its lockfile, a module
    and its test, one upstream commit's files). Each coupled group is one part, every other file
    a part of its own; parts follow the slice's file order, by their first file. A plan written
    before coupled groups existed gives one part per file.

    With ``kinds``, only links of those kinds hold files together — a finer partition inside
    the groups, for a runner that must cut a failing group further: ``("lockfile", "test",
    "couple")`` cuts only commit links, ``("lockfile",)`` keeps only what is never split.

    >>> s = {"files": [{"path": "a"}, {"path": "b"}, {"path": "c"}, {"path": "d"}],
    ...      "groups": [{"files": ["a", "c", "d"], "why": ["test of a", "commit x"], "split": None,
    ...                  "links": [{"kind": "test", "why": "test of a", "files": ["a", "c"]},
    ...                            {"kind": "commit", "why": "commit x", "files": ["a", "d"]}]}]}
    >>> slice_groups(s), slice_groups(s, kinds=("lockfile", "test", "couple"))
    ([('a', 'c', 'd'), ('b',)], [('a', 'c'), ('b',), ('d',)])
    """
    order = [f["path"] for f in slice_["files"]]
    position = {p: i for i, p in enumerate(order)}
    if kinds is None:
        sets: Iterable[Sequence[str]] = (g["files"] for g in slice_.get("groups") or ())
    else:
        sets = (lk["files"] for g in slice_.get("groups") or () for lk in g.get("links") or () if lk["kind"] in kinds)
    parts = components(order, (Link("couple", "", tuple(files)) for files in sets))
    return [tuple(sorted(p, key=position.__getitem__))
            for p in sorted(parts, key=lambda p: min(map(position.__getitem__, p)))]
