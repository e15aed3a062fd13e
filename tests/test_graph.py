"""The doit graph as users run it (real subprocesses): what runs, what stays up to date, what is written."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import (TOKEN, UPSTREAM_V1, Scenario, commit_tree, doit_ok, fork_files, make_repo, rename, run_doit,
                      scenario_config, tree_text, upstream_v2, write_config)

STEPS = ("demo", "fetch", "drift", "plan")
REPORTS = ("upstream.json", "drift.json", "drift.md", "plan.json", "wave-a.md", "wave-b.md", "wave-c.md")


def snapshot(ws: Path, names: tuple[str, ...] = REPORTS) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of each report: equal snapshots mean the file was not rewritten."""
    return {n: ((ws / "reports" / n).read_bytes(), (ws / "reports" / n).stat().st_mtime_ns) for n in names}


def ran(result: Any) -> set[str]:
    return {task for task, state in result.status().items() if state == "ran"}


def assert_all_up_to_date(result: Any) -> None:
    task_lines = [line for line in result.stdout.splitlines() if line[:3] in (".  ", "-- ")]
    assert task_lines, result.stdout
    assert all(line.startswith("-- ") for line in task_lines), result.stdout


@pytest.fixture
def planned(scenario: Scenario) -> Scenario:
    """The scenario with its config written and `doit plan` run once."""
    write_config(scenario.workspace, scenario_config(scenario))
    first = doit_ok(scenario.workspace, "plan")
    assert ran(first) == {"fetch", "drift", "plan"} and first.status()["demo"] == "up to date"
    return scenario


def test_list_works_before_anything_has_run(scenario: Scenario, tmp_path: Path) -> None:
    write_config(scenario.workspace, scenario_config(scenario))
    for ws in (scenario.workspace, tmp_path / "empty"):   # with a config, and with none (the demo)
        ws.mkdir(exist_ok=True)
        result = doit_ok(ws, "list")
        listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
        assert set(STEPS) <= listed
        assert not (ws / ".forkwave" / "upstream.git").exists()   # listing does no git work
        assert not (ws / ".forkwave" / "demo").exists()
        assert not (ws / "reports" / "upstream.json").exists()


def test_readme_first_command_on_the_bundled_demo(tmp_path: Path) -> None:
    """`doit` with no forkwave.yaml: demo repositories, then fetch, drift and plan."""
    result = run_doit(tmp_path)
    assert {"demo", "fetch", "drift", "plan"} <= ran(result), result.stdout
    for step in STEPS:
        assert f"taskid:{step}\n" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert (tmp_path / ".forkwave" / "demo" / "upstream" / "HEAD").exists()
    board = (tmp_path / "reports" / "drift.md").read_text()
    assert board.startswith("# Drift report and priority board")
    assert "**`server`** 🔴 P0" in board and "packages/acme-server/.env.test" in board
    plan = json.loads((tmp_path / "reports" / "plan.json").read_text())
    assert [w["name"] for w in plan["waves"]] == ["a", "b", "c"] and plan["slices"]
    assert (tmp_path / "reports" / "wave-a.md").read_text().startswith("# Wave a: ")
    upstream = json.loads((tmp_path / "reports" / "upstream.json").read_text())
    assert upstream["url"] == ".forkwave/demo/upstream"
    assert f"fetch: {tmp_path}/.forkwave/demo/upstream main -> " in result.stdout  # this workspace's demo
    drift = json.loads((tmp_path / "reports" / "drift.json").read_text())
    assert drift["base"]["rev"] == "v1" and drift["totals"]["blocked"] == 2
    again = run_doit(tmp_path, "plan")
    assert again.returncode == 0
    assert_all_up_to_date(again)


def test_second_run_with_nothing_changed_runs_nothing(planned: Scenario) -> None:
    before = snapshot(planned.workspace)
    again = doit_ok(planned.workspace, "plan")
    assert_all_up_to_date(again)
    assert set(STEPS) <= set(again.status())
    assert snapshot(planned.workspace) == before


