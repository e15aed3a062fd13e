"""Moving a sync branch by commits (merge mode): upstream objects into the fork, backup refs, merge commits.

Nothing here rewrites history: a move is a fast-forward or a new merge commit on top, made by
compare-and-swap (``tasks.repo.worktree.move_sync``), and the tip it leaves is first kept under
``refs/forkwave/backup/<sync branch>/<sha>`` so every earlier state stays reachable by name.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tasks.config import Config
from tasks.repo import commits, git, objects

BACKUP = "refs/forkwave/backup"


def bring(mirror: Path, fork: Path, tip: str, have: Sequence[str]) -> None:
    """Copy ``tip`` and its history the fork lacks (everything not reachable from ``have``) from the mirror.

    One ``pack-objects --revs`` in the mirror, reading the fork's objects as alternates so the
    exclusions resolve there; no ref of either repository moves. Nothing to do while the fork writes to a
    private object directory: that reads the mirror, and a landing copies what it needs (``objects.settle``).
    """
    if objects.reads(fork, mirror) or git.resolve_many(fork, [f"{tip}^{{commit}}"])[0]:
        return
    revs = f"{tip}\n" + "".join(f"^{h}\n" for h in have)
    pack = git.git(mirror, "pack-objects", "--revs", "--stdout", "-q", input=revs.encode(),
                   env=git.alternates_env(fork))
    git.git(fork, "unpack-objects", "-q", input=pack)


def backup(cfg: Config, tip: str) -> str:
    """Keep ``tip`` (the sync branch before a move) under a backup ref; returns the ref's name."""
    ref = f"{BACKUP}/{cfg.fork.sync_branch}/{tip}"
    git.git(cfg.fork.path, "update-ref", "-m", "forkwave: backup before a move", ref, tip)
    return ref


def backups(cfg: Config) -> list[str]:
    """The backup refs of the sync branch (oldest names first)."""
    out = git.git(cfg.fork.path, "for-each-ref", "--format=%(refname)", f"{BACKUP}/{cfg.fork.sync_branch}/")
    return out.decode().split()


def contained(fork: Path, shas: Sequence[str], tip: str, env: dict[str, str] | None = None) -> int:
    """How many of ``shas`` (first-parent order, oldest first) the commit ``tip`` already holds: a
    person's merge of commit k holds 1..k. Found by bisection on ancestry (a prefix property); ``env`` may
    name the mirror as an alternate object store, so commits the fork lacks are read, never copied."""
    lo, hi = 0, len(shas)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if commits.is_ancestor(fork, shas[mid - 1], tip, env=env):
            lo = mid
        else:
            hi = mid - 1
    return lo


def land_commit(fork: Path, start: str, upstream: str, tree: str, message: str,
                env: dict[str, str] | None = None) -> tuple[str, str]:
    """(the commit the sync branch moves to, how): ``upstream`` itself when ``start`` is its ancestor (a
    fast-forward: the sync branch has no commits of its own), else a merge commit (first parent ``start``)."""
    if commits.fast_forwards(fork, start, upstream, env=env):
        return upstream, "fast-forward"
    return commits.commit_merge(fork, tree, start, upstream, message, env=env), "merge"
