"""Shared fixtures: a hermetic git environment, real repositories built from dicts, doit as a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from tasks.repo import synth
from tasks.config import Config, Fork, Upstream
from tasks.repo.synth import Content, Executable, Symlink  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parent.parent
DODO = ROOT / "dodo.py"
TOKEN = "s3cr3t-token"
FAILING_URL = f"https://user:{TOKEN}@127.0.0.1:9/x.git"  # connection refused at once, no network needed


@pytest.fixture(autouse=True, scope="session")
def hermetic_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No user or system git config, no inherited GIT_* variables, pinned identity, fast retries."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("GIT_"):
                mp.delenv(key)
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        mp.setenv("GIT_TERMINAL_PROMPT", "0")
        for who in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{who}_NAME", "Test")
            mp.setenv(f"GIT_{who}_EMAIL", "test@example.com")
        mp.setenv("FORKWAVE_RETRY_BASE", "0.01")
        mp.setenv("LC_ALL", "C.UTF-8")
        mp.delenv("PYTHONWARNINGS", raising=False)
        yield


# --- repositories ---------------------------------------------------------------------

def make_repo(path: Path, files: Mapping[str, Content] | None = None, *, bare: bool = False,
              branch: str = "main", **kw: Any) -> Path:
    """A real repository at ``path``; with ``files``, one commit holding exactly them (see ``commit_tree``)."""
    synth.init_repo(path, bare=bare, branch=branch)
    if files is not None:
        synth.commit_tree(path, files, branch=branch, **kw)
    return path


def commit_tree(repo: Path, files: Mapping[str, Content], **kw: Any) -> str:
    """Commit ``files`` as the whole tree (a snapshot); returns the commit id."""
    return synth.commit_tree(repo, files, **kw)


def git_out(repo: Path, *args: str) -> str:
    from tasks.repo.git import git
    return git(repo, *args).decode()


def rename(files: Mapping[str, Content], old: str, new: str) -> dict[str, Content]:
    return {p.replace(old, new, 1) if p.startswith(old) else p: c for p, c in files.items()}


UPSTREAM_V1: dict[str, Content] = {
    "README.md": "# Up\n",
    "Dockerfile": "FROM node:20\n",
    "docs/guide.md": "# Guide\n",
    "docs/old.md": "# Old\n",
    "packages/up-server/src/auth/login.js": "login v1\n",
    "packages/up-server/src/api.js": "api v1\n",
    "packages/up-server/src/db/migrations/001.sql": "create table a;\n",
    "packages/up-ui/src/button.js": "button v1\n",
    "packages/up-ui/src/link.js": "link v1\n",
    "packages/up-ui/src/tag.js": "tag v1\n",
    "scripts/release.sh": Executable("#!/bin/sh\necho release\n"),
    "packages/up-ui/src/index.js": Symlink("button.js"),
}


def upstream_v2() -> dict[str, Content]:
    files = dict(UPSTREAM_V1)
    files["packages/up-server/src/api.js"] = "api v2\n"                 # upstream-changed
    files["packages/up-server/src/db/migrations/002.sql"] = "alter;\n"  # upstream-added
    files["packages/up-ui/src/button.js"] = "button v2\n"               # both-changed (fork edits it too)
    files["packages/up-ui/src/index.js"] = Symlink("link.js")           # symlink retargeted upstream
    files["scripts/release.sh"] = Executable("#!/bin/sh\necho release 2\n")
    files["docs/new.md"] = "# New\n"
    del files["docs/old.md"]                                            # upstream-deleted
    del files["packages/up-ui/src/tag.js"]                              # upstream-deleted
    return files


def fork_files() -> dict[str, Content]:
    files = rename(UPSTREAM_V1, "packages/up-", "packages/fk-")
    files["README.md"] = "# Fork\n"                                     # fork-changed
    files["packages/fk-ui/src/button.js"] = "button fork\n"             # both-changed
    files["packages/fk-ui/src/link.js"] = Executable("link v1\n")       # fork-changed (mode only)
    files["packages/fk-billing/src/invoice.js"] = "invoice\n"           # fork-added (an extra package)
    del files["Dockerfile"]                                             # fork-deleted
    return files


class Scenario(NamedTuple):
    """An upstream (bare, tag ``v1`` then ``main``) and a fork copied from v1 with no shared history."""

    root: Path
    upstream: Path
    fork: Path
    v1: str
    main: str
    fork_head: str
    workspace: Path


def build_scenario(root: Path) -> Scenario:
    upstream = make_repo(root / "upstream.git", bare=True)
    v1 = commit_tree(upstream, UPSTREAM_V1, message="v1", tag="v1")
    main = commit_tree(upstream, upstream_v2(), message="v2", tick=10)
    fork = make_repo(root / "fork")
    head = commit_tree(fork, fork_files(), message="fork", author="Fork <f@example.com>", tick=5)
    workspace = root / "ws"
    workspace.mkdir()
    return Scenario(root, upstream, fork, v1, main, head, workspace)


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return build_scenario(tmp_path)


def scenario_config(sc: Scenario, **overrides: Any) -> dict[str, Any]:
    """A config for ``sc`` with relative paths (as users write them), plus ``overrides`` (``...`` drops a key)."""
    cfg: dict[str, Any] = {
        "upstream": {"url": "../upstream.git", "ref": "main"},
        "fork": {"path": "../fork", "branch": "main"},
        "base": "v1",
        "map": [{"from": "packages/up-", "to": "packages/fk-"}],
    }
    cfg.update(overrides)
    return {k: v for k, v in cfg.items() if v is not ...}


def pure_config(**kw: Any) -> Config:
    """A Config built directly (no file, no git) for the pure functions; ``kw`` as the dataclass fields."""
    base = {"file": Path("forkwave.yaml"), "upstream": Upstream("u"), "fork": Fork(Path("f"))}
    return Config(**(base | kw))


def write_config(workspace: Path, data: Mapping[str, Any] | str, name: str = "forkwave.yaml") -> Path:
    path = workspace / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(dict(data), sort_keys=False),
                    encoding="utf-8")
    return path


# --- doit as a real subprocess ----------------------------------------------------------

class DoitResult(NamedTuple):
    stdout: str
    stderr: str
    returncode: int

    def status(self) -> dict[str, str]:
        """task name -> "ran" / "up to date", from doit's ``.  name`` / ``-- name`` lines."""
        out = {}
        for line in self.stdout.splitlines():
            if line.startswith(".  "):
                out[line[3:].strip()] = "ran"
            elif line.startswith("-- "):
                out[line[3:].strip()] = "up to date"
        return out


TASK_LINES = {"FORKWAVE_SHOW_TASKS": "1"}  # doit's `.  task` / `-- task` lines, read by DoitResult.status()


def run_doit(workspace: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> DoitResult:
    """``doit -f <repo>/dodo.py -d <workspace> args...``: the workspace is doit's working directory."""
    proc = subprocess.run([sys.executable, "-m", "doit", "-f", str(DODO), "-d", str(workspace), *args],
                          capture_output=True, text=True, env={**os.environ, **TASK_LINES, **(env or {})},
                          timeout=timeout)
    return DoitResult(proc.stdout, proc.stderr, proc.returncode)


def doit_ok(workspace: Path, *args: str, **kw: Any) -> DoitResult:
    result = run_doit(workspace, *args, **kw)
    assert result.returncode == 0, f"doit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def tree_text(root: Path) -> str:
    """Every readable file under ``root`` concatenated (to search for leaked secrets)."""
    chunks = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)