def test_whole_graph_second_run_runs_nothing(tmp_path: Path) -> None:
    """Upstream-only changes (every slice can be adopted): the second plain `doit` does nothing."""
    up = make_repo(tmp_path / "upstream.git", bare=True)
    commit_tree(up, UPSTREAM_V1, tag="v1")
    commit_tree(up, upstream_v2(), tick=10)
    commit_tree(make_repo(tmp_path / "fork"), rename(UPSTREAM_V1, "packages/up-", "packages/fk-"), tick=5)
    ws = tmp_path / "ws"
    ws.mkdir()
    write_config(ws, {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1",
                      "map": [{"from": "packages/up-", "to": "packages/fk-"}]})
    first = doit_ok(ws)
    assert {"fetch", "drift", "plan"} <= ran(first)
    assert_all_up_to_date(doit_ok(ws))


def test_changing_map_reruns_drift_and_plan_but_not_fetch(planned: Scenario) -> None:
    write_config(planned.workspace, scenario_config(planned, map=[{"from": "packages/up-", "to": "packages/fk-"},
                                                                  {"from": "docs/", "to": "documentation/"}]))
    result = doit_ok(planned.workspace, "plan")
    assert result.status()["fetch"] == "up to date"
    assert ran(result) == {"drift", "plan"}
    drift = json.loads((planned.workspace / "reports" / "drift.json").read_text())
    assert "documentation/new.md" in drift["entries"]
    assert_all_up_to_date(doit_ok(planned.workspace, "plan"))


def test_a_map_change_that_changes_no_result_leaves_plan_up_to_date(planned: Scenario) -> None:
    before = snapshot(planned.workspace, ("drift.json", "plan.json"))
    write_config(planned.workspace, scenario_config(planned, map=[{"from": "packages/up-", "to": "packages/fk-"},
                                                                  {"from": "nowhere/", "to": "x/"}]))
    result = doit_ok(planned.workspace, "plan")
    assert ran(result) == {"drift"}
    assert snapshot(planned.workspace, ("drift.json", "plan.json")) == before


def test_changing_slices_reruns_plan_only(planned: Scenario) -> None:
    write_config(planned.workspace, scenario_config(planned, slices={"max_files": 1}))
    result = doit_ok(planned.workspace, "plan")
    assert ran(result) == {"plan"}
    plan = json.loads((planned.workspace / "reports" / "plan.json").read_text())
    assert plan["max_files"] == 1 and all(len(s["files"]) == 1 for s in plan["slices"])


@pytest.mark.parametrize("key,value", [("ignore", ["docs/**"]), ("deny", ["**/*.sql"]), ("base", None),
                                       ("buckets", [{"name": "ui", "paths": ["packages/fk-ui/**"]}]),
                                       ("waves", {"only": {"buckets": ["*"]}})])
def test_drift_keys_rerun_drift_not_fetch(planned: Scenario, key: str, value: Any) -> None:
    write_config(planned.workspace, scenario_config(planned, **{key: value}))
    result = doit_ok(planned.workspace, "plan")
    assert result.status()["fetch"] == "up to date"
    assert "drift" in ran(result)


def test_a_new_fork_commit_reruns_drift(planned: Scenario) -> None:
    commit_tree(planned.fork, fork_files() | {"packages/fk-ui/src/tag.js": "tag edited in the fork\n"}, tick=30)
    result = doit_ok(planned.workspace, "plan")
    assert result.status()["fetch"] == "up to date"
    assert ran(result) == {"drift", "plan"}
    drift = json.loads((planned.workspace / "reports" / "drift.json").read_text())
    assert drift["entries"]["packages/fk-ui/src/tag.js"]["class"] == "both-changed"


def test_upstream_moves_then_fetch_reruns_and_rewrites_upstream_json(planned: Scenario) -> None:
    commit_tree(planned.upstream, {"elsewhere": "x"}, branch="feature", tick=40)   # not our ref
    assert_all_up_to_date(doit_ok(planned.workspace, "plan"))
    new = commit_tree(planned.upstream, upstream_v2() | {"docs/more.md": "more\n"}, tick=50)
    result = doit_ok(planned.workspace, "plan")
    assert ran(result) == {"fetch", "drift", "plan"}
    assert json.loads((planned.workspace / "reports" / "upstream.json").read_text())["sha"] == new


def test_forced_fetch_with_an_unmoved_ref_does_not_rewrite_upstream_json(planned: Scenario) -> None:
    before = snapshot(planned.workspace)
    doit_ok(planned.workspace, "forget", "fetch")
    result = doit_ok(planned.workspace, "plan")
    assert ran(result) == {"fetch"}
    assert "unchanged at" in result.stdout
    assert snapshot(planned.workspace) == before


