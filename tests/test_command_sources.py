"""Command sources that pull, on real repositories and real processes: an entrypoint reads a stand-in API (an
HTTP server on 127.0.0.1), writes into ``$FORKWAVE_OUT``, and what it wrote is the source's upstream — one
deterministic commit of its mirror per change, none when nothing changed — drifted, sliced, checked and landed
like a repository's; its secrets replaced and found nowhere; a failure named and landing nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from commandkit import all_objects, api, commit_fork, env_for, git_lines, merge_sync, pull_source, push_source, setup
from conftest import make_repo, run_doit, write_config
from slicekit import all_text, ledger_runs, read, rev, tree

APPS = [{"name": "web", "status": "ACTIVE"}]
COUNT = {"name": "count", "run": 'echo ran >> "$CALLS/check-runs"'}   # how often a check ran, outside the workspace
SYNC = "refs/heads/sync/upstream"


def check_runs(s) -> int:  # type: ignore[no-untyped-def]
    path = s.calls / "check-runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_first_run_lands_the_file_the_same_data_makes_no_commit_and_runs_no_check_new_data_one_commit(
        tmp_path: Path) -> None:
    with api({"apps": APPS, "version": "2025-01-04"}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [pull_source("apps_truth", served.url)],
                                                        "checks": [COUNT]})
        mirror = s.workspace / ".forkwave" / "upstream.git"

        first = run_doit(s.workspace, env=env_for(s))
        assert first.returncode == 0, first.stdout + first.stderr
        landed = tree(s.fork, SYNC)
        assert json.loads(landed["docs/runtime/apps_truth.json"][1]) == {"apps": APPS}
        assert read(s.reports / "drift.json")["entries"]["docs/runtime/apps_truth.json"]["class"] == "missing"
        outputs = git_lines(mirror, "rev-list", "refs/heads/outputs")
        record = read(s.reports / "upstream.json")
        assert len(outputs) == 1 and record["sha"] == outputs[0] and record["version"] == "2025-01-04"
        assert record["tree"] == git_lines(mirror, "rev-parse", "refs/heads/outputs^{tree}")[0]
        assert git_lines(mirror, "log", "--format=%at %ct", "refs/heads/outputs") == ["0 0"]   # fixed dates
        checked, tip, upstream_bytes = check_runs(s), rev(s.fork, SYNC), (s.reports / "upstream.json").read_bytes()
        assert checked > 0

        second = run_doit(s.workspace, env=env_for(s))
        assert second.returncode == 0, second.stdout + second.stderr
        assert len(s.pulls()) == 2                                    # the entrypoint ran ...
        assert git_lines(mirror, "rev-list", "refs/heads/outputs") == outputs   # ... and nothing was committed
        assert check_runs(s) == checked and rev(s.fork, SYNC) == tip
        assert (s.reports / "upstream.json").read_bytes() == upstream_bytes
        assert {t: second.status()[t] for t in ("drift", "plan", "wave_a")} == dict.fromkeys(
            ("drift", "plan", "wave_a"), "up to date")
        assert "outputs unchanged" in second.stdout
        runs = ledger_runs(s.reports)  # as a no-change run of a repository source: its slice counted as it stands
        assert [(x.sync_type, x.counts.adopted) for r in runs for x in r.syncs] == [("wave-a", 1), ("wave-a", 0)]

        merge_sync(s)   # its pull request merged: main records the output commit it landed (the base from now on)
        served.data = {"apps": APPS + [{"name": "worker", "status": "ACTIVE"}], "version": "2025-01-05"}
        third = run_doit(s.workspace, env=env_for(s))
        assert third.returncode == 0, third.stdout + third.stderr
        now = git_lines(mirror, "rev-list", "refs/heads/outputs")
        assert len(now) == 2 and git_lines(mirror, "rev-parse", "refs/heads/outputs^") == outputs
        entry = read(s.reports / "drift.json")["entries"]["docs/runtime/apps_truth.json"]
        assert entry["class"] == "upstream-changed"   # 3-way, against the output commit the fork landed
        assert json.loads(tree(s.fork, SYNC)["docs/runtime/apps_truth.json"][1])["apps"][1]["name"] == "worker"
        assert check_runs(s) > checked
        assert read(s.reports / "upstream.json")["version"] == "2025-01-05"
        assert ledger_runs(s.reports)[-1].syncs[0].revision == now[0]   # the ledger's revision is the output commit


def test_a_fresh_checkout_with_reports_restored_gets_the_output_history_back(tmp_path: Path) -> None:
    """CI keeps reports/, not .forkwave/: the output branch comes back from its bundle, so the same outputs make no
    new commit and a change is compared 3-way against the commit the fork landed."""
    with api({"apps": APPS}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [pull_source("apps_truth", served.url)]})
        assert run_doit(s.workspace, env=env_for(s)).returncode == 0
        merge_sync(s)
        before = read(s.reports / "upstream.json")["sha"]
        shutil.rmtree(s.workspace / ".forkwave")

        again = run_doit(s.workspace, env=env_for(s))
        assert again.returncode == 0, again.stdout + again.stderr
        assert git_lines(s.workspace / ".forkwave" / "upstream.git", "rev-list", "refs/heads/outputs") == [before]

        shutil.rmtree(s.workspace / ".forkwave")
        served.data = {"apps": [{"name": "web", "status": "DOWN"}]}
        changed = run_doit(s.workspace, env=env_for(s))
        assert changed.returncode == 0, changed.stdout + changed.stderr
        mirror = s.workspace / ".forkwave" / "upstream.git"
        assert git_lines(mirror, "rev-parse", "refs/heads/outputs^") == [before]
        assert read(s.reports / "drift.json")["entries"]["docs/runtime/apps_truth.json"]["class"] == "upstream-changed"


SECRET = "S3cr3t-Adm1n-Pw-9913"
DB_SECRET = "Zq8vN3kLp2WxRt"


def test_a_password_in_the_output_lands_as_a_placeholder_and_its_value_is_nowhere(tmp_path: Path) -> None:
    conf = f"[options]\nadmin_passwd = {SECRET}\ndb_host = db.prod.internal\nworkers = 4\n"
    data = {"apps": [{"name": "web", "db_password": DB_SECRET}],
            "files": {"docs/runtime/odoo.prod.conf": conf},
            "say": [f"logged in with password={SECRET}", f"the db answers to {DB_SECRET} and {SECRET}"]}
    remote = tmp_path / "remote.git"
    make_repo(remote, bare=True)
    with api(data) as served:
        source = pull_source("live_to_docs", served.url,
                             sanitize=[{"from": "(?m)^(db_host = ).*$", "to": "\\1<db-host>"}])
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [source], "checks": [COUNT],
                                                        "publish": {"remote": str(remote), "forge": "none"}})
        result = run_doit(s.workspace, env=env_for(s))
        assert result.returncode == 0, result.stdout + result.stderr
        published = run_doit(s.workspace, "publish", env=env_for(s))
        assert published.returncode == 0, published.stdout + published.stderr

    landed = tree(s.fork, SYNC)
    assert landed["docs/runtime/odoo.prod.conf"][1].decode() == (
        "[options]\nadmin_passwd = <redacted:secret-keyword>\ndb_host = <db-host>\nworkers = 4\n")
    assert json.loads(landed["docs/runtime/apps_truth.json"][1])["apps"][0]["db_password"] == \
        "<redacted:secret-keyword>"
    logs = (s.reports / "run-logs" / "run.stderr.log").read_text()
    assert "logged in with password=" in logs and "<redacted" in logs   # the line is kept, its value is not
    said = result.stdout + result.stderr + published.stdout + published.stderr
    for value in (SECRET, DB_SECRET, "db.prod.internal"):
        assert value not in all_text(s.workspace), value
        assert value not in said, value
        for repo in (s.fork, s.workspace / ".forkwave" / "upstream.git", remote):
            assert value.encode() not in all_objects(repo), (value, repo)
    assert rev(remote, SYNC) == rev(s.fork, SYNC)   # it was published: the remote holds the same placeholders


def test_a_failing_entrypoint_is_an_error_naming_the_source_its_exit_code_and_last_line_and_lands_nothing(
        tmp_path: Path) -> None:
    with api({"apps": APPS, "fail": "curl: (7) Failed to connect to api.digitalocean.com port 443"}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"},
                  {"sources": [pull_source("apps_truth", served.url), {**push_source("notion")}]})
        failed = run_doit(s.workspace, env=env_for(s))
        assert failed.returncode == 3, failed.stdout + failed.stderr
        assert ("forkwave: error: sources.0.run (apps_truth): `" in failed.stderr
                and "scripts/pull.py` exited 7: curl: (7) Failed to connect to api.digitalocean.com port 443; "
                    "nothing of apps_truth lands this run" in failed.stderr), failed.stderr
        assert rev(s.fork, SYNC) is None and not (s.reports / "sources" / "apps_truth" / "upstream.json").exists()
        mirror = s.workspace / ".forkwave" / "sources" / "apps_truth.git"
        assert git_lines(mirror, "for-each-ref") == []
        assert ledger_runs(s.reports)[-1].status == "failed"

        served.data = {"apps": APPS}   # it works again: lands
        ok = run_doit(s.workspace, env=env_for(s))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        tip, record = rev(s.fork, SYNC), (s.reports / "sources" / "apps_truth" / "upstream.json").read_bytes()

        served.data = {"apps": APPS, "fail": "platform API: 503 Service Unavailable"}   # fails after a success
        again = run_doit(s.workspace, env=env_for(s))
        assert again.returncode == 3 and "exited 7: platform API: 503 Service Unavailable" in again.stderr
        assert rev(s.fork, SYNC) == tip
        assert (s.reports / "sources" / "apps_truth" / "upstream.json").read_bytes() == record


def test_an_entrypoint_that_writes_none_of_its_outputs_is_an_error(tmp_path: Path) -> None:
    """An empty output would read as every file the source owns deleted upstream."""
    with api({"apps": APPS}) as served:
        s = setup(tmp_path, {"docs/runtime/apps_truth.json": "{}\n"},
                  {"sources": [{**pull_source("apps_truth", served.url), "outputs": ["docs/apps/**"]}]})
        result = run_doit(s.workspace, env=env_for(s))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "wrote no file that outputs (docs/apps/**) names, under $FORKWAVE_OUT" in result.stderr
    assert "left out docs/runtime/apps_truth.json: outputs (docs/apps/**) does not name it" in result.stdout
    assert rev(s.fork, SYNC) is None


def test_offline_uses_the_recorded_outputs_and_runs_nothing(tmp_path: Path) -> None:
    with api({"apps": APPS}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [pull_source("apps_truth", served.url)]})
        assert run_doit(s.workspace, env=env_for(s)).returncode == 0
    offline = run_doit(s.workspace, "offline=1", env=env_for(s))   # the API is gone: nothing may call it
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert len(s.pulls()) == 1 and offline.status()["fetch"] == "up to date"


def test_sources_direction_and_schedules_select_command_sources_like_the_others(tmp_path: Path) -> None:
    up = make_repo(tmp_path / "upstream.git", {"lib/a.py": "A = 1\n"}, bare=True)
    del up
    with api({"apps": APPS}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n", "docs/notion/a.md": "# a\n"}, {"sources": [
            {"name": "lib", "url": "../upstream.git", "paths": ["lib/**"], "schedule": "0 2 * * *"},
            pull_source("apps_truth", served.url, schedule="0 */6 * * *"),
            push_source("notion", schedule="0 3 * * *")]})

        only = run_doit(s.workspace, "sources=apps_truth", env=env_for(s))
        assert only.returncode == 0, only.stdout + only.stderr
        assert len(s.pulls()) == 1 and not (s.workspace / ".forkwave" / "sources" / "lib.git").exists()
        assert git_lines(s.fork, "diff", "--name-only", "main", SYNC) == [".forkwave/sync-state.json",
                                                                          "docs/runtime/apps_truth.json"]

        pushing = run_doit(s.workspace, "direction=push", env=env_for(s))
        assert pushing.returncode == 0, pushing.stdout + pushing.stderr
        assert len(s.pulls()) == 1 and s.pushes() == []   # no pull ran, and a run sends nothing (publish does)
        assert read(s.reports / "sources" / "notion" / "export.json")["send"] == [
            {"path": "docs/notion/a.md", "oid": git_lines(s.fork, "rev-parse", "main:docs/notion/a.md")[0]}]

        sent = run_doit(s.workspace, "publish", "sources=notion", env=env_for(s))
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert len(s.pushes()) == 1 and len(s.pulls()) == 1

        ci = run_doit(s.workspace, "ci")
        assert ci.returncode == 0, ci.stdout + ci.stderr
    workflow = yaml.safe_load((s.workspace / ".github" / "workflows" / "forkwave.yml").read_text())
    jobs = {j["if"].split("== '")[-1].rstrip("'"): j["env"]["FORKWAVE_SOURCES"] for j in workflow["jobs"].values()
            if "schedule ==" in j["if"]}
    assert jobs == {"0 2 * * *": "lib", "0 */6 * * *": "apps_truth", "0 3 * * *": "notion"}
    gitlab = yaml.safe_load((s.workspace / ".gitlab-ci.yml").read_text())
    assert sorted(filter(None, (j.get("variables", {}).get("FORKWAVE_SOURCES") for n, j in gitlab.items()
                                if not n.startswith(".") and isinstance(j, dict)))) == ["apps_truth", "lib", "notion"]


def test_fail_on_diff_stops_with_exit_2_while_upstream_work_is_not_synced(tmp_path: Path) -> None:
    with api({"apps": APPS}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [pull_source("apps_truth", served.url)]})
        watched = run_doit(s.workspace, "drift", "fail_on_diff=1", env=env_for(s))
        assert watched.returncode == 2, watched.stdout + watched.stderr
        assert ("forkwave: error: fail_on_diff: apps_truth has 1 upstream path main lacks (reports/drift.md); sync "
                "with `doit` (without fail_on_diff=1)") in watched.stderr
        assert not (s.reports / "plan.json").exists()

        s_cfg = {"sources": [pull_source("apps_truth", served.url, fail_on_diff=True)],
                 "fork": {"path": "../fork", "branch": "main"}}
        write_config(s.workspace, s_cfg)
        held = run_doit(s.workspace, env=env_for(s))
        assert held.returncode == 2 and rev(s.fork, SYNC) is None, held.stdout + held.stderr
        assert "sync with `doit fail_on_diff=0` (sources.0.fail_on_diff (apps_truth) is true)" in held.stderr

        synced = run_doit(s.workspace, "fail_on_diff=0", env=env_for(s))
        assert synced.returncode == 0, synced.stdout + synced.stderr
        still = run_doit(s.workspace, "drift", env=env_for(s))
        assert still.returncode == 2   # landed on the sync branch, not yet in main: not synced
        merge_sync(s)
        clean = run_doit(s.workspace, "drift", env=env_for(s))
        assert clean.returncode == 0, clean.stdout + clean.stderr


def test_fail_on_diff_in_a_dry_run_is_reported_not_enforced(tmp_path: Path) -> None:
    with api({"apps": APPS}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [pull_source("apps_truth", served.url)]})
        dry = run_doit(s.workspace, "dry=1", "fail_on_diff=1", env=env_for(s))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    report = read(s.reports / "dry-run.json")
    assert report["exit_code"] == 2 and report["drift_gates"][0].startswith("fail_on_diff: apps_truth has 1")
    assert rev(s.fork, SYNC) is None


def test_a_bad_fail_on_diff_value_is_a_usage_error(tmp_path: Path) -> None:
    s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [push_source("notion")]})
    bad = run_doit(s.workspace, "drift", "fail_on_diff=maybe")
    assert bad.returncode == 1
    assert bad.stderr == "forkwave: error: fail_on_diff=maybe: give 1 (upstream work stops the run, exit 2) or 0\n"


def test_config_errors_of_command_sources_are_one_line(tmp_path: Path) -> None:
    cases = [
        ({"name": "x", "url": "../up.git", "run": "true", "outputs": ["a/**"]},
         "key 'sources.0.run': give either 'url' (a repository) or 'run'/'push_run' (a command source), not both"),
        ({"name": "x", "outputs": ["a/**"]},
         "key 'sources.0': missing key 'url' (a repository), or 'run' (a command that writes the source's files); "
         "give one"),
        ({"name": "x", "run": "true"},
         "key 'sources.0': missing key 'outputs' (the fork-side globs of the files 'run' handles)"),
        ({"name": "x", "run": "true", "outputs": ["a/**"], "map": [{"from": "", "to": "a/"}]},
         "key 'sources.0.map': applies to repository sources only (url); a command source's files are what 'run' "
         "writes"),
        ({"name": "x", "url": "../up.git", "sanitize": [{"from": "x", "to": "y"}]},
         "key 'sources.0.sanitize': applies to command sources only (run, push_run); this source is a repository "
         "(url)"),
        ({"name": "x", "direction": "both", "run": "true", "outputs": ["a/**"]},
         "key 'sources.0': direction both pushes; give 'push_run' (the command that takes the fork's changed "
         "inputs)"),
        ({"name": "x", "direction": "push", "push_run": "true", "inputs": ["a/**"], "verify": [{"name": "n",
                                                                                                "run": "true"}]},
         "key 'sources.0.verify': judges what the source pulls, and this one only pushes (direction push); drop "
         "'verify'"),
        ({"name": "x", "run": "true", "outputs": ["a/**"], "sanitize": [{"from": "(", "to": "y"}]},
         "key 'sources.0.sanitize.0.from': not a valid regex"),
    ]
    for i, (source, message) in enumerate(cases):
        ws = tmp_path / f"ws{i}"
        ws.mkdir()
        path = write_config(ws, {"sources": [source], "fork": {"path": "../fork"}})
        result = run_doit(ws, "list")
        assert result.returncode == 1, (source, result.stdout)
        assert result.stderr.startswith(f"forkwave: error: {path}:") and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr


def test_the_command_source_guides_config_loads_with_the_six_targets(tmp_path: Path) -> None:
    """The command-source guide shows the directional-sync document's six targets as one forkwave.yaml."""
    import re

    from tasks.config import load_config

    section = (Path(__file__).resolve().parent.parent / "docs" / "guides" / "command-sources.md").read_text(
        encoding="utf-8")
    block = re.findall(r"^```yaml\n(.*?)^```", section, re.M | re.S)[0]
    cfg = load_config(write_config(tmp_path, block))
    kinds = [(s.name, s.direction, "command" if s.command else "repository") for s in cfg.sources]
    assert kinds == [("oca_web", "pull", "repository"), ("claude_config", "both", "command"),
                     ("apps_truth", "pull", "command"), ("live_to_docs", "pull", "command"),
                     ("skillsmith_catalog", "pull", "command"), ("notion_docs", "push", "command")]
    assert all(s.schedule for s in cfg.sources)
    live = next(s for s in cfg.sources if s.name == "live_to_docs")
    assert live.command is not None and live.command.sanitize


