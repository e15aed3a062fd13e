"""Build real git repositories from file dicts, fast and deterministically (git fast-import).

Used by the bundled demo, the benchmarks and the tests: a commit is a whole snapshot
(``{path: content}``), so a fixture reads like the tree it makes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.repo import git


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Executable:
    content: str | bytes


Content = str | bytes | Symlink | Executable
EPOCH = 1_700_000_000  # fixed commit dates: same files -> same commit ids, every run


def init_repo(path: Path, *, bare: bool = False, branch: str = "main") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git.git(None, "init", "--quiet", f"--initial-branch={branch}", *(["--bare"] if bare else []), str(path))
    return path


def _blob(content: Content) -> tuple[str, bytes]:
    if isinstance(content, Symlink):
        return "120000", content.target.encode()
    if isinstance(content, Executable):
        data = content.content
        return "100755", data.encode() if isinstance(data, str) else data
    return "100644", content.encode() if isinstance(content, str) else content


def _quote(path: str) -> bytes:
    raw = path.encode("utf-8")
    if b"\n" in raw or raw.startswith(b'"'):
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n") + b'"'
    return raw


def commit_tree(repo: Path, files: Mapping[str, Content], *, message: str = "snapshot", branch: str = "main",
                tick: int = 0, author: str = "Dev <dev@example.com>", tag: str | None = None,
                merge: Sequence[str] = ()) -> str:
    """Commit ``files`` as the whole tree on ``branch`` (child of its tip if it exists; ``merge``: more parents,
    a merge commit)."""
    parent = git.rev_parse(repo, f"refs/heads/{branch}")
    when = f"{EPOCH + tick * 60} +0000"
    msg = message.encode()
    stream = [b"commit refs/heads/" + branch.encode(), b"mark :1",
              f"author {author} {when}".encode(), f"committer {author} {when}".encode(),
              b"data %d" % len(msg), msg]
    if parent:
        stream.append(f"from {parent}".encode())
    stream += [f"merge {m}".encode() for m in merge]
    stream.append(b"deleteall")
    for path in sorted(files):
        mode, data = _blob(files[path])
        stream += [f"M {mode} inline ".encode() + _quote(path), b"data %d" % len(data), data]
    if tag:
        stream += [f"reset refs/tags/{tag}".encode(), b"from :1"]
    git.git(repo, "fast-import", "--quiet", "--force", input=b"\n".join(stream) + b"\n")
    return git.rev_parse(repo, f"refs/heads/{branch}") or ""


def check_out(repo: Path) -> None:
    """Fill the index and working tree from HEAD: fast-import writes commits only, so without this
    ``git status`` in a new repository shows every file as a staged deletion."""
    git.git(repo, "read-tree", "--reset", "-u", "HEAD")
