"""Coupled groups: the links (tables), cutting groups, plan_waves with them, and real repositories through doit."""
from __future__ import annotations

import doctest
import json
import random
from pathlib import Path
from typing import Any

import pytest

from conftest import commit_tree, doit_ok, make_repo, run_doit, write_config
from slicekit import Repos, config_for, outcome, plan, slice_of
from tasks.core import coupling, plan as planmod
from tasks.repo import git
from tasks.config import DEFAULT_WAVES, Wave
from tasks.core.coupling import Commit, Link, cochange, couple_links, history, lockfile_links, pair_tests, slice_groups
from tasks.errors import ForkwaveError
from tasks.core.plan import cut_group, plan_waves
from tasks.report.render import wave_manifest
from tasks.workspace import dump_json


def test_the_docstring_examples_hold() -> None:
    for module in (coupling, planmod):
        assert doctest.testmod(module).failed == 0


# --- tests of modules ----------------------------------------------------------------------

@pytest.mark.parametrize("paths,expected", [
    (["doit/task.py", "tests/test_task.py"], [("doit/task.py", "tests/test_task.py")]),   # across folders
    (["pkg/x.py", "pkg/test_x.py"], [("pkg/test_x.py", "pkg/x.py")]),
    (["pkg/x.py", "pkg/x_test.py"], [("pkg/x.py", "pkg/x_test.py")]),
    (["src/foo.ts", "src/foo.spec.ts"], [("src/foo.spec.ts", "src/foo.ts")]),
    (["src/Foo.tsx", "src/Foo.test.tsx"], [("src/Foo.test.tsx", "src/Foo.tsx")]),
    (["a/b.jsx", "a/b.spec.jsx"], [("a/b.jsx", "a/b.spec.jsx")]),
    (["a/b.ts", "a/b.test.js"], [("a/b.test.js", "a/b.ts")]),                               # one family
    (["src/foo.ts", "src/__tests__/foo.ts"], [("src/__tests__/foo.ts", "src/foo.ts")]),
    (["src/foo.js", "src/__tests__/foo.test.js"], [("src/__tests__/foo.test.js", "src/foo.js")]),
    (["m/a.service.js", "m/__tests__/a.service.spec.js"], [("m/__tests__/a.service.spec.js", "m/a.service.js")]),
    (["src/foo.ts", "src/foo.spec.ts", "src/__tests__/foo.test.ts"],                       # two tests, one module
     [("src/__tests__/foo.test.ts", "src/foo.ts"), ("src/foo.spec.ts", "src/foo.ts")]),
    (["pkg/x.go", "pkg/x_test.go"], [("pkg/x.go", "pkg/x_test.go")]),
    (["a/x.go", "b/x_test.go"], []),                                                        # Go: same folder only
    (["src/main/java/com/x/Foo.java", "src/test/java/com/x/FooTest.java"],
     [("src/main/java/com/x/Foo.java", "src/test/java/com/x/FooTest.java")]),
    (["lib/foo.rb", "spec/foo_spec.rb"], [("lib/foo.rb", "spec/foo_spec.rb")]),
    (["src/Foo.php", "tests/FooTest.php"], [("src/Foo.php", "tests/FooTest.php")]),
    (["a/utils.py", "b/utils.py", "tests/test_utils.py"], []),                              # ambiguous: no guess
    (["packages/a/src/x/fmt.ts", "packages/b/src/x/fmt.ts", "packages/a/src/x/__tests__/fmt.test.ts"],
     [("packages/a/src/x/__tests__/fmt.test.ts", "packages/a/src/x/fmt.ts")]),             # the nearest module
    (["src/pkg/foo/bar.py", "src/pkg/baz/bar.py", "tests/unit/foo/test_bar.py"],
     [("src/pkg/foo/bar.py", "tests/unit/foo/test_bar.py")]),                              # mirrored folders
    (["tests/test_x.py"], []),                                                              # no module planned
    (["src/test.py", "src/contest.py", "src/x.py"], []),                                    # not tests by name
    (["src/foo.ts", "src/foo.stories.ts"], []),
])
def test_pair_tests(paths: list[str], expected: list[tuple[str, str]]) -> None:
    links = pair_tests(paths)
    assert sorted(lk.files for lk in links) == expected
    for lk in links:
        assert lk.kind == "test" and lk.why.startswith("test of ") and lk.why[len("test of "):] in lk.files


