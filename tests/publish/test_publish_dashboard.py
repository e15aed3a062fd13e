"""The dashboard through ``doit`` and ``doit publish`` end to end: written when a run ends, kept as the one sync
dashboard issue on a (fake) GitHub, a file with ``forge: none``; what a failed verification and a held
publish leave for a person is on it, with the command to run, and goes once they are fixed.

Real repositories, doit as a subprocess, a fake GitHub that checks each request (``forgekit``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import run_doit
from forgekit import TOKEN, FakeGitHub, serve
from slicekit import build, read, rewrite_config
from syncdkit import advance
from test_publish import BASE, CONFLICTING, FORK_EDIT, github_config, publish, synced, with_origin
from tasks.publish.issue import LABEL, MARKER, TITLE


def test_doit_publish_keeps_one_pinned_dashboard_issue_on_github(tmp_path: Path, httpserver: Any) -> None:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/")))
    repos, remote = synced(tmp_path, CONFLICTING, FORK_EDIT, publish=github_config(httpserver))
    fake.remote = remote
    dashboard = (repos.reports / "dashboard.md").read_text()               # the run that synced wrote it
    assert "## What waits for you" in dashboard and "`doit resolve:slice-1`" in dashboard

    result = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr
    (issue,) = fake.issues.values()
    assert (issue["title"], issue["labels"], issue.get("pinned")) == (TITLE, [LABEL], True)
    assert issue["body"].startswith(MARKER + "\n") and "## What waits for you" in issue["body"]
    assert "slice-1 (wave a): 1 conflict — src/a.py" in issue["body"] and "`doit resolve:slice-1`" in issue["body"]
    assert "](slices/" not in issue["body"]                                 # the reports are not on the forge
    number, first = issue["number"], issue["body"]
    assert f"publish: the sync dashboard issue #{number} opened, pinned: " in result.stdout
    assert read(repos.reports / "publish.json")["dashboard"]["number"] == number

    fake.requests.clear()
    again = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert again.returncode == 0, again.stderr
    assert f"the sync dashboard issue #{number} is up to date already" in again.stdout
    assert fake.requests == []                                              # nothing changed: no call at all

    advance(repos.upstream, {**CONFLICTING, "src/b.py": "B = 3\n"}, "v3")
    assert run_doit(repos.workspace).returncode == 2
    moved = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"publish: the sync dashboard issue #{number} updated" in moved.stdout
    assert list(fake.issues) == [number] and fake.issues[number]["body"] != first   # the same issue, new body
    assert fake.violations == []
    httpserver.check_handler_errors()


COUNT = "find . -name '*.py' -not -path './.git/*' | wc -l"


def test_a_failed_verification_and_the_publish_it_holds_are_on_the_dashboard_until_fixed(tmp_path: Path) -> None:
    repos = build(tmp_path, BASE, {**BASE, "src/c.py": "C = 1\n"})
    with_origin(repos)
    rewrite_config(repos, verify=[{"name": "count", "run": COUNT, "expected_min": 100}], publish={"forge": "none"})
    assert run_doit(repos.workspace).returncode == 2
    board = (repos.reports / "dashboard.md").read_text()
    assert "- ❌ **upstream**: verification failed — verify 'count': printed 11, below expected\\_min 100." in board
    assert "then run `doit` ([log](verify/logs/count.stdout.log))" in board
    assert (repos.reports / "verify" / "logs" / "count.stdout.log").exists()  # the link leads somewhere

    held = publish(repos)
    assert held.returncode == 2, held.stdout + held.stderr
    record = read(repos.reports / "publish.json")["held"]["upstream"]
    assert record["why"].startswith("held, nothing pushed: verification failed for upstream")
    board = (repos.reports / "dashboard.md").read_text()
    assert "- ✋ **upstream**: held by the last `doit publish` (" in board
    issue = (repos.reports / "dashboard-issue.md").read_text()              # forge: none: the issue as a file
    assert issue.startswith(f"# {TITLE}") and MARKER in issue and "held by the last `doit publish`" in issue
    assert "publish: the sync dashboard written to dashboard-issue.md" in held.stdout

    rewrite_config(repos, verify=[{"name": "count", "run": COUNT, "expected_min": 11}], publish={"forge": "none"})
    assert run_doit(repos.workspace).returncode == 0
    board = (repos.reports / "dashboard.md").read_text()
    assert "**upstream**: verification failed" not in board
    assert "its verification passes on the sync tip now: run `doit publish`" in board   # publishing is what is left
    done = publish(repos)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "held" not in read(repos.reports / "publish.json")
    board = (repos.reports / "dashboard.md").read_text()
    assert "held by the last" not in board and "Nothing: every slice that ran is settled" in board
