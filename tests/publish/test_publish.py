"""`doit publish` end to end: real pushes to local bare remotes, a fake GitHub, smart HTTP with a token.

Every run is doit as a subprocess on real repositories (slicekit.build): the fork gets an ``origin``
(a bare repository whose hook logs each push), `doit` lands the slices, `doit publish` pushes and
proposes. Nothing here talks to a real forge.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import DoitResult, git_out, run_doit
from forgekit import TOKEN, FakeGitHub, SmartHttp, bare_remote, git_argv_logger, pushes, refuse_workflows, serve
from slicekit import Repos, all_text, build, plan, read, rev, rewrite_config

BASE = {"README.md": "# app\n", "src/a.py": "A = 1\n", "src/b.py": "B = 1\n",
        **{f"pkg/m{i}.py": f"M{i} = 1\n" for i in range(8)}}
SMALL = {**BASE, "src/a.py": "A = 2\n"}                                   # one file: risk 1
LARGE = {**BASE, **{f"pkg/m{i}.py": f"M{i} = 2\n" for i in range(8)}}    # eight files: risk 8 > 5
ENV = {"FORKWAVE_GITHUB_WRITE_INTERVAL": "0"}


def with_origin(repos: Repos, name: str = "remote.git") -> Path:
    """A bare ``origin`` for the fork, holding its ``main`` (as a forge would)."""
    remote = bare_remote(repos.root / name)
    git_out(repos.fork, "remote", "add", "origin", str(remote))
    git_out(repos.fork, "push", "-q", "origin", "main")
    return remote


def synced(tmp_path: Path, upstream: dict[str, Any], fork: dict[str, Any] | None = None,
           **config: Any) -> tuple[Repos, Path]:
    repos = build(tmp_path, BASE, upstream, fork, **config)
    remote = with_origin(repos)
    result = run_doit(repos.workspace)
    assert result.returncode in (0, 2), result.stdout + result.stderr
    return repos, remote


def publish(repos: Repos, **env: str) -> DoitResult:
    return run_doit(repos.workspace, "publish", env=ENV | env)


def one_error_line(result: DoitResult) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("forkwave: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# --- forge: none ----------------------------------------------------------------------------------

def test_a_low_risk_sync_fast_forwards_the_base_branch_on_the_remote(tmp_path: Path) -> None:
    repos, remote = synced(tmp_path, SMALL, publish={"forge": "none"})
    main_before = rev(remote, "refs/heads/main")
    result = publish(repos)
    assert result.returncode == 0, result.stdout + result.stderr
    tip = rev(repos.fork, "refs/heads/sync/upstream")
    assert rev(remote, "refs/heads/sync/upstream") == tip                   # the sync branch was pushed
    assert rev(remote, "refs/heads/main") == tip != main_before             # and main fast-forwarded to it
    assert git_out(remote, "merge-base", "--is-ancestor", main_before, tip) == ""
    assert rev(repos.fork, "refs/heads/main") == main_before                # the fork's own main untouched
    assert "publish: risk 1 (low): files 1×1; auto-merge: yes" in result.stdout
    assert f"publish: auto-merge main on origin ({remote}) fast-forwarded to {tip[:12]}" in result.stdout
    pr = (repos.reports / "pr.md").read_text()
    assert pr.startswith("# chore: sync with upstream ") and "`upstream-sync`, `risk:low`" in pr
    assert "- draft: no" in pr and "**Auto-merge**: yes" in pr
    record = read(repos.reports / "publish.json")["branches"]["sync/upstream"]
    assert record["sha"] == tip and record["automerge"]["asked"] and record["pushed"] == [
        {"ref": "refs/heads/sync/upstream", "status": "new branch"}]
    assert record["risk"]["score"] == 1 and record["risk"]["level"] == "low"


def test_a_high_risk_sync_waits_for_review(tmp_path: Path) -> None:
    repos, remote = synced(tmp_path, LARGE, publish={"forge": "none"})
    main_before = rev(remote, "refs/heads/main")
    result = publish(repos)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rev(remote, "refs/heads/sync/upstream") == rev(repos.fork, "refs/heads/sync/upstream")
    assert rev(remote, "refs/heads/main") == main_before                    # not merged
    assert "auto-merge: no — risk 8 > automerge_max 5" in result.stdout
    pr = (repos.reports / "pr.md").read_text()
    assert "`risk:medium`" in pr and "| files | files the pull request changes | 8 | 1 | 8 |" in pr


def test_a_second_publish_with_nothing_new_is_a_no_op(tmp_path: Path) -> None:
    repos, remote = synced(tmp_path, LARGE, publish={"forge": "none"})
    assert publish(repos).returncode == 0
    logged = pushes(remote)
    record, pr = (repos.reports / "publish.json").read_bytes(), (repos.reports / "pr.md").read_bytes()
    again = publish(repos)
    assert again.returncode == 0, again.stderr
    assert "publish: nothing changed since the last publish (sync/upstream at" in again.stdout
    assert pushes(remote) == logged                                          # no push at all
    assert (repos.reports / "publish.json").read_bytes() == record and (repos.reports / "pr.md").read_bytes() == pr
    rewrite_config(repos, publish={"forge": "none", "title": "sync: {source} @ {short_sha}"})
    changed = publish(repos)                                                 # a new title is something new
    assert "nothing changed" not in changed.stdout
    assert "publish: wrote reports/pr.md (sync: upstream @" in changed.stdout


def test_a_branch_someone_else_moved_is_reported_not_overwritten(tmp_path: Path) -> None:
    repos, remote = synced(tmp_path, SMALL, publish={"forge": "none", "automerge_max": None})
    assert publish(repos).returncode == 0
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", "-b", "sync/upstream", str(remote), str(other)], check=True)
    (other / "NOTE.md").write_text("a person's commit\n")
    subprocess.run(["git", "-C", str(other), "add", "NOTE.md"], check=True)
    subprocess.run(["git", "-C", str(other), "commit", "-q", "-m", "theirs"], check=True)
    subprocess.run(["git", "-C", str(other), "push", "-q", "origin", "sync/upstream"], check=True)
    theirs = rev(remote, "refs/heads/sync/upstream")
    from syncdkit import advance

    advance(repos.upstream, {**SMALL, "src/b.py": "B = 2\n"}, "v3")
    assert run_doit(repos.workspace).returncode == 0
    result = publish(repos)
    assert result.returncode == 3, result.stdout + result.stderr
    line = one_error_line(result)
    assert line.startswith(f"forkwave: error: publish: origin ({remote}) refused sync/upstream: not a fast-forward")
    assert "someone else pushed there" in line and "nothing was overwritten" in line
    assert rev(remote, "refs/heads/sync/upstream") == theirs                 # nothing overwritten
    assert "— exit 3: forkwave or its environment failed" in result.stdout


def test_publish_before_any_run_says_what_to_do(tmp_path: Path) -> None:
    repos = build(tmp_path, BASE, SMALL, publish={"forge": "none"})
    with_origin(repos)
    result = publish(repos)
    assert result.returncode == 1
    assert one_error_line(result).endswith("reports/plan.json is missing: nothing to publish yet; run `doit` first")


def test_a_fork_without_the_remote_is_one_line_naming_the_key(tmp_path: Path) -> None:
    repos = build(tmp_path, BASE, SMALL, publish={"forge": "none", "remote": "upstream-fork"})
    with_origin(repos)
    assert run_doit(repos.workspace).returncode == 0
    result = publish(repos)
    assert result.returncode == 1
    assert "publish.remote: the fork has no remote 'upstream-fork', and it is no URL or path" in one_error_line(result)


def test_plain_doit_never_publishes(tmp_path: Path) -> None:
    repos, remote = synced(tmp_path, SMALL, publish={"forge": "none"})
    assert rev(remote, "refs/heads/sync/upstream") is None and not (repos.reports / "publish.json").exists()
    assert "publish" in run_doit(repos.workspace, "list").stdout
    assert publish(repos).returncode == 0
    cleaned = run_doit(repos.workspace, "clean", "publish")
    assert cleaned.returncode == 0 and not (repos.reports / "publish.json").exists()
    assert not (repos.reports / "pr.md").exists() and (repos.reports / "plan.json").exists()


# --- credentials over smart HTTP --------------------------------------------------------------------

def test_the_token_goes_to_git_through_its_environment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    repos = build(tmp_path, BASE, SMALL, publish={"forge": "none", "automerge_max": None})
    bare_remote(tmp_path / "srv" / "fork.git")
    git_out(tmp_path / "srv" / "fork.git", "config", "http.receivepack", "true")
    with SmartHttp(tmp_path / "srv", user="forkwave") as server:
        url = f"{server.url}/fork.git"
        git_out(repos.fork, "remote", "add", "origin", url)
        assert run_doit(repos.workspace).returncode == 0
        bin_dir, argv_log = git_argv_logger(tmp_path)
        result = publish(repos, FORKWAVE_TOKEN=TOKEN, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert rev(tmp_path / "srv" / "fork.git", "refs/heads/sync/upstream") == rev(repos.fork, "refs/heads/sync/upstream")
    assert any(auth for _, path, auth in server.log if "git-receive-pack" in path)   # git did authenticate
    calls = argv_log.read_text()
    assert "push --porcelain --progress -- origin refs/heads/sync/upstream:refs/heads/sync/upstream" in calls
    assert TOKEN not in calls
    assert TOKEN not in result.stdout + result.stderr and TOKEN not in all_text(repos.reports)


def test_refused_credentials_are_one_line_without_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    repos = build(tmp_path, BASE, SMALL, publish={"forge": "none"})
    bare_remote(tmp_path / "srv" / "fork.git")
    wrong = "ghp_" + "W" * 36
    with SmartHttp(tmp_path / "srv", user="forkwave") as server:
        git_out(repos.fork, "remote", "add", "origin", f"{server.url}/fork.git")
        assert run_doit(repos.workspace).returncode == 0
        result = publish(repos, FORKWAVE_TOKEN=wrong)
    assert result.returncode == 3
    line = one_error_line(result)
    assert "could not push to origin" in line and "(authentication failed)" in line and wrong not in line
    assert wrong not in all_text(repos.reports)


# --- a fake GitHub ------------------------------------------------------------------------------------

CONFLICTING = {**BASE, "src/a.py": "A = 'upstream'\n", "src/b.py": "B = 2\n"}
FORK_EDIT = {**BASE, "src/a.py": "A = 'fork'\n"}                          # both changed: a conflict


def github_config(httpserver: Any, **extra: Any) -> dict[str, Any]:
    return {"forge": "github", "api": httpserver.url_for("/").rstrip("/"), "repository": "o/r",
            "reviewers": ["alice"], "conflict_reviewers": ["carol"], "assignees": ["bob"]} | extra


def test_github_a_conflicted_sync_is_a_draft_pr_updated_in_place_as_its_risk_changes(tmp_path: Path,
                                                                                       httpserver: Any) -> None:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/")))
    repos, remote = synced(tmp_path, CONFLICTING, FORK_EDIT, publish=github_config(httpserver))
    fake.remote = remote
    result = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr
    (pr,) = fake.pulls.values()
    assert pr["draft"] and pr["head"] == "sync/upstream" and pr["base"] == "main"
    assert pr["labels"] == ["upstream-sync", "risk:low", "conflicts"]
    assert pr["reviewers"] == ["alice", "carol"] and pr["assignees"] == ["bob"] and pr["automerge"] is None
    assert "### Conflicts (1): not in this branch yet" in pr["body"] and "`src/a.py`" in pr["body"]
    assert "publish: pull request #1 opened" in result.stdout and "(draft)" in result.stdout
    record = read(repos.reports / "publish.json")["branches"]["sync/upstream"]
    assert record["pr"]["number"] == 1 and record["requested"] == ["alice", "carol"]

    rewrite_config(repos, publish=github_config(httpserver, risk={"weights": {"files": 10}}))
    fake.requests.clear()
    result = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(fake.pulls) == 1 and fake.pulls[1]["labels"] == ["upstream-sync", "conflicts", "risk:medium"]
    assert "| files | files the pull request changes | 1 | 10 | 10 |" in fake.pulls[1]["body"]
    assert not any(p.endswith("requested_reviewers") for _, p, _ in fake.requests)  # nobody asked twice
    assert fake.violations == []

    fake.requests.clear()
    again = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert again.returncode == 0 and "nothing changed since the last publish" in again.stdout
    assert fake.requests == []                                                # no call to the forge at all
    httpserver.check_handler_errors()


def test_github_a_clean_low_risk_sync_asks_for_auto_merge(tmp_path: Path, httpserver: Any) -> None:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/")))
    repos, remote = synced(tmp_path, SMALL, publish=github_config(httpserver, merge_method="squash"))
    fake.remote = remote
    result = publish(repos, GITHUB_TOKEN=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fake.pulls[1]["automerge"] == "SQUASH" and not fake.pulls[1]["draft"]
    assert fake.pulls[1]["labels"] == ["upstream-sync", "risk:low"] and fake.pulls[1]["reviewers"] == ["alice"]
    assert "publish: auto-merge enabled: GitHub merges it once the required checks pass" in result.stdout
    assert rev(remote, "refs/heads/main") != rev(remote, "refs/heads/sync/upstream")   # GitHub merges, not us
    assert fake.violations == [] and TOKEN not in all_text(repos.reports)


def test_github_without_a_token_nothing_is_pushed(tmp_path: Path, httpserver: Any) -> None:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/")))
    repos, remote = synced(tmp_path, SMALL, publish=github_config(httpserver))
    env = {k: "" for k in ("FORKWAVE_TOKEN", "GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN",
                           "GITHUB_ENTERPRISE_TOKEN")}
    result = publish(repos, **env)
    assert result.returncode == 3
    assert "publish: no token for github in the environment; set FORKWAVE_TOKEN or GH_TOKEN" in one_error_line(result)
    assert rev(remote, "refs/heads/sync/upstream") is None and fake.requests == []


# --- CI definitions -----------------------------------------------------------------------------------

WORKFLOW = {**SMALL, ".github/workflows/ci.yml": "on: push\njobs: {}\n"}


def test_workflow_changes_get_their_own_slice_and_a_refused_push_says_which_scope(tmp_path: Path,
                                                                                 httpserver: Any) -> None:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/")))
    repos, remote = synced(tmp_path, WORKFLOW, publish=github_config(httpserver))
    ci = [s for s in plan(repos)["slices"] if s.get("ci")]
    assert [[f["path"] for f in s["files"]] for s in ci] == [[".github/workflows/ci.yml"]]
    assert all("ci" not in s for s in plan(repos)["slices"] if s not in ci)
    name = ci[0]["name"]
    manifest = (repos.reports / f"wave-{ci[0]['wave']}.md").read_text()
    assert "CI definitions, in a slice of their own" in manifest and "`workflow` scope" in manifest
    refuse_workflows(remote)
    result = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert result.returncode == 3, result.stdout + result.stderr
    assert (f"publish: sync/upstream changes .github/workflows/ci.yml ({name}): GitHub takes this push only from "
            "a token with the `workflow` scope") in result.stdout
    line = one_error_line(result)
    assert "refused sync/upstream: the token may not change GitHub workflows (.github/workflows/ci.yml)" in line
    assert "a token with the `workflow` scope (classic) or Workflows: write" in line
    assert f"or roll back {name} (`doit rollback:{name}`)" in line
    assert rev(remote, "refs/heads/sync/upstream") is None and fake.pulls == {}


def test_a_plan_without_ci_definitions_marks_no_slice(tmp_path: Path) -> None:
    repos, _ = synced(tmp_path, LARGE, publish={"forge": "none"})
    assert all("ci" not in s for s in plan(repos)["slices"])
    assert "CI definitions" not in "".join(p.read_text() for p in repos.reports.glob("wave-*.md"))
    assert json.loads((repos.reports / "plan.json").read_text())["slices"]


def test_github_a_failed_publish_is_tried_again_in_full_on_the_same_pr(tmp_path: Path, httpserver: Any) -> None:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/")))
    fake.automerge_allowed = False
    repos, remote = synced(tmp_path, SMALL, publish=github_config(httpserver))
    failed = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert failed.returncode == 3
    assert "Auto merge is not allowed for this repository" in one_error_line(failed)
    assert not (repos.reports / "publish.json").exists()                     # nothing recorded as published
    fake.automerge_allowed = True
    again = publish(repos, FORKWAVE_TOKEN=TOKEN)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing changed" not in again.stdout and len(fake.pulls) == 1 and fake.pulls[1]["automerge"] == "MERGE"
    assert fake.violations == []


# --- a fake GitLab ------------------------------------------------------------------------------------

def test_gitlab_a_merge_request_with_draft_title_labels_and_reviewers(tmp_path: Path, httpserver: Any) -> None:
    from forgekit import FakeGitLab

    fake = serve(httpserver, FakeGitLab(httpserver.url_for("/")))
    pub = {"forge": "gitlab", "api": httpserver.url_for("/api/v4"), "repository": "g/sub/p",
           "reviewers": ["alice"], "conflict_reviewers": ["carol"]}
    repos, remote = synced(tmp_path, CONFLICTING, FORK_EDIT, publish=pub)
    result = publish(repos, GITLAB_TOKEN=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr
    (mr,) = fake.mrs.values()
    assert mr["title"].startswith("Draft: chore: sync with upstream ") and mr["labels"] == [
        "upstream-sync", "risk:low", "conflicts"]
    assert mr["reviewers"] == [11, 13] and not mr["mwps"]
    assert "publish: merge request #1 opened" in result.stdout
    assert rev(remote, "refs/heads/sync/upstream") == rev(repos.fork, "refs/heads/sync/upstream")
    assert fake.violations == [] and TOKEN not in all_text(repos.reports)