# --- manifests and lockfiles ------------------------------------------------------------------

@pytest.mark.parametrize("paths,expected", [
    (["package.json", "yarn.lock"], [("package.json", "yarn.lock")]),
    (["packages/a/package.json", "yarn.lock"], [("packages/a/package.json", "yarn.lock")]),  # member -> root
    (["packages/a/package.json", "packages/a/package-lock.json", "yarn.lock"],              # its own first
     [("packages/a/package-lock.json", "packages/a/package.json")]),
    (["apps/web/package.json", "pnpm-lock.yaml", "package.json"],
     [("apps/web/package.json", "pnpm-lock.yaml"), ("package.json", "pnpm-lock.yaml")]),
    (["npm-shrinkwrap.json", "package.json"], [("npm-shrinkwrap.json", "package.json")]),
    (["pyproject.toml", "poetry.lock"], [("poetry.lock", "pyproject.toml")]),
    (["sub/pyproject.toml", "poetry.lock"], []),                                            # poetry: no workspaces
    (["libs/a/pyproject.toml", "uv.lock"], [("libs/a/pyproject.toml", "uv.lock")]),
    (["pyproject.toml", "pdm.lock"], [("pdm.lock", "pyproject.toml")]),
    (["crates/a/Cargo.toml", "Cargo.toml", "Cargo.lock"],
     [("Cargo.lock", "Cargo.toml"), ("Cargo.lock", "crates/a/Cargo.toml")]),
    (["go.mod", "go.sum"], [("go.mod", "go.sum")]),
    (["sub/go.mod", "go.sum"], []),                                                         # each module its own
    (["Gemfile", "Gemfile.lock"], [("Gemfile", "Gemfile.lock")]),
    (["composer.json", "composer.lock"], [("composer.json", "composer.lock")]),
    (["package.json", "Cargo.lock"], []),                                                   # not its lockfile
    (["yarn.lock"], []),
    (["package.json"], []),
])
def test_lockfile_links(paths: list[str], expected: list[tuple[str, ...]]) -> None:
    links = lockfile_links(paths)
    assert sorted(lk.files for lk in links) == expected
    assert all(lk.kind == "lockfile" and lk.why.startswith("lockfile of ") for lk in links)


def test_couple_rules_join_every_path_any_glob_of_a_rule_matches() -> None:
    paths = ["db/migrations/1.sql", "api/migrations/2.sql", "src/entities/user.ts", "src/app.ts", "docs/a.md"]
    links = couple_links(paths, [["**/migrations/**", "**/entities/**"], ["docs/**"], ["src/app.ts", "nothing/**"]])
    assert links == [Link("couple", "couple: 0",
                          ("api/migrations/2.sql", "db/migrations/1.sql", "src/entities/user.ts"))]


# --- upstream commits ------------------------------------------------------------------------

def commit(sha: str, *files: str, size: int | None = None, bases: tuple[str, ...] = ("b",)) -> Commit:
    return Commit(sha, tuple(sorted(files)), frozenset(bases), len(files) if size is None else size)


def test_cochange_links_a_commits_planned_files_counted_from_their_own_base() -> None:
    paths = {"a", "b", "c", "d", "renamed"}
    commits = [commit("1", "a", "b", "unplanned"),
               commit("2", "c", "d", bases=("old",)),          # d's base is newer than this commit
               commit("3", "a", "old-name"),                    # the fork renamed old-name to renamed
               commit("4", "c"),                                # one planned file: no link, but a later touch
               commit("5", "a", "b", "c", size=31)]             # a mass change: over the cap
    result = cochange(paths, commits, lambda p: "new" if p == "d" else ("old" if p == "c" else "b"),
                      {"old-name": "renamed"}, cap=30)
    assert [(lk.why, lk.files) for lk in result.links] == [("commit 1", ("a", "b")), ("commit 3", ("a", "renamed"))]
    assert dict(result.last_touch) == {"a": 2, "b": 0, "renamed": 2, "c": 1}
    assert [c.sha for c in result.too_large] == ["5"]


