"""``dry=1`` on real repositories: everything up to the plan, then each slice simulated — merges and their
conflicts, coupled groups, gate verdicts, the risk score, what publish would push and open — leaving every
ref, state file, memo, ledger and remote byte-identical, and writing reports/dry-run.md and .json the same
way for the same inputs."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import commit_tree, run_doit
from slicekit import Repos, build, read, rev, rewrite_config

BASE = {"src/a.py": "A = 1\nB = 2\nC = 3\n", "src/b.py": "b = 1\n", "src/c.json": "{\"c\": 1}\n",
        "README.md": "# x\n"}
UPSTREAM = {**BASE, "src/a.py": "A = 1\nB = 2\nC = 30\n", "src/b.py": "b = 2\n", "src/new.py": "NEW = 1\n",
            "src/test_new.py": "from new import NEW\n"}
FORK = {**BASE, "src/a.py": "A = 10\nB = 2\nC = 3\n"}
LATER = {**UPSTREAM, "src/b.py": "b = 3\n", "src/c.json": "{\"c\": 2\n", "src/d.py": "D = 1\n",
         ".env": "TOKEN=x\n", "src/a.py": "A = 1\nB = 20\nC = 30\n"}


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    r = build(tmp_path, BASE, UPSTREAM, FORK,
              checks=[{"name": "unit", "run": "true", "when": ["src/**"]}])
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "remote.git")], check=True)
    rewrite_config(r, checks=[{"name": "unit", "run": "true", "when": ["src/**"]}],
                   publish={"remote": str(tmp_path / "remote.git"), "forge": "none", "labels": ["sync"]})
    return r


def refs(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)"],
                          capture_output=True, text=True, check=True).stdout


def snapshot(r: Repos) -> dict[str, str]:
    """What a dry run must leave as it was: refs (the sync branch, so its state file), remote, every record."""
    out = {"fork refs": refs(r.fork), "remote refs": refs(r.root / "remote.git"),
           "fork HEAD": (r.fork / ".git" / "HEAD").read_text()}
    kept = [r.reports / ".doit.json", r.reports / "run-summary.json", r.reports / "publish.json",
            r.reports / "summary.json", r.reports / "pr.md"]
    kept += list(r.reports.glob("ledger.sqlite*"))
    for folder in ("memo", "slices", "journal", "wave-a"):
        kept += [p for p in (r.reports / folder).rglob("*") if p.is_file()]
    for path in sorted(kept):
        out[str(path.relative_to(r.workspace))] = (hashlib.sha256(path.read_bytes()).hexdigest()
                                                   if path.exists() else "absent")
    return out


def test_dry_run_simulates_every_slice_and_writes_nothing_else(repos: Repos) -> None:
    first = run_doit(repos.workspace)
    assert first.returncode == 0, first.stdout + first.stderr
    assert run_doit(repos.workspace, "publish").returncode == 0
    commit_tree(repos.upstream, LATER, message="v3", tick=20)
    before = snapshot(repos)
    assert before["reports/ledger.sqlite"] != "absent" and any(k.startswith("reports/memo/") for k in before)

    result = run_doit(repos.workspace, "dry=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(repos) == before
    assert "would be" in result.stdout and "dry run: reports/dry-run.md (a real run would exit 2)" in result.stdout

    data = read(repos.reports / "dry-run.json")
    assert data["dry_run"] is True
    assert data["sync_branch"]["sha"] == rev(repos.fork, "refs/heads/sync/upstream")
    sims = {s["slice"]: s for s in data["slices"]}
    changes = {c["path"]: c for s in sims.values() for c in s["changes"]}
    conflicts = {c["path"]: c["reason"] for s in sims.values() for c in s["conflicts"]}
    blocked = {b["path"] for s in sims.values() for b in s["blocked"]}
    assert conflicts == {"src/a.py": "3-way merge conflict"}  # the fork's A = 10 against upstream's B = 20
    assert changes["src/b.py"]["action"] == "write" and changes["src/d.py"]["class"] == "upstream-added"
    assert ".env" in blocked or ".env" not in changes  # deny-listed: never written
    syntax = [g for s in sims.values() for g in s["gates"] if g["gate"] == "syntax"]
    assert any(g["status"] == "failed" and g["files"] == ["src/c.json"] for g in syntax)
    assert any("src/c.json" in s["would_defer"] for s in sims.values())
    assert all(s["checks_to_run"] == ["unit"] for s in sims.values() if s["would_land"])
    pub = data["publish"]
    assert pub["branch"] == "sync/upstream" and pub["forge"] == "none"
    assert pub["pull_request"]["draft"] is True  # a conflict and a deferred file are left for a person
    assert "conflicts" in pub["pull_request"]["labels"]
    assert pub["risk"]["level"] in ("low", "medium", "high") and "src/d.py" in pub["files"]
    assert data["exit_code"] == 2
    md = (repos.reports / "dry-run.md").read_text()
    assert "# Dry run" in md and "conflict: `src/a.py`" in md and "## Publish" in md

    again = run_doit(repos.workspace, "dry=1")  # the same inputs: the same bytes
    assert again.returncode == 0
    assert read(repos.reports / "dry-run.json") == data
    assert (repos.reports / "dry-run.md").read_text() == md
    assert snapshot(repos) == before

    real = run_doit(repos.workspace)  # the real run afterwards is as if the dry runs never happened
    assert real.returncode == 2
    assert read(repos.reports / "slices" / sims_slice(data, "src/a.py") / "outcome.json")["status"] == "conflicted"
    # a dry run after it exits 0 (it did what was asked); the report says a real run would exit 2
    after = run_doit(repos.workspace, "dry=1")
    assert after.returncode == 0, after.stdout + after.stderr
    assert read(repos.reports / "dry-run.json")["exit_code"] == 2


def sims_slice(data: dict, path: str) -> str:
    return next(s["slice"] for s in data["slices"] if path in [c["path"] for c in s["conflicts"] + s["changes"]])


def test_dry_run_on_a_fresh_workspace_creates_no_sync_branch(repos: Repos) -> None:
    before = snapshot(repos)
    result = run_doit(repos.workspace, "wave_a", "dry=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(repos) == before
    assert rev(repos.fork, "refs/heads/sync/upstream") is None
    assert not list(repos.reports.glob("ledger.sqlite*")) and not (repos.reports / "memo").exists()
    assert not (repos.reports / ".doit.json").exists()
    data = read(repos.reports / "dry-run.json")
    assert data["sync_branch"] == {"name": "sync/upstream", "sha": None, "from": rev(repos.fork, "refs/heads/main")}
    groups = [g for s in data["slices"] for g in s["groups"]]
    assert any({"src/new.py", "src/test_new.py"} <= set(g["files"]) and "test of src/new.py" in g["why"]
               for g in groups)  # a module and its test, coupled as the plan couples them


def test_publish_dry_run_says_what_it_would_push_and_open_and_pushes_nothing(repos: Repos) -> None:
    assert run_doit(repos.workspace).returncode == 0
    before = snapshot(repos)
    result = run_doit(repos.workspace, "publish", "dry=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "publish (dry run): would push sync/upstream to " in result.stdout
    assert "chore: sync with upstream" in result.stdout
    assert snapshot(repos) == before
    assert refs(repos.root / "remote.git") == ""
    assert not (repos.reports / "publish.json").exists()


def test_a_tripped_drift_gate_is_reported_by_the_dry_run(repos: Repos) -> None:
    rewrite_config(repos, drift_gates={"max_conflicts": 0},
                   publish={"remote": str(repos.root / "remote.git"), "forge": "none"})
    commit_tree(repos.upstream, LATER, message="v3", tick=20)
    result = run_doit(repos.workspace, "dry=1")
    assert result.returncode == 0
    data = read(repos.reports / "dry-run.json")
    assert data["drift_gates"] and "max_conflicts" in data["drift_gates"][0]
    assert data["exit_code"] == 2
    assert "would stop right after drift" in (repos.reports / "dry-run.md").read_text()
    real = run_doit(repos.workspace)
    assert real.returncode == 2 and "drift gate 'drift_gates.max_conflicts'" in real.stderr
    assert rev(repos.fork, "refs/heads/sync/upstream") is None


# --- several sources: a dry run writes reports/dry-run.* and nothing else --------------------------

def everything(v: Any) -> dict[str, str]:
    """Every file under reports/ but the dry-run report, every ref of the fork, of each mirror and of the fork's
    remote, as digests: what a dry run must leave byte-identical."""
    out = {f"refs of {repo.relative_to(v.root)}": refs(repo)
           for repo in [v.fork, v.remote, *sorted((v.workspace / ".forkwave" / "sources").glob("*.git"))]}
    out["fork HEAD"] = (v.fork / ".git" / "HEAD").read_text()
    for path in sorted(p for p in v.reports.rglob("*") if p.is_file() and not p.name.startswith("dry-run.")):
        out[str(path.relative_to(v.workspace))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_a_dry_run_of_several_sources_after_new_upstream_commits_changes_no_report_and_no_ref(tmp_path: Path) -> None:
    from addonskit import SOURCES, build, config, repo_files
    from conftest import write_config

    v = build(tmp_path, verify=True)
    write_config(v.workspace, config(verify=True, pre=[{"name": "addons", "run": "test -d addons"}]))
    real = run_doit(v.workspace)
    assert real.returncode == 0, real.stdout + real.stderr
    assert run_doit(v.workspace, "publish").returncode == 0
    planned = read(v.reports / "plan.json")
    for i, (name, (_, modules)) in enumerate(SOURCES.items()):   # upstream moves on: new modules in each
        v.upstream(name, repo_files({**modules, f"{name}_extra": "1"}, f"# {name}\n"), f"{name}: extra", 30 + i)
    before = everything(v)
    assert any(k.startswith("reports/sources/web/") for k in before) and "reports/pre.json" in before

    dry = run_doit(v.workspace, "dry=1")

    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert everything(v) == before
    assert read(v.reports / "plan.json") == planned
    data = read(v.reports / "dry-run.json")
    simulated = {c["path"] for s in data["slices"] for c in s["changes"]}
    assert {"addons/oca/web/web_extra/__manifest__.py", "addons/oca/sale/sale_extra/__manifest__.py"} <= simulated
    assert data["upstream"] == {n: rev(v.sources[n], "refs/heads/main") for n in SOURCES}
    # what it computed lives apart, and a second dry run leaves the same bytes
    assert (v.workspace / ".forkwave" / "dry" / "reports" / "plan.json").exists()
    again = run_doit(v.workspace, "dry=1")
    assert again.returncode == 0 and everything(v) == before
    delta = run_doit(v.workspace, "dry=1", "since=last-success")   # reads the ledger: a copy, never the ledger
    assert delta.returncode == 0, delta.stdout + delta.stderr
    assert "since=last-success: upstream changes after" in delta.stdout and everything(v) == before
    # the real run afterwards plans and lands what the dry run showed
    after = run_doit(v.workspace)
    assert after.returncode == 0, after.stdout + after.stderr
    landed = {f["path"] for s in read(v.reports / "plan.json")["slices"] for f in s["files"]}
    assert simulated <= landed