def test_a_command_output_commit_is_the_same_for_the_same_outputs_and_history(tmp_path: Path) -> None:
    """Two workspaces, two runs of the same entrypoint on the same data: the same output commit (fixed dates,
    forkwave's identity), so the recorded revision says which outputs landed, wherever it ran."""
    shas = []
    with api({"apps": APPS, "version": "7"}) as served:
        for i in range(2):
            s = setup(tmp_path / f"r{i}", {"README.md": "# fork\n"},
                      {"sources": [pull_source("apps_truth", served.url)]})
            assert run_doit(s.workspace, "fetch", env=env_for(s)).returncode == 0
            shas.append(read(s.reports / "upstream.json")["sha"])
    assert shas[0] == shas[1]


def test_a_fork_edit_of_an_output_is_merged_3_way_with_the_sources_next_change(tmp_path: Path) -> None:
    """A fork that edits an output after it landed: the source's next change to it is a both-changed file, merged
    3-way like a repository's (here cleanly: the same edit on one line, the source's alone on another)."""
    body = lambda apps: json.dumps({"apps": apps}, indent=2, sort_keys=True) + "\n"  # noqa: E731
    with api({"apps": [{"name": "a", "status": "1"}, {"name": "b", "status": "1"}]}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [pull_source("apps_truth", served.url)]})
        assert run_doit(s.workspace, env=env_for(s)).returncode == 0
        merge_sync(s, delete=True)
        files = {p: c for p, (_, c) in tree(s.fork, "main").items()}
        edited = body([{"name": "a", "status": "fork"}, {"name": "b", "status": "1"}])
        commit_fork(s, {**{p: c.decode() for p, c in files.items()}, "docs/runtime/apps_truth.json": edited})
        served.data = {"apps": [{"name": "a", "status": "fork"}, {"name": "b", "status": "2"}]}
        result = run_doit(s.workspace, env=env_for(s))
    assert result.returncode == 0, result.stdout + result.stderr
    assert read(s.reports / "drift.json")["entries"]["docs/runtime/apps_truth.json"]["class"] == "both-changed"
    assert json.loads(tree(s.fork, SYNC)["docs/runtime/apps_truth.json"][1])["apps"][1]["status"] == "2"



