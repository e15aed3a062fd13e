"""Base detection: pure path mapping and log parsing, then detect() on real repositories,
checked against a brute-force oracle that maps and compares every commit's whole tree."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from conftest import Executable, Symlink, commit_tree, make_repo, pure_config, rename
from tasks.repo import basedetect, git
from tasks.report import base as basereport
from tasks.config import Fork, MapRule, Upstream
from tasks.errors import ForkwaveError
from tasks.config import RewriteRule
from tasks.core.rewrite import Rewriter, blob_oid
from tasks.repo.synth import Content
from tasks.repo.treemap import map_tree

MAP = (MapRule("packages/twenty-", "packages/acme-"),)
REWRITE = (RewriteRule("twenty", "acme", ("*.js", "package.json")),)


# --- pure ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path,rules,expected", [
    ("packages/twenty-ui/a.js", MAP, "packages/acme-ui/a.js"),
    ("packages/twenty-ui", MAP, "packages/acme-ui"),
    ("packages/other/a.js", MAP, "packages/other/a.js"),
    ("xpackages/twenty-ui/a.js", MAP, "xpackages/twenty-ui/a.js"),      # a prefix of the whole path only
    ("README.md", (), "README.md"),
    ("docs/a.md", (MapRule("docs/", "site/"),), "site/a.md"),
    ("docsite/a.md", (MapRule("docs", "manual"),), "manualite/a.md"),   # a string prefix, like treemap
    ("packages/twenty-ui/a.js",                                          # first match wins
     (MapRule("packages/twenty-ui/", "ui/"), MapRule("packages/twenty-", "packages/acme-")), "ui/a.js"),
    ("packages/twenty-ui/a.js",
     (MapRule("packages/", "pkgs/"), MapRule("packages/twenty-", "packages/acme-")), "pkgs/twenty-ui/a.js"),
])
def test_map_path(path: str, rules: tuple[MapRule, ...], expected: str) -> None:
    assert basedetect.map_path(path, rules) == expected


@pytest.mark.parametrize("rules", [
    MAP,
    (MapRule("docs", "manual"),),
    (MapRule("packages/twenty-ui/", "ui/"), MapRule("packages/twenty-", "packages/acme-")),
    (MapRule("packages/", "pkgs/"), MapRule("packages/twenty-", "packages/acme-")),
    (MapRule("packages/twenty-server/src/", "server/"), MapRule("docs/", "site/docs/")),
])
def test_map_path_names_what_treemap_builds(tmp_path: Path, rules: tuple[MapRule, ...]) -> None:
    files = snapshots(3)[-1] | {"docsite/a.md": "a\n"}
    up, shas = build_upstream(tmp_path, [files])
    mapped, warnings = map_tree(up, git.tree_of(up, shas[0]), rules)
    assert not warnings
    assert {e.name for e in git.ls_tree_recursive(up, mapped)} == {basedetect.map_path(p, rules) for p in files}


def test_place_gives_the_rule_index_as_priority() -> None:
    rules = (MapRule("a/", "x/"), MapRule("b/", "x/"))
    assert [basedetect.place(p, rules) for p in ("a/f", "b/f", "x/f")] == [("x/f", 0), ("x/f", 1), ("x/f", -1)]


def test_parse_log_headers_changes_deletions_and_empty_commits() -> None:
    z, a, b = "0" * 40, "a" * 40, "b" * 40
    out = (f"\x01{'1' * 40} 2024-01-01T00:00:00+00:00 first: add\0\n"
           f":000000 100644 {z} {a} A\0dir/x y\0:000000 120000 {z} {b} A\0\x01odd\0"
           f"\x01{'2' * 40} 2024-01-02T00:00:00+00:00 \0"
           f"\x01{'3' * 40} 2024-01-03T00:00:00+00:00 third\0\n"
           f":100644 000000 {a} {z} D\0dir/x y\0:100644 100755 {a} {a} M\0z\0").encode()
    commits = basedetect.parse_log(out)
    assert [(c.sha[0], c.date[:10], c.subject) for c in commits] == [
        ("1", "2024-01-01", "first: add"), ("2", "2024-01-02", ""), ("3", "2024-01-03", "third")]
    assert commits[0].changes == (("dir/x y", ("100644", a)), ("\x01odd", ("120000", b)))
    assert commits[1].changes == ()
    assert commits[2].changes == (("dir/x y", None), ("z", ("100755", a)))


def test_rank_prefers_the_oldest_and_a_different_tree_for_the_runner_up() -> None:
    profile = basedetect.Profile((3, 1, 1, 1, 2), (10, 20, 20, 30, 40))
    assert basedetect.rank(profile) == (1, 3)


# --- repositories ---------------------------------------------------------------------------

def snapshots(n: int = 12) -> list[dict[str, Content]]:
    """An upstream history as whole trees: every commit changes a file, adds one, sometimes deletes."""
    files: dict[str, Content] = {
        "README.md": "# Twenty\n",
        "package.json": '{"name": "twenty", "workspaces": ["packages/*"]}\n',
        "docs/guide.md": "# Guide\n",
        "docs/old.md": "# Old\n",
        "node_modules/dep/index.js": "dep\n",
        "scripts/release.sh": Executable("#!/bin/sh\necho twenty\n"),
        "packages/twenty-server/package.json": '{"name": "twenty-server"}\n',
        "packages/twenty-server/src/app.js": "import shared from 'twenty-shared';\n",
        "packages/twenty-server/src/util.js": "export const util = 0;\n",
        "packages/twenty-ui/src/button.js": "// twenty button\n",
        "packages/twenty-ui/src/index.js": Symlink("button.js"),
        "packages/twenty-shared/src/index.js": "export const name = 'twenty';\n",
    }
    rotating = ["packages/twenty-server/src/util.js", "packages/twenty-ui/src/button.js",
                "packages/twenty-shared/src/index.js", "packages/twenty-server/src/app.js"]
    out = [dict(files)]
    for k in range(1, n):
        path = rotating[k % len(rotating)]
        files[path] = f"{files[path]}// twenty change {k}\n"
        files[f"packages/twenty-ui/src/c{k}.js"] = f"export const c{k} = 'twenty-{k}';\n"
        if k % 3 == 0:
            del files[f"packages/twenty-ui/src/c{k - 2}.js"]
        out.append(dict(files))
    return out


def build_upstream(root: Path, trees: list[dict[str, Content]]) -> tuple[Path, list[str]]:
    up = make_repo(root / "upstream.git", bare=True)
    shas = [commit_tree(up, files, message=f"commit {i}", tick=i) for i, files in enumerate(trees)]
    return up, shas


def rewritten(files: Mapping[str, Content], rules: tuple[RewriteRule, ...] = REWRITE) -> dict[str, Content]:
    """What a rebranding fork holds: ``twenty`` -> ``acme`` in the files the rules name."""
    rw = Rewriter(rules)
    out: dict[str, Content] = {}
    for path, content in files.items():
        if isinstance(content, str) and rw.applies(path):
            content = rw.apply(path, content.encode()).decode()
        out[path] = content
    return out


def fork_of(files: Mapping[str, Content], *, rewrite: bool = False) -> dict[str, Content]:
    """The upstream snapshot renamed (and rebranded), plus 2 changed, 2 added and 1 deleted file."""
    fork = rename(files, "packages/twenty-", "packages/acme-")
    if rewrite:
        fork = rewritten(fork)
    fork["README.md"] = "# Acme\n"
    fork["docs/guide.md"] = "# Acme guide\n"
    fork["packages/acme-billing/src/invoice.js"] = "invoice\n"
    fork[".github/workflows/ci.yml"] = "on: push\n"
    del fork["docs/old.md"]
    return fork


FORK_EDITS = 5


def make_fork(root: Path, files: Mapping[str, Content]) -> Path:
    fork = make_repo(root / "fork")
    commit_tree(fork, files, message="acme", author="Acme <a@example.com>", tick=500)
    return fork


def config(up: Path, fork: Path, **kw: Any) -> Any:
    return pure_config(upstream=Upstream(str(up)), fork=Fork(fork), map=MAP, **kw)


def brute_force(cfg: Any, up: Path, upstream_sha: str) -> list[int]:
    """The distance of every first-parent commit, the slow way: map and compare each whole tree."""
    fork = cfg.fork.path
    env = git.alternates_env(fork)
    counted = basedetect.Lander(cfg).counted
    rw = Rewriter(tuple(cfg.rewrite))
    fork_tree = git.tree_of(fork, "refs/heads/main")
    theirs = {e.name: (e.mode, e.oid) for e in git.ls_tree_recursive(fork, fork_tree) if counted(e.name)}
    shas = git.git(up, "rev-list", "--first-parent", "--reverse", upstream_sha).decode().split()
    out = []
    for sha in shas:
        mapped, _ = map_tree(up, git.tree_of(up, sha), cfg.map, env=env)
        ours = {}
        for e in git.ls_tree_recursive(up, mapped):
            if not counted(e.name):
                continue
            entry = (e.mode, e.oid)
            want = theirs.get(e.name)
            if want and want != entry and e.mode in ("100644", "100755") and rw.applies(e.name):
                entry = (e.mode, blob_oid(rw.apply(e.name, git.cat_blob(up, e.oid))))
            ours[e.name] = entry
        out.append(sum(1 for p in set(ours) | set(theirs) if ours.get(p) != theirs.get(p)))
    return out


def mapped_tree(up: Path, sha: str) -> str:
    return map_tree(up, git.tree_of(up, sha), MAP)[0]


# --- detect on real repositories ----------------------------------------------------------------

def test_finds_the_middle_commit_of_a_renamed_fork_with_edits(tmp_path: Path) -> None:
    trees = snapshots(12)
    up, shas = build_upstream(tmp_path, trees)
    fork = make_fork(tmp_path, fork_of(trees[6]))
    cfg = config(up, fork)
    report = basedetect.detect(cfg, up, shas[-1])
    best = report["best"]
    assert best["sha"] == shas[6] or mapped_tree(up, best["sha"]) == mapped_tree(up, shas[6])
    assert best["sha"] == shas[6]
    assert best["distance"] == FORK_EDITS
    assert best["subject"] == "commit 6" and best["position"] == 7 and best["date"].startswith("2023-")
    assert best["differences"]["counts"] == {"differs": 2, "fork-only": 2, "upstream-only": 1}
    assert {d["path"] for d in best["differences"]["sample"]} == {
        "README.md", "docs/guide.md", "packages/acme-billing/src/invoice.js", ".github/workflows/ci.yml",
        "docs/old.md"}
    assert report["commits_scanned"] == 12
    assert report["fork"]["sha"] == git.rev_parse(fork, "main") and report["fork"]["branch"] == "main"
    runner = report["runner_up"]
    assert runner["sha"] in (shas[5], shas[7]) and runner["distance"] > FORK_EDITS
    assert report["warnings"] == [] and report["blobs_read"] == 0
    assert basedetect.scan(cfg, up, shas[-1]).profile.distances == tuple(brute_force(cfg, up, shas[-1]))


def test_content_rewrites_are_compared_by_their_rewritten_blob(tmp_path: Path) -> None:
    trees = snapshots(12)
    up, shas = build_upstream(tmp_path, trees)
    fork = make_fork(tmp_path, fork_of(trees[4], rewrite=True))
    with_rules = config(up, fork, rewrite=REWRITE)
    report = basedetect.detect(with_rules, up, shas[-1])
    assert report["best"]["sha"] == shas[4]
    assert report["best"]["distance"] == FORK_EDITS
    assert report["blobs_read"] > 0
    assert report["runner_up"]["distance"] > FORK_EDITS
    assert basedetect.scan(with_rules, up, shas[-1]).profile.distances == tuple(brute_force(with_rules, up, shas[-1]))
    # without the rules, every rebranded file differs: the rules are what make it close
    without = basedetect.detect(config(up, fork), up, shas[-1])
    assert without["best"]["distance"] > FORK_EDITS + 5


def test_identical_trees_report_the_oldest_and_list_the_others(tmp_path: Path) -> None:
    trees = snapshots(8)
    x = trees[5]
    ignored_change = dict(x) | {"node_modules/dep/index.js": "dep 2\n"}
    trees = trees[:6] + [dict(x), ignored_change] + trees[6:]  # an empty commit, then an ignored-only change
    up, shas = build_upstream(tmp_path, trees)
    fork = make_fork(tmp_path, fork_of(x))
    report = basedetect.detect(config(up, fork), up, shas[-1])
    best = report["best"]
    assert best["sha"] == shas[5]
    assert best["same_tree_as"] == [shas[6], shas[7]] and best["same_tree_count"] == 2
    assert report["runner_up"]["sha"] not in (shas[5], shas[6], shas[7])


def test_a_real_tie_reports_the_older_commit_and_warns(tmp_path: Path) -> None:
    trees = snapshots(8)
    # commit 6 only changes README.md, which the fork edits too: 5 and 6 are equally close
    trees[6] = dict(trees[5]) | {"README.md": "# Twenty 6\n"}
    trees[7] = dict(trees[6]) | {"packages/twenty-ui/src/late.js": "late\n"}
    up, shas = build_upstream(tmp_path, trees)
    fork = make_fork(tmp_path, fork_of(trees[6]))
    report = basedetect.detect(config(up, fork), up, shas[-1])
    assert report["best"]["sha"] == shas[5]
    assert report["runner_up"]["sha"] == shas[6]
    assert report["best"]["distance"] == report["runner_up"]["distance"] == FORK_EDITS
    assert any(w.startswith("ambiguous:") and shas[6][:12] in w for w in report["warnings"])


def test_empty_fork(tmp_path: Path) -> None:
    trees = snapshots(6)
    up, shas = build_upstream(tmp_path, trees)
    fork = make_fork(tmp_path, {})
    report = basedetect.detect(config(up, fork), up, shas[-1])
    counted = [sum(1 for p in t if not p.startswith("node_modules/")) for t in trees]
    assert report["best"]["distance"] == min(counted)
    assert report["best"]["sha"] == shas[counted.index(min(counted))]
    assert report["fork"]["files"] == 0
    assert report["warnings"][0].startswith("the fork has no counted files")


def test_merges_on_the_first_parent_history_count_their_first_parent_diff(tmp_path: Path) -> None:
    trees = snapshots(4)
    up, shas = build_upstream(tmp_path, trees[:3])           # A B C on main
    git.git(up, "update-ref", "refs/heads/side", shas[1])    # side branches from B
    s1 = commit_tree(up, trees[1] | {"packages/twenty-ui/src/s1.js": "s1\n"}, branch="side", tick=20)
    s2 = commit_tree(up, trees[1] | {"packages/twenty-ui/src/s1.js": "s1\n", "docs/s2.md": "s2\n"},
                     branch="side", tick=21)
    merged = trees[2] | {"packages/twenty-ui/src/s1.js": "s1\n", "docs/s2.md": "s2\n"}
    tree = git.tree_of(up, commit_tree(up, merged, branch="scratch", tick=22))
    merge = git.git(up, "commit-tree", tree, "-p", shas[2], "-p", s2, "-m", "merge side").decode().strip()
    git.git(up, "update-ref", "refs/heads/main", merge)
    last = commit_tree(up, merged | {"packages/twenty-server/src/util.js": "util later\n"}, tick=30)
    fork = make_fork(tmp_path, fork_of(merged))
    cfg = config(up, fork)
    report = basedetect.detect(cfg, up, last)
    assert report["best"]["sha"] == merge and report["best"]["distance"] == FORK_EDITS
    assert report["commits_scanned"] == 5                      # A B C merge last; not s1, s2
    assert s1 not in json.dumps(report)
    assert basedetect.scan(cfg, up, last).profile.distances == tuple(brute_force(cfg, up, last))


def test_an_upstream_path_the_map_lands_on_loses_to_the_mapped_one(tmp_path: Path) -> None:
    trees = snapshots(6)
    trees[2] = trees[2] | {"packages/acme-ui/src/button.js": "upstream's own acme\n",
                           "packages/acme-ui/src/only.js": "only\n"}
    trees[4] = trees[4] | {"packages/acme-ui/src/button.js": "upstream's own acme\n"}
    up, shas = build_upstream(tmp_path, trees)
    fork = make_fork(tmp_path, fork_of(trees[3]))
    cfg = config(up, fork, rewrite=REWRITE)
    assert basedetect.scan(cfg, up, shas[-1]).profile.distances == tuple(brute_force(cfg, up, shas[-1]))


def test_ignored_and_denied_paths_do_not_count(tmp_path: Path) -> None:
    trees = snapshots(6)
    up, shas = build_upstream(tmp_path, trees)
    files = fork_of(trees[3]) | {"node_modules/other/x.js": "x\n", ".env": "SECRET=1\n"}
    fork = make_fork(tmp_path, files)
    report = basedetect.detect(config(up, fork), up, shas[-1])
    assert report["best"]["sha"] == shas[3] and report["best"]["distance"] == FORK_EDITS


def test_a_missing_fork_branch_is_a_clear_error(tmp_path: Path) -> None:
    up, shas = build_upstream(tmp_path, snapshots(2))
    fork = make_fork(tmp_path, {"a": "a\n"})
    cfg = pure_config(upstream=Upstream(str(up)), fork=Fork(fork, branch="nope"))
    with pytest.raises(ForkwaveError, match="fork.branch"):
        basedetect.detect(cfg, up, shas[-1])


def test_reports_are_deterministic_and_readable(tmp_path: Path) -> None:
    trees = snapshots(12)
    up, shas = build_upstream(tmp_path, trees)
    fork = make_fork(tmp_path, fork_of(trees[6]))
    report = basedetect.detect(config(up, fork), up, shas[-1])
    reports = tmp_path / "reports"
    basereport.write_reports(reports, report)
    first = (reports / "base.json").read_bytes()
    data = json.loads(first)
    assert "seconds" not in data and data["best"]["sha"] == shas[6]
    basereport.write_reports(reports, report | {"seconds": 99.0})
    assert (reports / "base.json").read_bytes() == first
    md = (reports / "base.md").read_text()
    assert md.startswith("# Base detection") and shas[6][:12] in md and report["runner_up"]["sha"][:12] in md
    assert f"base: {shas[6]}" in md and "`docs/old.md`" in md and "upstream-only" in md
