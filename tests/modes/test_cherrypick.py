"""Cherry-pick mode on real repositories: two sibling sources picked onto their own integration branches."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from slicekit import read, rev, tree
from tasks.repo.synth import EPOCH

BASE = {"web/app.txt": "app\n", "web/README.md": "# web\n", "api/main.txt": "main\n"}


class Siblings(NamedTuple):
    root: Path
    fork: Path
    ws: Path
    web: dict[str, str]      # label -> sha in the web repository
    api: dict[str, str]
    runs: Path

    def check_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0

    def branch(self, name: str) -> str:
        return rev(self.fork, f"refs/heads/sync/{name}") or ""


BOT = "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>"


def sibling(path: Path, steps: list[tuple[Any, ...]]) -> dict[str, str]:
    """A repository with BASE (labelled ``base``), then one commit per step: (label, subject, changes[, author])."""
    make_repo(path, bare=True)
    files: dict[str, str] = dict(BASE)
    out = {"base": commit_tree(path, files, message="base", author="Sib <s@example.com>")}
    for tick, (label, subject, changes, *who) in enumerate(steps, 1):
        for p, text in changes.items():
            if text is None:
                files.pop(p, None)
            else:
                files[p] = text
        out[label] = commit_tree(path, files, message=subject, tick=tick,
                                 author=who[0] if who else "Sib <s@example.com>")
    return out


WEB = [
    ("banner", "feat(ui): add a banner", {"web/banner.txt": "banner\n"}),
    ("docs", "docs(ui): explain the banner", {"web/README.md": "# web\nbanner\n"}),
    ("core", "feat(core): not our scope", {"web/core.txt": "core\n"}),
    ("config", "fix(ui): read the config", {"web/app.txt": "app v2\n", ".env": "TOKEN=1\n"}),
    ("envonly", "fix(ui): rotate the token", {".env": "TOKEN=2\n"}),
    ("same", "fix(ui): the fix the fork made by hand", {"web/fixed.txt": "fixed\n"}),
    ("broken", "feat(ui): a helper", {"web/lib.txt": "BROKEN\n"}),
    ("tweak", "fix(ui): tune the helper", {"web/lib.txt": "BROKEN, tuned\n"}),
    ("last", "feat(ui): the last one", {"web/last.txt": "last\n"}),
    ("breaking", "feat(ui)!: drop the old banner", {"web/banner.txt": None, "web/banner2.txt": "b2\n"}),
    ("bot", "fix(ui): bump the dependencies", {"web/deps.txt": "2\n"}, BOT),
]
API = [
    ("endpoint", "feat: a v2 endpoint", {"api/v2.txt": "v2\n"}),
    ("bump", "chore: bump", {"api/main.txt": "main 2\n"}),
]


def build(root: Path) -> Siblings:
    web = sibling(root / "web.git", WEB)
    api = sibling(root / "api.git", API)
    fork = make_repo(root / "fork")
    commit_tree(fork, BASE, message="product", author="Fork <f@example.com>")
    commit_tree(fork, {**BASE, "web/fixed.txt": "fixed\n"}, message="fix by hand", tick=50,
                author="Fork <f@example.com>")
    ws = root / "ws"
    ws.mkdir()
    runs = root / "runs.log"
    write_config(ws, config(web, api, runs))
    return Siblings(root, fork, ws, web, api, runs)


def config(web: dict[str, str], api: dict[str, str], runs: Path, **extra: Any) -> dict[str, Any]:
    return {
        "sources": [
            {"name": "web", "url": "../web.git", "ref": "main", "mode": "cherry-pick", "paths": ["web/**", ".env"],
             "scopes": ["ui"], "exclude_authors": ["*[bot]"], "base": web["base"], **extra},
            {"name": "api", "url": "../api.git", "ref": "main", "mode": "cherry-pick", "paths": ["api/**"],
             "base": api["base"], **extra},
        ],
        "fork": {"path": "../fork", "branch": "main"},
        "waves": {"a": {"buckets": ["*"]}},
        "gates": [],
        "checks": [{"name": "build", "run": f"echo run >> {runs}; ! grep -rq BROKEN web api"}],
    }


def messages(repo: Path, rng: str) -> list[str]:
    out = git_out(repo, "log", "--format=%B%x00", rng)
    return [m.strip() for m in out.split("\0") if m.strip()]


def outcomes(s: Siblings, source: str) -> list[dict[str, Any]]:
    plan = read(s.ws / "reports" / "plan.json")
    return [read(s.ws / "reports" / "slices" / x["name"] / "outcome.json") for x in plan["slices"]
            if x.get("source") == source]


def test_two_sibling_sources_filtered_picked_and_remembered(tmp_path: Path) -> None:
    s = build(tmp_path)
    res = run_doit(s.ws)
    assert res.returncode == 2, res.stdout + res.stderr  # dropped commits are left for a person
    web = s.branch("web")
    picks = [m for m in messages(s.fork, f"main..{web}") if "cherry picked from" in m]
    picked = {line.split()[-1].rstrip(")") for m in picks for line in m.splitlines() if "cherry picked from" in line}
    assert picked == {s.web["banner"], s.web["config"], s.web["last"], s.web["breaking"]}
    assert all("Forkwave-Source: web" in m for m in picks)
    files = tree(s.fork, web)
    assert files["web/app.txt"][1] == b"app v2\n" and ".env" not in files  # the denied path was dropped
    assert "web/core.txt" not in files and files["web/README.md"][1] == b"# web\n" and "web/lib.txt" not in files
    [out] = outcomes(s, "web")
    skipped = {x["sha"]: x["reason"] for x in read(s.ws / "reports" / "sources" / "web" / "drift.json")["commits"]
               if not x["pick"]}
    assert "type 'docs'" in skipped[s.web["docs"]] and "scope 'core'" in skipped[s.web["core"]]
    assert skipped[s.web["envonly"]].startswith("every path dropped")
    assert "is excluded by '*[bot]'" in skipped[s.web["bot"]]
    assert skipped[s.web["same"]].startswith("already present: same change (patch-id)")
    dropped = {d["sha"]: d for d in out["dropped"]}
    assert set(dropped) == {s.web["broken"], s.web["tweak"]}
    assert "fails its checks" in dropped[s.web["broken"]]["reason"]
    assert dropped[s.web["tweak"]]["reason"].startswith(f"needs {s.web['broken'][:10]}")
    assert out["status"] == "split"
    assert out["review"] == [s.web["breaking"]]  # a breaking change is picked for a person to review
    api = s.branch("api")
    picked = [m.splitlines()[0] for m in messages(s.fork, f"main..{api}") if "cherry picked" in m]
    assert picked == ["feat: a v2 endpoint"]
    assert rev(s.fork, "refs/heads/main") != web  # the fork's own branch is never written
    # the cursor and the processed commits are in the fork itself: a fresh clone reads them
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(s.fork), str(clone)], check=True)
    state = json.loads(git_out(clone, "show", "origin/sync/web:.forkwave/sync-state.json"))
    record = state["sources"]["web"]["cherry-pick"]
    assert record["cursor"] == s.web["bot"]  # the skipped commits after the last pick are covered too
    assert record["processed"][s.web["banner"]].startswith("picked as ")
    assert set(record["dropped"]) == {s.web["broken"], s.web["tweak"]}
    # nothing new: no check runs, nothing moves
    before, tips = s.check_runs(), (s.branch("web"), s.branch("api"))
    again = run_doit(s.ws)
    assert again.returncode == 2 and s.check_runs() == before and (s.branch("web"), s.branch("api")) == tips
    assert {t: v for t, v in again.status().items() if t.startswith("validate:")} == {
        "validate:slice-web-1": "up to date", "validate:slice-api-1": "up to date"}
    # a fresh workspace knows it all from the fork: still no check, nothing picked twice
    fresh = tmp_path / "ws2"
    fresh.mkdir()
    write_config(fresh, config(s.web, s.api, s.runs))
    third = run_doit(fresh)
    assert third.returncode == 2, third.stdout + third.stderr
    assert s.check_runs() == before and (s.branch("web"), s.branch("api")) == tips


def test_a_dropped_commit_is_tried_again_only_when_what_it_depends_on_changes(tmp_path: Path) -> None:
    s = build(tmp_path)
    assert run_doit(s.ws).returncode == 2
    runs = s.check_runs()
    assert run_doit(s.ws).returncode == 2 and s.check_runs() == runs  # same checks, same files: not tried
    relaxed = config(s.web, s.api, s.runs)
    relaxed["checks"] = [{"name": "build", "run": f"echo run >> {s.runs}; ! grep -rq NOPE web api"}]
    write_config(s.ws, relaxed)
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert s.check_runs() > runs
    files = tree(s.fork, s.branch("web"))
    assert files["web/lib.txt"][1] == b"BROKEN, tuned\n"  # the helper and the commit that needed it
    record = json.loads(git_out(s.fork, "show", "sync/web:.forkwave/sync-state.json"))["sources"]["web"]["cherry-pick"]
    assert record["dropped"] == {} and record["processed"][s.web["tweak"]].startswith("picked as ")


def one_source(root: Path, source: dict[str, Any], *, young: bool) -> tuple[Path, Path]:
    """A web repository: a release ``v1.0.0`` (old), then a commit made a minute ago (``young``) or long ago."""
    web = sibling(root / "web.git", WEB[:1])
    commit_tree(root / "web.git", {**BASE, "web/banner.txt": "banner\n"}, message="chore: release", tag="v1.0.0",
                tick=2)
    tick = (int(time.time()) - EPOCH) // 60 - 1 if young else 3
    commit_tree(root / "web.git", {**BASE, "web/banner.txt": "banner\n", "web/later.txt": "later\n"},
                message="feat(ui): after the release", tick=tick)
    fork = make_repo(root / "fork")
    commit_tree(fork, BASE, message="product")
    ws = root / "ws"
    ws.mkdir()
    cfg = config(web, {"base": ""}, root / "runs.log")
    cfg["sources"] = [{**cfg["sources"][0], **source}]
    write_config(ws, cfg)
    return fork, ws


def test_min_age_holds_back_young_commits(tmp_path: Path) -> None:
    fork, ws = one_source(tmp_path, {"min_age": "1d"}, young=True)
    res = run_doit(ws)
    assert res.returncode == 0, res.stdout + res.stderr
    files = tree(fork, rev(fork, "refs/heads/sync/web") or "")
    assert "web/banner.txt" in files and "web/later.txt" not in files
    assert read(ws / "reports" / "drift.json")["cooldown"]["waiting"] == 1


def test_a_tag_glob_follows_the_newest_release(tmp_path: Path) -> None:
    fork, ws = one_source(tmp_path, {"ref": "tags/v*"}, young=False)
    res = run_doit(ws)
    assert res.returncode == 0, res.stdout + res.stderr
    files = tree(fork, rev(fork, "refs/heads/sync/web") or "")
    assert "web/banner.txt" in files and "web/later.txt" not in files  # the release, not main


def test_cherry_pick_sources_may_share_paths(tmp_path: Path) -> None:
    """Each lands on its own integration branch: two siblings changing the same folder is no conflict of owners."""
    web = sibling(tmp_path / "web.git", [("a", "feat: one", {"api/one.txt": "1\n"})])
    api = sibling(tmp_path / "api.git", [("b", "fix: two", {"api/two.txt": "2\n"})])
    fork = make_repo(tmp_path / "fork")
    commit_tree(fork, BASE, message="product")
    ws = tmp_path / "ws"
    ws.mkdir()
    cfg = config(web, api, tmp_path / "runs.log")
    for src in cfg["sources"]:
        src.pop("paths")
        src.pop("scopes", None)
    write_config(ws, cfg)
    res = run_doit(ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "api/one.txt" in tree(fork, rev(fork, "refs/heads/sync/web") or "")
    assert "api/two.txt" in tree(fork, rev(fork, "refs/heads/sync/api") or "")
