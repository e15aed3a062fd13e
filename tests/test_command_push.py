"""Command sources that push, and both ways, on real repositories and real processes: ``push_run`` receives the
fork's changed input files once (their paths on stdin, the files under ``$FORKWAVE_IN``), recorded in the ledger
so nothing goes twice; a failure is named and sent again; a dry run sends nothing; a path changed on both sides
since the last sync is one conflict, reported once, sent nowhere and pulled nowhere."""
from __future__ import annotations

from pathlib import Path

from commandkit import Setup, api, commit_fork, env_for, git_lines, merge_sync, pull_source, push_source, setup
from conftest import run_doit
from slicekit import ledger_runs, read, rev, tree

FORK = {"README.md": "# fork\n", "docs/notion/a.md": "# a\n", "docs/notion/b.md": "# b\n", "src/app.py": "APP = 1\n"}
SYNC = "refs/heads/sync/upstream"


def received(call: Path) -> tuple[list[str], dict[str, str]]:
    """What one push_run call got: its standard input's lines, and the files under $FORKWAVE_IN."""
    files = {p.relative_to(call / "files").as_posix(): p.read_text() for p in (call / "files").rglob("*")
             if p.is_file()} if (call / "files").exists() else {}
    return (call / "stdin").read_text().splitlines(), files


def push_rows(s: Setup) -> list[tuple[str, int, str | None]]:
    return [(x.status, x.counts.exported, x.note or x.error) for r in ledger_runs(s.reports) for x in r.syncs
            if x.sync_type == "push"]


def test_push_run_receives_exactly_the_changed_inputs_once(tmp_path: Path) -> None:
    s = setup(tmp_path, FORK, {"sources": [push_source("notion")]})
    first = run_doit(s.workspace, env=env_for(s))
    assert first.returncode == 0, first.stdout + first.stderr
    assert s.pushes() == []                                               # a run computes; publish sends
    assert [f["path"] for f in read(s.reports / "export.json")["send"]] == ["docs/notion/a.md", "docs/notion/b.md"]
    assert "export: 2 files for push_run (`doit publish` sends them)" in first.stdout

    sent = run_doit(s.workspace, "publish", env=env_for(s))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "publish: notion: push_run took 2 files: sent 2 pages to notion" in sent.stdout
    [call] = s.pushes()
    assert received(call) == (["docs/notion/a.md", "docs/notion/b.md"],
                              {"docs/notion/a.md": "# a\n", "docs/notion/b.md": "# b\n"})

    again = run_doit(s.workspace, "publish", env=env_for(s))
    assert again.returncode == 0 and len(s.pushes()) == 1, again.stdout + again.stderr
    assert "publish: notion: nothing new for push_run" in again.stdout

    commit_fork(s, {**{k: v for k, v in FORK.items() if k != "docs/notion/b.md"}, "docs/notion/a.md": "# a, v2\n",
                    "src/app.py": "APP = 2\n"})                           # a.md changed, b.md deleted, app.py not input
    assert run_doit(s.workspace, env=env_for(s)).returncode == 0
    third = run_doit(s.workspace, "publish", env=env_for(s))
    assert third.returncode == 0, third.stdout + third.stderr
    assert received(s.pushes()[-1]) == (["docs/notion/a.md", "docs/notion/b.md"], {"docs/notion/a.md": "# a, v2\n"})
    assert push_rows(s) == [("success", 2, "sent 2 pages to notion"), ("success", 2, "sent 2 pages to notion")]
    assert ledger_runs(s.reports)[-1].syncs[0].revision == git_lines(s.fork, "rev-parse", "main")[0]


