"""``direction: push`` and ``both`` on real repositories: the fork's own work exported through the reversed
``map`` and ``rewrite`` onto a ``contrib/<fork name>`` branch based on the source ref and pushed to
``push_url``; an irreversible file refused with its reason; nothing exported twice; a path changed on both
sides reported once as a conflict and exported (or pulled) nowhere."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, NamedTuple


from conftest import commit_tree, make_repo, run_doit, write_config
from slicekit import ledger_runs, plan, read, rev, tree

BASE = {"packages/twenty-ui/a.ts": "export const name = 'twenty';\n",
        "packages/twenty-ui/c.ts": "export const c = 1;\n",
        "packages/twenty-ui/README.md": "the twenty ui\n"}
UPSTREAM = {**BASE, "packages/twenty-ui/c.ts": "export const c = 2;\n"}
FORK_OWN = {"packages/acme-ui/a.ts": "export const name = 'acme'; // fixed in the fork\n",  # fork-changed
            "packages/acme-ui/new.ts": "export const acme = true;\n",                        # fork-added
            "packages/acme-ui/odd.ts": "acme wraps twenty\n"}                                 # not reversible


class Pair(NamedTuple):
    root: Path
    upstream: Path
    fork: Path
    contrib: Path
    workspace: Path
    main: str

    @property
    def reports(self) -> Path:
        return self.workspace / "reports"


def fork_files(extra: dict[str, str]) -> dict[str, str]:
    files = {p.replace("twenty-", "acme-"): c.replace("twenty", "acme") for p, c in BASE.items()}
    return {**files, "custom/ours.py": "OURS = 1\n", **extra}


def config(direction: str, **source: Any) -> dict[str, Any]:
    return {"sources": [{"name": "twenty", "url": "../upstream.git", "ref": "main", "base": "v1",
                         "paths": ["packages/**"], "direction": direction, "push_url": "../contrib.git",
                         "map": [{"from": "packages/twenty-", "to": "packages/acme-"}],
                         "rewrite": [{"from": "twenty", "to": "acme", "paths": ["**/*.ts", "**/*.md"]}], **source}],
            "fork": {"path": "../acme-crm", "branch": "main"}, "waves": {"a": {"buckets": ["*"]}}}


def make(tmp_path: Path, direction: str, upstream: dict[str, str] = UPSTREAM, **source: Any) -> Pair:
    up = make_repo(tmp_path / "upstream.git", bare=True)
    commit_tree(up, BASE, message="v1", tag="v1")
    main = commit_tree(up, upstream, message="v2", tick=10)
    fork = make_repo(tmp_path / "acme-crm")
    commit_tree(fork, fork_files(FORK_OWN), message="acme", tick=5)
    contrib = tmp_path / "contrib.git"
    subprocess.run(["git", "init", "-q", "--bare", str(contrib)], check=True)
    ws = tmp_path / "ws"
    ws.mkdir()
    write_config(ws, config(direction, **source) | {"publish": {"remote": str(tmp_path / "fork-remote.git"),
                                                                "forge": "none"}})
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "fork-remote.git")], check=True)
    return Pair(tmp_path, up, fork, contrib, ws, main)


def contrib_ref(p: Pair) -> str | None:
    return rev(p.contrib, "refs/heads/contrib/acme-crm")


def test_push_exports_through_the_reversed_map_and_rewrite_and_refuses_what_cannot_go_back(tmp_path: Path) -> None:
    p = make(tmp_path, "push")
    result = run_doit(p.workspace)
    assert result.returncode == 0, result.stdout + result.stderr

    record = read(p.reports / "export.json")
    assert [(f["path"], f["source_path"], f["action"]) for f in record["files"]] == [
        ("packages/acme-ui/a.ts", "packages/twenty-ui/a.ts", "change"),
        ("packages/acme-ui/new.ts", "packages/twenty-ui/new.ts", "add")]
    assert record["refused"] == [{"path": "packages/acme-ui/odd.ts", "reason": (
        "rewrite 'twenty' -> 'acme' is not reversible on this file: mapping it back and forth does not give the "
        "fork's bytes")}]
    assert "export: refused packages/acme-ui/odd.ts: rewrite 'twenty' -> 'acme' is not reversible" in result.stdout
    # push only: nothing is pulled, no sync branch; and nothing goes anywhere before `doit publish`
    assert plan(p)["slices"] == [] and rev(p.fork, "refs/heads/sync/upstream") is None
    assert contrib_ref(p) is None
    # the ledger's (source, push) row: two paths exported, the refused one left for a person
    [push] = [x for x in ledger_runs(p.reports)[-1].syncs if x.sync_type == "push"]
    assert (push.source, push.status, push.counts.exported, push.counts.deferred) == ("twenty", "partial", 2, 1)
    [target] = read(p.reports / "run-summary.json")["results"]
    assert (target["direction"], target["outputs_created"]) == (
        "push", ["packages/twenty-ui/new.ts"])                 # a.ts changes in the source: no output created

    published = run_doit(p.workspace, "publish")
    assert published.returncode == 0, published.stdout + published.stderr
    head = contrib_ref(p)
    assert head is not None and "pushed contrib/acme-crm (2 files)" in published.stdout
    parent = subprocess.run(["git", "-C", str(p.contrib), "rev-parse", f"{head}^"], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert parent == p.main  # based on the source ref
    files = tree(p.contrib, head)
    assert files["packages/twenty-ui/a.ts"][1] == b"export const name = 'twenty'; // fixed in the fork\n"
    assert files["packages/twenty-ui/new.ts"][1] == b"export const twenty = true;\n"
    assert "packages/twenty-ui/odd.ts" not in files and "custom/ours.py" not in files  # not the source's paths
    assert files["packages/twenty-ui/c.ts"][1] == b"export const c = 2;\n"  # the source's own, untouched
    assert "Forkwave-Export: acme-crm" in subprocess.run(["git", "-C", str(p.contrib), "log", "-1", "--format=%B",
                                                          head], capture_output=True, text=True).stdout
    assert read(p.reports / "exported.json")["paths"] == {
        "packages/twenty-ui/a.ts": record["files"][0]["oid"],
        "packages/twenty-ui/new.ts": record["files"][1]["oid"]}


def test_nothing_is_exported_twice(tmp_path: Path) -> None:
    p = make(tmp_path, "push")
    assert run_doit(p.workspace).returncode == 0
    assert run_doit(p.workspace, "publish").returncode == 0
    first = contrib_ref(p)

    again = run_doit(p.workspace)
    assert again.returncode == 0
    record = read(p.reports / "export.json")
    assert record["files"] == [] and record["commit"] is None
    assert sorted(s["why"] for s in record["skipped"]) == ["exported before", "exported before"]
    published = run_doit(p.workspace, "publish")
    assert "nothing new to export" in published.stdout
    assert contrib_ref(p) == first

    # a new change of the fork's goes, the old ones do not go again
    commit_tree(p.fork, fork_files({**FORK_OWN, "packages/acme-ui/more.ts": "export const more = 'acme';\n"}),
                message="more", tick=30)
    assert run_doit(p.workspace).returncode == 0
    assert [f["source_path"] for f in read(p.reports / "export.json")["files"]] == ["packages/twenty-ui/more.ts"]


def test_both_reports_a_two_sided_path_once_and_exports_or_pulls_it_nowhere(tmp_path: Path) -> None:
    upstream = {**UPSTREAM, "packages/twenty-ui/a.ts": "export const name = 'twenty'; // upstream's own change\n"}
    p = make(tmp_path, "both", upstream)
    result = run_doit(p.workspace)
    assert result.returncode == 2, result.stdout + result.stderr  # the conflict is work left for a person

    path = "packages/acme-ui/a.ts"
    assert (result.stdout + result.stderr).count(f"conflict: {path}") == 1
    record = read(p.reports / "export.json")
    assert record["conflicts"] == [path]
    assert path not in [f["path"] for f in record["files"]]
    assert [f["path"] for f in record["files"]] == ["packages/acme-ui/new.ts"]
    # the pull side took upstream's c.ts, and left a.ts alone
    planned = [f["path"] for s in plan(p)["slices"] for f in s["files"]]
    assert planned == ["packages/acme-ui/c.ts"]
    sync = tree(p.fork, "refs/heads/sync/upstream")
    assert sync["packages/acme-ui/c.ts"][1] == b"export const c = 2;\n"
    assert sync[path][1] == FORK_OWN[path].encode()

    published = run_doit(p.workspace, "publish")
    assert published.returncode == 0, published.stdout + published.stderr
    exported = tree(p.contrib, "refs/heads/contrib/acme-crm")
    assert exported["packages/twenty-ui/a.ts"][1] == upstream["packages/twenty-ui/a.ts"].encode()  # theirs, as is
    assert "packages/twenty-ui/new.ts" in exported


def test_push_checks_and_verify_run_in_the_source_tree_and_a_failure_holds_the_export(tmp_path: Path) -> None:
    p = make(tmp_path, "push", verify=[{"name": "ts-files", "run": "ls packages/twenty-ui/*.ts | wc -l",
                                         "expected_min": 3}])
    cfg = config("push", verify=[{"name": "ts-files", "run": "ls packages/twenty-ui/*.ts | wc -l",
                                  "expected_min": 3}])
    cfg["checks"] = [{"name": "no-acme", "run": "! grep -r acme packages", "direction": "push"},
                     {"name": "pull-only", "run": "exit 1"}]
    write_config(p.workspace, cfg | {"publish": {"remote": str(p.root / "fork-remote.git"), "forge": "none"}})
    result = run_doit(p.workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    record = read(p.reports / "export.json")
    assert [(c["name"], c["status"]) for c in record["checks"]] == [("no-acme", "passed")]  # pull-only: not here
    assert [(v["name"], v["value"], v["passed"]) for v in record["verify"]] == [("ts-files", "3", True)]

    cfg["checks"][0]["run"] = "grep -r never-there packages"  # fails on every part of the export
    write_config(p.workspace, cfg | {"publish": {"remote": str(p.root / "fork-remote.git"), "forge": "none"}})
    failed = run_doit(p.workspace)
    assert failed.returncode == 2
    assert "push checks failed on the export: no-acme" in failed.stderr and "nothing will be pushed" in failed.stderr
    published = run_doit(p.workspace, "publish")   # work for a person (exit 2), naming the source and the check
    assert published.returncode == 2, published.stdout + published.stderr
    assert ("publish: twenty: held, nothing pushed to " in published.stderr
            and "the export failed its push checks on every change: no-acme: " in published.stderr
            and "(packages/acme-ui/a.ts, packages/acme-ui/new.ts)" in published.stderr)
    assert contrib_ref(p) is None


def test_a_failing_export_is_split_and_its_good_part_goes(tmp_path: Path) -> None:
    p = make(tmp_path, "push")
    commit_tree(p.fork, fork_files({**FORK_OWN, "packages/acme-ui/todo.ts": "// FIXME before acme ships\n"}),
                message="todo", tick=30)
    cfg = config("push")
    cfg["checks"] = [{"name": "no-fixme", "run": "! grep -rq FIXME packages", "direction": "push"}]
    write_config(p.workspace, cfg | {"publish": {"remote": str(p.root / "fork-remote.git"), "forge": "none"}})
    result = run_doit(p.workspace)
    assert result.returncode == 2, result.stdout + result.stderr
    record = read(p.reports / "export.json")
    assert [(d["files"], d["checks"]) for d in record["deferred"]] == [(["packages/acme-ui/todo.ts"], ["no-fixme"])]
    assert record["deferred"][0]["why"]["no-fixme"].startswith("no-fixme: ")
    assert [f["path"] for f in record["files"]] == ["packages/acme-ui/a.ts", "packages/acme-ui/new.ts"]
    assert record["ready"] is True and [c["status"] for c in record["checks"]] == ["passed"]
    assert "export: deferred packages/acme-ui/todo.ts: no-fixme failed with it" in result.stdout
    assert run_doit(p.workspace, "publish").returncode == 0
    pushed = tree(p.contrib, "refs/heads/contrib/acme-crm")
    assert "packages/twenty-ui/new.ts" in pushed and "packages/twenty-ui/todo.ts" not in pushed


def test_direction_keys_are_checked(tmp_path: Path) -> None:
    p = make(tmp_path, "push")
    cfg = config("push")
    del cfg["sources"][0]["push_url"]
    write_config(p.workspace, cfg)
    result = run_doit(p.workspace, "list")
    assert result.returncode == 1 and "sources.0.push_url" in result.stderr
    cfg = config("sideways")
    write_config(p.workspace, cfg)
    result = run_doit(p.workspace, "list")
    assert result.returncode == 1 and "sources.0.direction" in result.stderr and "pull, push, both" in result.stderr


def test_a_dry_run_says_what_would_be_exported_and_pushes_nothing(tmp_path: Path) -> None:
    p = make(tmp_path, "push")
    result = run_doit(p.workspace, "dry=1")
    assert result.returncode == 0, result.stdout + result.stderr
    data = read(p.reports / "dry-run.json")
    assert data["exports"] == [{"source": "twenty", "branch": "contrib/acme-crm", "push_url": str(p.contrib),
                                "paths": ["packages/twenty-ui/a.ts", "packages/twenty-ui/new.ts"],
                                "refused": [{"path": "packages/acme-ui/odd.ts", "reason": (
                                    "rewrite 'twenty' -> 'acme' is not reversible on this file: mapping it back "
                                    "and forth does not give the fork's bytes")}], "conflicts": []}]
    assert not (p.reports / "export.json").exists()
    assert contrib_ref(p) is None


def test_the_readme_examples_of_this_section_are_valid_configs(tmp_path: Path) -> None:
    import re

    import yaml

    from conftest import ROOT
    from tasks.config import load_config

    # the guide's directions, verification, gates and dry runs, with its page on command sources
    section = "".join((ROOT / "docs" / "guides" / page).read_text(encoding="utf-8")
                      for page in ("directions.md", "command-sources.md"))
    blocks = re.findall(r"```yml\n(.*?)```", section, re.S)
    assert len(blocks) == 4
    for i, block in enumerate(blocks):
        data = {"fork": {"path": "../fork"}, **yaml.safe_load(block)}
        if "sources" not in data and "upstream" not in data:
            data["upstream"] = {"url": "../up.git"}
        path = write_config(tmp_path, data, name=f"example-{i}.yaml")
        cfg = load_config(path)
        assert cfg.sources
    cfg = load_config(tmp_path / "example-0.yaml")
    assert cfg.current.direction == "both" and [(c.name, c.layout) for c in cfg.push_checks] == [
        ("source-build", "source"), ("fork-build", "fork")]
    assert cfg.checks == ()  # a push check judges exports only
