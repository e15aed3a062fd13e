"""An upstream tree can never reach outside the repository, nor wedge a slice.

Hostile upstream trees are written with ``git mktree`` (tests/hostile.py), run through the
real pipeline (``doit wave_a``), and judged by what they leave: the reason in
``outcome.json`` and ``report.md``, nothing written outside the worktree, and the slice's
other files adopted.
"""
from __future__ import annotations

import itertools
import os
import posixpath
import random
from pathlib import Path


from checks.gates import deny_gate
from conftest import Symlink, git_out, run_doit
from hostile import Gitlink, hostile_commit
from slicekit import Repos, build, outcome, plan, read, slice_names, tree
from tasks.repo.importer import Change, prepare, tree_hazards

BASE = {"README.md": "# base\n", "src/app.js": "app v1\n"}
OUTSIDE = "outside"  # where an escaping link would write: next to the workspace, in tmp_path


def upstream_with(r: Repos, entries: list[tuple[str, object]]) -> str:
    """Move upstream's main to a hostile tree: BASE with app.js changed, plus ``entries``."""
    items = [("README.md", "# base\n"), ("src/app.js", "app v2\n"), *entries]
    return hostile_commit(r.upstream, items, parent=r.main)  # type: ignore[arg-type]


def one_slice(r: Repos) -> dict:
    [name] = slice_names(r, "a")
    return outcome(r, name)


def blocked(out: dict) -> dict[str, str]:
    return {d["files"][0]: d["reason"].removeprefix("blocked: ") for d in out["deferred"]
            if d["checks"] == ["path-safety"]}


def written_outside(r: Repos) -> list[str]:
    """Files named bundle.js anywhere under tmp_path but inside the workspace's worktree."""
    wt = (r.workspace / ".forkwave" / "worktree").resolve()
    return sorted(str(p.relative_to(r.root)) for p in r.root.rglob("bundle.js") if not p.resolve().is_relative_to(wt))


# --- item 4: chains of links ---------------------------------------------------------------------------

WRITE_THROUGH = {"name": "bundle", "run": "for d in dist up2 esc; do mkdir -p $d && echo x > $d/bundle.js; done"}


def test_links_that_escape_only_together_are_blocked_and_nothing_is_written_outside(tmp_path: Path) -> None:
    r = build(tmp_path, BASE, BASE, checks=[WRITE_THROUGH], batch=False)  # the slice's own attempts are read
    (r.root / OUTSIDE).mkdir()  # a folder that exists next to the workspace, as $HOME or / always do
    upstream_with(r, [("z/z/z/z/s", Symlink("../../../..")),               # the root: harmless alone
                      ("dist", Symlink("z/z/z/z/s/../../../outside")),      # inside as text; through s, out
                      ("a/b/c/up", Symlink("../../..")),
                      ("up2", Symlink("a/b/c/up/../../../outside")),
                      ("dot", Symlink(".")),
                      ("esc", Symlink("dot/../../../outside")),
                      ("src/new.js", "new\n")])

    result = run_doit(r.workspace, "wave_a")

    assert written_outside(r) == []                                     # the check ran and wrote inside only
    assert result.returncode != 0  # blocked files are deferred: the slice is not fully adopted
    out = one_slice(r)
    assert out["status"] == "split"
    assert [x["status"] for x in out["attempts"][0]["results"] if x["name"] == "bundle"] == ["passed"]
    assert blocked(out) == {
        "dist": "symlink resolves outside the repository: dist -> z/z/z/z/s/../../../outside (through z/z/z/z/s)",
        "up2": "symlink resolves outside the repository: up2 -> a/b/c/up/../../../outside (through a/b/c/up)",
        "esc": "symlink target leaves the repository: dot/../../../outside",   # as text already
    }
    assert sorted(out["adopted"]) == ["a/b/c/up", "dot", "src/app.js", "src/new.js", "z/z/z/z/s"]
    assert sorted(p.name for p in (r.root / OUTSIDE).iterdir()) == []
    synced = tree(r.fork, "sync/upstream")
    assert not {"dist", "up2", "esc"} & set(synced) and synced["src/new.js"] == ("100644", b"new\n")
    report = (r.reports / "slices" / out["slice"] / "report.md").read_text()
    assert "`dist`: blocked: symlink resolves outside the repository" in report
    assert "`up2`: blocked: symlink resolves outside the repository" in report