def test_history_merges_the_logs_of_several_bases_oldest_first() -> None:
    logs = {"new": [("c3", ["x"])], "old": [("c3", ["x"]), ("c2", ["up/y", "up/y"]), ("c1", ["z"])]}
    commits = history(logs, [coupling.MapRule("up/", "fork/")])
    assert [(c.sha, c.files, sorted(c.bases), c.size) for c in commits] == [
        ("c1", ("z",), ["old"], 1), ("c2", ("fork/y",), ["old"], 2), ("c3", ("x",), ["new", "old"], 1)]


def test_the_commit_cap_is_30_files_or_the_slice_size() -> None:
    assert coupling.commit_cap(10) == 30 and coupling.commit_cap(200) == 200


# --- cutting a group too large for a slice ------------------------------------------------------

def test_a_cochange_group_is_cut_along_commit_order_then_by_directory() -> None:
    group = ["a/x", "b/x", "c/x", "c/y", "c/z", "y/x", "z/x"]
    links = [Link("commit", "commit 0", ("a/x", "z/x")), Link("commit", "commit 1", ("b/x", "y/x")),
             Link("commit", "commit 2", ("b/x", "c/x", "c/y", "c/z", "z/x"))]
    last = {"a/x": 0, "y/x": 1, "b/x": 2, "c/x": 2, "c/y": 2, "c/z": 2, "z/x": 2}
    assert [files for files, _ in cut_group(group, links, 2, last)] == [
        ("a/x", "y/x"),                              # commits 0 and 1: the oldest states first
        ("b/x",), ("c/x", "c/y"), ("c/z", "z/x")]    # commit 2's five files: by directory


def test_last_resort_cuts_a_unit_by_directory_but_never_a_manifest_and_its_lockfile() -> None:
    unit = ["a/package.json", "a/yarn.lock", "b/1", "b/2", "c/1"]
    links = [Link("couple", "couple: 0", tuple(unit)), Link("lockfile", "lockfile of a/package.json",
                                                              ("a/package.json", "a/yarn.lock"))]
    cut = cut_group(unit, links, 1, {})
    assert [files for files, _ in cut] == [("a/package.json", "a/yarn.lock"), ("b/1",), ("b/2",), ("c/1",)]
    assert all(anchor == frozenset(unit) for _, anchor in cut)    # every piece keeps the unit's wave


# --- plan_waves with coupled groups ---------------------------------------------------------------

def entry(cls: str = "upstream-changed", bucket: str = "(root)", **kw: Any) -> dict[str, Any]:
    return {"class": cls, "bucket": bucket, "upstream": None, "fork": None, "base": None, **kw}


def drift_of(*paths: str, base: str | None = "b", groups: dict[str, str] | None = None, **extra: Any
             ) -> dict[str, Any]:
    entries = {p: entry() for p in paths} | extra
    return {"upstream": {"sha": "f" * 40}, "base": {"sha": base, "groups": groups or {}} if base else None,
            "entries": entries}


DEFAULT = tuple(Wave(n, tuple(w.get("buckets", ())), tuple(w.get("paths", ()))) for n, w in DEFAULT_WAVES.items())


def files_of(p: planmod.Plan) -> list[tuple[str, str, list[str]]]:
    return [(s.name, s.wave, [f.path for f in s.files]) for s in p.slices]


def test_a_group_goes_to_the_earliest_wave_of_its_members() -> None:
    # the test is wave c's (__tests__), its module wave b's, the migration wave a's
    drift = drift_of("src/a.ts", "src/__tests__/a.ts", "src/b.ts", "db/migrations/1.sql", "docs/x.md")
    p = plan_waves(drift, DEFAULT, 25, couple=[["db/**", "docs/**"]])
    assert files_of(p) == [("slice-1", "a", ["db/migrations/1.sql", "docs/x.md"]),
                           ("slice-2", "b", ["src/__tests__/a.ts", "src/a.ts", "src/b.ts"])]
    assert [g.to_json() for g in p.slices[1].groups] == [
        {"files": ["src/__tests__/a.ts", "src/a.ts"], "why": ["test of src/a.ts"],
         "links": [{"kind": "test", "why": "test of src/a.ts", "files": ["src/__tests__/a.ts", "src/a.ts"]}],
         "split": None}]
    assert p.slices[0].groups[0].why == ("couple: 0",)


