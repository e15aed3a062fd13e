"""Hostile trees for the safety tests: names a checkout refuses, duplicate entries, gitlinks.

``git mktree`` writes whatever it is given (``..``, ``.``, ``a\\b``, ``.GIT``, a symlink and
a folder of the same name), which is what an attacker's upstream can push; ``synth`` and
``fast-import`` would refuse or normalise such names.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.repo import git
from tasks.repo.git import TreeEntry
from tasks.repo.synth import EPOCH, Content, Executable, Symlink


@dataclass(frozen=True)
class Gitlink:
    """A submodule entry (mode 160000): a commit of another repository, absent from this one."""

    commit: str


Item = Content | Gitlink


def _blob(repo: Path, data: bytes) -> str:
    return git.git(repo, "hash-object", "-w", "--stdin", input=data).decode().strip()


def _leaf(repo: Path, name: str, item: Item) -> TreeEntry:
    if isinstance(item, Gitlink):
        return TreeEntry("160000", "commit", item.commit, name)
    if isinstance(item, Symlink):
        return TreeEntry("120000", "blob", _blob(repo, item.target.encode()), name)
    if isinstance(item, Executable):
        data = item.content.encode() if isinstance(item.content, str) else item.content
        return TreeEntry("100755", "blob", _blob(repo, data), name)
    return TreeEntry("100644", "blob", _blob(repo, item.encode() if isinstance(item, str) else item), name)


def hostile_tree(repo: Path, entries: Sequence[tuple[str, Item]]) -> str:
    """A tree of ``entries`` (path split on ``/``, any names, duplicates kept) written by ``git mktree``."""
    leaves: list[TreeEntry] = []
    folders: dict[str, list[tuple[str, Item]]] = {}
    for path, item in entries:
        head, sep, rest = path.partition("/")
        if sep:
            folders.setdefault(head, []).append((rest, item))
        else:
            leaves.append(_leaf(repo, head, item))
    subtrees = [TreeEntry("040000", "tree", hostile_tree(repo, sub), name) for name, sub in folders.items()]
    return git.mktree(repo, [*leaves, *subtrees])


def hostile_commit(repo: Path, entries: Sequence[tuple[str, Item]], *, parent: str | None = None,
                   branch: str = "main", message: str = "hostile", tick: int = 20) -> str:
    """Commit ``hostile_tree(entries)`` on ``branch`` (child of ``parent``), with pinned dates."""
    tree = hostile_tree(repo, entries)
    when = f"{EPOCH + tick * 60} +0000"
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    sha = git.git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), input=message.encode(),
                  env=env).decode().strip()
    git.git(repo, "update-ref", f"refs/heads/{branch}", sha)
    return sha
