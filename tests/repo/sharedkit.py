"""Repositories that share history: an upstream of numbered commits, a fork cloned from one of them.

Built on conftest's ``make_repo`` / ``commit_tree`` (real repositories, whole-tree snapshots).
Upstream commit ``k`` (1-based) adds ``src/mKK.txt``; ``edits`` change more files at chosen
commits. The fork fetches upstream's tag ``cK`` as its ``main`` and adds its own commits; the
upstream stays a separate bare repository, read through ``env`` (alternates), as forkwave reads
its mirror.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from conftest import Content, commit_tree, git_out, make_repo

from tasks.repo import git, synth


class Shared(NamedTuple):
    upstream: Path
    fork: Path
    up: list[str]                   # up[k - 1] is upstream commit k
    files: list[dict[str, Content]]  # files[k - 1]: the whole tree of commit k
    base: str                       # the upstream commit the fork was cloned at
    fork_files: dict[str, Content]  # the fork's tree (at its tip)
    env: dict[str, str]             # read the upstream's objects from the fork

    def tip(self) -> str:
        return git_out(self.fork, "rev-parse", "refs/heads/main").strip()


def upstream_history(path: Path, n: int, edits: Mapping[int, Mapping[str, Content | None]] | None = None,
                     *, start: Mapping[str, Content] | None = None, day_ticks: bool = False
                     ) -> tuple[list[str], list[dict[str, Content]]]:
    """A bare upstream of ``n`` commits, each tagged ``c<k>``; ``edits[k]`` sets (or, with None, removes)
    files at commit k. ``day_ticks``: commit k is dated k days after the epoch of ``synth``."""
    make_repo(path, bare=True)
    files: dict[str, Content] = dict(start or {"README.md": "# up\n", "shared.txt": "one\ntwo\nthree\n"})
    shas, trees = [], []
    for k in range(1, n + 1):
        files[f"src/m{k:02}.txt"] = f"m{k}\n"
        for p, content in (edits or {}).get(k, {}).items():
            if content is None:
                files.pop(p, None)
            else:
                files[p] = content
        tick = k * 1440 if day_ticks else k
        shas.append(commit_tree(path, files, message=f"feat: upstream {k}\n\nBody of {k}.\n", tick=tick,
                                author=f"Up{k} <up{k}@example.com>", tag=f"c{k}"))
        trees.append(dict(files))
    return shas, trees


def clone_at(upstream: Path, fork: Path, k: int) -> str:
    """A non-bare fork whose ``main`` is upstream commit ``k`` (only its history fetched), checked out."""
    make_repo(fork)
    git.git(fork, "fetch", "--quiet", "--no-tags", "--update-head-ok", str(upstream), f"refs/tags/c{k}:refs/heads/main")
    synth.check_out(fork)
    return git_out(fork, "rev-parse", "main").strip()


def shared(root: Path, *, n: int = 40, at: int = 20, fork_commits: int = 2,
           edits: Mapping[int, Mapping[str, Content | None]] | None = None,
           fork_edits: Mapping[str, Content | None] | None = None) -> Shared:
    """Upstream of ``n`` commits, a fork cloned at commit ``at`` with ``fork_commits`` commits of its own
    (``fork/notes-i.txt``; the first also applies ``fork_edits``)."""
    upstream = root / "upstream.git"
    up, trees = upstream_history(upstream, n, edits)
    fork = root / "fork"
    base = clone_at(upstream, fork, at)
    files = dict(trees[at - 1])
    for i in range(1, fork_commits + 1):
        files[f"fork/notes-{i}.txt"] = f"fork note {i}\n"
        if i == 1:
            for p, content in (fork_edits or {}).items():
                if content is None:
                    files.pop(p, None)
                else:
                    files[p] = content
        commit_tree(fork, files, message=f"fork: note {i}", tick=at * 2 + i, author="Fork <fork@example.com>")
    synth.check_out(fork)
    return Shared(upstream, fork, up, trees, base, files, git.alternates_env(upstream))


def untouched(repo: Path) -> tuple[str, str, str]:
    """Every ref, HEAD and the checkout's status: what a computation as trees must leave as it was."""
    return (git_out(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
            git_out(repo, "symbolic-ref", "HEAD") + git_out(repo, "rev-parse", "HEAD"),
            git_out(repo, "status", "--porcelain", "--untracked-files=all"))


def tree_files(repo: Path, tree: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """path -> text of every file in ``tree``."""
    entries = git.tree_entries(repo, tree) if env is None else git.parse_ls_tree_map(
        git.git(repo, "ls-tree", "-r", "-z", "--full-tree", tree, env=dict(env)))
    blobs = dict(git.read_blobs(repo, [oid for _, oid in entries.values()], env=dict(env or {})))
    return {p: (blobs[oid] or b"").decode() for p, (_, oid) in entries.items()}
