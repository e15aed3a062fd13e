"""git plumbing: the -z parsers (tables), then the commands against real repositories."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Executable, Symlink, commit_tree, make_repo
from tasks.repo import git
from tasks.repo.git import Change, TreeEntry, parse_diff_raw, parse_ls_tree
from tasks.proc import CalledProcessError, run

Z = "0" * 40
A = "a" * 40
B = "b" * 40


@pytest.mark.parametrize("out,expected", [
    (b"", []),
    (f"100644 blob {A}\tREADME.md\0".encode(), [TreeEntry("100644", "blob", A, "README.md")]),
    (f"040000 tree {A}\tsrc\x00100755 blob {B}\trun.sh\0".encode(),
     [TreeEntry("040000", "tree", A, "src"), TreeEntry("100755", "blob", B, "run.sh")]),
    (f"120000 blob {A}\tlink\0".encode(), [TreeEntry("120000", "blob", A, "link")]),
    (f"160000 commit {A}\tvendor/lib\0".encode(), [TreeEntry("160000", "commit", A, "vendor/lib")]),
    (f"100644 blob {A}\ta name\twith tab and space\0".encode(),
     [TreeEntry("100644", "blob", A, "a name\twith tab and space")]),
    (f"100644 blob {A}\tcafé/日本語.md\0".encode(), [TreeEntry("100644", "blob", A, "café/日本語.md")]),
    (f"100644 blob {A}\tline\nbreak\0".encode(), [TreeEntry("100644", "blob", A, "line\nbreak")]),
    (f"100644 blob {A}\t\"quoted\"\0".encode(), [TreeEntry("100644", "blob", A, '"quoted"')]),
], ids=["empty", "one", "tree-and-exec", "symlink", "gitlink", "tab-and-space", "non-ascii", "newline", "quotes"])
def test_parse_ls_tree(out: bytes, expected: list[TreeEntry]) -> None:
    assert parse_ls_tree(out) == expected


def test_parse_ls_tree_keeps_undecodable_names_round_trippable() -> None:
    [entry] = parse_ls_tree(f"100644 blob {A}\t".encode() + b"caf\xe9\0")
    assert entry.name.encode("utf-8", "surrogateescape") == b"caf\xe9"


@pytest.mark.parametrize("out,expected", [
    (b"", []),
    (f":000000 100644 {Z} {A} A\0new file\0".encode(), [Change("new file", None, ("100644", A))]),
    (f":100644 000000 {A} {Z} D\0gone.txt\0".encode(), [Change("gone.txt", ("100644", A), None)]),
    (f":100644 100644 {A} {B} M\0src/x.js\0".encode(), [Change("src/x.js", ("100644", A), ("100644", B))]),
    (f":100644 100755 {A} {A} M\0run.sh\0".encode(), [Change("run.sh", ("100644", A), ("100755", A))]),
    (f":120000 100644 {A} {B} T\0link\0".encode(), [Change("link", ("120000", A), ("100644", B))]),
    (f":100644 100644 {A} {B} M\0dir with space/ünïcödé.txt\0:000000 120000 {Z} {B} A\0l\0".encode(),
     [Change("dir with space/ünïcödé.txt", ("100644", A), ("100644", B)), Change("l", None, ("120000", B))]),
    (f":100644 100644 {A} {B} M\0tab\there\0".encode(), [Change("tab\there", ("100644", A), ("100644", B))]),
], ids=["empty", "added", "deleted", "modified", "mode-only", "type-change", "two-records", "tab"])
def test_parse_diff_raw(out: bytes, expected: list[Change]) -> None:
    assert parse_diff_raw(out) == expected


ODD_FILES = {
    "plain.txt": "plain\n",
    "with space/and more spaces.txt": "spaces\n",
    "café/naïve 日本語.md": "unicode\n",
    "run.sh": Executable("#!/bin/sh\n"),
    "link": Symlink("with space/and more spaces.txt"),
    '"quoted".txt': "starts with a quote\n",
    "pipe|name.txt": "pipe\n",
}


def test_ls_tree_recursive_on_a_real_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", ODD_FILES)
    entries = {e.name: e for e in git.ls_tree_recursive(repo, "main")}
    assert set(entries) == set(ODD_FILES)
    assert entries["run.sh"].mode == "100755"
    assert entries["link"].mode == "120000"
    assert entries["plain.txt"].mode == "100644"
    assert git.cat_blob(repo, entries["link"].oid) == b"with space/and more spaces.txt"
    assert git.cat_blob(repo, entries["café/naïve 日本語.md"].oid) == b"unicode\n"
    assert git.count_files(repo, git.tree_of(repo, "main")) == len(ODD_FILES)


def test_diff_trees_and_mktree_on_a_real_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", ODD_FILES)
    one = git.tree_of(repo, "main")
    changed = dict(ODD_FILES, **{"run.sh": "#!/bin/sh\n", "café/naïve 日本語.md": "edited\n", "new file": "n\n"})
    del changed["plain.txt"]
    two = git.tree_of(repo, commit_tree(repo, changed))
    diff = {c.path: c for c in git.diff_trees(repo, one, two)}
    assert set(diff) == {"run.sh", "café/naïve 日本語.md", "new file", "plain.txt"}
    assert diff["run.sh"].old == ("100755", diff["run.sh"].new[1]) and diff["run.sh"].new[0] == "100644"
    assert diff["new file"].old is None and diff["plain.txt"].new is None
    # mktree writes back exactly what ls-tree read, including odd names
    top = git.ls_tree(repo, one)
    assert git.mktree(repo, top) == one
    assert git.diff_trees(repo, one, one) == []


def test_rev_parse_and_is_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a": "1"}, tag="v1")
    head = git.rev_parse(repo, "refs/heads/main")
    assert head and len(head) == 40
    assert git.rev_parse(repo, "v1^{commit}") == head
    assert git.rev_parse(repo, "refs/heads/nope") is None
    assert git.is_repo(repo) and not git.is_repo(tmp_path / "absent")
    (tmp_path / "plain").mkdir()
    assert not git.is_repo(tmp_path / "plain")


def test_inherited_git_variables_do_not_redirect_commands(tmp_path: Path, monkeypatch) -> None:
    repo = make_repo(tmp_path / "r", {"a": "1"})
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "index"))
    assert git.rev_parse(repo, "refs/heads/main") is not None
    env = git.git_env()
    assert "GIT_DIR" not in env and env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_AUTHOR_NAME"] == "forkwave"


def test_failed_commands_are_redacted() -> None:
    with pytest.raises(CalledProcessError) as err:
        run(["sh", "-c", "echo 'fatal: https://bob:hunter22@example.com/x.git' >&2; exit 3",
             "https://bob:hunter22@example.com/x.git"], secrets=("hunter22",))
    text = str(err.value)
    assert err.value.returncode == 3
    assert "hunter22" not in text and "command failed (exit 3)" in text
    assert "https://***@example.com/x.git" in text
