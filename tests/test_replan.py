"""A change of ``direction``, of a source's entry under ``sources:``, of ``map``, ``rewrite`` or ``policy`` re-plans
the sources it affects (and only those), on the vendored-addons fork: real repositories, doit as a subprocess."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from conftest import commit_tree, run_doit, write_config
from slicekit import plan, read, tree
from addonskit import SOURCES, Vendored, build, config, repo_files


def ran(result: Any) -> set[str]:
    return {task for task, state in result.status().items() if state == "ran"}


def planned(v: Vendored, source: str) -> list[str]:
    return sorted(f["path"] for s in plan(v)["slices"] if s.get("source") == source for f in s["files"])


def first(v: Vendored) -> None:
    result = run_doit(v.workspace)
    assert result.returncode == 0, result.stdout + result.stderr


def test_push_to_both_pulls_what_the_source_offers(tmp_path: Path) -> None:
    contrib = tmp_path / "contrib.git"
    subprocess.run(["git", "init", "-q", "--bare", str(contrib)], check=True)
    v = build(tmp_path, sources={"web": {"direction": "push", "push_url": "../contrib.git"}})
    first(v)
    assert planned(v, "web") == [] and planned(v, "sale")   # push: web offers nothing to pull

    write_config(v.workspace, config(sources={"web": {"direction": "both", "push_url": "../contrib.git"}}))
    result = run_doit(v.workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "plan" in ran(result)
    assert "addons/oca/web/web_chart/__manifest__.py" in planned(v, "web")
    assert "addons/oca/web/web_chart/__manifest__.py" in tree(v.fork, "refs/heads/sync/upstream")
    # drift computes the same either way: neither source's drift ran again
    assert not {"drift:web", "drift:sale"} & ran(result)


def test_a_sources_entry_changed_re_plans_that_source_only(tmp_path: Path) -> None:
    v = build(tmp_path)
    first(v)
    assert "addons/oca/sale/sale_stock/__manifest__.py" in planned(v, "sale")
    # sale now leaves its sale_stock module out (ignore is a key of its own entry)
    write_config(v.workspace, config(sources={"sale": {"ignore": ["addons/oca/sale/sale_stock/**"]}}))
    result = run_doit(v.workspace, "plan")

    assert result.returncode == 0, result.stdout + result.stderr
    assert {"drift:sale", "plan"} <= ran(result) and "drift:web" not in ran(result)
    drift = read(v.reports / "sources" / "sale" / "drift.json")
    assert drift["entries"]["addons/oca/sale/sale_stock/__manifest__.py"]["class"] == "ignored"
    assert not [p for p in planned(v, "sale") if p.startswith("addons/oca/sale/sale_stock/")]


def test_a_new_source_is_fetched_drifted_and_planned(tmp_path: Path) -> None:
    v = build(tmp_path)
    first(v)
    docs = tmp_path / "docs.git"
    subprocess.run(["git", "init", "-q", "--bare", str(docs)], check=True)
    commit_tree(docs, {}, message="empty", tag="v1")
    commit_tree(docs, {"index.md": "# docs\n"}, message="docs", tick=1)
    cfg = config()
    cfg["sources"].append({"name": "docs", "url": "../docs.git", "base": "v1", "paths": ["docs/**"],
                           "map": [{"from": "", "to": "docs/"}]})
    write_config(v.workspace, cfg)
    result = run_doit(v.workspace, "plan")

    assert result.returncode == 0, result.stdout + result.stderr
    assert {"fetch:docs", "drift:docs", "plan"} <= ran(result)
    assert not {"drift:web", "drift:sale", "fetch:web", "fetch:sale"} & ran(result)
    assert planned(v, "docs") == ["docs/index.md"]


def test_a_map_change_re_plans_the_source_it_maps(tmp_path: Path) -> None:
    v = build(tmp_path)
    first(v)
    # web's new chart module goes to a folder of its own
    write_config(v.workspace, config(sources={"web": {
        "paths": ["addons/oca/web/**", "addons/charts/**"],
        "map": [{"from": "web_chart/", "to": "addons/charts/web_chart/"}, {"from": "", "to": "addons/oca/web/"}]}}))
    result = run_doit(v.workspace, "plan")

    assert result.returncode == 0, result.stdout + result.stderr
    assert {"drift:web", "plan"} <= ran(result) and "drift:sale" not in ran(result)
    assert "addons/charts/web_chart/__manifest__.py" in planned(v, "web")
    assert "addons/oca/web/web_chart/__manifest__.py" not in planned(v, "web")


def test_a_rewrite_change_re_plans_the_source_it_rewrites(tmp_path: Path) -> None:
    v = build(tmp_path)
    first(v)
    # the team renames the view of sale's new module: the same upstream revision, other bytes to land
    write_config(v.workspace, config(sources={"sale": {"rewrite": [
        {"from": "id='sale_stock'", "to": "id='erp_sale_stock'", "paths": ["addons/oca/sale/sale_stock/**"]}]}}))
    result = run_doit(v.workspace, "plan")

    assert result.returncode == 0, result.stdout + result.stderr
    assert {"drift:sale", "plan"} <= ran(result) and "drift:web" not in ran(result)
    view = "addons/oca/sale/sale_stock/views/sale_stock.xml"
    synced = run_doit(v.workspace)                 # its slice landed the old bytes: it lands the rewritten ones
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert b"id='erp_sale_stock'" in tree(v.fork, "refs/heads/sync/upstream")[view][1]


def test_a_policy_rule_settles_a_conflict_left_for_a_person(tmp_path: Path) -> None:
    v = build(tmp_path)
    path = "addons/oca/web/web_tools/models/web_tools.py"
    files = {p: data.decode() for p, (_, data) in tree(v.fork, "main").items()}
    files[path] = "class WebTools:\n    version = '1-team'\n"       # the team edits the line upstream changes
    commit_tree(v.fork, files, message="team: web_tools", tick=20)
    conflicted = run_doit(v.workspace)
    assert conflicted.returncode == 2, conflicted.stdout + conflicted.stderr
    [name] = [s["name"] for s in plan(v)["slices"] if path in [f["path"] for f in s["files"]]]
    assert read(v.reports / "slices" / name / "outcome.json")["status"] == "conflicted"
    still = run_doit(v.workspace)                                      # nothing changed: nothing runs
    assert f"validate:{name}" not in ran(still) and still.returncode == 2

    write_config(v.workspace, config(policy=[{"paths": ["addons/oca/web/**/models/*.py"], "take": "upstream"}]))
    result = run_doit(v.workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"validate:{name}" in ran(result)
    assert read(v.reports / "slices" / name / "outcome.json")["status"] == "adopted"
    assert tree(v.fork, "refs/heads/sync/upstream")[path][1] == repo_files(SOURCES["web"][1], "")[
        "web_tools/models/web_tools.py"].encode()