def test_a_path_no_wave_names_joins_its_groups_wave_and_a_group_of_none_stays_unassigned() -> None:
    drift = drift_of("src/x.py", "tests/test_x.py", "tests/test_y.py", "other/y.py")
    p = plan_waves(drift, (Wave("a", (), ("src/**",)),), 25)
    assert files_of(p) == [("slice-1", "a", ["src/x.py", "tests/test_x.py"])]
    assert [f.path for f in p.unassigned] == ["other/y.py", "tests/test_y.py"]


def test_a_manifest_and_its_lockfile_are_never_split_even_past_max_files() -> None:
    manifests = [f"packages/p{i}/package.json" for i in range(3)]
    drift = drift_of(*manifests, "yarn.lock", "src/a.js", "src/b.js")
    p = plan_waves(drift, DEFAULT, 2)
    held = next(s for s in p.slices if "yarn.lock" in [f.path for f in s.files])
    assert sorted(f.path for f in held.files) == sorted(manifests + ["yarn.lock"])      # 4 files, max 2
    (group,) = held.groups
    assert group.split is None and group.unsplittable
    assert group.why == tuple(f"lockfile of {m}" for m in manifests)
    assert all(len(s.files) <= 2 for s in p.slices if s is not held)
    text = wave_manifest(p, "b")
    assert "4 files, over 2: a manifest and its lockfile are never split" in text
    assert p.to_json()["coupling"]["never_split"] == "a manifest and its lockfile"


def test_a_group_larger_than_max_files_is_split_and_reported_with_where_the_rest_went() -> None:
    paths = [f"{d}/migrations/{i}.sql" for d in ("api", "db") for i in range(2)] + ["src/entities/user.ts"]
    p = plan_waves(drift_of(*paths), DEFAULT, 2, couple=[["**/migrations/**", "**/entities/**"]])
    assert [s.wave for s in p.slices] == ["a", "a", "a"]             # the entity follows the migrations
    assert files_of(p)[0][2] == ["api/migrations/0.sql", "api/migrations/1.sql"]
    body = p.to_json()
    assert body["slices"][0]["groups"] == [{"files": ["api/migrations/0.sql", "api/migrations/1.sql"],
                                            "why": ["couple: 0"],
                                            "links": [{"kind": "couple", "why": "couple: 0",
                                                       "files": ["api/migrations/0.sql", "api/migrations/1.sql"]}],
                                            "split": {"group_files": 5, "with": ["slice-2", "slice-3"],
                                                      "broken": ["couple: 0"]}}]
    assert body["coupling"]["split"] == 3
    text = wave_manifest(p, "a")
    assert "**split**: the group has 5 files, more than 2; the rest is in slice-2, slice-3" in text


def test_files_of_one_commit_share_a_slice_whatever_their_folders() -> None:
    drift = drift_of("a/one.js", "b/three.js", "m/five.js", "y/four.js", "z/two.js")
    commits = [commit("c1", "a/one.js", "z/two.js"), commit("c2", "b/three.js", "y/four.js"), commit("c3", "m/five.js")]
    p = plan_waves(drift, (Wave("a", ("*",)),), 2, commits=commits)
    assert files_of(p) == [("slice-1", "a", ["a/one.js", "z/two.js"]), ("slice-2", "a", ["b/three.js", "y/four.js"]),
                           ("slice-3", "a", ["m/five.js"])]
    assert p.slices[0].groups[0].why == ("commit c1",)
    assert plan_waves(drift, (Wave("a", ("*",)),), 2).slices[0].files[1].path == "b/three.js"  # by directory without


def test_a_mass_commit_glues_nothing_and_is_listed() -> None:
    paths = [f"pkg{i % 50}/f{i}.py" for i in range(5000)]
    commits = [commit("reformat", *paths), commit("feature", "pkg1/f1.py", "pkg7/f7.py")]
    p = plan_waves(drift_of(*paths), (Wave("a", ("*",)),), 25, commits=commits)
    groups = [g for s in p.slices for g in s.groups]
    assert [g.files for g in groups] == [("pkg1/f1.py", "pkg7/f7.py")]
    assert p.coupling["too_large"] == [{"sha": "reformat", "files": 5000}]
    assert p.coupling["commits"] == {"used": 1, "too_large": 1}
    assert all(len(s.files) <= 25 for s in p.slices)