def test_a_failing_push_is_an_error_naming_the_source_and_is_sent_again(tmp_path: Path) -> None:
    s = setup(tmp_path, FORK, {"sources": [push_source("notion")]})
    exit_code = tmp_path / "push-exit"
    exit_code.write_text("4")
    assert run_doit(s.workspace, env=env_for(s)).returncode == 0
    failed = run_doit(s.workspace, "publish", env=env_for(s, PUSH_EXIT=str(exit_code)))
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert ("forkwave: error: publish: notion: push_run exited 4: notion: 401 unauthorized for workspace acme; "
            "nothing is recorded as sent: the next `doit publish` sends these 2 files again "
            "(its output: reports/push-logs/)") in failed.stderr
    assert push_rows(s)[-1][0] == "failed" and ledger_runs(s.reports)[-1].status == "failed"

    exit_code.write_text("0")
    fixed = run_doit(s.workspace, "publish", env=env_for(s, PUSH_EXIT=str(exit_code)))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [received(c)[0] for c in s.pushes()] == [["docs/notion/a.md", "docs/notion/b.md"]] * 2


def test_a_dry_run_calls_no_entrypoint_that_sends(tmp_path: Path) -> None:
    s = setup(tmp_path, FORK, {"sources": [push_source("notion")]})
    for args in (("dry=1",), ("publish", "dry=1")):
        result = run_doit(s.workspace, *args, env=env_for(s))
        assert result.returncode == 0, result.stdout + result.stderr
        assert s.pushes() == [], args
        report = (s.reports / "dry-run.md").read_text()
        assert "## Send to notion (`push_run: " in report and "not run)" in report
        assert "- would send `docs/notion/a.md`" in report and "- would send `docs/notion/b.md`" in report
    assert not (s.reports / "export.json").exists() and not (s.reports / "ledger.sqlite").exists()


BOTH = {"name": "claude_config", "direction": "both", "outputs": ["claude.md", "docs/tools.json"],
        "inputs": ["claude.md", "docs/notes.md"]}


def remote(tmp_path: Path) -> dict[str, object]:
    """``publish:`` to a bare repository of the test's: the sync branch goes there, no forge."""
    from conftest import make_repo

    return {"publish": {"remote": str(make_repo(tmp_path / "remote.git", bare=True)), "forge": "none"}}


def both_source(url: str) -> dict[str, object]:
    pull, push = pull_source("claude_config", url), push_source("claude_config")
    return {**BOTH, "run": pull["run"], "config": pull["config"], "push_run": push["push_run"]}


