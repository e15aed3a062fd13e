"""drift: the pure classifier and report (tables), then compute() on real repositories."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import (UPSTREAM_V1, Executable, Scenario, Symlink, commit_tree, fork_files, make_repo, pure_config,
                      rename, scenario_config, write_config)
from tasks.core import classify
from tasks.repo import drift, fetch, git
from tasks.config import Bucket, MapRule, Wave, load_config
from tasks.errors import ForkwaveError
from tasks.repo.treemap import map_tree, upstream_path
from tasks.workspace import Workspace, dump_json

A = ("100644", "a" * 40)
B = ("100644", "b" * 40)
C = ("100644", "c" * 40)
A_EXEC = ("100755", "a" * 40)
LINK = ("120000", "a" * 40)


@pytest.mark.parametrize("base,upstream,fork,expected", [
    # 2-way: no base known
    (False, A, A, "identical"),
    (False, A, None, "missing"),
    (False, None, A, "extra"),
    (False, A, B, "differs"),
    (False, A, A_EXEC, "differs"),          # executable bit only
    (False, A, LINK, "differs"),            # file became a symlink
    # 3-way: path absent from the base
    (None, A, None, "upstream-added"),
    (None, None, A, "fork-added"),
    (None, A, B, "both-changed"),
    (None, A, A, "identical"),              # both added the same file
    # 3-way: path in the base
    (A, A, A, "identical"),
    (A, B, A, "upstream-changed"),
    (A, A_EXEC, A, "upstream-changed"),     # upstream only flipped the executable bit
    (A, A, B, "fork-changed"),
    (A, A, A_EXEC, "fork-changed"),
    (A, None, A, "upstream-deleted"),
    (A, A, None, "fork-deleted"),
    (A, B, C, "both-changed"),
    (A, B, B, "identical"),                 # the same change on both sides
    (A, None, B, "both-changed"),           # upstream deleted what the fork edited
    (A, B, None, "both-changed"),           # the fork deleted what upstream edited
    (A, None, None, "identical"),           # both deleted it
])
def test_classify(base: Any, upstream: Any, fork: Any, expected: str) -> None:
    assert classify.classify(base, upstream, fork) == expected


@pytest.mark.parametrize("path,bucket", [
    ("packages/acme-server/src/a.ts", "packages/acme-server"),
    ("packages/acme-server/package.json", "packages/acme-server"),
    ("packages/README.md", "packages"),
    ("docs/guide/intro.md", "docs"),
    ("README.md", "(root)"),
    (".github/workflows/ci.yml", ".github"),
])
def test_default_bucket(path: str, bucket: str) -> None:
    assert classify.default_bucket(path) == bucket


def test_bucketer_configured_first_match_wins_then_default_rule() -> None:
    cfg = pure_config(buckets=(Bucket("api", ("packages/acme-server/src/api/**",)),
                               Bucket("server", ("packages/acme-server/**", "server.md")),
                               Bucket("docs", ("*.md",))))
    bucket = classify.Bucketer(cfg)
    assert bucket("packages/acme-server/src/api/x.ts") == "api"
    assert bucket("packages/acme-server/src/db/y.ts") == "server"
    assert bucket("server.md") == "server"
    assert bucket("packages/acme-ui/README.md") == "docs"
    assert bucket("packages/acme-ui/src/b.ts") == "packages/acme-ui"


def test_build_report_applies_ignore_then_deny_to_actionable_classes_only() -> None:
    cfg = pure_config(ignore=("**/node_modules/**",), deny=(".env", "**/secrets/**"),
                      waves=(Wave("a", ("core",), ("**/migrations/**",)), Wave("b", ("*",))),
                      buckets=(Bucket("core", ("core/**",)),))
    triples = {
        "core/x.js": (A, B, A),                     # upstream-changed
        "core/.env": (None, A, None),               # upstream-added, deny-listed -> blocked
        "app/.env": (None, None, A),                # fork-added .env: not upstream work, stays fork-added
        "app/secrets/k": (A, B, A),                 # blocked
        "app/node_modules/m/i.js": (A, B, A),       # ignored (wins over deny and class)
        "db/migrations/1.sql": (None, A, None),     # upstream-added, in wave a's paths -> critical bucket
        "README.md": (A, A, B),                     # fork-changed
    }
    report = classify.build_report(cfg, triples, fork_files=10, three_way=True)
    classes = {p: e["class"] for p, e in report["entries"].items()}
    assert classes == {
        "core/x.js": "upstream-changed", "core/.env": "blocked", "app/.env": "fork-added",
        "app/secrets/k": "blocked", "app/node_modules/m/i.js": "ignored", "db/migrations/1.sql": "upstream-added",
        "README.md": "fork-changed",
    }
    # 10 fork files, 5 of them appear in the differences
    assert report["totals"] == {"identical": 5, "upstream-added": 1, "upstream-changed": 1, "fork-added": 1,
                                "fork-changed": 1, "blocked": 2, "ignored": 1}
    assert report["mode"] == "3-way"
    assert report["critical_buckets"] == ["core", "db"]
    assert report["paths"]["blocked"] == ["app/secrets/k", "core/.env"]
    assert list(report["entries"]) == sorted(triples)
    assert report["entries"]["core/x.js"] == {"class": "upstream-changed", "bucket": "core",
                                              "upstream": f"100644 {'b' * 40}", "fork": f"100644 {'a' * 40}",
                                              "base": f"100644 {'a' * 40}"}
    assert report["buckets"]["app"] == {"blocked": 1, "fork-added": 1, "ignored": 1}


def test_build_report_two_way_has_no_base_column() -> None:
    report = classify.build_report(pure_config(), {"x": (False, A, None), "y": (False, A, B)}, 1, three_way=False)
    assert report["mode"] == "2-way"
    assert report["entries"]["x"]["base"] is None
    assert report["totals"] == {"missing": 1, "differs": 1}  # the one fork file differs: 0 identical


# --- compute() on real repositories -------------------------------------------------------

def drift_of(sc: Scenario, **overrides: Any) -> dict[str, Any]:
    """Write ``sc``'s config (with ``overrides``), fetch into the workspace's mirror, compute the drift."""
    cfg = load_config(write_config(sc.workspace, scenario_config(sc, **overrides)))
    ws = Workspace(sc.workspace)
    record = fetch.fetch(cfg, ws)
    return drift.compute(cfg, ws.mirror, record["sha"])


def classes_of(report: dict[str, Any]) -> dict[str, str]:
    return {p: e["class"] for p, e in report["entries"].items()}


def test_renamed_packages_three_way_every_class(scenario: Scenario) -> None:
    report = drift_of(scenario)
    assert classes_of(report) == {
        "Dockerfile": "fork-deleted",
        "README.md": "fork-changed",
        "docs/new.md": "upstream-added",
        "docs/old.md": "upstream-deleted",
        "packages/fk-billing/src/invoice.js": "fork-added",
        "packages/fk-server/src/api.js": "upstream-changed",
        "packages/fk-server/src/db/migrations/002.sql": "upstream-added",
        "packages/fk-ui/src/button.js": "both-changed",
        "packages/fk-ui/src/index.js": "upstream-changed",     # symlink retargeted upstream
        "packages/fk-ui/src/link.js": "fork-changed",          # executable bit set in the fork
        "packages/fk-ui/src/tag.js": "upstream-deleted",
        "scripts/release.sh": "upstream-changed",
    }
    assert report["totals"]["identical"] == 3  # login.js, 001.sql, guide.md
    assert report["mode"] == "3-way"
    assert report["base"] == {"source": "config", "rev": "v1", "sha": scenario.v1, "groups": {}}
    assert report["upstream"] == {"ref": "main", "sha": scenario.main}
    assert report["fork"] == {"branch": "main", "sha": scenario.fork_head}
    link = report["entries"]["packages/fk-ui/src/link.js"]
    assert link["fork"].split() == ["100755", link["upstream"].split()[1]]  # same blob, mode differs
    index = report["entries"]["packages/fk-ui/src/index.js"]
    assert index["upstream"].startswith("120000 ") and index["fork"].startswith("120000 ")
    assert report["buckets"]["packages/fk-billing"] == {"fork-added": 1}
    assert report["warnings"] == []


def test_two_way_without_base(scenario: Scenario) -> None:
    report = drift_of(scenario, base=...)
    assert report["mode"] == "2-way" and report["base"] is None
    assert classes_of(report) == {
        "Dockerfile": "missing", "README.md": "differs", "docs/new.md": "missing", "docs/old.md": "extra",
        "packages/fk-billing/src/invoice.js": "extra", "packages/fk-server/src/api.js": "differs",
        "packages/fk-server/src/db/migrations/002.sql": "missing", "packages/fk-ui/src/button.js": "differs",
        "packages/fk-ui/src/index.js": "differs", "packages/fk-ui/src/link.js": "differs",
        "packages/fk-ui/src/tag.js": "extra", "scripts/release.sh": "differs",
    }


def test_without_map_renamed_files_are_paired_by_content(scenario: Scenario) -> None:
    report = drift_of(scenario, base=..., map=[])
    classes = classes_of(report)
    # same content at a new path: a rename, not one missing plus one extra
    assert report["renamed"]["packages/fk-server/src/auth/login.js"] == "packages/up-server/src/auth/login.js"
    assert "packages/up-server/src/auth/login.js" not in classes
    assert classes["packages/fk-server/src/auth/login.js"] == "identical"
    # a one-line file whose only line changed shares no content: never paired by guess
    assert classes["packages/up-server/src/api.js"] == "missing"
    assert classes["packages/fk-server/src/api.js"] == "extra"
    # the fork's extra package has no upstream counterpart
    assert classes["packages/fk-billing/src/invoice.js"] == "extra"


def test_ignore_and_deny(scenario: Scenario) -> None:
    report = drift_of(scenario, ignore=["docs/**"], deny=["**/migrations/**", "README.md", "*.sh"])
    classes = classes_of(report)
    assert classes["docs/new.md"] == classes["docs/old.md"] == "ignored"
    assert classes["packages/fk-server/src/db/migrations/002.sql"] == "blocked"   # upstream-added, deny-listed
    assert classes["scripts/release.sh"] == "blocked"                             # upstream-changed, deny-listed
    assert classes["README.md"] == "fork-changed"                                 # the fork's own edit
    assert report["paths"]["blocked"] == ["packages/fk-server/src/db/migrations/002.sql", "scripts/release.sh"]
    assert report["totals"]["ignored"] == 2


def test_default_deny_blocks_env_files_and_secrets(tmp_path: Path) -> None:
    files = {"a.txt": "a\n"}
    sc = _two_repos(tmp_path, files | {".env": "K=1\n", "pkg/.env.local": "K=2\n", "pkg/secrets/key": "k\n",
                                       "pkg/env.md": "fine\n"}, files)
    report = drift_of(sc, base=..., map=...)  # ignore and deny left to their defaults
    assert report["paths"]["blocked"] == [".env", "pkg/.env.local", "pkg/secrets/key"]
    assert report["paths"]["missing"] == ["pkg/env.md"]


ODD = {
    "dir with space/file name.txt": "v1\n",
    "café/naïve 日本語.md": "v1\n",
    "pipe|and`tick.txt": "v1\n",
    "packages/up-ünï/x y.js": "v1\n",
    "link to file": Symlink("dir with space/file name.txt"),
}


def _two_repos(root: Path, upstream: dict[str, Any], fork: dict[str, Any], base: dict[str, Any] | None = None
               ) -> Scenario:
    up = make_repo(root / "upstream.git", bare=True)
    v1 = commit_tree(up, base, tag="v1") if base is not None else ""
    main = commit_tree(up, upstream, tick=10)
    fk = make_repo(root / "fork")
    head = commit_tree(fk, fork, author="Fork <f@example.com>", tick=5) if fork is not None else ""
    (root / "ws").mkdir()
    return Scenario(root, up, fk, v1, main, head, root / "ws")


def test_paths_with_spaces_and_non_ascii_names(tmp_path: Path) -> None:
    upstream = dict(ODD, **{"dir with space/file name.txt": "v2\n", "café/naïve 日本語.md": "v2\n",
                            "packages/up-ünï/x y.js": "v2\n", "link to file": Symlink("café/naïve 日本語.md")})
    upstream["new dir/ä ö ü.txt"] = "new\n"
    sc = _two_repos(tmp_path, upstream, rename(ODD, "packages/up-", "packages/fk-"), base=ODD)
    report = drift_of(sc)
    assert classes_of(report) == {
        "café/naïve 日本語.md": "upstream-changed",
        "dir with space/file name.txt": "upstream-changed",
        "link to file": "upstream-changed",
        "new dir/ä ö ü.txt": "upstream-added",
        "packages/fk-ünï/x y.js": "upstream-changed",
    }
    assert report["totals"]["identical"] == 1  # pipe|and`tick.txt
    assert "café/naïve 日本語.md" in dump_json(report)  # stored as UTF-8 text, not escaped


def test_executable_bit_change_upstream_is_a_change(tmp_path: Path) -> None:
    base = {"run.sh": "#!/bin/sh\n", "tool.sh": Executable("#!/bin/sh\n")}
    upstream = {"run.sh": Executable("#!/bin/sh\n"), "tool.sh": "#!/bin/sh\n"}
    sc = _two_repos(tmp_path, upstream, base, base=base)
    report = drift_of(sc, map=[])
    assert classes_of(report) == {"run.sh": "upstream-changed", "tool.sh": "upstream-changed"}
    run = report["entries"]["run.sh"]
    assert run["upstream"].split()[0] == "100755" and run["fork"].split()[0] == "100644"
    assert run["upstream"].split()[1] == run["fork"].split()[1]


def test_upstream_with_an_empty_tree_deletes_everything(tmp_path: Path) -> None:
    base = {"a.txt": "a\n", "b/c.txt": "c\n"}
    sc = _two_repos(tmp_path, {}, dict(base, **{"mine.txt": "m\n"}), base=base)
    report = drift_of(sc, map=[])
    assert classes_of(report) == {"a.txt": "upstream-deleted", "b/c.txt": "upstream-deleted", "mine.txt": "fork-added"}
    assert report["totals"].get("identical", 0) == 0


def test_fork_with_an_empty_tree_is_missing_everything(tmp_path: Path) -> None:
    sc = _two_repos(tmp_path, {"a.txt": "a\n", "b/c.txt": "c\n"}, {})
    report = drift_of(sc, base=..., map=[])
    assert classes_of(report) == {"a.txt": "missing", "b/c.txt": "missing"}


def test_fork_with_extra_packages(scenario: Scenario) -> None:
    commit_tree(scenario.fork, fork_files() | {f"packages/fk-extra{i}/src/m.js": f"{i}\n" for i in range(3)},
                tick=20)
    report = drift_of(scenario)
    assert report["paths"]["fork-added"] == ["packages/fk-billing/src/invoice.js"] + [
        f"packages/fk-extra{i}/src/m.js" for i in range(3)]
    assert {b for b in report["buckets"] if "extra" in b} == {f"packages/fk-extra{i}" for i in range(3)}
    assert classify.upstream_work(report["buckets"]["packages/fk-extra0"]) == 0


def test_only_the_committed_fork_tree_counts(scenario: Scenario) -> None:
    before = drift_of(scenario)
    (scenario.fork / "README.md").write_text("uncommitted edit\n")
    (scenario.fork / "untracked.txt").write_text("x\n")
    assert drift_of(scenario) == before


def test_compute_is_deterministic(scenario: Scenario) -> None:
    assert dump_json(drift_of(scenario)) == dump_json(drift_of(scenario))


@pytest.mark.parametrize("overrides,message", [
    ({"fork": {"path": "../absent"}}, "fork.path: {root}/absent does not exist; clone your fork there or fix the path"),
    ({"fork": {"path": "../plain"}}, "fork.path: {root}/plain is not a git repository"),
    ({"fork": {"path": "../fork", "branch": "trunk"}},
     "fork.branch: no branch 'trunk' in {root}/fork; name an existing branch of the fork"),
    ({"base": "v0"}, "base: 'v0' is not a commit, branch or tag of the upstream; "
                     "give the upstream revision the fork last matched, or remove the key"),
])
def test_compute_errors_name_the_key(scenario: Scenario, overrides: dict[str, Any], message: str) -> None:
    (scenario.root / "plain").mkdir()
    with pytest.raises(ForkwaveError) as err:
        drift_of(scenario, **overrides)
    assert str(err.value) == f"{scenario.workspace / 'forkwave.yaml'}: " + message.format(root=scenario.root)


# --- treemap: map rules as tree surgery ------------------------------------------------------

def _tree(repo: Path, files: dict[str, Any], tick: int) -> str:
    return git.tree_of(repo, commit_tree(repo, files, branch=f"t{tick}", tick=tick))


def test_map_tree_of_a_pure_rename_is_the_forks_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", bare=True)
    up = _tree(repo, UPSTREAM_V1, 1)
    fk = _tree(repo, rename(UPSTREAM_V1, "packages/up-", "packages/fk-"), 2)
    mapped, warnings = map_tree(repo, up, [MapRule("packages/up-", "packages/fk-")])
    assert (mapped, warnings) == (fk, [])
    assert map_tree(repo, up, []) == (up, [])


@pytest.mark.parametrize("rules,expected", [
    ([MapRule("docs/", "documentation/")], {"documentation/a.md", "documentation/sub/b.md", "src/x.js"}),
    ([MapRule("src/", "lib/src/")], {"docs/a.md", "docs/sub/b.md", "lib/src/x.js"}),
    ([MapRule("docs/sub/", "guides/"), MapRule("docs/", "manual/")],  # first match wins, once
     {"guides/b.md", "manual/a.md", "src/x.js"}),
    ([MapRule("docs", "doc")], {"doc/a.md", "doc/sub/b.md", "src/x.js"}),
    ([MapRule("absent/", "x/")], {"docs/a.md", "docs/sub/b.md", "src/x.js"}),
    ([MapRule("src/", "src/app/")], {"docs/a.md", "docs/sub/b.md", "src/app/x.js"}),   # into its own subfolder
    ([MapRule("docs/a.md", "README.md")], {"README.md", "docs/sub/b.md", "src/x.js"}),  # one file
], ids=["rename-dir", "deeper", "first-match", "prefix-of-name", "no-match", "nested", "file"])
def test_map_tree_rules(tmp_path: Path, rules: list[MapRule], expected: set[str]) -> None:
    repo = make_repo(tmp_path / "r", bare=True)
    tree = _tree(repo, {"docs/a.md": "a", "docs/sub/b.md": "b", "src/x.js": "x"}, 1)
    mapped, warnings = map_tree(repo, tree, rules)
    assert {e.name for e in git.ls_tree_recursive(repo, mapped)} == expected
    assert warnings == []


def test_map_tree_collision_warns_and_the_mapped_entry_wins(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", bare=True)
    tree = _tree(repo, {"old/a.txt": "from old", "new/a.txt": "already there", "new/b.txt": "b"}, 1)
    mapped, warnings = map_tree(repo, tree, [MapRule("old/", "new/")])
    files = {e.name: git.cat_blob(repo, e.oid) for e in git.ls_tree_recursive(repo, mapped)}
    assert files == {"new/a.txt": b"from old", "new/b.txt": b"b"}
    assert warnings == ["map: upstream new/a.txt lands on a path upstream already has; the mapped one wins"]


@pytest.mark.parametrize("path,expected", [
    ("packages/acme-server/a.ts", "packages/twenty-server/a.ts"),
    ("docs/x.md", "docs/x.md"),
    ("packages/other/a.ts", "packages/other/a.ts"),
])
def test_upstream_path_inverts_the_map(path: str, expected: str) -> None:
    assert upstream_path(path, [MapRule("packages/twenty-", "packages/acme-")]) == expected