def test_two_way_drift_has_no_commits_but_tests_lockfiles_and_rules_apply() -> None:
    entries = {p: entry("differs") for p in ("src/x.py", "tests/test_x.py", "go.mod", "go.sum", "a/1", "b/1")}
    drift = {"upstream": {"sha": "f" * 40}, "base": None, "entries": entries}
    assert coupling.bases_of(drift) == []
    p = plan_waves(drift, (Wave("a", ("*",)),), 2, couple=[["a/**", "b/**"]])
    assert sorted(g.files for s in p.slices for g in s.groups) == [("a/1", "b/1"), ("go.mod", "go.sum"),
                                                                   ("src/x.py", "tests/test_x.py")]


def random_case(seed: int) -> tuple[dict[str, Any], list[Commit], list[list[str]], int]:
    rng = random.Random(seed)
    dirs = ["a", "a/b", "c", "tests", "packages/p1", "packages/p2", "src/__tests__"]
    names = ["x.py", "test_x.py", "y.ts", "y.spec.ts", "package.json", "yarn.lock", "go.mod", "go.sum", "z.md"]
    paths = sorted({f"{rng.choice(dirs)}/{rng.choice(names)}" for _ in range(60)})
    commits = [commit(f"c{i}", *rng.sample(paths, rng.randint(1, 6)), size=rng.choice([3, 6, 40]))
               for i in range(15)]
    return drift_of(*paths), commits, [["**/*.md", "a/b/**"]], rng.randint(1, 8)


@pytest.mark.parametrize("seed", range(8))
def test_plan_invariants_on_random_coupled_plans(seed: int) -> None:
    drift, commits, rules, max_files = random_case(seed)
    waves = (Wave("a", (), ("a/**",)), Wave("b", ("*",)), Wave("c", (), ("**/*.md",)))
    p = plan_waves(drift, waves, max_files, rules, commits)
    flat = [f.path for s in p.slices for f in s.files]
    assert sorted(flat) == sorted(drift["entries"]) and len(flat) == len(set(flat))   # every path once
    slice_of_path = {f.path: s.name for s in p.slices for f in s.files}
    for lk in lockfile_links(list(drift["entries"])):
        assert len({slice_of_path[f] for f in lk.files}) == 1                          # never split
    for s in p.slices:
        body = p.to_json()["slices"][p.slices.index(s)]
        parts = slice_groups(body)
        assert sorted(f for part in parts for f in part) == sorted(f.path for f in s.files)  # a partition
        for kinds in (("lockfile", "test", "couple"), ("lockfile",)):                   # finer, inside groups
            assert all(any(set(fine) <= set(part) for part in parts) for fine in slice_groups(body, kinds))
        if len(s.files) > max_files:                                                   # only for a lockfile group
            assert any(g.unsplittable and len(g.files) > max_files for g in s.groups)
    shuffled = list(drift["entries"].items())
    random.Random(seed).shuffle(shuffled)
    again = plan_waves(drift | {"entries": dict(shuffled)}, waves, max_files, rules, commits)
    assert dump_json(again.to_json()) == dump_json(p.to_json())                        # byte-identical


# --- the interface for the slice runner -------------------------------------------------------

def test_slice_groups_is_a_partition_in_slice_order_and_reads_old_plans() -> None:
    lockfile = {"kind": "lockfile", "why": "lockfile of d", "files": ["d", "f"]}
    s = {"files": [{"path": p} for p in ("a", "b", "c", "d", "e", "f")],
         "groups": [{"files": ["d", "b", "f"], "why": ["lockfile of d", "commit x"], "split": None,
                     "links": [lockfile, {"kind": "commit", "why": "commit x", "files": ["b", "d"]}]},
                    {"files": ["e", "zz"], "why": [], "links": [],                 # a file from another slice
                     "split": {"group_files": 3, "with": ["slice-9"], "broken": []}},
                    {"files": ["c", "a"], "why": ["test of c"], "split": None,
                     "links": [{"kind": "test", "why": "test of c", "files": ["a", "c"]}]}]}
    assert slice_groups(s) == [("a", "c"), ("b", "d", "f"), ("e",)]
    assert slice_groups(s, kinds=("lockfile", "test", "couple")) == [("a", "c"), ("b",), ("d", "f"), ("e",)]
    assert slice_groups(s, kinds=("lockfile",)) == [("a",), ("b",), ("c",), ("d", "f"), ("e",)]
    assert slice_groups({"files": [{"path": "a"}, {"path": "b"}]}) == [("a",), ("b",)]  # a plan from before


