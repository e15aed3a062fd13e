"""Per-path ``policy:`` for 3-way merges: a conflicting hunk of a matching path takes a side.

``take: upstream`` / ``take: fork`` resolve only the hunks that conflict (``git merge-file
--theirs`` / ``--ours``); what merges cleanly stays merged. ``take: regenerate`` takes upstream's
hunks too and marks the file for a check to rebuild (a lockfile, generated code): it is reported,
never silently kept stale. Paths no rule matches conflict as before.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from tasks.config import PolicyRule
from tasks.globs import globs
from tasks.proc import CalledProcessError, run
from tasks.repo import git
from tasks.repo.commits import TEXT_MODES, TreeMerge, _with_index

FAVOR = {"upstream": "--theirs", "fork": "--ours", "regenerate": "--theirs"}
REGENERATE = "policy take: regenerate: upstream's hunks taken; a check must rebuild this file"
Side = tuple[str, str]   # a conflict stage: (mode, blob)


def take_for(path: str, policy: Sequence[PolicyRule]) -> str | None:
    """The ``take`` of the first rule matching ``path``, else None."""
    return next((r.take for r in policy if globs(r.paths)(path)), None)


def merge_favoring(base: bytes, ours: bytes, theirs: bytes, take: str) -> bytes:
    """``git merge-file -p`` resolving conflicting hunks for one side (``take``)."""
    with tempfile.TemporaryDirectory(prefix="forkwave-policy-") as tmp:
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = os.path.join(tmp, name)
            Path(p).write_bytes(data)
            paths.append(p)
        proc = run(["git", "merge-file", "-p", FAVOR[take], *paths], check=False, env=git.git_env())
    if not 0 <= proc.returncode < 128:
        raise CalledProcessError(("git", "merge-file"), proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def _text(side: Side | None, blobs: Mapping[str, bytes | None]) -> bytes:
    """A stage's text (no base stage: empty); merge-tree wrote every stage's blob into ``repo``."""
    if side is None:
        return b""
    data = blobs[side[1]]
    assert data is not None, f"blob {side[1]} of a conflict stage is not in the repository"
    return data


def resolve(repo: Path, result: TreeMerge, policy: Sequence[PolicyRule], *,
            env: dict[str, str] | None = None) -> tuple[TreeMerge, tuple[tuple[str, str], ...]]:
    """``result`` with every conflicted text file a rule covers resolved; (the merge, (path, take) applied).

    Clean only when every conflict was covered; a conflict without three text stages (modify/delete,
    binary) is never resolved by policy.
    """
    if result.clean or not policy:
        return result, ()
    todo: dict[str, tuple[str, tuple[Side | None, Side, Side]]] = {}
    for c in result.conflicts:
        take = take_for(c.path, policy)
        base, ours, theirs = c.stage(1), c.stage(2), c.stage(3)
        if take and ours and theirs and all(s is None or s[0] in TEXT_MODES for s in (base, ours, theirs)):
            todo[c.path] = (take, (base, ours, theirs))
    if not todo:
        return result, ()
    oids = {s[1] for _, sides in todo.values() for s in sides if s}
    blobs = dict(git.read_blobs(repo, oids, env=env or {}))
    info = b""
    for path, (take, (base, ours, theirs)) in sorted(todo.items()):
        text = merge_favoring(_text(base, blobs), _text(ours, blobs), _text(theirs, blobs), take)
        oid = git.git(repo, "hash-object", "-w", "--stdin", input=text).decode().strip()
        info += f"{ours[0]} {oid}\t".encode() + path.encode("utf-8", "surrogateescape") + b"\0"
    tree = _with_index(repo, result.tree, info, env=env)
    left = tuple(c for c in result.conflicts if c.path not in todo)
    fixed = replace(result, tree=tree, conflicts=left,
                    exit_clean=not left and set(result.conflicted_paths) <= set(todo))
    return fixed, tuple((p, t) for p, (t, _) in sorted(todo.items()))