def test_a_link_that_makes_an_existing_link_escape_is_blocked(tmp_path: Path) -> None:
    """The tip's ``up -> deep/hop/../..`` is harmless while ``deep/hop`` is a folder; upstream turning
    ``deep/hop`` into a link to the root makes ``up`` point one level above the worktree."""
    base = {**BASE, "deep/hop/keep.txt": "k\n", "up": Symlink("deep/hop/../..")}
    r = build(tmp_path, base, base, checks=[{"name": "ok", "run": "true"}])
    upstream_with(r, [("deep/hop", Symlink("..")), ("up", Symlink("deep/hop/../.."))])

    # the first pass lands the deletion of deep/hop/keep.txt; the second pass (same run) would take
    # deep/hop as a link: it must not
    assert run_doit(r.workspace, "wave_a").returncode != 0
    assert blocked(one_slice(r))["deep/hop"] == ("with it, the sync branch's symlink up -> deep/hop/../.. "
                                                 "resolves outside the repository")
    assert "deep/hop/keep.txt" in one_slice(r)["removed"]
    assert tree(r.fork, "sync/upstream")["up"] == ("120000", b"deep/hop/../..")
    assert "deep/hop" not in tree(r.fork, "sync/upstream")


# --- item 5: names git or a file system would misread --------------------------------------------------

def test_dotdot_dot_backslash_and_link_with_children_are_blocked_with_reasons(tmp_path: Path) -> None:
    r = build(tmp_path, BASE, BASE, checks=[{"name": "ok", "run": "true"}])
    upstream_with(r, [("..", "up one\n"), (".", "dot\n"), ("lib\\x.js", "win\n"), ("pkg/.GIT/config", "x\n"),
                      ("pkg/git~1/hooks", "x\n"), ("lib2", Symlink("lib")), ("lib2/y.js", "y\n"),
                      (".gitmodules", Symlink("README.md")), ("src/new.js", "new\n")])

    result = run_doit(r.workspace, "wave_a")

    assert "Traceback" not in result.stdout + result.stderr
    assert "git log" not in result.stderr and "outside repository" not in result.stderr
    out = one_slice(r)
    assert blocked(out) == {
        "..": "'..' in path",
        ".": "empty or '.' path component",
        ".gitmodules": ".gitmodules as a symlink (git refuses to check one out)",
        "lib\\x.js": "backslash in a name (a folder separator on Windows): 'lib\\\\x.js'",
        "lib2": "upstream has both lib2 (a symlink) and lib2/y.js; git can only keep one",
        "lib2/y.js": "upstream has both lib2 (a symlink) and lib2/y.js; git can only keep one",
        "pkg/.GIT/config": "inside .git",
        "pkg/git~1/hooks": "inside .git",
    }
    assert out["adopted"] == ["src/app.js", "src/new.js"] and out["status"] == "split"
    synced = tree(r.fork, "sync/upstream")
    assert sorted(synced) == ["README.md", "src/app.js", "src/new.js"]
    assert read(r.reports / "slices" / out["slice"] / "import.json")["slice"] == out["slice"]
    report = (r.reports / "slices" / out["slice"] / "report.md").read_text()
    assert "`..`: blocked: '..' in path" in report and "`lib2`: blocked: upstream has both" in report


def test_a_folder_replaced_by_a_link_lands_in_two_passes_never_dropping_a_file_silently(tmp_path: Path) -> None:
    """git's index silently drops ``lib2/y.js`` when ``lib2`` becomes a link (and the reverse):
    the link waits until the deletion has landed — a second pass of the slice, in the same run —
    so every outcome says what the tree holds."""
    base = {**BASE, "lib/y.js": "y\n", "lib2/y.js": "y\n", "lib3": Symlink("lib")}
    upstream = {**BASE, "src/app.js": "app v2\n", "lib/y.js": "y\n", "lib2": Symlink("lib"), "lib3/z.js": "z\n"}
    r = build(tmp_path, base, upstream, checks=[{"name": "ok", "run": "true"}])

    assert run_doit(r.workspace, "wave_a").returncode == 0
    out = one_slice(r)
    assert out["status"] == "adopted" and blocked(out) == {}
    assert len(out["commits"]) == 2                              # the deletions first, then what they unblock
    first, second = out["commits"]
    first_tree = tree(r.fork, first)
    assert "lib2" not in first_tree and "lib3" not in first_tree and "lib3/z.js" not in first_tree
    synced = tree(r.fork, "sync/upstream")
    assert synced["lib2"] == ("120000", b"lib") and synced["lib3/z.js"] == ("100644", b"z\n")
    assert "lib2/y.js" not in synced and "lib3" not in synced
    assert sorted(out["removed"]) == ["lib2/y.js", "lib3"]