def test_same_inputs_give_byte_identical_reports(planned: Scenario) -> None:
    before = snapshot(planned.workspace)
    doit_ok(planned.workspace, "forget", "drift", "plan")
    assert ran(doit_ok(planned.workspace, "plan")) == {"drift", "plan"}
    assert snapshot(planned.workspace) == before                     # recomputed, not rewritten
    other = planned.root / "ws2"
    other.mkdir()
    write_config(other, scenario_config(planned))
    doit_ok(other, "plan")
    for name in REPORTS[1:]:
        assert (other / "reports" / name).read_bytes() == before[name][0], name


def test_a_restored_reports_folder_stays_up_to_date_in_a_new_checkout(planned: Scenario) -> None:
    """CI: reports/ restored from a cache into another directory, without the mirror."""
    moved = planned.root / "checkout2"
    moved.mkdir()
    shutil.copytree(planned.workspace / "reports", moved / "reports")
    shutil.copy(planned.workspace / "forkwave.yaml", moved / "forkwave.yaml")
    assert_all_up_to_date(doit_ok(moved, "plan"))


def test_offline_uses_the_cache(planned: Scenario) -> None:
    old = json.loads((planned.workspace / "reports" / "upstream.json").read_text())["sha"]
    commit_tree(planned.upstream, {"new": "x\n"}, tick=60)
    planned.upstream.rename(planned.root / "away.git")                 # the upstream is unreachable
    assert_all_up_to_date(doit_ok(planned.workspace, "plan", "offline=1"))
    doit_ok(planned.workspace, "forget", "fetch")
    result = doit_ok(planned.workspace, "plan", "offline=1")
    assert ran(result) == {"fetch"}
    assert json.loads((planned.workspace / "reports" / "upstream.json").read_text())["sha"] == old
    online = run_doit(planned.workspace, "plan")
    assert online.returncode != 0 and "upstream.url:" in online.stderr and "does not exist" in online.stderr


def test_offline_without_a_cache_is_a_clear_error(scenario: Scenario) -> None:
    write_config(scenario.workspace, scenario_config(scenario))
    result = run_doit(scenario.workspace, "plan", "offline=1")
    assert result.returncode != 0
    assert "forkwave: error: offline=1 but there is no cached mirror at " in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_config_variable_points_at_another_config(scenario: Scenario) -> None:
    conf = scenario.root / "conf"
    conf.mkdir()
    write_config(conf, scenario_config(scenario) | {"upstream": {"url": "../upstream.git"},
                                                    "fork": {"path": "../fork"}}, name="mine.yaml")
    result = doit_ok(scenario.workspace, "drift", f"config={conf / 'mine.yaml'}")
    assert ran(result) == {"fetch", "drift"}
    assert (scenario.workspace / "reports" / "drift.json").exists()


def test_credentials_in_the_url_never_reach_output_or_reports(scenario: Scenario, tmp_path: Path) -> None:
    """A credentialed https URL that git rewrites to the local upstream (url.insteadOf)."""
    url = f"https://ci-bot:{TOKEN}@git.example.invalid/up.git"
    home = tmp_path / "home"
    home.mkdir()
    # the rule names the URL git is given: forkwave hands git the credentials apart from it
    (home / ".gitconfig").write_text(f'[url "{scenario.upstream}"]\n\tinsteadOf = https://git.example.invalid/up.git\n')
    write_config(scenario.workspace, scenario_config(scenario, upstream={"url": url}))
    result = doit_ok(scenario.workspace, "plan", env={"HOME": str(home)})
    assert ran(result) == {"fetch", "drift", "plan"}
    assert "fetch: https://***@git.example.invalid/up.git main -> " in result.stdout
    upstream = json.loads((scenario.workspace / "reports" / "upstream.json").read_text())
    assert upstream["url"] == "https://***@git.example.invalid/up.git"
    assert "`https://***@git.example.invalid/up.git`" in (scenario.workspace / "reports" / "drift.md").read_text()
    leaked = result.stdout + result.stderr + tree_text(scenario.workspace / "reports")
    assert TOKEN not in leaked and "ci-bot" not in leaked
    assert_all_up_to_date(doit_ok(scenario.workspace, "plan", env={"HOME": str(home)}))
