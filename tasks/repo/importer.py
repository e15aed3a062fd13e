"""import: turn a slice's drift entries into changes, and changes into a commit object.

Nothing here moves a branch. A candidate commit is built from a temporary index
(``read-tree`` / ``update-index`` / ``write-tree`` / ``commit-tree``); only the slice
runner moves the sync branch, atomically, once a candidate passed its checks.
"""
from __future__ import annotations

import bisect
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tasks.repo import git, objects
from tasks.globs import denied

LATER = "it lands in a second pass of the slice"  # blocked only until what the first pass removes is gone
WRITE_CLASSES = frozenset({"upstream-added", "upstream-changed", "missing"})
DELETE_CLASSES = frozenset({"upstream-deleted"})
CONFLICT_REASONS = {
    "both-changed": "changed on both sides since the base; not imported (needs a 3-way merge)",
    "differs": "no base known: an upstream change cannot be told from a fork edit; set `base` (or let "
               "`doit base` detect it) or merge by hand",
}


@dataclass(frozen=True)
class Change:
    path: str
    cls: str
    mode: str | None  # None: delete
    oid: str | None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "class": self.cls, "mode": self.mode, "oid": self.oid}


@dataclass(frozen=True)
class Prepared:
    changes: tuple[Change, ...]
    conflicts: tuple[tuple[str, str], ...]  # (path, reason)
    blocked: tuple[tuple[str, str], ...]
    applied: tuple[str, ...]                # already as upstream has them on the sync branch
    reported: tuple[tuple[str, str], ...] = ()  # left alone by policy (deletions: report)
    resolved: tuple[tuple[str, str], ...] = ()     # (path, commit): a person's version on the sync branch, kept
    rolled_back: tuple[tuple[str, str], ...] = ()  # (path, revert commit): a person rolled this content back

    def to_json(self) -> dict[str, Any]:
        return {"changes": [c.to_json() for c in self.changes],
                "conflicts": [{"path": p, "reason": r} for p, r in self.conflicts],
                "blocked": [{"path": p, "reason": r} for p, r in self.blocked],
                "applied": list(self.applied),
                "reported": [{"path": p, "reason": r} for p, r in self.reported],
                "resolved": [{"path": p, "commit": c} for p, c in self.resolved],
                "rolled_back": [{"path": p, "commit": c} for p, c in self.rolled_back]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Prepared:
        return cls(tuple(Change(c["path"], c["class"], c["mode"], c["oid"]) for c in data["changes"]),
                   tuple((c["path"], c["reason"]) for c in data["conflicts"]),
                   tuple((c["path"], c["reason"]) for c in data["blocked"]),
                   tuple(data["applied"]),
                   tuple((c["path"], c["reason"]) for c in data.get("reported", ())),
                   tuple((c["path"], c["commit"]) for c in data.get("resolved", ())),
                   tuple((c["path"], c["commit"]) for c in data.get("rolled_back", ())))


@dataclass(frozen=True)
class Touch:
    """The newest sync-branch commit (since ``fork.branch``) that changed a path."""

    commit: str
    automatic: bool   # forkwave's own (a slice, a retry): its content may be replaced by newer upstream work
    markers: bool     # the path's content on the tip still holds conflict markers
    kept: bool = False  # a person chose the fork's version as it is (`doit resolve … take=fork`)


# HFS+ ignores these code points in names, so ".g\u200cit" is ".git" on macOS (git's own core.protectHFS list)
_HFS_IGNORED = dict.fromkeys(map(ord, "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                       "\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"))
# git refuses to check these out as symlinks (CVE-2018-11235 and its followers)
_NO_SYMLINK = frozenset({".gitmodules", ".gitattributes", ".gitignore", ".mailmap"})


@lru_cache(maxsize=4096)
def is_dotgit(name: str) -> bool:
    """Would a file system take ``name`` for ``.git``? Case, NTFS (``.git.``, ``.git::$DATA``, ``git~1``)
    and HFS+ (ignored code points) aliases included, as git's core.protectNTFS/protectHFS do.

    >>> [is_dotgit(n) for n in (".git", ".GIT", ".git. ", ".git::$INDEX_ALLOCATION", "GIT~1", ".g\u200cit")]
    [True, True, True, True, True, True]
    >>> [is_dotgit(n) for n in (".github", ".gitignore", "git", "x.git")]
    [False, False, False, False]
    """
    folded = name.translate(_HFS_IGNORED).lower().split(":", 1)[0].rstrip(". ")
    return folded in (".git", "git~1")


def check_path(path: str, mode: str | None = None, link_target: str | None = None) -> str | None:
    """Why ``path`` must not be written, or None when it is safe (the path alone; see
    ``tree_hazards`` for what a path means together with the rest of the tree).

    >>> check_path("a/b.txt"), check_path("/etc/passwd"), check_path("a/../../x")
    (None, 'absolute path', "'..' in path")
    >>> check_path(".git/hooks/pre-commit"), check_path("a/link", "120000", "../../outside")
    ('inside .git', 'symlink target leaves the repository: ../../outside')
    >>> check_path("a/link", "120000", "../b/c"), check_path("hook", "120000", ".git/config")
    (None, 'symlink target points into .git: .git/config')
    """
    parts = path.split("/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "absolute path"
    if ".." in parts:
        return "'..' in path"
    if any(is_dotgit(p) for p in parts):
        return "inside .git"
    if "" in parts or "." in parts:
        return "empty or '.' path component"
    if "\\" in path:
        return f"backslash in a name (a folder separator on Windows): {path!r}"
    if mode == "120000" and parts[-1].lower() in _NO_SYMLINK:
        return f"{parts[-1]} as a symlink (git refuses to check one out)"
    if mode == "120000" and link_target is not None:
        if link_target.startswith("/"):
            return f"symlink target is absolute: {link_target}"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), link_target))
        if resolved == ".." or resolved.startswith("../"):
            return f"symlink target leaves the repository: {link_target}"
        if any(is_dotgit(p) for p in resolved.split("/")):
            return f"symlink target points into .git: {link_target}"
    return None


def _entry(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    mode, oid = text.split(" ")
    return mode, oid


def prepare(files: Iterable[Mapping[str, str]], entries: Mapping[str, Mapping[str, Any]],
            tip: Mapping[str, tuple[str, str]], links: Mapping[str, str],
            merges: Mapping[str, Any] | None = None, deletions: str = "apply",
            deny: Sequence[str] | Callable[[str], bool] = (),
            touched: Mapping[str, Touch] | None = None,
            rolled: Mapping[tuple[str, str | None], str] | None = None) -> Prepared:
    """Pure: what importing ``files`` (a plan slice) onto a sync tip would do.

    ``tip`` holds the sync branch's (mode, oid) per path — its whole tree, so that symlinks
    are judged against the tree they would land in (``tree_hazards``); ``links`` symlink
    targets by oid, the tip's and upstream's; ``merges`` the 3-way merge of each
    both-changed path (``tasks.repo.merge.Merge``); ``deny`` the deny list (case-insensitive) or a
    predicate (``Config.is_denied``, which honours ``deny_except``); ``touched`` the newest
    sync-branch commit that changed each path; ``rolled`` the (path, entry) pairs a person
    rolled back (``history.rollbacks``).

    A person's version of a path on the sync branch is never overwritten: it is kept as
    their resolution (or, holding conflict markers, reported as an unfinished one). A conflict
    a person settled by committing upstream's own version (``take=upstream``, or by hand) is
    resolved too: the content alone cannot tell it from an import, the commit's author can.
    A path forkwave itself changed there may take newer upstream work. Content a person rolled back
    is not imported again while upstream offers the same.
    """
    merges, touched, rolled = merges or {}, touched or {}, rolled or {}
    is_denied = deny if callable(deny) else denied(deny)
    changes, conflicts, blocked, applied, reported, resolved, rolled_back = [], [], [], [], [], [], []
    for f in files:
        path, cls = f["path"], f["class"]
        e = entries[path]
        upstream, fork_then, now = _entry(e["upstream"]), _entry(e["fork"]), tip.get(path)
        merge = merges.get(path)
        target = (merge.mode, merge.oid) if merge and merge.clean else upstream
        who = touched.get(path)
        if who and not who.automatic and (who.kept or (now != fork_then and now != target)):
            if who.markers:
                conflicts.append((path, f"conflict markers committed on the sync branch in {who.commit[:12]}; "
                                        "finish the resolution there and run again"))
            else:
                resolved.append((path, who.commit))
            continue
        if cls in CONFLICT_REASONS and not (merge and merge.clean):
            if who and not who.automatic and now == target:  # a person took upstream's side: committed its content
                resolved.append((path, who.commit))
            else:
                conflicts.append((path, merge.reason if merge else CONFLICT_REASONS[cls]))
            continue
        if now == upstream or (merge and merge.clean and now == (merge.mode, merge.oid)):
            applied.append(path)
            continue
        undone = rolled.get((path, None if target is None else f"{target[0]} {target[1]}"))
        if undone:
            rolled_back.append((path, undone))
            continue
        if now != fork_then and not (who and who.automatic):
            conflicts.append((path, "changed on the sync branch since the drift report; re-run drift"))
            continue
        reason = check_path(path, upstream[0] if upstream else None,
                            links.get(upstream[1]) if upstream and upstream[0] == LINK else None)
        if reason is None and is_denied(path):
            reason = "deny-listed (deny globs match regardless of case)"
        if reason:
            blocked.append((path, reason))
        elif merge and merge.clean:
            changes.append(Change(path, cls, merge.mode, merge.oid))
        elif cls in WRITE_CLASSES and upstream:
            changes.append(Change(path, cls, upstream[0], upstream[1]))
        elif cls in DELETE_CLASSES and deletions == "report":
            reported.append((path, "deleted upstream; kept (deletions: report)"))
        elif cls in DELETE_CLASSES:
            changes.append(Change(path, cls, None, None))
    hazards = tree_hazards(tip, changes, links, is_denied)
    blocked += sorted(hazards.items())
    changes = [c for c in changes if c.path not in hazards]
    return Prepared(tuple(changes), tuple(conflicts), tuple(blocked), tuple(applied), tuple(reported),
                    tuple(resolved), tuple(rolled_back))


# --- the tree a slice would make ---------------------------------------------------------

LINK, GITLINK = "120000", "160000"
MAX_LINKS = 40        # symlinks followed in one resolution: Linux's MAXSYMLINKS; more is a loop or an attack
MAX_STEPS = 200_000   # path components walked in all (every link, every combination of the slice's changes)
_UNREADABLE = "\0unreadable"
_SETTLE_DEPTH = 200   # nested ``settled`` calls: a chain of the tip's links this long is resolved at once


def _kind(mode: str | None) -> str:
    return {LINK: "a symlink", GITLINK: "a submodule"}.get(mode or "", "a file")


def _prefixes(path: str) -> Iterator[str]:
    """The folders ``path`` is in, outermost first: ``a/b/c`` -> ``a``, ``a/b``."""
    at = path.find("/")
    while at != -1:
        yield path[:at]
        at = path.find("/", at + 1)


def tree_hazards(tip: Mapping[str, tuple[str, str]], changes: Sequence[Change], links: Mapping[str, str],
                 deny: Callable[[str], bool] | None = None) -> dict[str, str]:
    """Pure: the changes to block, with reasons, so that no tree the slice can produce is unsafe.

    A slice is validated in parts (``tasks.core.bisect``): a candidate is the sync tip plus any
    subset of ``changes``. So every symlink — new, retargeted, or already on the tip — is
    resolved against the tree itself, following the tree's own links (at most ``MAX_LINKS``),
    once for each state a changed path on its way can have (as on the tip, or as changed).
    A resolution that leaves the root, enters ``.git``, is absolute, loops, or lands on a
    deny-listed path blocks the link when it is the slice's, else the changes that made
    the tip's link do it; then no subset of what is left is unsafe. Independently, a file
    cannot go underneath a symlink (or a file), nor a symlink over a folder: git's index
    would silently drop one of the two (``tasks.repo.importer.dir_file_clashes``).

    >>> L = "120000"
    >>> hop = Change("z/z/z/z/s", "upstream-added", L, "s")       # resolves to the root: fine alone
    >>> out = Change("dist", "upstream-added", L, "d")            # ... but through it, outside
    >>> tree_hazards({}, [hop, out], {"s": "../../../..", "d": "z/z/z/z/s/../../../outside"})
    {'dist': 'symlink resolves outside the repository: dist -> z/z/z/z/s/../../../outside (through z/z/z/z/s)'}
    """
    blocked = dir_file_clashes(tip, changes)
    # a change without an oid (a mode always comes with one) has no target to read: unreadable, as a link
    live = {c.path: (c.mode, c.oid or "") if c.mode else None for c in changes if c.path not in blocked}
    view = _TreeView(tip, live, links, deny)
    try:
        starts = [(p, True) for p, e in live.items() if e and e[0] == LINK]
        if view.forks:  # else every tip link resolves as it does today: the fork's own business
            starts += [(p, False) for p, (mode, _) in tip.items() if mode == LINK and view.settled(p) is None]
        for start, as_changed in starts:
            for problem, chosen, via in view.unsafe_resolutions(start, as_changed):
                if as_changed:
                    shown = list(dict.fromkeys(via))
                    through = f" (through {', '.join(shown[:5])}{', ...' if len(shown) > 5 else ''})" if via else ""
                    blocked.setdefault(start, f"{problem}: {start} -> {view.target(start, True)}{through}")
                else:
                    for path in sorted(chosen):
                        blocked.setdefault(path, f"with it, the sync branch's symlink {start} -> "
                                                 f"{view.target(start, False)} {problem.removeprefix('symlink ')}")
    except _Tangled:  # no verdict: every change that alters a link may be the one, so none of them lands
        for path in sorted(view.forks):
            blocked.setdefault(path, f"symlinks too tangled to verify (over {MAX_STEPS:,} steps); import by hand")
    return blocked


def dir_file_clashes(tip: Mapping[str, tuple[str, str]], changes: Sequence[Change]) -> dict[str, str]:
    """Writes that would put an entry underneath a non-folder, or a non-folder over a folder.

    Blocked even when the slice also removes what is in the way: a part of the slice may
    land without that removal. It lands in a second pass of the slice, once the removal has.

    >>> a = Change("lib2", "upstream-added", "120000", "l")
    >>> b = Change("lib2/y.js", "upstream-added", "100644", "y")
    >>> sorted(dir_file_clashes({}, [a, b]).items())[0]
    ('lib2', 'upstream has both lib2 (a symlink) and lib2/y.js; git can only keep one')
    """
    writes = {c.path: c.mode for c in changes if c.mode}
    deleted = {c.path for c in changes if not c.mode}
    ordered = sorted(tip) if writes else []
    out: dict[str, str] = {}
    for path in sorted(writes):
        for folder in _prefixes(path):
            if folder in writes:
                why = f"upstream has both {folder} ({_kind(writes[folder])}) and {path}; git can only keep one"
                out.setdefault(folder, why)
                out.setdefault(path, why)
                break
            if folder in tip:
                later = f"; {LATER}, once that deletion has landed" if folder in deleted else ""
                out[path] = (f"{folder} is {_kind(tip[folder][0])} on the sync branch; nothing can go "
                             f"underneath it{later}")
                break
        inside = _under(ordered, path)
        if inside and path not in out:
            later = f"; {LATER}, once their deletion has landed" if deleted.issuperset(inside) else ""
            out[path] = (f"would replace the folder {path}/ ({len(inside)} file(s) on the sync branch, e.g. "
                         f"{inside[0]}) with {_kind(writes[path])}{later}")
    return out


def _under(ordered: Sequence[str], folder: str) -> list[str]:
    """The paths of sorted ``ordered`` inside ``folder`` (a contiguous run: ``folder/`` sorts before its kin)."""
    start = bisect.bisect_left(ordered, folder + "/")
    end = bisect.bisect_left(ordered, folder + "0")  # "0" is the character after "/"
    return list(ordered[start:end])


class _Tangled(Exception):
    """Resolving the links took more than ``MAX_STEPS``."""


# a walk left for later: (parts so far, components to resolve, links followed, states chosen, links on the way)
_Walk = tuple[list[str], list[str], int, dict[str, bool], list[str]]


class _TreeView:
    """The trees a slice can produce: the tip, with each changed path either as it is there or as changed.

    Only changed paths whose symlink-ness or target differs between the two states
    (``forks``) make two trees resolve differently; a tip link whose resolution never meets
    one is *settled* — the same in every candidate — and is resolved once (``settled``).
    """

    def __init__(self, tip: Mapping[str, tuple[str, str]], changed: Mapping[str, tuple[str, str] | None],
                 links: Mapping[str, str], deny: Callable[[str], bool] | None):
        self.tip, self.changed, self.links, self.deny = tip, changed, links, deny
        self.forks = {p for p in changed if self.target(p, True) != self.target(p, False)}
        self.steps = 0
        self._settled: dict[str, tuple[list[str], str | None] | None] = {}
        self._busy: set[str] = set()

    def target(self, path: str, as_changed: bool) -> str | None:
        """The symlink target at ``path`` in that state; None when it is not a symlink there."""
        entry = self.changed[path] if as_changed else self.tip.get(path)
        if entry is None or entry[0] != LINK:
            return None
        return self.links.get(entry[1], _UNREADABLE)

    def _step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Tangled

    def settled(self, path: str, depth: int = 0) -> tuple[list[str], str | None] | None:
        """Where the tip's link at ``path`` resolves — (parts, None) or ([], problem) — when no
        fork is on its way; None when one is (or the chain is too long to tell cheaply)."""
        if path in self._settled:
            return self._settled[path]
        if path in self._busy:
            return [], f"symlink resolves through more than {MAX_LINKS} links"  # a loop of the tip's own links
        if depth > _SETTLE_DEPTH:  # Python recursion; a longer chain takes the full walk (MAX_LINKS)
            return None
        self._busy.add(path)
        try:
            result = self._settle(path, depth)
        finally:
            self._busy.discard(path)
        self._settled[path] = result
        return result

    def _settle(self, path: str, depth: int) -> tuple[list[str], str | None] | None:
        target = self.target(path, False)
        if target is None or target == _UNREADABLE or target.startswith("/"):
            return None  # not settled here: the full walk names the problem
        parts = path.split("/")[:-1]
        for name in target.split("/"):
            self._step()
            if name in ("", "."):
                continue
            if name == "..":
                if not parts:
                    return [], "symlink resolves outside the repository"
                parts.pop()
                continue
            if is_dotgit(name):
                return [], "symlink resolves into .git"
            parts.append(name)
            here = "/".join(parts)
            if here in self.forks:
                return None
            if self.target(here, False) is not None:
                sub = self.settled(here, depth + 1)
                if sub is None or sub[1]:
                    return sub
                parts = list(sub[0])
        return parts, None

    def unsafe_resolutions(self, start: str, as_changed: bool) -> Iterator[tuple[str, frozenset[str], list[str]]]:
        """(problem, the changed paths that state needs, links followed after ``start``) for each
        combination of states under which the link at ``start`` resolves somewhere unsafe."""
        chosen = {start: as_changed} if start in self.forks else {}
        stack: list[_Walk] = [(start.split("/")[:-1], [start.rsplit("/", 1)[-1]], 0, chosen, [])]
        while stack:
            parts, todo, follows, chosen, via = stack.pop()
            problem, chosen = self._walk(parts, todo, follows, chosen, via, stack)
            if problem is None and self.deny and (self.deny("/".join(parts)) or self.deny("/".join(parts) + "/")):
                problem = f"symlink resolves to a deny-listed path ({'/'.join(parts)})"
            if problem:
                needed = frozenset(p for p, as_new in chosen.items() if as_new)
                if needed:  # else the tip's own link does it, whatever this slice does
                    yield problem, needed, [v for v in via if v != start]

    def _walk(self, parts: list[str], todo: list[str], follows: int, chosen: dict[str, bool], via: list[str],
              stack: list[_Walk]) -> tuple[str | None, dict[str, bool]]:
        """Resolve ``todo`` from ``parts`` (both changed in place); push the other state of each
        undecided fork met on the way. Returns the problem, or None (``parts`` is where it
        lands), and the states this resolution chose."""
        todo.reverse()  # a stack of components: pop() is the next one
        while todo:
            self._step()
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if not parts:
                    return "symlink resolves outside the repository", chosen
                parts.pop()
                continue
            if is_dotgit(name):
                return "symlink resolves into .git", chosen
            parts.append(name)
            path = "/".join(parts)
            if path in self.forks and path not in chosen:  # either state may be in a candidate: follow both
                stack.append((parts[:-1], [name, *reversed(todo)], follows, {**chosen, path: False}, list(via)))
                chosen = chosen | {path: True}
            as_changed = chosen.get(path, False)
            target = self.target(path, as_changed)
            if target is None:
                continue
            follows += 1
            via.append(path)
            settled = None if as_changed else self.settled(path)
            if settled is not None:  # the tip's link, the same in every candidate: where it lands is known
                if settled[1]:
                    return settled[1], chosen
                parts[:] = settled[0]
                continue
            if target == _UNREADABLE:
                return "symlink target cannot be read", chosen
            if target.startswith("/"):
                return "symlink resolves to an absolute path", chosen
            if follows > MAX_LINKS:
                return f"symlink resolves through more than {MAX_LINKS} links", chosen
            parts.pop()
            todo.extend(reversed(target.split("/")))
        return None, chosen


# --- git side -----------------------------------------------------------------------

def tip_entries(fork: Path, tip: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    if not paths:
        return {}
    out = git.git(fork, "ls-tree", "-r", "-z", "--full-tree", tip, "--", *paths,
                  env={"GIT_LITERAL_PATHSPECS": "1"})
    return {e.name: (e.mode, e.oid) for e in git.parse_ls_tree(out)}


def tip_tree(fork: Path, tip: str) -> dict[str, tuple[str, str]]:
    """Every entry of the sync tip (files, symlinks, submodules): what a slice's changes land in."""
    return git.tree_entries(fork, tip)


def link_targets(repo: Path, oids: Iterable[str]) -> dict[str, str]:
    """Symlink targets by blob id; a blob ``repo`` lacks is left out (``tree_hazards`` blocks it)."""
    return {oid: data.decode("utf-8", "surrogateescape") for oid, data in git.read_blobs(repo, oids)
            if data is not None}


def read_tip(fork: Path, mirror: Path, tip: str, upstream_links: Iterable[str]
             ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The sync tip's whole tree and the targets of every symlink a slice's trees can hold
    (the tip's, read from the fork; upstream's, from the mirror), for ``prepare``."""
    tree = tip_tree(fork, tip)
    links = link_targets(fork, {oid for mode, oid in tree.values() if mode == LINK})
    return tree, links | link_targets(mirror, upstream_links)


def copy_objects(mirror: Path, fork: Path, oids: Iterable[str]) -> None:
    """Copy upstream blobs into the fork's object store (only the ones a slice needs).

    A submodule's commit (a gitlink) is not an object of this repository and is normally
    absent from the mirror too: the gitlink is imported as a gitlink and needs no object, so
    ids the mirror lacks are left to ``build_commit`` (which fails on a truly missing blob).
    """
    wanted = sorted(set(oids))
    if not wanted or objects.reads(fork, mirror):  # a private object directory reads the mirror as it is
        return
    missing = [o for o, found in zip(wanted, git.resolve_many(fork, wanted)) if not found]
    in_mirror = [o for o, found in zip(missing, git.resolve_many(mirror, missing)) if found] if missing else []
    if in_mirror:
        pack = git.git(mirror, "pack-objects", "--stdout", "-q", input="\n".join(in_mirror).encode() + b"\n")
        git.git(fork, "unpack-objects", "-q", input=pack)


def build_commit(fork: Path, parent: str, changes: Sequence[Change], message: str) -> str:
    """A commit object: ``parent`` with ``changes`` applied. No ref is touched."""
    tree = build_tree(fork, parent, changes)
    return git.git(fork, "commit-tree", tree, "-p", parent, input=message.encode()).decode().strip()


def build_tree(fork: Path, parent: str, changes: Sequence[Change]) -> str:
    """The tree of ``parent`` with ``changes`` applied, through a temporary index."""
    if not changes:
        return git.tree_of(fork, parent)
    fd, index = tempfile.mkstemp(prefix="forkwave-index-")
    os.close(fd)
    os.unlink(index)  # git wants to create it itself
    env = {"GIT_INDEX_FILE": index}
    try:
        git.git(fork, "read-tree", parent, env=env)
        info = b"".join(
            (f"{c.mode} {c.oid}\t" if c.mode else f"0 {'0' * 40}\t").encode()
            + c.path.encode("utf-8", "surrogateescape")
            + b"\0" for c in changes)
        if info:
            git.git(fork, "update-index", "-z", "--index-info", input=info, env=env)
        return git.git(fork, "write-tree", env=env).decode().strip()
    finally:
        if os.path.exists(index):
            os.unlink(index)