# --- item 6: deny globs regardless of case ---------------------------------------------------------------

def test_deny_globs_match_regardless_of_case_in_drift_import_and_the_gate(tmp_path: Path) -> None:
    upstream = {**BASE, "src/app.js": "app v2\n", ".ENV": "TOKEN=1\n", "config/Secrets/key.pem": "k\n",
                "pkg/.Env.local": "x\n", "pkg/public/env": Symlink("../../.env"), "src/ok.js": "ok\n"}
    r = build(tmp_path, BASE, upstream)

    run_doit(r.workspace, "wave_a")

    drift = read(r.reports / "drift.json")
    assert drift["paths"]["blocked"] == [".ENV", "config/Secrets/key.pem", "pkg/.Env.local"]
    planned = [f["path"] for s in plan(r)["slices"] for f in s["files"]]
    assert ".ENV" not in planned and "pkg/public/env" in planned
    out = one_slice(r)
    assert blocked(out) == {"pkg/public/env": "symlink resolves to a deny-listed path (.env): "
                                              "pkg/public/env -> ../../.env"}
    synced = tree(r.fork, "sync/upstream")
    assert not {".ENV", "config/Secrets/key.pem", "pkg/.Env.local", "pkg/public/env"} & set(synced)
    assert synced["src/ok.js"] == ("100644", b"ok\n")


def test_the_deny_gate_and_prepare_ignore_case() -> None:
    deny = (".env", ".env.*", "**/secrets/**")
    result = deny_gate(["src/a.js", ".ENV", "config/Secrets/key.pem", "x/.Env.Local"], deny, Path("."))
    assert result.message == "3 deny-listed path(s) in the slice: .ENV, config/Secrets/key.pem, x/.Env.Local"
    entry = {"upstream": "100644 " + "b" * 40, "fork": None, "base": None}
    prepared = prepare([{"path": "A/SECRETS/k", "class": "upstream-added"}], {"A/SECRETS/k": entry}, {}, {},
                       deny=deny)
    assert prepared.blocked == (("A/SECRETS/k", "deny-listed (deny globs match regardless of case)"),)


# --- item 7: submodules -------------------------------------------------------------------------------------

SUB_V1, SUB_V2, SUB_FORK = "1" * 40, "2" * 40, "3" * 40  # commits of another repository: in no object store here


def test_gitlinks_whose_commit_nobody_has_are_imported_as_gitlinks(tmp_path: Path) -> None:
    r = build(tmp_path, BASE, BASE, checks=[{"name": "ok", "run": "test -d vendor/lib && test -d vendor/new"}],
              batch=False)  # the slice's own attempts are read
    # v1 had vendor/lib at SUB_V1 on both sides; upstream moves it, adds vendor/new and .gitmodules
    base_items = [("README.md", "# base\n"), ("src/app.js", "app v1\n"), ("vendor/lib", Gitlink(SUB_V1)),
                  ("vendor/both", Gitlink(SUB_V1))]
    v1 = hostile_commit(r.upstream, base_items, parent=r.main, tick=15)
    git_out(r.upstream, "tag", "-f", "v1", v1)
    hostile_commit(r.fork, [*base_items[:3], ("vendor/both", Gitlink(SUB_FORK))], parent=r.fork_head, tick=16)
    upstream_with(r, [("vendor/lib", Gitlink(SUB_V2)), ("vendor/new", Gitlink(SUB_V2)),
                      ("vendor/both", Gitlink(SUB_V2)), (".gitmodules", "[submodule \"lib\"]\n")])

    result = run_doit(r.workspace, "wave_a")

    assert "unable to read" not in result.stderr and "Traceback" not in result.stderr
    out = one_slice(r)
    assert sorted(out["adopted"]) == [".gitmodules", "src/app.js", "vendor/lib", "vendor/new"]
    assert [(c["path"], c["reason"]) for c in out["conflicts"]] == [
        ("vendor/both", "not a regular file on every side (symlink or submodule)")]
    listing = git_out(r.fork, "ls-tree", "-r", "sync/upstream", "vendor")
    assert f"160000 commit {SUB_V2}\tvendor/lib" in listing and f"160000 commit {SUB_V2}\tvendor/new" in listing
    assert f"160000 commit {SUB_FORK}\tvendor/both" in listing                # the conflict: the fork's, untouched
    assert [c for c in out["attempts"][0]["results"] if c["name"] == "ok"][0]["status"] == "passed"


