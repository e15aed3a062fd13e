"""Cherry-pick mode as a person sees it: a pick that conflicts is *conflicted* (in commits, with a file to
edit), a person's resolution — forkwave's ``resolve`` or their own ``cherry-pick -x`` — is taken, a pick
slice rolls back and is readopted, its report lists only its commits, and a dry run writes nothing."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, NamedTuple

from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from slicekit import read, rev, tree

BASE = {"web/app.txt": "app\n", "web/README.md": "# web\n"}


class Sibling(NamedTuple):
    root: Path
    fork: Path
    ws: Path
    shas: dict[str, str]

    @property
    def reports(self) -> Path:
        return self.ws / "reports"

    def branch(self) -> str:
        return rev(self.fork, "refs/heads/sync/web") or ""

    def outcome(self, name: str = "slice-1") -> dict[str, Any]:
        return read(self.reports / "slices" / name / "outcome.json")


STEPS = [("banner", "feat(ui): a banner", {"web/banner.txt": "banner\n"}),
         ("clash", "fix(ui): say hello", {"web/app.txt": "app\nhello\n"}),   # the fork changed the same line
         ("last", "feat(ui): the last one", {"web/last.txt": "last\n"})]


def build(root: Path, **extra: Any) -> Sibling:
    up = make_repo(root / "web.git", bare=True)
    files, shas = dict(BASE), {"base": commit_tree(up, BASE, message="base")}
    for tick, (label, subject, changes) in enumerate(STEPS, 1):
        files.update(changes)
        shas[label] = commit_tree(up, files, message=subject, tick=tick, author="Sib <s@example.com>")
    fork = make_repo(root / "fork")
    commit_tree(fork, {**BASE, "web/app.txt": "app\nbonjour\n"}, message="fork", author="Fork <f@example.com>")
    ws = root / "ws"
    ws.mkdir()
    write_config(ws, {"sources": [{"name": "web", "url": "../web.git", "ref": "main", "mode": "cherry-pick",
                                   "paths": ["web/**"], "base": shas["base"], **extra}],
                      "fork": {"path": "../fork", "branch": "main"}, "waves": {"a": {"buckets": ["*"]}},
                      "gates": []})
    return Sibling(root, fork, ws, shas)


def test_a_conflicting_pick_is_conflicted_in_commits_with_a_file_to_edit(tmp_path: Path) -> None:
    s = build(tmp_path)
    res = run_doit(s.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    out = s.outcome()
    assert out["status"] == "conflicted"
    assert out["counts"] == {"unit": "commits", "total": 3, "adopted": 2, "deferred": 0, "conflicted": 1,
                             "waiting": 0, "skipped": 0}
    assert [(c["path"], c["commit"]) for c in out["conflicts"]] == [("web/app.txt", s.shas["clash"])]
    text = (s.reports / "slices" / "slice-1" / "conflicts" / "web" / "app.txt").read_text()
    assert "<<<<<<<" in text and "hello" in text and "bonjour" in text
    assert "slice-1: conflicted — 2 of 3 commits adopted, 1 conflicted" in res.stdout
    junit = ET.parse(s.reports / "slices" / "slice-1" / "junit.xml").getroot()
    assert [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None] == ["conflict: web/app.txt"]
    report = (s.reports / "slices" / "slice-1" / "report.md").read_text()
    listed = re.findall(r"\| `([0-9a-f]{12})` \|", report.split("## Commits (3)")[1].split("\n## ")[0])
    assert listed == [s.shas[k][:12] for k in ("banner", "clash", "last")]


def test_resolve_picks_it_with_the_persons_edit(tmp_path: Path) -> None:
    s = build(tmp_path)
    assert run_doit(s.ws).returncode == 2
    (s.reports / "slices" / "slice-1" / "conflicts" / "web" / "app.txt").write_text("app\nbonjour, hello\n")
    res = run_doit(s.ws, "resolve:slice-1")
    assert res.returncode == 0, res.stdout + res.stderr
    message = git_out(s.fork, "log", "-1", "--format=%B", s.branch())
    assert f"(cherry picked from commit {s.shas['clash']})" in message and "Forkwave-Resolved: slice-1" in message
    done = run_doit(s.ws)
    assert done.returncode == 0, done.stdout + done.stderr
    out = s.outcome()
    assert out["status"] == "adopted" and out["counts"]["adopted"] == 3
    assert tree(s.fork, s.branch())["web/app.txt"][1] == b"app\nbonjour, hello\n"


def test_a_persons_own_pick_with_a_fix_is_taken_as_picked(tmp_path: Path) -> None:
    s = build(tmp_path)
    assert run_doit(s.ws).returncode == 2
    wt = tmp_path / "person"
    git_out(s.fork, "worktree", "add", "-q", str(wt), "sync/web")
    git_out(wt, "fetch", "-q", str(tmp_path / "web.git"), "main")
    subprocess.run(["git", "-C", str(wt), "cherry-pick", "-x", s.shas["clash"]], capture_output=True)
    (wt / "web" / "app.txt").write_text("app\nbonjour et hello\n")
    git_out(wt, "add", "web/app.txt")
    git_out(wt, "-c", "core.editor=true", "cherry-pick", "--continue")
    git_out(s.fork, "worktree", "remove", str(wt))
    told = run_doit(s.ws, "resolve:slice-1")
    assert told.returncode == 0 and "your resolution is on sync/web already" in told.stdout
    done = run_doit(s.ws)
    assert done.returncode == 0, done.stdout + done.stderr
    out = s.outcome()
    assert out["status"] == "adopted" and out["conflicts"] == []
    [theirs] = [p for p in out["picked"] if p.get("by")]
    assert (theirs["sha"], theirs["by"]) == (s.shas["clash"], "a person")
    assert git_out(s.fork, "log", "-1", "--format=%s", theirs["commit"]).strip() == "fix(ui): say hello"


def test_rollback_reverts_the_picks_and_readopt_takes_them_again(tmp_path: Path) -> None:
    s = build(tmp_path, types=["feat"])  # only the two features: nothing conflicts
    assert run_doit(s.ws).returncode == 0
    picked = s.branch()
    res = run_doit(s.ws, "rollback:slice-1")
    assert res.returncode == 0, res.stdout + res.stderr
    files = tree(s.fork, s.branch())
    assert "web/banner.txt" not in files and "web/last.txt" not in files
    assert run_doit(s.ws).returncode == 0 and s.outcome()["status"] == "rolled-back"
    assert "web/banner.txt" not in tree(s.fork, s.branch())               # not picked again
    assert run_doit(s.ws, "readopt:slice-1").returncode == 0
    assert run_doit(s.ws).returncode == 0 and s.outcome()["status"] == "adopted"
    back = tree(s.fork, s.branch())
    assert back["web/banner.txt"] == tree(s.fork, picked)["web/banner.txt"] and "web/last.txt" in back


def test_a_dry_run_in_cherry_pick_mode_shows_each_commit_and_writes_nothing_else(tmp_path: Path) -> None:
    s = build(tmp_path)
    assert run_doit(s.ws, "plan").returncode == 0

    def state() -> dict[str, str]:
        out = {"refs": git_out(s.fork, "for-each-ref", "--format=%(refname) %(objectname)")}
        for p in sorted(s.reports.rglob("*")):
            if p.is_file() and not p.name.startswith("dry-run."):
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out

    before = state()
    res = run_doit(s.ws, "dry=1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert state() == before and "sync/web" not in before["refs"]
    [sim] = json.loads((s.reports / "dry-run.json").read_text())["slices"]
    assert sim["status"] == "conflicted" and sim["branch"] == "sync/web"
    assert [r["would"] for r in sim["commits"]] == ["pick", "conflict", "pick"]
    assert "a real run would exit 2" in res.stdout
