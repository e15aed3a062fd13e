"""push.push on real bare remotes: GitPython's PushInfo read right; the git helpers publish uses."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import commit_tree, git_out, make_repo
from forgekit import bare_remote, pushes, refuse_workflows
from tasks.repo import git
from tasks.publish.push import PushRefused, push

SPEC = ["refs/heads/sync:refs/heads/sync"]


def fork_with_remote(tmp_path: Path) -> tuple[Path, Path]:
    fork = make_repo(tmp_path / "fork", {"a.txt": "1\n"})
    git_out(fork, "branch", "sync")
    remote = bare_remote(tmp_path / "remote.git")
    git_out(fork, "remote", "add", "origin", str(remote))
    return fork, remote


def advance(fork: Path, files: dict[str, str], tick: int) -> str:
    sha = commit_tree(fork, files, branch="sync", tick=tick)
    return sha


def test_new_branch_fast_forward_and_up_to_date(tmp_path: Path) -> None:
    fork, remote = fork_with_remote(tmp_path)
    assert [(p.ref, p.status) for p in push(fork, "origin", SPEC)] == [("refs/heads/sync", "new branch")]
    first = git.rev_parse(remote, "refs/heads/sync")
    advance(fork, {"a.txt": "2\n"}, 1)
    (done,) = push(fork, "origin", SPEC)
    assert done.status == "fast-forward" and first and first.startswith(done.old or "-")
    assert push(fork, "origin", SPEC)[0].status == "up to date"
    assert git.rev_parse(remote, "refs/heads/sync") == git.rev_parse(fork, "refs/heads/sync")
    assert len(pushes(remote)) == 2                              # git sent nothing for the up-to-date one


def test_a_moved_branch_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    fork, remote = fork_with_remote(tmp_path)
    push(fork, "origin", SPEC)
    other = make_repo(tmp_path / "other")
    git_out(other, "fetch", "-q", str(remote), "sync:sync")
    theirs = commit_tree(other, {"a.txt": "theirs\n"}, branch="sync", tick=3)
    git_out(other, "push", "-q", str(remote), "sync")
    advance(fork, {"a.txt": "ours\n"}, 4)
    with pytest.raises(PushRefused) as exc:
        push(fork, "origin", SPEC)
    assert exc.value.kind == "non-fast-forward" and exc.value.exit_code == 3
    assert str(exc.value).startswith("origin refused sync: not a fast-forward (fetch first)")
    assert git.rev_parse(remote, "refs/heads/sync") == theirs


def test_a_workflow_change_refused_like_github_names_the_file(tmp_path: Path) -> None:
    fork, remote = fork_with_remote(tmp_path)
    refuse_workflows(remote)
    advance(fork, {"a.txt": "1\n", ".github/workflows/ci.yml": "on: push\n"}, 1)
    with pytest.raises(PushRefused) as exc:
        push(fork, "origin", SPEC)
    assert (exc.value.kind, exc.value.path) == ("workflow-scope", ".github/workflows/ci.yml")
    assert "the `workflow` scope" in str(exc.value) and git.rev_parse(remote, "refs/heads/sync") is None


def test_no_remote_repository_is_one_failure_with_gits_cause(tmp_path: Path) -> None:
    fork, _ = fork_with_remote(tmp_path)
    with pytest.raises(PushRefused) as exc:
        push(fork, str(tmp_path / "absent.git"), SPEC)
    assert exc.value.kind == "failed"
    assert "(not found)" in str(exc.value)
    assert "does not appear to be a git" in str(exc.value)


def test_forkwave_never_force_pushes(tmp_path: Path) -> None:
    fork, _ = fork_with_remote(tmp_path)
    with pytest.raises(AssertionError, match="never force-pushes"):
        push(fork, "origin", ["+refs/heads/sync:refs/heads/sync"])


def test_an_inherited_git_dir_does_not_redirect_the_push(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fork, remote = fork_with_remote(tmp_path)
    decoy = make_repo(tmp_path / "decoy", {"decoy.txt": "x\n"})
    git_out(decoy, "branch", "sync")
    monkeypatch.setenv("GIT_DIR", str(decoy / ".git"))
    push(fork, "origin", SPEC)
    assert os.environ["GIT_DIR"] == str(decoy / ".git")        # put back afterwards
    monkeypatch.delenv("GIT_DIR")
    assert git.rev_parse(remote, "refs/heads/sync") == git.rev_parse(fork, "refs/heads/sync")


# --- the git helpers publish uses ---------------------------------------------------------------

def test_changed_names_and_count_commits_are_what_a_pull_request_shows(tmp_path: Path) -> None:
    fork = make_repo(tmp_path / "fork", {"a": "1\n", "b": "1\n"})
    git_out(fork, "branch", "sync")
    commit_tree(fork, {"a": "2\n", "b": "1\n", "c": "new\n"}, branch="sync", tick=1)
    commit_tree(fork, {"a": "1\n", "b": "main edit\n"}, branch="main", tick=2)   # main moves on
    assert git.changed_names(fork, "refs/heads/main", "refs/heads/sync") == ["a", "c"]   # from the merge base
    assert git.count_commits(fork, "refs/heads/main..refs/heads/sync") == 1
    assert git.count_commits(fork, "refs/heads/sync..refs/heads/sync") == 0


def test_remote_url_is_what_git_pushes_to(tmp_path: Path) -> None:
    fork = make_repo(tmp_path / "fork", {"a": "1\n"})
    assert git.remote_url(fork, "origin") is None
    git_out(fork, "remote", "add", "origin", "https://example.com/o/r.git")
    assert git.remote_url(fork, "origin") == "https://example.com/o/r.git"
    git_out(fork, "config", "remote.origin.pushurl", "git@example.com:o/r.git")
    assert git.remote_url(fork, "origin") == "git@example.com:o/r.git"
    assert git.remote_url(fork, "--help") is None                # a name, never an option


def test_credential_env_hands_git_the_login_and_drops_the_users_helpers() -> None:
    env = git.credential_env("x-access-token", "t0k3n-value")
    assert env["FORKWAVE_GIT_USERNAME"] == "x-access-token" and env["FORKWAVE_GIT_PASSWORD"] == "t0k3n-value"
    assert env["GIT_CONFIG_COUNT"] == "2" and env["GIT_CONFIG_VALUE_0"] == ""
    assert "t0k3n" not in env["GIT_CONFIG_VALUE_1"]              # the helper reads the variable
    out = subprocess.run(["sh", "-c", env["GIT_CONFIG_VALUE_1"].removeprefix("!") + " get"],
                         env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
    assert out == "username=x-access-token\npassword=t0k3n-value\n"