# --- the guarantee, checked by the kernel ----------------------------------------------------------------------

LEAVES = ["a/b", "a/c", "d", "e/f", "e/g/h", "i", "j/k/l", "m"]  # no one a folder of another
FOLDERS = ["", "a", "e", "e/g", "j", "j/k"]
CASES = 300


def _target(rng: random.Random, path: str) -> str:
    """A target inside the repository as text; through another name and back up half of the time
    (inside as text, outside if that name is a link), and rarely leaving it outright."""
    here = posixpath.dirname(path) or "."
    dest = rng.choice(LEAVES + FOLDERS) or "."
    target = posixpath.relpath(dest, here)
    if rng.random() < 0.5:
        via = rng.choice(LEAVES + FOLDERS[1:])
        target = f"{posixpath.relpath(via, here)}/{'/'.join(['..'] * (via.count('/') + 1))}/{dest}"
    return "../" + target if rng.random() < 0.03 else target


def _materialise(root: Path, entries: dict[str, tuple[str, str]]) -> bool:
    """Write the tree with real files and symlinks (an oid is the target itself); False when an
    entry would have to go through a symlink or a file."""
    root.mkdir(parents=True)
    for path in sorted(entries):
        parent = root
        for part in path.split("/")[:-1]:
            parent = parent / part
            if parent.is_symlink() or parent.is_file():
                return False
            parent.mkdir(exist_ok=True)
        mode, oid = entries[path]
        if (root / path).is_symlink() or (root / path).exists():
            return False
        if mode == "120000":
            os.symlink(oid, root / path)
        else:
            (root / path).write_text("x")
    return True


def _escaping(root: Path, entries: dict[str, tuple[str, str]]) -> list[str]:
    """The symlinks the kernel resolves outside ``root`` or into a ``.git``."""
    bad = []
    for path, (mode, _) in entries.items():
        resolved = Path(os.path.realpath(root / path))
        if mode == "120000" and (not resolved.is_relative_to(root) or ".git" in resolved.relative_to(root).parts):
            bad.append(path)
    return bad


def _random_slice(rng: random.Random, scratch: Path) -> tuple[dict[str, tuple[str, str]], list[Change]]:
    """A sync tip whose links are all safe, and up to five changes (new links, files, deletions)."""
    def link(path: str) -> tuple[str, str]:
        return ("120000", _target(rng, path))

    for attempt in itertools.count():
        tip = {p: link(p) if rng.random() < 0.6 else ("100644", "f") for p in rng.sample(LEAVES, rng.randint(1, 5))}
        where = scratch / f"tip-{attempt}" / "root"
        if _materialise(where, tip) and not _escaping(where, tip):
            break
    changes = [Change(p, "upstream-deleted", None, None) if p in tip and rng.random() < 0.4 else
               Change(p, "upstream-added", *(link(p) if rng.random() < 0.8 else ("100644", "g")))
               for p in rng.sample(LEAVES, rng.randint(1, 5))]
    return tip, changes


def test_no_part_of_a_slice_can_make_a_tree_the_kernel_resolves_outside(tmp_path: Path) -> None:
    """Seeded random tips and slices of symlinks: every subset of what ``tree_hazards`` lets
    through (a split can land any of them) is written with real symlinks, ``realpath`` must
    stay inside the root and out of .git, and no entry may have to go through a link."""
    subsets = 0
    for seed in range(CASES):
        rng = random.Random(seed)
        scratch = tmp_path / f"case-{seed}" / "d2" / "d3" / "d4"  # deep: an escape still lands in tmp_path
        tip, changes = _random_slice(rng, scratch)
        links = {oid: oid for _, oid in [*tip.values(), *((c.mode, c.oid) for c in changes)] if oid}
        hazards = tree_hazards(tip, changes, links)
        allowed = [c for c in changes if c.path not in hazards]
        for n in range(len(allowed) + 1):
            for subset in itertools.combinations(allowed, n):
                subsets += 1
                entries = dict(tip)
                for c in subset:
                    if c.mode:
                        entries[c.path] = (c.mode, c.oid or "")
                    else:
                        entries.pop(c.path, None)
                where = scratch / f"subset-{subsets}" / "root"
                assert _materialise(where, entries), (seed, tip, subset, hazards)
                assert _escaping(where, entries) == [], (seed, tip, subset, hazards)
    assert subsets > 2000  # the generator lets most changes through: the check has something to check
