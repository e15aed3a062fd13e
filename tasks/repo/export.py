"""The export commit of a ``direction: push`` source, built in its mirror on the source ref; no ref is moved.

Each candidate (``tasks.core.directions.select``) is read from the fork, turned back into the source's
bytes (``unrewrite``), and compared with the source's version at its ref — what the source already has
is not exported — and with what was exported before (``exported``: source path -> blob id) — what went
once does not go again. The rest is written into the mirror and committed on the source ref's tip
(trailer ``Forkwave-Export: <fork name>``). ``tasks.publish.contrib`` pushes it; nothing here writes a ref.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core import directions
from tasks.core.rewrite import rewriter
from tasks.repo import git

FIXED = "@0 +0000"  # the checked-out commit's dates: the same export, the same commit


@dataclass
class Export:
    source: str
    branch: str
    base: str                                   # the source ref's commit the export builds on
    files: list[dict[str, Any]] = field(default_factory=list)   # {path, source_path, mode, oid, action}
    refused: list[dict[str, str]] = field(default_factory=list)  # {path, reason}
    skipped: list[dict[str, str]] = field(default_factory=list)  # {path, why}: the source has it, or exported
    conflicts: list[str] = field(default_factory=list)           # changed on both sides: exported nowhere
    commit: str | None = None
    tree: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("source", "branch", "base", "commit", "tree", "files", "refused",
                                              "skipped", "conflicts")}


def build(cfg: Config, mirror: Path, report: Mapping[str, Any], exported: Mapping[str, str],
          fixed_date: str | None = None) -> Export:
    """The export of ``cfg``'s current source (its config view) from ``report`` (its ``drift.json``)."""
    src = cfg.current
    tip = report["upstream"]["sha"]
    out = Export(src.name, src.contrib_branch, tip)
    picked = directions.select(report["entries"], cfg.map)
    out.conflicts = list(picked.conflicts)
    out.refused = [{"path": p, "reason": r} for p, r in picked.refused]
    candidates = list(picked.candidates)
    if not candidates:
        return out
    env = git.alternates_env(cfg.fork.path)  # the fork's blobs, read through the mirror
    fork_data = dict(git.read_blobs(mirror, [c.fork.split(" ")[1] for c in candidates], env=env))
    theirs = git.read_paths(mirror, tip, [c.source_path for c in candidates])
    rw = rewriter(cfg.rewrite)
    changes = []
    for c in candidates:
        mode, oid = c.fork.split(" ")
        data = fork_data.get(oid)
        if mode not in ("100644", "100755") or data is None:
            out.refused.append({"path": c.path, "reason": "not a regular file (symlinks and submodules are not "
                                                          "exported)"})
            continue
        back, why = directions.unrewrite(rw, c.path, data, theirs.get(c.source_path))
        if back is None:
            out.refused.append({"path": c.path, "reason": why})
            continue
        blob = git.git(mirror, "hash-object", "-w", "--no-filters", "--stdin", input=back).decode().strip()
        if theirs.get(c.source_path) == back:
            out.skipped.append({"path": c.path, "why": "the source has it already"})
        elif exported.get(c.source_path) == blob:
            out.skipped.append({"path": c.path, "why": "exported before"})
        else:
            action = "change" if theirs.get(c.source_path) is not None else "add"
            out.files.append({"path": c.path, "source_path": c.source_path, "mode": mode, "oid": blob,
                              "action": action})
            changes.append((mode, blob, c.source_path))
    if changes:
        commit_files(cfg, mirror, out, [f["path"] for f in out.files], fixed_date)
    return out


def tree_for(mirror: Path, out: Export, paths: list[str]) -> str:
    """The source ref's tree with the export's ``paths`` (fork-side names) applied."""
    wanted = set(paths)
    return _tree(mirror, out.base, [(f["mode"], f["oid"], f["source_path"]) for f in out.files if f["path"] in wanted])


def commit_files(cfg: Config, mirror: Path, out: Export, paths: list[str], fixed_date: str | None = None) -> None:
    """Make the export's commit hold only ``paths`` (the others are dropped from ``files``)."""
    wanted = set(paths)
    out.files = [f for f in out.files if f["path"] in wanted]
    if not out.files:
        out.tree = out.commit = None
        return
    out.tree = tree_for(mirror, out, paths)
    out.commit = _commit(mirror, out.tree, out.base, _message(cfg, out), fixed_date)


