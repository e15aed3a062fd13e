"""``schedule:`` per source and ``doit ci``: the GitHub Actions workflow and the GitLab CI file written
from a real config, valid YAML (and valid for each CI's published schema) whose crons and source lists
match the config."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from conftest import make_repo, run_doit, write_config

SOURCES = [("oca_web", "0 2 * * *"), ("apps", "0 */6 * * 1-5"), ("oca_sale", "0  02 * * *"), ("docs", None)]


def config(sources: list[tuple[str, str | None]] = SOURCES) -> dict[str, Any]:
    return {"sources": [{"name": n, "url": f"../{n}.git", "paths": [f"addons/{n}/**"],
                         "map": [{"from": "", "to": f"addons/{n}/"}], **({"schedule": s} if s else {})}
                        for n, s in sources],
            "fork": {"path": "fork", "branch": "main"}}


def workspace(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    make_repo(ws / "fork", {"README.md": "fork\n"})
    write_config(ws, data)
    return ws


def schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("check_jsonschema.builtin_schemas").joinpath(f"vendor/{name}.json").read_text())


def test_doit_ci_writes_one_cron_per_distinct_schedule_each_running_only_its_sources(tmp_path: Path) -> None:
    ws = workspace(tmp_path, config())
    result = run_doit(ws, "ci")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ci: .github/workflows/forkwave.yml written (2 schedules)" in result.stdout
    github = yaml.safe_load((ws / ".github" / "workflows" / "forkwave.yml").read_text())
    jsonschema.Draft7Validator(schema("github-workflows")).validate(github)
    assert [s["cron"] for s in github["on"]["schedule"]] == ["0 2 * * *", "0 */6 * * 1-5"]
    scheduled = {j["if"].split("== '")[-1].rstrip("'"): j["env"]["FORKWAVE_SOURCES"]
                 for j in github["jobs"].values() if "schedule ==" in j["if"]}
    assert scheduled == {"0 2 * * *": "oca_web,oca_sale", "0 */6 * * 1-5": "apps"}   # docs: by hand only
    inputs = github["on"]["workflow_dispatch"]["inputs"]
    assert {"sources", "direction"} <= set(inputs) and "push" in inputs["direction"]["options"]
    steps = [s for j in github["jobs"].values() for s in j["steps"]]
    assert any(s.get("uses", "").startswith("actions/cache/restore") and s["with"]["path"] == "reports/"
               for s in steps)
    checkouts = {s["with"]["path"] for s in steps if "repository" in s.get("with", {})}
    assert checkouts == {"fork"}                                       # fork.path as written

    gitlab = yaml.safe_load((ws / ".gitlab-ci.yml").read_text())
    jsonschema.Draft7Validator(schema("gitlab-ci")).validate(gitlab)
    jobs = {k: v for k, v in gitlab.items() if k.startswith("sync-")}
    assert {j["rules"][0]["if"].split('$SCHEDULE == "')[1].rstrip('"'): j["variables"]["FORKWAVE_SOURCES"]
            for j in jobs.values()} == {"0 2 * * *": "oca_web,oca_sale", "0 */6 * * 1-5": "apps"}
    assert gitlab[".forkwave"]["cache"][0]["paths"] == ["reports/"] and "manual" in gitlab

    again = run_doit(ws, "ci")                                         # deterministic: nothing rewritten
    assert "ci: .github/workflows/forkwave.yml unchanged" in again.stdout
    assert "ci: .gitlab-ci.yml unchanged" in again.stdout
    assert not (ws / "reports" / "ledger.sqlite").exists()            # ci is no run: no ledger row


def test_a_bad_schedule_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    ws = workspace(tmp_path, config([("oca_web", "0 2 * * *"), ("apps", "@daily")]))
    result = run_doit(ws, "ci")
    assert result.returncode == 1
    assert ("key 'sources.1.schedule': '@daily' is a macro GitHub Actions does not take; write '0 0 * * *'"
            in result.stderr) and result.stderr.startswith(f"forkwave: error: {ws / 'forkwave.yaml'}: ")
    assert not (ws / ".gitlab-ci.yml").exists()


def test_the_one_upstream_shorthand_takes_a_schedule_too(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"upstream": {"url": "../up.git"}, "fork": {"path": "../elsewhere"},
                              "schedule": "30 3 * * *"})
    result = run_doit(ws, "ci")
    assert result.returncode == 0, result.stderr
    assert ("fork.path '../elsewhere' is outside the workspace; the CI files check the fork out at fork/"
            in result.stdout)
    github = yaml.safe_load((ws / ".github" / "workflows" / "forkwave.yml").read_text())
    assert [s["cron"] for s in github["on"]["schedule"]] == ["30 3 * * *"]
    assert github["jobs"]["sync-1"]["env"]["FORKWAVE_SOURCES"] == "upstream"


def test_the_ci_guides_sources_and_schedules_example_loads_and_groups_as_it_says(tmp_path: Path) -> None:
    from conftest import ROOT

    from tasks.config import load_config
    from tasks.context import check_schedules
    from tasks.core.schedules import group

    guide = (ROOT / "docs" / "guides" / "ci.md").read_text(encoding="utf-8")
    [block] = [b.split("```", 1)[0] for b in guide.split("```yml\nsources:\n")[1:]
               if "schedule:" in b.split("```", 1)[0]]                     # the schedules example
    path = write_config(tmp_path, "sources:\n" + block + "fork: {path: fork}\n")
    cfg = load_config(path)
    check_schedules(cfg)
    assert [(s.name, s.direction) for s in cfg.sources][-2:] == [("apps", "pull"), ("docs", "pull")]
    assert [(g.cron, g.sources) for g in group([(s.name, s.schedule) for s in cfg.sources])] == [
        ("0 2 * * *", ("oca_web", "oca_sale")), ("0 */6 * * 1-5", ("apps",))]


def test_doit_ci_never_writes_over_a_workflow_of_the_repositorys_own(tmp_path: Path) -> None:
    import subprocess

    ws = workspace(tmp_path, config())
    own = ws / ".github" / "workflows" / "forkwave.yml"
    own.parent.mkdir(parents=True)
    own.write_text("name: our own CI\non: push\njobs: {}\n")
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    subprocess.run(["git", "-C", str(ws), "add", ".github"], check=True)       # tracked by the repository

    result = run_doit(ws, "ci")

    assert result.returncode == 1, result.stdout + result.stderr
    assert own.read_text() == "name: our own CI\non: push\njobs: {}\n"            # not a byte changed
    [line] = [x for x in result.stderr.splitlines() if x.startswith("forkwave: error:")]
    assert line == ("forkwave: error: ci: .github/workflows/forkwave.yml is not forkwave's (no '# @generated by "
                    "forkwave `doit ci`' line): left as it is; rename or remove it and run `doit ci` again to write "
                    "forkwave's")
    assert "ci: .gitlab-ci.yml written (2 schedules)" in result.stdout      # the other file is forkwave's to write
    assert (ws / ".gitlab-ci.yml").read_text().startswith("# @generated by forkwave `doit ci`\n")

    own.unlink()
    assert run_doit(ws, "ci").returncode == 0
    assert own.read_text().startswith("# @generated by forkwave `doit ci`\n")


def test_doit_ci_rewrites_its_own_files_and_those_of_earlier_versions(tmp_path: Path) -> None:
    ws = workspace(tmp_path, config())
    assert run_doit(ws, "ci").returncode == 0
    github = ws / ".github" / "workflows" / "forkwave.yml"
    earlier = github.read_text().split("\n", 1)[1]           # an earlier version's file: no marker, its header
    github.write_text(earlier.replace("0 2 * * *", "0 4 * * *"))
    write_config(ws, config([("oca_web", "0 5 * * *")]))

    result = run_doit(ws, "ci")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ci: .github/workflows/forkwave.yml written (1 schedule)" in result.stdout
    assert "0 5 * * *" in github.read_text() and github.read_text().startswith("# @generated by forkwave")


def test_doit_ci_matrix_sources_fans_out_schedules_whose_sources_the_batch_judges(tmp_path: Path) -> None:
    sources = config([("oca_web", "0 2 * * *"), ("oca_sale", "0 2 * * *"), ("apps", "0 3 * * *"),
                      ("oca_stock", "0 4 * * *"), ("tools", "0 4 * * *")])
    sources["sources"][4] |= {"mode": "merge", "map": []}      # lands commits on the shared sync branch: no batch
    ws = workspace(tmp_path, sources)
    result = run_doit(ws, "ci", "matrix=sources")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ci: 0 2 * * *: fanned out: oca_web, oca_sale each judged on a runner of its own" in result.stdout
    assert "ci: 0 3 * * *: one job, not fanned out: fewer than two of its sources are judged in the batch" \
        in result.stdout
    assert "ci: 0 4 * * *: one job, not fanned out: tools lands commits on the shared sync branch (no batch)" \
        in result.stdout

    github = yaml.safe_load((ws / ".github" / "workflows" / "forkwave.yml").read_text())
    jsonschema.Draft7Validator(schema("github-workflows")).validate(github)
    judge, final = github["jobs"]["judge-1"], github["jobs"]["sync-1"]
    assert judge["strategy"]["matrix"]["source"] == ["oca_web", "oca_sale"]
    assert any('doit batch "sources=$FORKWAVE_SOURCE" fanout=1' in s.get("run", "") for s in judge["steps"])
    assert not any("cache/save" in s.get("uses", "") or "publish" in s.get("run", "") for s in judge["steps"])
    assert final["needs"] == ["judge-1"] and final["if"].startswith("!cancelled() && ")
    download = [s for s in final["steps"] if "download-artifact" in s.get("uses", "")]
    assert download[0]["with"] == {"pattern": "forkwave-judged-1-*", "merge-multiple": True, "path": "reports/"}
    assert set(github["jobs"]) == {"judge-1", "sync-1", "sync-2", "sync-3", "manual"}   # only 0 2 fans out

    gitlab = yaml.safe_load((ws / ".gitlab-ci.yml").read_text())
    jsonschema.Draft7Validator(schema("gitlab-ci")).validate(gitlab)
    assert gitlab["stages"] == ["judge", "sync"]
    assert gitlab["judge-1"]["parallel"]["matrix"] == [{"FORKWAVE_SOURCE": ["oca_web", "oca_sale"]}]
    assert gitlab[".forkwave-judge"]["cache"][0]["policy"] == "pull"
    assert "resource_group" not in gitlab[".forkwave-judge"]
    assert gitlab["sync-1"]["needs"] == [{"job": "judge-1", "artifacts": True}]
    assert gitlab["sync-1"]["rules"][0]["when"] == "always"

    plain = run_doit(ws, "ci")                                          # without it: one job per schedule again
    assert plain.returncode == 0 and "judge-1" not in (ws / ".gitlab-ci.yml").read_text()
    bad = run_doit(ws, "ci", "matrix=waves")
    assert bad.returncode == 1 and "matrix=waves: `doit ci` fans out by source only; write matrix=sources" in bad.stderr