def test_a_dry_run_of_a_command_source_writes_only_the_dry_run_report(tmp_path: Path) -> None:
    import hashlib

    with api({"apps": APPS}) as served:
        s = setup(tmp_path, {"README.md": "# fork\n"}, {"sources": [pull_source("apps_truth", served.url)]})
        assert run_doit(s.workspace, env=env_for(s)).returncode == 0
        mirror = s.workspace / ".forkwave" / "upstream.git"

        def state() -> dict[str, str]:
            files = {str(p.relative_to(s.reports)): hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in s.reports.rglob("*") if p.is_file() and not p.name.startswith("dry-run.")}
            return files | {"mirror": "\n".join(git_lines(mirror, "for-each-ref")),
                            "fork": "\n".join(git_lines(s.fork, "for-each-ref"))}

        before = state()
        served.data = {"apps": APPS + [{"name": "worker", "status": "ACTIVE"}]}
        dry = run_doit(s.workspace, "dry=1", env=env_for(s))
        assert dry.returncode == 0, dry.stdout + dry.stderr
    assert state() == before and len(s.pulls()) == 2   # the pull ran (it only reads); nothing real moved
    report = read(s.reports / "dry-run.json")
    assert [sl["status"] for sl in report["slices"]] == ["adopted"] and report["exit_code"] == 0