def test_both_ways_a_path_changed_on_both_sides_is_one_conflict_sent_nowhere_pulled_nowhere(tmp_path: Path) -> None:
    fork = {"README.md": "# fork\n", "claude.md": "# rules v1\n", "docs/notes.md": "notes v1\n",
            "docs/tools.json": "{}\n"}
    tools = {"claude.md": "# rules v1\n", "docs/tools.json": "{}\n"}
    with api({"apps": [], "files": tools}) as served:
        s = setup(tmp_path, fork, {"sources": [{**both_source(served.url), "outputs": [*BOTH["outputs"],
                                                                                         "docs/runtime/**"]}],
                                   **remote(tmp_path)})
        first = run_doit(s.workspace, env=env_for(s))   # the apps file is new: it lands; the rest agrees
        assert first.returncode == 0, first.stdout + first.stderr
        published = run_doit(s.workspace, "publish", env=env_for(s))
        assert published.returncode == 0, published.stdout + published.stderr
        assert [received(c)[0] for c in s.pushes()] == [["docs/notes.md"]]   # the source holds claude.md already
        merge_sync(s, delete=True)

        commit_fork(s, {**fork, "docs/runtime/apps_truth.json": tree(s.fork, "main")["docs/runtime/apps_truth.json"][
            1].decode(), ".forkwave/sync-state.json": tree(s.fork, "main")[".forkwave/sync-state.json"][1].decode(),
            "claude.md": "# rules v2 (fork)\n"})
        served.data = {"apps": [], "files": {"claude.md": "# rules v2 (tools)\n", "docs/tools.json": "{\"a\": 1}\n"}}
        run = run_doit(s.workspace, env=env_for(s))
        assert run.returncode == 2, run.stdout + run.stderr
        conflict_lines = [line for line in run.stdout.splitlines() if "conflict: claude.md" in line]
        assert len(conflict_lines) == 1 and "sent nowhere and not pulled" in conflict_lines[0]
        landed = tree(s.fork, SYNC)
        assert landed["docs/tools.json"][1] == b'{"a": 1}\n'           # the source's own change is pulled
        assert landed["claude.md"][1] == b"# rules v2 (fork)\n"         # the conflict is not
        assert read(s.reports / "export.json")["conflicts"] == ["claude.md"]
        assert "claude.md" not in [f["path"] for sl in read(s.reports / "plan.json")["slices"] for f in sl["files"]]

        again = run_doit(s.workspace, "publish", env=env_for(s))
        assert len(s.pushes()) == 1, again.stdout                      # sent nowhere
        assert "nothing new for push_run; 1 changed on both sides stay" in again.stdout

        still = run_doit(s.workspace, env=env_for(s))                  # not forgotten: the next run says it again
        assert still.returncode == 2 and "conflict: claude.md" in still.stdout, still.stdout

        taken = run_doit(s.workspace, "publish", "sources=claude_config", "direction=push", env=env_for(s))
        assert taken.returncode == 0, taken.stdout + taken.stderr      # a person takes the fork's side
        assert received(s.pushes()[-1]) == (["claude.md"], {"claude.md": "# rules v2 (fork)\n"})
        served.data = {"apps": [], "files": {"claude.md": "# rules v2 (fork)\n", "docs/tools.json": "{\"a\": 1}\n"}}
        settled = run_doit(s.workspace, env=env_for(s))
        assert settled.returncode == 0 and "conflict:" not in settled.stdout, settled.stdout + settled.stderr
        assert rev(s.fork, SYNC) is not None


def test_both_ways_the_sources_change_after_taking_the_forks_version_is_pulled(tmp_path: Path) -> None:
    """The fork's edit went to the tools (push_run); then the tools changed it again: no conflict, the pull takes
    the tools' version (the version sent counts as what both sides last agreed on)."""
    fork = {"README.md": "# fork\n", "claude.md": "# v1\n", "docs/notes.md": "n\n", "docs/tools.json": "{}\n"}
    with api({"apps": [], "files": {"claude.md": "# v1\n", "docs/tools.json": "{}\n"}}) as served:
        s = setup(tmp_path, fork, {"sources": [{**both_source(served.url), "outputs": [*BOTH["outputs"],
                                                                                         "docs/runtime/**"]}],
                                   **remote(tmp_path)})
        assert run_doit(s.workspace, env=env_for(s)).returncode == 0
        merge_sync(s, delete=True)
        main = {p: c.decode() for p, (_, c) in tree(s.fork, "main").items()}
        commit_fork(s, {**main, "claude.md": "# v2 from the fork\n"})
        served.data = {"apps": [], "files": {"claude.md": "# v1\n", "docs/tools.json": "{}\n"}}
        out = run_doit(s.workspace, env=env_for(s))
        assert out.returncode == 0 and "conflict:" not in out.stdout, out.stdout + out.stderr
        assert run_doit(s.workspace, "publish", env=env_for(s)).returncode == 0
        assert received(s.pushes()[-1])[1] == {"claude.md": "# v2 from the fork\n", "docs/notes.md": "n\n"}

        served.data = {"apps": [], "files": {"claude.md": "# v3 from the tools\n", "docs/tools.json": "{}\n"}}
        pulled = run_doit(s.workspace, env=env_for(s))
        assert pulled.returncode == 0 and "conflict:" not in pulled.stdout, pulled.stdout + pulled.stderr
        assert read(s.reports / "drift.json")["entries"]["claude.md"]["class"] == "upstream-changed"
        assert tree(s.fork, SYNC)["claude.md"][1] == b"# v3 from the tools\n"
