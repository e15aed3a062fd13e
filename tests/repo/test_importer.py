"""import: path safety (table), what importing a slice would do (pure, table), commits built off-branch."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import Executable, Symlink, git_out, make_repo
from slicekit import rev, tree
from tasks.repo import importer
from tasks.repo.importer import CONFLICT_REASONS, Change, Prepared, Touch, check_path


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
    # what a file system would take for something else
    ("lib\\x.js", "100644", None, "backslash in a name (a folder separator on Windows): 'lib\\\\x.js'"),
    ("a/.git. /config", "100644", None, "inside .git"),                  # NTFS drops trailing dots and spaces
    ("a/.git::$INDEX_ALLOCATION/x", "100644", None, "inside .git"),      # an NTFS stream of .git
    ("GIT~1/config", "100644", None, "inside .git"),                     # the 8.3 short name of .git
    (".g\u200cit/config", "100644", None, "inside .git"),                # HFS+ ignores the joiner
    (".github/.gitkeep", "100644", None, None),
    (".gitmodules", "120000", "README", ".gitmodules as a symlink (git refuses to check one out)"),
    ("sub/.GitAttributes", "120000", "x", ".GitAttributes as a symlink (git refuses to check one out)"),
    (".gitmodules", "100644", None, None),
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


PERSON, FORKWAVE = Touch("f" * 40, automatic=False, markers=False), Touch("9" * 40, automatic=True, markers=False)


@pytest.mark.parametrize("cls,e,tip,who,expected", [
    # a conflict a person settled on the sync branch: their own version, or upstream's (take=upstream, by hand)
    ("both-changed", entry(B, C, A), "100644 " + "f" * 40, PERSON, "resolved"),
    ("both-changed", entry(B, C, A), B, PERSON, "resolved"),
    ("differs", entry(B, C), B, PERSON, "resolved"),
    ("both-changed", entry(None, C, A), None, PERSON, "resolved"),               # deleted upstream: deleted too
    # the fork's version as it was is no resolution unless a person said so (take=fork: `kept`)
    ("both-changed", entry(B, C, A), C, PERSON, "conflict"),
    ("both-changed", entry(B, C, A), C, Touch("f" * 40, False, False, kept=True), "resolved"),
    # forkwave's own commit of upstream's content resolves nothing
    ("both-changed", entry(B, C, A), B, FORKWAVE, "conflict"),
    # outside a conflict, upstream's content put there by a person is simply applied
    ("upstream-changed", entry(B, A, A), B, PERSON, "applied"),
])
def test_a_persons_commit_on_the_sync_branch(cls: str, e: dict[str, str | None], tip: str | None, who: Touch,
                                             expected: str) -> None:
    path = "pkg/x"
    prepared = importer.prepare([{"path": path, "class": cls}], {path: e}, {path: pair(tip)} if tip else {}, LINKS,
                                touched={path: who})
    got = {"resolved": [p for p, _ in prepared.resolved], "conflict": [p for p, _ in prepared.conflicts],
           "applied": list(prepared.applied)}
    assert got[expected] == [path] and sum(map(len, got.values())) == 1, got
    if expected == "resolved":
        assert prepared.resolved == ((path, who.commit),)


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


# --- links judged against the tree they land in (pure tables) ----------------------------------------------

L, F = "120000", "100644"


def add(path: str, target: str | None = None) -> Change:
    """A new symlink to ``target`` (its oid is the target itself), or a new file."""
    return Change(path, "upstream-added", L if target is not None else F, target if target is not None else "f")


def drop(path: str) -> Change:
    return Change(path, "upstream-deleted", None, None)


def link(target: str) -> tuple[str, str]:
    return (L, target)


@pytest.mark.parametrize("tip,changes,expected", [
    # the chains: each link harmless as text, outside together
    ({}, [add("z/z/z/z/s", "../../../.."), add("dist", "z/z/z/z/s/../../../outside")],
     {"dist": "symlink resolves outside the repository: dist -> z/z/z/z/s/../../../outside (through z/z/z/z/s)"}),
    ({"z/z/z/z/s": link("../../../..")}, [add("dist", "z/z/z/z/s/../../../outside")],   # the hop already there
     {"dist": "symlink resolves outside the repository: dist -> z/z/z/z/s/../../../outside (through z/z/z/z/s)"}),
    ({}, [add("a/b/c/up", "../../.."), add("x", "a/b/c/up/../outside")],
     {"x": "symlink resolves outside the repository: x -> a/b/c/up/../outside (through a/b/c/up)"}),
    # chains that stay inside
    ({}, [add("a/link", "../c"), add("b", "a/link/d")], {}),
    ({"lib": link("src")}, [add("pkg/index", "../lib/index.js")], {}),
    ({}, [add("dot", "."), add("dot2", "dot/dot/dot")], {}),
    # into .git through a link, absolute targets, loops, unreadable targets
    ({}, [add("g", "."), add("h", "g/.GIT/config")],
     {"h": "symlink resolves into .git: h -> g/.GIT/config (through g)"}),
    ({"g": link("/etc")}, [add("h", "g/passwd")],
     {"h": "symlink resolves to an absolute path: h -> g/passwd (through g)"}),
    ({}, [add("l1", "l2"), add("l2", "l1")],
     {"l1": "symlink resolves through more than 40 links: l1 -> l2 (through l2)",
      "l2": "symlink resolves through more than 40 links: l2 -> l1 (through l1)"}),
    ({}, [Change("u", "upstream-added", L, "missing-oid")], {"u": "symlink target cannot be read: u -> \0unreadable"}),
    # a change that turns a harmless link of the sync branch into an escape is blocked, with that link named
    ({"p/X": link("q/r/s"), "L1": link("p/X/../../..")}, [drop("p/X")],
     {"p/X": "with it, the sync branch's symlink L1 -> p/X/../../.. resolves outside the repository"}),
    ({"up": link("deep/hop/../.."), "keep": (F, "k")}, [add("deep/hop", "..")],
     {"deep/hop": "with it, the sync branch's symlink up -> deep/hop/../.. resolves outside the repository"}),
    # ... but the sync branch's own escaping link is its business, whatever the slice does beside it
    ({"out": link("../elsewhere"), "a.txt": (F, "a")}, [add("b.txt"), Change("out2", "upstream-added", L, "in")], {}),
    ({"up": link("p/../.."), "p": (F, "p")}, [Change("p", "upstream-changed", F, "p2")], {}),  # p stays a file
])
def test_tree_hazards(tip: dict, changes: list[Change], expected: dict[str, str]) -> None:
    links = {c.oid: c.oid for c in changes if c.mode == L and c.oid != "missing-oid"}
    links |= {oid: oid for mode, oid in tip.values() if mode == L} | {"in": "a.txt"}
    assert importer.tree_hazards(tip, changes, links) == expected


def test_a_link_to_a_deny_listed_path_is_blocked_whatever_its_case() -> None:
    deny = importer.denied((".env", "**/secrets/**"))
    changes = [add("public/env", "../.ENV"), add("public/keys", "../config/Secrets"), add("public/ok", "../README")]
    assert importer.tree_hazards({}, changes, {c.oid: c.oid for c in changes}, deny) == {
        "public/env": "symlink resolves to a deny-listed path (.ENV): public/env -> ../.ENV",
        "public/keys": "symlink resolves to a deny-listed path (config/Secrets): public/keys -> ../config/Secrets"}


@pytest.mark.parametrize("tip,changes,expected", [
    ({}, [add("lib2", "lib"), add("lib2/y.js")],                         # upstream has both
     {"lib2": "upstream has both lib2 (a symlink) and lib2/y.js; git can only keep one",
      "lib2/y.js": "upstream has both lib2 (a symlink) and lib2/y.js; git can only keep one"}),
    ({"lib2": link("lib")}, [add("lib2/y.js")],
     {"lib2/y.js": "lib2 is a symlink on the sync branch; nothing can go underneath it"}),
    ({"lib2": link("lib")}, [drop("lib2"), add("lib2/y.js")],            # a folder again: after the deletion
     {"lib2/y.js": "lib2 is a symlink on the sync branch; nothing can go underneath it; it lands in a second pass of "
                   "the slice, "
                   "once that deletion has landed"}),
    ({"README": (F, "r")}, [add("README/x")], {"README/x": "README is a file on the sync branch; nothing can go "
                                                          "underneath it"}),
    ({"vendor/sub": ("160000", "c" * 40)}, [add("vendor/sub/x")],
     {"vendor/sub/x": "vendor/sub is a submodule on the sync branch; nothing can go underneath it"}),
    ({"d/y.js": (F, "y"), "d/z.js": (F, "z")}, [add("d", "lib"), drop("d/y.js")],
     {"d": "would replace the folder d/ (2 file(s) on the sync branch, e.g. d/y.js) with a symlink"}),
    ({"d/y.js": (F, "y")}, [add("d", "lib"), drop("d/y.js")],
     {"d": "would replace the folder d/ (1 file(s) on the sync branch, e.g. d/y.js) with a symlink; it lands in "
           "a second pass of the slice, once their deletion has landed"}),
    ({"d0/y.js": (F, "y"), "d-x": (F, "y")}, [add("d", "lib")], {}),    # neighbours that sort around d/
])
def test_dir_file_clashes(tip: dict, changes: list[Change], expected: dict[str, str]) -> None:
    assert importer.dir_file_clashes(tip, changes) == expected


def test_copy_objects_leaves_gitlinks_alone(tmp_path: Path) -> None:
    """A submodule's commit is in no object store here; copying must not fail on it."""
    upstream = make_repo(tmp_path / "up.git", {"b.txt": "only upstream\n"}, bare=True)
    fork = make_repo(tmp_path / "fork", {"a.txt": "a\n"})
    blob = git_out(upstream, "rev-parse", "main:b.txt").strip()
    importer.copy_objects(upstream, fork, [blob, "1" * 40])
    assert git_out(fork, "cat-file", "blob", blob) == "only upstream\n"


