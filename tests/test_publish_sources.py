"""``doit publish`` with several sources: the shared sync branch of snapshot sources, and each cherry-pick
source's integration branch, pushed to a real bare remote with ``forge: none`` (one pr file each)."""
from __future__ import annotations

from pathlib import Path

from conftest import git_out, make_repo, run_doit, write_config
from test_cherrypick import build, config
from test_sources import Vendored, sources_config, vendored  # noqa: F401  (vendored: the fixture)


def remote_heads(remote: Path) -> dict[str, str]:
    out = git_out(remote, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")
    return {ref.removeprefix("refs/heads/"): sha for ref, sha in (line.split() for line in out.splitlines())}


def test_each_cherry_pick_source_publishes_its_integration_branch(tmp_path: Path) -> None:
    s = build(tmp_path)
    remote = make_repo(tmp_path / "remote.git", bare=True)
    write_config(s.ws, {**config(s.web, s.api, s.runs), "publish": {"remote": str(remote), "forge": "none"}})
    assert run_doit(s.ws).returncode == 2          # web keeps two dropped commits for a person

    result = run_doit(s.ws, "publish")

    assert result.returncode == 0, result.stdout + result.stderr
    heads = remote_heads(remote)
    assert heads["sync/web"] == s.branch("web") and heads["sync/api"] == s.branch("api")
    assert "sync/upstream" not in heads                                   # no source writes the shared branch
    reports = s.ws / "reports"
    web, api = (reports / "pr-web.md").read_text(), (reports / "pr-api.md").read_text()
    assert "sync with web" in web.splitlines()[0] and "sync with api" in api.splitlines()[0]
    assert "dropped" in web.lower() or "deferred" in web.lower()          # web's work left for a person is named
    again = run_doit(s.ws, "publish")                                     # nothing new: nothing pushed
    assert again.returncode == 0 and again.stdout.count("nothing changed since the last publish") == 2


def test_vendored_sources_publish_one_shared_sync_branch(vendored: Vendored, tmp_path: Path) -> None:  # noqa: F811
    r = vendored
    remote = make_repo(tmp_path / "remote.git", bare=True)
    write_config(r.workspace, {**sources_config(), "publish": {"remote": str(remote), "forge": "none"}})
    first = run_doit(r.workspace, timeout=300)
    assert first.returncode in (0, 2), first.stdout + first.stderr

    result = run_doit(r.workspace, "publish")

    assert result.returncode == 0, result.stdout + result.stderr
    heads = remote_heads(remote)
    assert heads["sync/upstream"] == git_out(r.fork, "rev-parse", "refs/heads/sync/upstream").strip()
    text = (r.workspace / "reports" / "pr.md").read_text()
    assert text.splitlines()[0] == "# chore: sync with web, sale"          # each source named, no revision garbled
    for name, repo in (("web", r.web), ("sale", r.sale)):                 # each source's own URL and revision
        sha = git_out(repo, "rev-parse", "refs/heads/main").strip()
        assert f"| {name} | `../{name}.git` | `main` | `{sha[:12]}` |" in text
