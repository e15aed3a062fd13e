"""``sources=<glob>`` and ``direction=<d>`` on any command run only those sources, on two real module
repositories vendored into one fork (the fixture of tests/test_sources.py)."""
from __future__ import annotations

import json

from conftest import run_doit, write_config
from slicekit import ledger_runs, read
from test_sources import Vendored, sources_config, vendored  # noqa: F401  (vendored: the fixture)


def test_sources_glob_runs_only_the_matching_source(vendored: Vendored) -> None:  # noqa: F811
    r = vendored
    result = run_doit(r.workspace, "sources=s*", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr       # sale alone: no both-changed file
    assert (r.reports / "sources" / "sale" / "drift.json").exists()
    assert not (r.reports / "sources" / "web" / "upstream.json").exists()   # web is not even fetched
    assert not (r.workspace / ".forkwave" / "sources" / "web.git").exists()
    assert {s["source"] for s in read(r.reports / "plan.json")["slices"]} == {"sale"}
    assert {s.source for s in ledger_runs(r.reports)[-1].syncs} == {"sale"}
    summary = json.loads((r.reports / "run-summary.json").read_text())
    assert [(t["target"], t["direction"], t["status"]) for t in summary["results"]] == [("sale", "pull", "success")]

    both = run_doit(r.workspace, "direction=pull", timeout=300)        # every source pulls: both run
    assert both.returncode == 2                                         # web's app.js conflicts
    assert {s.source for s in ledger_runs(r.reports)[-1].syncs} == {"web", "sale"}
    assert json.loads((r.reports / "run-summary.json").read_text())["total_targets"] == 2

    only_web = run_doit(r.workspace, "history", "sources=web", "format=json")
    runs = json.loads(only_web.stdout)["runs"]
    assert len(runs) == 1 and {s["source"] for s in runs[0]["syncs"]} == {"web"}   # the sale-only run left out


def test_a_selection_that_matches_nothing_is_an_error_before_anything_runs(vendored: Vendored) -> None:  # noqa: F811
    r = vendored
    bad = run_doit(r.workspace, "drift", "sources=oca_*")
    assert bad.returncode == 1
    assert bad.stderr == ("forkwave: error: sources=oca_*: 'oca_*' matches no source; the sources are web, sale\n")
    wrong = run_doit(r.workspace, "direction=sideways")
    assert wrong.returncode == 1 and "direction=sideways: use pull, push or both" in wrong.stderr
    push = run_doit(r.workspace, "direction=push")
    assert push.returncode == 1
    assert "none of the selected sources runs that way (web (pull), sale (pull))" in push.stderr
    assert not (r.reports / "plan.json").exists()


def test_a_source_with_direction_push_is_not_pulled(vendored: Vendored) -> None:  # noqa: F811
    r = vendored
    cfg = sources_config()
    cfg["sources"][0].update(direction="push", push_url="../web-contrib.git")
    write_config(r.workspace, cfg)
    result = run_doit(r.workspace, "plan", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {s["source"] for s in read(r.reports / "plan.json")["slices"]} == {"sale"}
    assert (r.reports / "sources" / "web" / "drift.json").exists()   # fetched and compared: what to export
    only = run_doit(r.workspace, "plan", "sources=web", timeout=300)   # selected alone: nothing to pull
    assert only.returncode == 0, only.stdout + only.stderr
    assert read(r.reports / "plan.json")["slices"] == []
    pull = run_doit(r.workspace, "plan", "sources=web", "direction=pull")
    assert pull.returncode == 1 and "none of the selected sources runs that way (web (push))" in pull.stderr
    cfg["sources"][0]["direction"] = "sideways"
    write_config(r.workspace, cfg)
    bad = run_doit(r.workspace, "plan")
    assert bad.returncode == 1 and "key 'sources.0.direction': expected one of pull, push, both" in bad.stderr
