"""fetch: a bare mirror of a real upstream, the ls-remote up-to-date check, offline use, retries."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import (FAILING_URL, TOKEN, Scenario, commit_tree, make_repo, run_doit, scenario_config, tree_text,
                      upstream_v2, write_config)
from tasks.repo import fetch, git
from tasks.config import Config, load_config
from tasks.errors import ForkwaveError
from tasks.workspace import Workspace


def config(sc: Scenario, **overrides: Any) -> Config:
    return load_config(write_config(sc.workspace, scenario_config(sc, **overrides)))


def upstream_json(sc: Scenario) -> dict[str, str]:
    return json.loads((sc.workspace / "reports" / "upstream.json").read_text())


def test_fetch_from_a_local_bare_repository(scenario: Scenario, capsys) -> None:
    ws = Workspace(scenario.workspace)
    record = fetch.fetch(config(scenario), ws)
    assert record["sha"] == scenario.main
    stored = upstream_json(scenario)
    assert {k: stored[k] for k in ("url", "ref", "sha")} == {"url": "../upstream.git", "ref": "main",
                                                            "sha": scenario.main}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stored["fetched_at"])
    assert git.git(ws.mirror, "rev-parse", "--is-bare-repository").strip() == b"true"
    assert git.rev_parse(ws.mirror, "refs/tags/v1") == scenario.v1
    assert f"main -> {scenario.main[:12]}" in capsys.readouterr().out


@pytest.mark.parametrize("ref,expected", [("main", "main"), ("v1", "v1"), ("sha", "v1"), ("annotated", "main")])
def test_fetch_resolves_branches_tags_and_commits(scenario: Scenario, ref: str, expected: str) -> None:
    git.git(scenario.upstream, "tag", "-a", "annotated", "-m", "release", scenario.main)
    sha = getattr(scenario, expected)
    ref = scenario.v1 if ref == "sha" else ref
    cfg = config(scenario, upstream={"url": "../upstream.git", "ref": ref})
    assert fetch.fetch(cfg, Workspace(scenario.workspace))["sha"] == sha
    assert fetch.remote_sha(cfg.upstream.url, ref) == sha                # the annotated tag is peeled
    assert fetch.is_current(cfg, Workspace(scenario.workspace), offline=False)


def test_file_url(scenario: Scenario) -> None:
    cfg = config(scenario, upstream={"url": f"file://{scenario.upstream}"})
    assert cfg.upstream.url == f"file://{scenario.upstream}"
    assert fetch.fetch(cfg, Workspace(scenario.workspace))["sha"] == scenario.main


def test_upstream_json_is_not_rewritten_when_the_ref_has_not_moved(scenario: Scenario, capsys) -> None:
    cfg, ws = config(scenario), Workspace(scenario.workspace)
    fetch.fetch(cfg, ws)
    path = ws.report("upstream.json")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    commit_tree(scenario.upstream, {"other": "x"}, branch="feature", tick=50)  # another branch moves
    time.sleep(0.01)
    fetch.fetch(cfg, ws)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert f"main unchanged at {scenario.main[:12]}" in capsys.readouterr().out
    assert fetch.is_current(cfg, ws, offline=False)


def test_upstream_json_is_rewritten_when_the_ref_moves(scenario: Scenario) -> None:
    cfg, ws = config(scenario), Workspace(scenario.workspace)
    fetch.fetch(cfg, ws)
    new = commit_tree(scenario.upstream, upstream_v2() | {"more.txt": "x\n"}, tick=60)
    assert not fetch.is_current(cfg, ws, offline=False)
    assert fetch.is_current(cfg, ws, offline=True)                   # offline trusts the record
    assert fetch.fetch(cfg, ws)["sha"] == new
    assert upstream_json(scenario)["sha"] == new
    assert fetch.is_current(cfg, ws, offline=False)


def test_is_current_is_false_before_a_fetch_and_after_the_url_changes(scenario: Scenario) -> None:
    ws = Workspace(scenario.workspace)
    assert not fetch.is_current(config(scenario), ws, offline=True)
    fetch.fetch(config(scenario), ws)
    moved = shutil.copytree(scenario.upstream, scenario.root / "moved.git")
    assert not fetch.is_current(config(scenario, upstream={"url": str(moved)}), ws, offline=False)
    assert not fetch.is_current(config(scenario, upstream={"url": "../upstream.git", "ref": "v1"}), ws, offline=True)


def test_offline_uses_the_cached_mirror_only(scenario: Scenario) -> None:
    cfg, ws = config(scenario), Workspace(scenario.workspace)
    with pytest.raises(ForkwaveError) as err:
        fetch.fetch(cfg, ws, offline=True)
    assert str(err.value) == (f"offline=1 but there is no cached mirror at {ws.mirror}; "
                              "run once without offline=1")
    fetch.fetch(cfg, ws)
    commit_tree(scenario.upstream, {"new": "x"}, tick=70)
    scenario.upstream.rename(scenario.root / "gone.git")              # the upstream is unreachable now
    assert fetch.fetch(cfg, ws, offline=True)["sha"] == scenario.main  # the cache, not the new commit


def test_empty_upstream(tmp_path: Path) -> None:
    make_repo(tmp_path / "empty.git", bare=True)
    (tmp_path / "ws").mkdir()
    path = write_config(tmp_path / "ws", {"upstream": {"url": "../empty.git"}, "fork": {"path": "../fork"}})
    with pytest.raises(ForkwaveError) as err:
        fetch.fetch(load_config(path), Workspace(tmp_path / "ws"))
    assert str(err.value) == (f"{path}: upstream.ref: 'main' is not a branch, tag or commit of "
                              f"{tmp_path / 'empty.git'}; check the name (is the upstream empty?)")


def test_missing_local_upstream_and_unknown_ref(scenario: Scenario) -> None:
    ws = Workspace(scenario.workspace)
    cfg = config(scenario, upstream={"url": "../nowhere.git"})
    with pytest.raises(ForkwaveError) as err:
        fetch.fetch(cfg, ws)
    assert str(err.value) == (f"{cfg.file}: upstream.url: {scenario.root / 'nowhere.git'} does not exist; "
                              "give a git URL or a local repository path")
    cfg = config(scenario, upstream={"url": "../upstream.git", "ref": "develop"})
    with pytest.raises(ForkwaveError, match=r"upstream.ref: 'develop' is not a branch, tag or commit of "):
        fetch.fetch(cfg, ws)


def test_failing_url_is_retried_then_reported_redacted(scenario: Scenario, capfd) -> None:
    cfg = config(scenario, upstream={"url": FAILING_URL})
    with pytest.raises(ForkwaveError) as err:
        fetch.fetch(cfg, Workspace(scenario.workspace))
    out, errout = capfd.readouterr()
    message = str(err.value)
    assert message.startswith("upstream.url: could not fetch https://***@127.0.0.1:9/x.git after 3 attempts: "
                              "unable to access 'https://127.0.0.1:9/x.git/': Failed to connect to 127.0.0.1 port 9")
    assert message.endswith("; check the network, or run with offline=1 to use the cached mirror")
    assert "attempt 1/3" in errout and "attempt 2/3" in errout and "attempt 3/3" not in errout
    assert TOKEN not in message + out + errout
    assert not (scenario.workspace / "reports" / "upstream.json").exists()


def test_ensure_commit_refetches_a_missing_mirror(scenario: Scenario) -> None:
    cfg, ws = config(scenario), Workspace(scenario.workspace)
    fetch.fetch(cfg, ws)
    shutil.rmtree(ws.mirror)                                       # a CI cache restored reports/ only
    assert fetch.ensure_commit(cfg, ws, scenario.main) == ws.mirror
    assert git.rev_parse(ws.mirror, f"{scenario.main}^{{commit}}") == scenario.main


def test_doit_with_a_failing_url_retries_and_leaks_no_credentials(scenario: Scenario) -> None:
    write_config(scenario.workspace, scenario_config(scenario, upstream={"url": FAILING_URL}))
    result = run_doit(scenario.workspace)
    assert result.returncode != 0
    attempts = re.findall(r"fetch: attempt (\d)/3 from (\S+) failed", result.stderr)
    assert attempts == [("1", "https://***@127.0.0.1:9/x.git"), ("2", "https://***@127.0.0.1:9/x.git")]
    assert "forkwave: error: upstream.url: could not fetch https://***@127.0.0.1:9/x.git after 3 attempts" \
        in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    everything = result.stdout + result.stderr + tree_text(scenario.workspace / "reports") \
        + tree_text(scenario.workspace / ".forkwave")
    assert TOKEN not in everything and "user:" not in everything


# --- shallow history ------------------------------------------------------------------------------

def with_release_branch(sc: Scenario) -> str:
    """Upstream gets a ``16.0`` branch two commits past v1 (as Odoo's release branches): its tip."""
    git.git(sc.upstream, "branch", "16.0", sc.v1)
    commit_tree(sc.upstream, upstream_v2() | {"release.txt": "16.0\n"}, branch="16.0", message="16.0 a", tick=20)
    return commit_tree(sc.upstream, upstream_v2() | {"release.txt": "16.0.1\n"}, branch="16.0", message="16.0 b",
                       tick=30)


def shallow_clone(sc: Scenario, dest: Path, *options: str) -> Path:
    """``git clone --depth 1 --bare``: git honours ``--depth`` only over a transport, hence ``file://``."""
    git.git(None, "clone", "--quiet", "--bare", "--depth", "1", *options, f"file://{sc.upstream}", str(dest))
    assert fetch.is_shallow(dest)
    return dest


def history(repo: Path, rev: str) -> list[str]:
    return git.git(repo, "rev-list", rev).decode().split()


def test_a_shallow_mirror_is_completed_and_a_branch_it_lacks_resolves(scenario: Scenario) -> None:
    """A mirror cloned with ``--depth 1`` (main only, one commit): fetching ``16.0`` brings the branch
    and the whole history under it, as base detection and commit ranges need."""
    tip = with_release_branch(scenario)
    ws = Workspace(scenario.workspace)
    shallow_clone(scenario, ws.mirror)
    assert git.rev_parse(ws.mirror, "refs/heads/16.0") is None                 # what the mirror lacked
    cfg = config(scenario, upstream={"url": "../upstream.git", "ref": "16.0"})
    assert not fetch.is_current(cfg, ws, offline=True)

    assert fetch.fetch(cfg, ws)["sha"] == tip
    assert not fetch.is_shallow(ws.mirror)
    assert history(ws.mirror, "16.0") == history(scenario.upstream, "16.0")   # v1 and its ancestors included
    assert fetch.is_current(cfg, ws, offline=False)


def test_ensure_commit_completes_a_shallow_mirror_restored_from_a_cache(scenario: Scenario) -> None:
    cfg, ws = config(scenario), Workspace(scenario.workspace)
    fetch.fetch(cfg, ws)
    shutil.rmtree(ws.mirror)
    shallow_clone(scenario, ws.mirror)                                          # the tip only: v1 is missing
    assert not git.rev_parse(ws.mirror, f"{scenario.v1}^{{commit}}")
    assert fetch.ensure_commit(cfg, ws, scenario.v1) == ws.mirror
    assert not fetch.is_shallow(ws.mirror)
    assert git.rev_parse(ws.mirror, f"{scenario.v1}^{{commit}}") == scenario.v1


@pytest.mark.parametrize("several", [False, True], ids=["upstream", "sources"])
def test_a_shallow_upstream_is_one_line_naming_the_source_and_the_next_step(scenario: Scenario,
                                                                           several: bool) -> None:
    """A source that is itself a ``--depth 1`` clone has no history to give: its refs are accepted
    (git would drop them silently and ``16.0`` would seem not to exist), and fetch stops with one
    line; once the source is complete, the same fetch works."""
    tip = with_release_branch(scenario)
    shallow = shallow_clone(scenario, scenario.root / "shallow.git", "--no-single-branch")
    if several:
        key = "sources.1.url (odoo)"
        data = {"sources": [{"name": "web", "url": "../upstream.git", "ref": "main", "paths": ["web/**"],
                             "map": [{"from": "", "to": "web/"}]},
                            {"name": "odoo", "url": "../shallow.git", "ref": "16.0", "paths": ["odoo/**"],
                             "map": [{"from": "", "to": "odoo/"}]}],
                "fork": {"path": "../fork", "branch": "main"}}
        cfg = load_config(write_config(scenario.workspace, data)).for_source("odoo")
        ws = Workspace(scenario.workspace, "odoo")
    else:
        key = "upstream.url"
        cfg = config(scenario, upstream={"url": "../shallow.git", "ref": "16.0"})
        ws = Workspace(scenario.workspace)

    with pytest.raises(ForkwaveError) as err:
        fetch.fetch(cfg, ws)
    assert str(err.value) == (
        f"{cfg.file}: {key}: {shallow} has only part of its history (a shallow clone), and forkwave needs all of "
        f"it to find the base and the changes since; complete it with `git -C {shallow} fetch --unshallow`, or "
        f"point {key} at the full repository")
    assert err.value.exit_code == 1
    assert git.rev_parse(ws.mirror, "refs/heads/16.0") == tip                  # the ref was not dropped

    git.git(shallow, "fetch", "--quiet", "--unshallow")                         # the step the message gives
    assert fetch.fetch(cfg, ws)["sha"] == tip
    assert history(ws.mirror, "16.0") == history(scenario.upstream, "16.0")


def test_offline_with_a_shallow_mirror_says_to_fetch_once(scenario: Scenario) -> None:
    cfg, ws = config(scenario), Workspace(scenario.workspace)
    shallow_clone(scenario, ws.mirror)
    with pytest.raises(ForkwaveError) as err:
        fetch.fetch(cfg, ws, offline=True)
    assert str(err.value) == ("offline=1 but the cached mirror .forkwave/upstream.git holds only part of the history "
                              "(shallow); run once without offline=1 to complete it")
    assert fetch.fetch(cfg, ws)["sha"] == scenario.main
    assert fetch.fetch(cfg, ws, offline=True)["sha"] == scenario.main