def test_the_whole_tip_is_read_with_modes_and_odd_names(tmp_path: Path) -> None:
    from tasks.repo import git
    fork = make_repo(tmp_path / "fork", {"a b/c\td.txt": "x\n", "link": Symlink("a b"), "run": Executable("x")})
    head = rev(fork, "main")
    listing = importer.tip_tree(fork, head)
    assert listing == {e.name: (e.mode, e.oid) for e in git.ls_tree_recursive(fork, head)}
    assert sorted((p, m) for p, (m, _) in listing.items()) == [("a b/c\td.txt", "100644"), ("link", "120000"),
                                                               ("run", "100755")]
    tree_, targets = importer.read_tip(fork, fork, head, [])
    assert tree_ == listing and targets == {listing["link"][1]: "a b"}


def test_links_too_tangled_to_verify_are_all_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the step budget there is no verdict: every change that alters a link is held back."""
    monkeypatch.setattr(importer, "MAX_STEPS", 30)
    chain = [add(f"l{i}", f"l{i + 1}") for i in range(10)] + [add("plain.txt")]
    hazards = importer.tree_hazards({}, chain, {c.oid: c.oid for c in chain})
    assert sorted(hazards) == [f"l{i}" for i in range(10)]                 # the file is not a link: it lands
    assert set(hazards.values()) == {"symlinks too tangled to verify (over 30 steps); import by hand"}