# --- config ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,message", [
    ("'**/x/**'", "3:9: key 'couple': expected a list, got str '**/x/**'"),
    ("['a/**', 'b/**']", "3:10: key 'couple.0': expected a list, got str 'a/**'"),      # one group is a list of globs
    ("[[]]", "3:10: key 'couple.0': expected a non-empty list"),
    ("[['a/**', '!b/**']]", "3:19: key 'couple.0.1': negated pattern '!b/**' is not supported here"),
    ("[['a/**', '']]", "3:19: key 'couple.0.1': expected a non-empty string"),
])
def test_couple_config_errors_name_the_key(tmp_path: Path, value: str, message: str) -> None:
    from tasks.config import load_config

    path = write_config(tmp_path, f"upstream: {{url: u}}\nfork: {{path: f}}\ncouple: {value}\n")
    with pytest.raises(ForkwaveError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}:{message}"


def test_couple_config_is_read_as_tuples(tmp_path: Path) -> None:
    from tasks.config import load_config

    path = write_config(tmp_path,
                        "upstream: {url: u}\nfork: {path: f}\ncouple: [['**/migrations/**', '**/entities/**']]\n")
    assert load_config(path).couple == (("**/migrations/**", "**/entities/**"),)


# --- git: first-parent paths -------------------------------------------------------------------

def test_first_parent_paths_on_a_real_history_with_a_merge_a_rename_and_odd_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "up.git", bare=True)
    base = commit_tree(repo, {"a.txt": "a\n", "old name.txt": "same\n"}, message="base")
    c1 = commit_tree(repo, {"a.txt": "a2\n", "new name.txt": "same\n", "line\nbreak é.txt": "x\n"}, tick=1)
    side = commit_tree(repo, {"a.txt": "a2\n", "side.txt": "s\n"}, branch="side", tick=2)
    empty = commit_tree(repo, {"a.txt": "a2\n", "new name.txt": "same\n", "line\nbreak é.txt": "x\n"}, tick=3)
    merged_files = {"a.txt": "a2\n", "new name.txt": "same\n", "line\nbreak é.txt": "x\n", "side.txt": "s\n"}
    holder = commit_tree(repo, merged_files, branch="tmp", tick=4)        # only for its tree
    merge = git.git(repo, "commit-tree", f"{holder}^{{tree}}", "-p", empty, "-p", side, "-m", "merge").decode().strip()
    log = git.first_parent_paths(repo, merge, base)
    assert log == [(merge, ("side.txt",)),                      # against its first parent only
                   (empty, ()),
                   (c1, ("a.txt", "line\nbreak é.txt", "new name.txt", "old name.txt"))]   # a rename: both names
    assert side not in [sha for sha, _ in log]                  # the side branch's own commit: not first parent


# --- real repositories through doit --------------------------------------------------------------

PADDING = {f"docs/pad/{i:02}.md": f"pad {i}\n" for i in range(31)}  # makes the upstream commit a mass change


def pad(files: dict[str, str], version: int) -> dict[str, str]:
    return files | {p: f"{c}v{version}\n" for p, c in PADDING.items()}


def repos_with(tmp_path: Path, snapshots: list[dict[str, str]], **config: Any) -> tuple[Repos, list[str]]:
    """An upstream with one commit per snapshot (the first tagged v1), a fork copied from v1, a config."""
    up = make_repo(tmp_path / "upstream.git", bare=True)
    shas = [commit_tree(up, s, message=f"c{i}", tick=i, tag="v1" if i == 0 else None)
            for i, s in enumerate(snapshots)]
    fk = make_repo(tmp_path / "fork")
    head = commit_tree(fk, dict(config.pop("fork_files", snapshots[0])), message="fork", tick=1)
    ws = tmp_path / "ws"
    ws.mkdir()
    write_config(ws, config_for(**config))
    return Repos(tmp_path, up, fk, ws, shas[0], shas[-1], head), shas


