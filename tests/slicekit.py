"""Helpers for the slice tests: small upstream/fork pairs, config, and readers for what a run left behind.

Built on conftest's ``make_repo`` / ``commit_tree`` (real repositories, no mocks of git) and
``run_doit`` (doit as a real subprocess). A ``Repos`` is one workspace with its own upstream
and fork, written with relative paths the way users write them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from conftest import DODO, Content, commit_tree, git_out, make_repo, write_config

ONE_WAVE = {"a": {"buckets": ["*"]}}  # every actionable path in wave a: `doit wave_a` is the whole run


class Repos(NamedTuple):
    """An upstream (bare; tag ``v1`` = the base, then ``main``), a fork copied from v1, a workspace."""

    root: Path
    upstream: Path
    fork: Path
    workspace: Path
    v1: str
    main: str
    fork_head: str

    @property
    def reports(self) -> Path:
        return self.workspace / "reports"


def build(root: Path, base: Mapping[str, Content], upstream: Mapping[str, Content],
          fork: Mapping[str, Content] | None = None, *, steps: Sequence[Mapping[str, Content]] = (),
          **config: Any) -> Repos:
    """Repositories under ``root`` and a ``forkwave.yaml`` in ``root/ws`` (see ``config_for``).

    The fork is a snapshot of ``base`` (or ``fork``) with no history shared with the upstream.
    ``steps`` are upstream snapshots committed between ``base`` and ``upstream``: files one commit
    changes are coupled by the plan (co-change), so a test about something else spreads its
    changes over commits that do not join what it keeps apart.
    """
    up = make_repo(root / "upstream.git", bare=True)
    v1 = commit_tree(up, base, message="v1", tag="v1")
    for i, step in enumerate(steps, 1):
        commit_tree(up, step, message=f"v1.{i}", tick=i)
    main = commit_tree(up, upstream, message="v2", tick=10)
    fk = make_repo(root / "fork")
    head = commit_tree(fk, dict(base if fork is None else fork), message="fork", author="Fork <f@example.com>",
                       tick=5)
    ws = root / "ws"
    ws.mkdir()
    write_config(ws, config_for(**config))
    return Repos(root, up, fk, ws, v1, main, head)


def config_for(**overrides: Any) -> dict[str, Any]:
    """A config with relative paths, base ``v1``, one wave ``a``, and ``overrides`` (``...`` drops a key)."""
    cfg: dict[str, Any] = {
        "upstream": {"url": "../upstream.git", "ref": "main"},
        "fork": {"path": "../fork", "branch": "main"},
        "base": "v1",
        "waves": ONE_WAVE,
        "slices": {"max_files": 25},
    }
    cfg.update(overrides)
    return {k: v for k, v in cfg.items() if v is not ...}


def rewrite_config(repos: Repos, **overrides: Any) -> None:
    write_config(repos.workspace, config_for(**overrides))


# --- reading what a run left --------------------------------------------------------------

def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def ledger_runs(reports: Path) -> list[Any]:
    """The runs of ``reports/ledger.sqlite``, oldest first (``tasks.report.ledger.Run``, with their syncs)."""
    from tasks.report.ledger import Ledger

    with Ledger.open(reports) as ledger:
        return list(reversed(ledger.recent(10_000)))


def outcome(repos: Repos, name: str) -> dict[str, Any]:
    return read(repos.reports / "slices" / name / "outcome.json")


def plan(repos: Repos) -> dict[str, Any]:
    return read(repos.reports / "plan.json")


def slice_names(repos: Repos, wave: str | None = None) -> list[str]:
    return [s["name"] for s in plan(repos)["slices"] if wave is None or s["wave"] == wave]


def slice_of(repos: Repos, path: str) -> str:
    """The slice the plan put ``path`` in."""
    return next(s["name"] for s in plan(repos)["slices"] if path in [f["path"] for f in s["files"]])


def deferred_files(out: Mapping[str, Any]) -> list[list[str]]:
    return sorted(sorted(d["files"]) for d in out["deferred"])


def tree(repo: Path, rev: str) -> dict[str, tuple[str, bytes]]:
    """path -> (mode, content) of every file at ``rev`` (a symlink's content is its target)."""
    out: dict[str, tuple[str, bytes]] = {}
    listing = git_out(repo, "ls-tree", "-r", "-z", "--full-tree", rev)
    for rec in filter(None, listing.split("\0")):
        meta, name = rec.split("\t", 1)
        mode, _, oid = meta.split(" ")
        out[name] = (mode, subprocess.run(["git", "-C", str(repo), "cat-file", "blob", oid],
                                          capture_output=True, check=True).stdout)
    return out


def rev(repo: Path, name: str) -> str | None:
    proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", name],
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() or None


def commits(repo: Path, rev_range: str) -> list[tuple[str, str]]:
    """(sha, full message) for each commit of ``rev_range``, newest first."""
    out = git_out(repo, "log", "--format=%H%x00%B%x00", rev_range)
    fields = out.split("\0")
    return [(fields[i].strip(), fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def slice_commits(repo: Path, rev_range: str) -> list[tuple[str, str]]:
    """Like ``commits``, without the state commits a landed wave adds (``Forkwave-State``)."""
    return [(sha, m) for sha, m in commits(repo, rev_range) if "Forkwave-State" not in trailers(m)]


def trailers(message: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in message.strip().splitlines()[-2:] if ": " in line)


def all_text(root: Path) -> str:
    """Every file under ``root`` (bytes decoded leniently, symlinks not followed)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*"))
                     if p.is_file() and not p.is_symlink())


# --- processes ------------------------------------------------------------------------------

def start_doit(workspace: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """doit in the background, in its own process group (so the test can kill all of it)."""
    with open(log, "wb") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "doit", "-f", str(DODO), "-d", str(workspace), *args],
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def pids_matching(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (never this test process)."""
    proc = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(p) for p in proc.stdout.split() if int(p) != os.getpid()]
