"""Helpers for the 3-way sync tests: an upstream with a real history, drift in-process, landing a wave.

Built on conftest's ``make_repo`` / ``commit_tree`` and slicekit's ``Repos`` and readers: the
upstream here is a list of named snapshots (each its own commit, author and optional tag), so
tests can speak of "the commit before the base" or "the revision wave a landed at".
"""
from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from conftest import Content, commit_tree, make_repo, write_config
from slicekit import Repos, config_for, read

from tasks.repo import drift, fetch
from tasks.config import Config, load_config
from tasks.workspace import Workspace


class Snapshot(NamedTuple):
    """One upstream commit: the whole tree, its subject and author, and a tag to name it by."""

    message: str
    files: Mapping[str, Content]
    author: str = "Dev <dev@example.com>"
    tag: str | None = None


class History(NamedTuple):
    """``Repos`` for an upstream built from snapshots, with every upstream commit by its message."""

    repos: Repos
    shas: dict[str, str]

    def __getattr__(self, name: str) -> Any:  # r.workspace, r.fork, r.reports ... as on Repos
        return getattr(self.repos, name)


def build_history(root: Path, snapshots: Sequence[Snapshot], fork: Mapping[str, Content],
                  **config: Any) -> History:
    """An upstream (bare) with one commit per snapshot, oldest first, on ``main``; a fork holding
    ``fork`` with no shared history; and ``root/ws/forkwave.yaml`` (``config_for(**config)``)."""
    up = make_repo(root / "upstream.git", bare=True)
    shas = {s.message: commit_tree(up, s.files, message=s.message, author=s.author, tag=s.tag, tick=10 * i)
            for i, s in enumerate(snapshots, 1)}
    fk = make_repo(root / "fork")
    head = commit_tree(fk, dict(fork), message="fork", author="Fork <f@example.com>", tick=5)
    ws = root / "ws"
    ws.mkdir()
    write_config(ws, config_for(**config))
    first = next(iter(shas.values()))
    return History(Repos(root, up, fk, ws, first, list(shas.values())[-1], head), shas)


def advance(upstream: Path, files: Mapping[str, Content], message: str, tick: int = 500,
            author: str = "Dev <dev@example.com>") -> str:
    """One more upstream commit on ``main``."""
    return commit_tree(upstream, files, message=message, author=author, tick=tick)


def compute(workspace: Path, **config: Any) -> dict[str, Any]:
    """Write the config (``config_for(**config)``), fetch into the workspace's mirror, compute the drift
    in-process (config base, or none: no state or detection here)."""
    cfg = load_config(write_config(workspace, config_for(**config)))
    ws = Workspace(workspace)
    record = fetch.fetch(cfg, ws)
    return drift.compute(cfg, ws.mirror, record["sha"])


def config_of(workspace: Path, **config: Any) -> Config:
    return load_config(write_config(workspace, config_for(**config)))


def drift_report(repos: Repos | History) -> dict[str, Any]:
    return read(repos.reports / "drift.json")


def classes(report: Mapping[str, Any]) -> dict[str, str]:
    return {p: e["class"] for p, e in report["entries"].items()}


def land(fork: Path, branch: str = "main", sync: str = "sync/upstream") -> None:
    """The fork's maintainers merge the sync branch (a fast-forward: it grows from ``branch``)."""
    subprocess.run(["git", "-C", str(fork), "merge-base", "--is-ancestor", branch, sync], check=True)
    subprocess.run(["git", "-C", str(fork), "update-ref", f"refs/heads/{branch}", f"refs/heads/{sync}"],
                   check=True)


def blob_entry(repo: Path, rev: str, path: str) -> str:
    """``"<mode> <oid>"`` of ``path`` at ``rev``, as drift.json writes entries."""
    out = subprocess.run(["git", "-C", str(repo), "ls-tree", "--full-tree", rev, "--", path],
                         capture_output=True, text=True, check=True).stdout
    meta = out.split("\t", 1)[0].split(" ")
    return f"{meta[0]} {meta[2]}"


def lines(name: str, n: int = 12) -> list[str]:
    """``n`` distinct, code-like lines for a module called ``name``."""
    return [f"export function {name}{i}(value) {{ return value * {i} + {len(name)}; }}\n" for i in range(n)]


def text(rows: Sequence[str]) -> str:
    return "".join(rows)


def section(markdown: str, heading: str) -> str:
    """The body of ``## heading`` in a report, up to the next ``## ``."""
    body = markdown.split(f"## {heading}\n", 1)[1]
    return body.split("\n## ", 1)[0]