def groups_holding(r: Repos, path: str) -> list[dict[str, Any]]:
    name = slice_of(r, path)
    s = next(s for s in plan(r)["slices"] if s["name"] == name)
    return [g for g in s["groups"] if path in g["files"]]


def test_a_module_and_its_test_in_other_folders_land_in_one_slice_and_pass_together(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    v1 = pad({"doit/x.py": "X = 1\n", "tests/test_x.py": "assert X == 1\n", "doit/a.py": "A = 1\n",
              "doit/b.py": "B = 1\n", "tests/test_other.py": "pass\n"}, 1)
    v2 = pad({"doit/x.py": "X = 2\n", "tests/test_x.py": "assert X == 2\n", "doit/a.py": "A = 2\n",
              "doit/b.py": "B = 2\n", "tests/test_other.py": "pass  # v2\n"}, 2)
    check = {"name": "pair", "run": f"echo run >> {runs} && python3 -c \"exec(open('doit/x.py').read()); "
                                    f"exec(open('tests/test_x.py').read())\""}
    r, _ = repos_with(tmp_path, [v1, v2], slices={"max_files": 2}, checks=[check], gates=[],
                      waves={"a": {"paths": ["doit/**"]}, "b": {"paths": ["tests/**"]}, "c": {"buckets": ["*"]}})

    result = run_doit(r.workspace, "wave_a")

    assert result.returncode == 0, result.stdout + result.stderr
    name = slice_of(r, "doit/x.py")
    assert slice_of(r, "tests/test_x.py") == name                  # wave b's test came along to wave a
    assert next(s["wave"] for s in plan(r)["slices"] if s["name"] == name) == "a"
    (group,) = groups_holding(r, "doit/x.py")
    assert (group["files"], group["why"], group["split"]) == \
        (["doit/x.py", "tests/test_x.py"], ["test of doit/x.py"], None)
    out = outcome(r, name)
    assert out["status"] == "adopted" and sorted(out["adopted"]) == ["doit/x.py", "tests/test_x.py"]
    assert out["runs"] == 0 and out["validated"]["how"] == "batch"  # no split, no search: judged in the batch
    assert runs.read_text().count("run") == 1                      # wave a's batch, once (it passes: no baseline)
    assert plan(r)["coupling"]["too_large"][0]["files"] == 36      # the padded commit couples nothing


def test_a_workspace_manifest_and_the_root_lockfile_share_a_slice(tmp_path: Path) -> None:
    v1 = pad({"packages/app/package.json": '{"dependencies": {"x": "1"}}\n', "yarn.lock": "x@1\n",
              "packages/app/src/a.js": "a1\n", "packages/lib/src/b.js": "b1\n", "README.md": "r1\n"}, 1)
    v2 = pad({"packages/app/package.json": '{"dependencies": {"x": "2"}}\n', "yarn.lock": "x@2\n",
              "packages/app/src/a.js": "a2\n", "packages/lib/src/b.js": "b2\n", "README.md": "r2\n"}, 2)
    r, _ = repos_with(tmp_path, [v1, v2], slices={"max_files": 2},
                      waves={"a": {"paths": ["packages/**"]}, "b": {"buckets": ["*"]}})

    doit_ok(r.workspace, "plan")

    name = slice_of(r, "packages/app/package.json")
    assert slice_of(r, "yarn.lock") == name                        # the root lockfile follows into wave a
    (group,) = groups_holding(r, "yarn.lock")
    assert (group["files"], group["why"], group["split"]) == (
        ["packages/app/package.json", "yarn.lock"], ["lockfile of packages/app/package.json"], None)
    manifest = (r.reports / "wave-a.md").read_text()
    assert "lockfile of `packages/app/package.json`" in manifest


def test_files_of_one_upstream_commit_share_a_slice_under_their_fork_names(tmp_path: Path) -> None:
    v1 = {"packages/up-a/one.js": "1\n", "b/three.js": "3\n", "m/five.js": "5\n", "y/four.js": "4\n",
          "z/two.js": "2\n", "r/old.js": "old\n" * 20}
    c1 = v1 | {"packages/up-a/one.js": "1 c1\n", "z/two.js": "2 c1\n"}
    c2 = c1 | {"b/three.js": "3 c2\n", "y/four.js": "4 c2\n", "r/old.js": "old\n" * 20 + "c2\n"}
    c3 = c2 | {"m/five.js": "5 c3\n"}
    fork = {("packages/fk-a/one.js" if p.startswith("packages/") else p): c for p, c in v1.items()}
    fork["r/renamed.js"] = fork.pop("r/old.js")                    # the fork renamed it
    r, shas = repos_with(tmp_path, [v1, c1, c2, c3], fork_files=fork, slices={"max_files": 2},
                         map=[{"from": "packages/up-", "to": "packages/fk-"}])

    doit_ok(r.workspace, "plan")

    assert slice_of(r, "packages/fk-a/one.js") == slice_of(r, "z/two.js")
    assert groups_holding(r, "z/two.js")[0]["why"] == [f"commit {shas[1]}"]
    # c2 joined three files, more than max_files 2: cut by directory, the cut reported
    assert groups_holding(r, "r/renamed.js")[0]["split"]["broken"] == [f"commit {shas[2]}"]
    assert slice_of(r, "m/five.js") != slice_of(r, "b/three.js")


def test_a_couple_rule_joins_migrations_and_entities_and_a_changed_rule_replans_only(tmp_path: Path) -> None:
    v1 = pad({"db/migrations/001.sql": "create;\n", "src/entities/user.ts": "u1\n", "src/app.ts": "a1\n"}, 1)
    v2 = pad({"db/migrations/001.sql": "create;\n", "db/migrations/002.sql": "alter;\n",
              "src/entities/user.ts": "u2\n", "src/app.ts": "a2\n"}, 2)
    rule = [["**/migrations/**", "**/entities/**"]]
    r, _ = repos_with(tmp_path, [v1, v2], couple=rule, waves=..., slices={"max_files": 25})

    doit_ok(r.workspace, "plan")
    name = slice_of(r, "db/migrations/002.sql")
    assert slice_of(r, "src/entities/user.ts") == name
    assert next(s["wave"] for s in plan(r)["slices"] if s["name"] == name) == "a"     # wave b's entity in a
    assert groups_holding(r, "src/entities/user.ts")[0]["why"] == ["couple: 0"]
    assert "`couple: 0`" in (r.reports / "wave-a.md").read_text()

    write_config(r.workspace, config_for(waves=..., slices={"max_files": 25}))
    result = doit_ok(r.workspace, "plan")
    assert {t for t, s in result.status().items() if s == "ran"} == {"plan"}
    entity = slice_of(r, "src/entities/user.ts")
    assert next(s["wave"] for s in plan(r)["slices"] if s["name"] == entity) == "b"


def test_plan_json_is_byte_identical_when_planned_again(tmp_path: Path) -> None:
    v1 = {"src/x.py": "1\n", "tests/test_x.py": "1\n", "package.json": "{}\n", "yarn.lock": "1\n", "a/b.md": "1\n"}
    c1 = v1 | {"src/x.py": "2\n", "a/b.md": "2\n"}
    c2 = c1 | {"tests/test_x.py": "2\n", "package.json": '{"v": 2}\n', "yarn.lock": "2\n"}
    r, _ = repos_with(tmp_path, [v1, c1, c2], slices={"max_files": 2}, couple=[["a/**", "package.json"]])
    doit_ok(r.workspace, "plan")
    first = (r.reports / "plan.json").read_bytes()
    assert json.loads(first)["coupling"]["groups"] >= 1

    assert {t for t, s in doit_ok(r.workspace, "plan").status().items() if s == "ran"} == set()
    doit_ok(r.workspace, "forget", "plan")
    again = doit_ok(r.workspace, "plan")
    assert again.status()["plan"] == "ran"
    assert (r.reports / "plan.json").read_bytes() == first