NULL = "0" * 40  # ``--index-info`` with mode 0: the path is removed


def fork_tree_for(cfg: Config, mirror: Path, out: Export, report: Mapping[str, Any], paths: list[str]) -> str:
    """The export's ``paths`` in the fork's layout: the fork's tree as the drift saw it, with every path the source
    owns as the source would hold it once the export lands — its own version (mapped and rewritten, as drift
    compares it) where nothing of the fork's goes, the fork's where it does. Written in the mirror, which reads
    the fork's objects as an alternate; the fork's object store gets nothing."""
    going = {f["path"] for f in out.files if f["path"] in set(paths)}
    changes = []
    for path, entry in sorted(report["entries"].items()):
        if path in going or entry.get("upstream") == entry.get("fork"):
            continue
        mode, oid = entry["upstream"].split(" ") if entry.get("upstream") else ("0", NULL)
        changes.append((mode, oid, path))
    return _tree(mirror, report["fork"]["sha"], changes, git.alternates_env(cfg.fork.path))


def _tree(mirror: Path, parent: str, changes: list[tuple[str, str, str]], env: Mapping[str, str] | None = None) -> str:
    fd, index = tempfile.mkstemp(prefix="forkwave-export-index-")
    os.close(fd)
    os.unlink(index)
    env = {**(env or {}), "GIT_INDEX_FILE": index}
    try:
        git.git(mirror, "read-tree", parent, env=env)
        info = b"".join(f"{mode} {oid}\t".encode() + path.encode("utf-8", "surrogateescape") + b"\0"
                        for mode, oid, path in changes)
        git.git(mirror, "update-index", "-z", "--index-info", input=info, env=env)
        return git.git(mirror, "write-tree", env=env).decode().strip()
    finally:
        if os.path.exists(index):
            os.unlink(index)


def _message(cfg: Config, out: Export) -> str:
    fork = cfg.fork.path.name or "fork"
    lines = [f"{fork}: {len(out.files)} change{'' if len(out.files) == 1 else 's'} from the fork", ""]
    lines += [f"- {f['source_path']}" for f in out.files[:50]]
    if len(out.files) > 50:
        lines.append(f"- … and {len(out.files) - 50} more")
    return "\n".join(lines) + f"\n\nForkwave-Export: {fork}\n"


def _commit(mirror: Path, tree: str, parent: str, message: str, fixed_date: str | None) -> str:
    env = {"GIT_AUTHOR_DATE": fixed_date, "GIT_COMMITTER_DATE": fixed_date} if fixed_date else None
    return git.git(mirror, "commit-tree", tree, "-p", parent, input=message.encode(), env=env).decode().strip()


def checkout(tree: str, where: Path, parent: str, branch: str, objects: Sequence[Path]) -> Path:
    """``tree`` as a git checkout at ``where``, as a clone would have it: a repository of its own on ``branch``,
    at a commit of ``tree`` whose parent is ``parent`` (the source ref's tip, or the fork's), index and files as
    that commit holds them — ``git ls-files``, ``git log`` and ``git diff HEAD~1`` work in it. Its objects are
    borrowed (``objects``: the mirror's, the fork's, as alternates); the commit it makes stays in its own store,
    which goes with the folder: no ref or object of the mirror or the fork is written."""
    git.git(None, "init", "--quiet", f"--initial-branch={branch}", str(where))
    (where / ".git" / "objects" / "info" / "alternates").write_text("".join(f"{o.resolve()}\n" for o in objects))
    dated = {"GIT_AUTHOR_DATE": FIXED, "GIT_COMMITTER_DATE": FIXED}
    commit = git.git(where, "commit-tree", tree, "-p", parent, input=b"forkwave: the export, checked out\n",
                     env=dated).decode().strip()
    git.git(where, "update-ref", f"refs/heads/{branch}", commit)
    git.git(where, "read-tree", "-u", "--reset", commit)
    return where
