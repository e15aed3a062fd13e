"""import: path safety (table), what importing a slice would do (pure, table), commits built off-branch."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import Executable, Symlink, git_out, make_repo
from slicekit import rev, tree
from tasks import importer
from tasks.importer import CONFLICT_REASONS, Change, Prepared, check_path


@pytest.mark.parametrize("path,mode,target,reason", [
    ("a/b.txt", "100644", None, None),
    ("README", None, None, None),
    (".github/workflows/ci.yml", "100644", None, None),                 # .github is not .git
    ("a/.gitignore", "100644", None, None),
    ("/etc/passwd", "100644", None, "absolute path"),
    ("C:/Windows/x", "100644", None, "absolute path"),
    ("..", "100644", None, "'..' in path"),
    ("../x", "100644", None, "'..' in path"),
    ("a/../../x", "100644", None, "'..' in path"),
    ("a/..", "100644", None, "'..' in path"),
    (".git/hooks/pre-commit", "100755", None, "inside .git"),
    ("sub/.git/config", "100644", None, "inside .git"),
    ("sub/.GIT/config", "100644", None, "inside .git"),                 # case-insensitive filesystems
    ("a//b", "100644", None, "empty or '.' path component"),
    ("./a", "100644", None, "empty or '.' path component"),
    # symlinks: the target, resolved from the link's folder, must stay inside the repository
    ("a/link", "120000", "../b/c", None),
    ("a/b/link", "120000", "../../x", None),
    ("link", "120000", "sub/../file", None),
    ("a/link", "120000", "../../outside", "symlink target leaves the repository: ../../outside"),
    ("link", "120000", "..", "symlink target leaves the repository: .."),
    ("link", "120000", "a/../../x", "symlink target leaves the repository: a/../../x"),
    ("packages/up-ui/src/evil", "120000", "../../../../etc/passwd",
     "symlink target leaves the repository: ../../../../etc/passwd"),
    ("a/link", "120000", "/etc/passwd", "symlink target is absolute: /etc/passwd"),
    ("hook", "120000", ".git/config", "symlink target points into .git: .git/config"),
    ("a/hook", "120000", "../.git/hooks", "symlink target points into .git: ../.git/hooks"),
    ("a/file", "100644", "../../not-a-link", None),                      # only symlinks have targets
])
def test_check_path(path: str, mode: str | None, target: str | None, reason: str | None) -> None:
    assert check_path(path, mode, target) == reason


A, B, C = ("100644 " + "a" * 40), ("100644 " + "b" * 40), ("100644 " + "c" * 40)
X = "100755 " + "a" * 40
LINK_OUT, LINK_IN = "120000 " + "d" * 40, "120000 " + "e" * 40
LINKS = {"d" * 40: "../../etc/passwd", "e" * 40: "sibling"}


def entry(upstream: str | None, fork: str | None, base: str | None = None) -> dict[str, str | None]:
    return {"upstream": upstream, "fork": fork, "base": base}


def pair(text: str | None) -> tuple[str, str] | None:
    return tuple(text.split(" ")) if text else None  # type: ignore[return-value]


@pytest.mark.parametrize("cls,e,tip,expected", [
    ("upstream-changed", entry(B, A, A), A, ("change", "100644", "b" * 40)),
    ("upstream-changed", entry(X, A, A), A, ("change", "100755", "a" * 40)),         # executable bit only
    ("upstream-added", entry(B, None), None, ("change", "100644", "b" * 40)),
    ("missing", entry(B, None), None, ("change", "100644", "b" * 40)),               # 2-way
    ("upstream-deleted", entry(None, A, A), A, ("change", None, None)),
    ("upstream-added", entry(LINK_IN, None), None, ("change", "120000", "e" * 40)),
    ("upstream-changed", entry(B, A, A), B, ("applied",)),                           # already on the sync branch
    ("upstream-deleted", entry(None, A, A), None, ("applied",)),
    ("upstream-changed", entry(B, A, A), C, ("conflict", "changed on the sync branch")),  # a hand edit
    ("upstream-added", entry(B, None), C, ("conflict", "changed on the sync branch")),
    ("both-changed", entry(B, C, A), C, ("conflict", CONFLICT_REASONS["both-changed"])),
    ("differs", entry(B, C), C, ("conflict", CONFLICT_REASONS["differs"])),
    ("upstream-added", entry(LINK_OUT, None), None, ("blocked", "symlink target leaves the repository")),
])
def test_prepare(cls: str, e: dict[str, str | None], tip: str | None, expected: tuple) -> None:
    path = "pkg/x"
    prepared = importer.prepare([{"path": path, "class": cls}], {path: e}, {path: pair(tip)} if tip else {}, LINKS)
    kind = expected[0]
    if kind == "change":
        assert prepared.changes == (Change(path, cls, expected[1], expected[2]),)
    else:
        assert prepared.changes == ()
    if kind == "applied":
        assert prepared.applied == (path,)
    if kind in ("conflict", "blocked"):
        [(got_path, reason)] = prepared.conflicts if kind == "conflict" else prepared.blocked
        assert got_path == path and expected[1] in reason
    assert Prepared.from_json(prepared.to_json()) == prepared


def test_build_commit_applies_changes_off_branch(tmp_path: Path) -> None:
    fork = make_repo(tmp_path / "fork", {"keep.txt": "keep\n", "gone.txt": "bye\n", "run.sh": "echo\n",
                                         "link": Symlink("keep.txt")})
    (tmp_path / "fork" / "dirty.txt").write_text("user's\n")
    head = rev(fork, "main")
    status = git_out(fork, "status", "--porcelain")
    blob = subprocess.run(["git", "-C", str(fork), "hash-object", "-w", "--stdin"], input=b"new\n",
                          capture_output=True, check=True).stdout.decode().strip()
    target = subprocess.run(["git", "-C", str(fork), "hash-object", "-w", "--stdin"], input=b"run.sh",
                            capture_output=True, check=True).stdout.decode().strip()
    run_sh = tree(fork, "main")["run.sh"]
    changes = [Change("dir/new.txt", "upstream-added", "100644", blob),
               Change("gone.txt", "upstream-deleted", None, None),
               Change("link", "upstream-changed", "120000", target),
               Change("run.sh", "upstream-changed", "100755",
                      git_out(fork, "rev-parse", "main:run.sh").strip())]

    commit = importer.build_commit(fork, head, changes, "msg\n\nForkwave-Slice: slice-1\n")

    assert tree(fork, commit) == {"keep.txt": ("100644", b"keep\n"), "dir/new.txt": ("100644", b"new\n"),
                                  "link": ("120000", b"run.sh"), "run.sh": ("100755", run_sh[1])}
    assert git_out(fork, "rev-parse", f"{commit}^").strip() == head
    assert git_out(fork, "log", "-1", "--format=%B", commit).strip().endswith("Forkwave-Slice: slice-1")
    assert rev(fork, "main") == head and git_out(fork, "for-each-ref").count("refs/") == 1  # no ref moved
    assert git_out(fork, "status", "--porcelain") == status                               # index, tree intact


def test_copy_objects_brings_only_missing_upstream_blobs(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "up.git", {"a.txt": "shared\n", "b.txt": "only upstream\n",
                                                "x": Executable("#!/bin/sh\n")}, bare=True)
    fork = make_repo(tmp_path / "fork", {"a.txt": "shared\n"})
    oids = {p: git_out(upstream, "rev-parse", f"main:{p}").strip() for p in ("a.txt", "b.txt", "x")}
    importer.copy_objects(upstream, fork, oids.values())
    for oid in oids.values():
        assert subprocess.run(["git", "-C", str(fork), "cat-file", "-e", oid], check=False).returncode == 0
    assert git_out(fork, "cat-file", "blob", oids["b.txt"]) == "only upstream\n"
    importer.copy_objects(upstream, fork, [])                                             # nothing to do
