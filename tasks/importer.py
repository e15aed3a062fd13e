"""import: turn a slice's drift entries into changes, and changes into a commit object.

Nothing here moves a branch. A candidate commit is built from a temporary index
(``read-tree`` / ``update-index`` / ``write-tree`` / ``commit-tree``); only the slice
runner moves the sync branch, atomically, once a candidate passed its checks.
"""
from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks import git

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


def check_path(path: str, mode: str | None = None, link_target: str | None = None) -> str | None:
    """Why ``path`` must not be written, or None when it is safe.

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
    if any(p.lower() == ".git" for p in parts):
        return "inside .git"
    if "" in parts or "." in parts:
        return "empty or '.' path component"
    if mode == "120000" and link_target is not None:
        if link_target.startswith("/"):
            return f"symlink target is absolute: {link_target}"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), link_target))
        if resolved == ".." or resolved.startswith("../"):
            return f"symlink target leaves the repository: {link_target}"
        if any(p.lower() == ".git" for p in resolved.split("/")):
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
            touched: Mapping[str, Touch] | None = None,
            rolled: Mapping[tuple[str, str | None], str] | None = None) -> Prepared:
    """Pure: what importing ``files`` (a plan slice) onto a sync tip would do.

    ``tip`` holds the sync branch's (mode, oid) per path; ``links`` symlink targets by oid;
    ``merges`` the 3-way merge of each both-changed path (``tasks.merge.Merge``);
    ``touched`` the newest sync-branch commit that changed each path; ``rolled`` the
    (path, entry) pairs a person rolled back (``history.rollbacks``).

    A person's version of a path on the sync branch is never overwritten: it is kept as
    their resolution (or, holding conflict markers, reported as an unfinished one). A path
    forkwave itself changed there may take newer upstream work. Content a person rolled back
    is not imported again while upstream offers the same.
    """
    merges, touched, rolled = merges or {}, touched or {}, rolled or {}
    changes, conflicts, blocked, applied, reported, resolved, rolled_back = [], [], [], [], [], [], []
    for f in files:
        path, cls = f["path"], f["class"]
        e = entries[path]
        upstream, fork_then, now = _entry(e["upstream"]), _entry(e["fork"]), tip.get(path)
        merge = merges.get(path)
        target = (merge.mode, merge.oid) if merge and merge.clean else upstream
        who = touched.get(path)
        if who and not who.automatic and now != fork_then and now != target:
            if who.markers:
                conflicts.append((path, f"conflict markers committed on the sync branch in {who.commit[:12]}; "
                                        "finish the resolution there and run again"))
            else:
                resolved.append((path, who.commit))
            continue
        if cls in CONFLICT_REASONS and not (merge and merge.clean):
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
                            links.get(upstream[1]) if upstream and upstream[0] == "120000" else None)
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
    return Prepared(tuple(changes), tuple(conflicts), tuple(blocked), tuple(applied), tuple(reported),
                    tuple(resolved), tuple(rolled_back))


# --- git side -----------------------------------------------------------------------

def tip_entries(fork: Path, tip: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    if not paths:
        return {}
    out = git.git(fork, "ls-tree", "-r", "-z", "--full-tree", tip, "--", *paths,
                  env={"GIT_LITERAL_PATHSPECS": "1"})
    return {e.name: (e.mode, e.oid) for e in git.parse_ls_tree(out)}


def link_targets(mirror: Path, oids: Iterable[str]) -> dict[str, str]:
    return {oid: (data or b"").decode("utf-8", "surrogateescape") for oid, data in git.read_blobs(mirror, oids)}


def copy_objects(mirror: Path, fork: Path, oids: Iterable[str]) -> None:
    """Copy upstream blobs into the fork's object store (only the ones a slice needs)."""
    wanted = sorted(set(oids))
    if not wanted:
        return
    present = git.git(fork, "cat-file", "--batch-check=%(objectname)", input="\n".join(wanted).encode() + b"\n")
    missing = [o for o, line in zip(wanted, present.decode().splitlines()) if line.endswith("missing")]
    if missing:
        pack = git.git(mirror, "pack-objects", "--stdout", "-q", input="\n".join(missing).encode() + b"\n")
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
            (f"{c.mode} {c.oid}\t" if c.mode else f"0 {'0' * 40}\t").encode() + c.path.encode("utf-8", "surrogateescape")
            + b"\0" for c in changes)
        if info:
            git.git(fork, "update-index", "-z", "--index-info", input=info, env=env)
        return git.git(fork, "write-tree", env=env).decode().strip()
    finally:
        if os.path.exists(index):
            os.unlink(index)
