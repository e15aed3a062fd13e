"""A broken commit and what fixes it: the source's own fix-up, a person's pick with a fix, and the commits
that wait on a dropped one (``needs <sha>``) — on real repositories, doit as a subprocess."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from slicekit import read, rev, tree

BASE = {"web/app.txt": "app\n", "web/README.md": "# web\n"}
CHECK = "! grep -rq BROKEN web"


class Sibling(NamedTuple):
    root: Path
    web: Path
    fork: Path
    ws: Path
    shas: dict[str, str]
    runs: Path

    def add(self, label: str, subject: str, changes: dict[str, str], tick: int) -> str:
        files = {p: c.decode() for p, (_, c) in tree(self.web, "main").items()} | changes
        self.shas[label] = commit_tree(self.web, files, message=subject, tick=tick, author="Sib <s@example.com>")
        return self.shas[label]

    def branch(self) -> str:
        return rev(self.fork, "refs/heads/sync/web") or ""

    def record(self) -> dict[str, Any]:
        state = json.loads(git_out(self.fork, "show", f"{self.branch()}:.forkwave/sync-state.json"))
        return (state.get("sources") or {}).get("web", state)["cherry-pick"]

    def outcome(self, name: str = "slice-1") -> dict[str, Any]:
        return read(self.ws / "reports" / "slices" / name / "outcome.json")

    def check_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


def build(root: Path, fork_files: dict[str, str] | None = None, ws: str = "ws") -> Sibling:
    web = make_repo(root / "web.git", bare=True)
    shas = {"base": commit_tree(web, BASE, message="base")}
    fork = make_repo(root / "fork")
    commit_tree(fork, fork_files or BASE, message="fork", author="Fork <f@example.com>")
    s = Sibling(root, web, fork, root / ws, shas, root / "runs.log")
    configure(s)
    return s


def configure(s: Sibling, where: Path | None = None) -> None:
    ws = where or s.ws
    ws.mkdir(exist_ok=True)
    write_config(ws, {"sources": [{"name": "web", "url": "../web.git", "ref": "main", "mode": "cherry-pick",
                                   "paths": ["web/**"], "base": s.shas["base"]}],
                      "fork": {"path": "../fork", "branch": "main"},
                      "waves": {"a": {"buckets": ["*"]}}, "gates": [],
                      "checks": [{"name": "build", "run": f"echo run >> {s.runs}; {CHECK}"}]})


def test_a_source_fixup_that_alone_changes_nothing_lands_with_the_commit_it_fixes(tmp_path: Path) -> None:
    s = build(tmp_path)
    s.add("helper", "feat(ui): a helper", {"web/app.txt": "app\nBROKEN call\n", "web/helper.txt": "helper\n"}, 1)
    first = run_doit(s.ws)
    assert first.returncode == 2, first.stdout + first.stderr
    assert s.outcome()["deferred"][0]["reason"].startswith(f"commit {s.shas['helper'][:10]} 'feat(ui): a helper': "
                                                           "fails its checks")
    # the source fixes its own commit in the next one: alone, that fix changes nothing on the fork
    s.add("fixup", "fix(ui): drop the broken call", {"web/app.txt": "app\n"}, 2)
    second = run_doit(s.ws)
    assert second.returncode == 0, second.stdout + second.stderr
    picked = [m.split("(cherry picked from commit ")[1][:40]
              for m in git_out(s.fork, "log", "--reverse", "--format=%B%x00", f"main..{s.branch()}").split("\0")
              if "(cherry picked from commit " in m]
    assert picked == [s.shas["helper"], s.shas["fixup"]]          # the pair, in the source's order
    files = tree(s.fork, s.branch())
    assert files["web/app.txt"][1] == b"app\n" and files["web/helper.txt"][1] == b"helper\n"
    record = s.record()
    assert record["dropped"] == {} and record["processed"][s.shas["helper"]].startswith("picked as ")


def test_a_source_fixup_that_alone_conflicts_lands_with_the_commit_it_fixes(tmp_path: Path) -> None:
    s = build(tmp_path)
    s.add("helper", "feat(ui): a helper", {"web/helper.txt": "helper\nBROKEN\n"}, 1)
    s.add("other", "feat(ui): unrelated", {"web/other.txt": "other\n"}, 2)
    assert run_doit(s.ws).returncode == 2
    runs = s.check_runs()
    assert run_doit(s.ws).returncode == 2 and s.check_runs() == runs   # nothing new: the broken one is not judged
    s.add("fixup", "fix(ui): the helper works", {"web/helper.txt": "helper\nfixed\n"}, 3)
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert tree(s.fork, s.branch())["web/helper.txt"][1] == b"helper\nfixed\n"
    assert s.record()["dropped"] == {}
    assert s.check_runs() - runs <= 2         # the baseline and the pair judged together; the broken one not alone


def test_a_commit_that_applies_only_on_a_conflicted_one_waits_for_it(tmp_path: Path) -> None:
    s = build(tmp_path, {**BASE, "web/app.txt": "app\nbonjour\n"})
    s.add("clash", "fix(ui): say hello", {"web/app.txt": "app\nhello\n"}, 1)           # the fork changed that line
    s.add("twice", "feat(ui): say hello twice", {"web/app.txt": "app\nhello\nhello\n"}, 2)
    res = run_doit(s.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    out = s.outcome()
    assert [c["commit"] for c in out["conflicts"]] == [s.shas["clash"]]
    [wait] = out["waiting"]
    assert wait["reason"].startswith(f"commit {s.shas['twice'][:10]} 'feat(ui): say hello twice': "
                                     f"needs {s.shas['clash'][:10]}")
    assert s.record()["dropped"][s.shas["twice"]]["needs"] == s.shas["clash"]


def persons_pick(s: Sibling, sha: str, text: str) -> None:
    """``git cherry-pick -x`` of ``sha`` on the integration branch, its conflict fixed by hand, committed."""
    wt = s.root / "person"
    git_out(s.fork, "worktree", "add", "-q", str(wt), "sync/web")
    git_out(wt, "fetch", "-q", str(s.web), "main")
    subprocess.run(["git", "-C", str(wt), "cherry-pick", "-x", sha], capture_output=True)
    (wt / "web" / "app.txt").write_text(text)
    git_out(wt, "add", "web/app.txt")
    git_out(wt, "-c", "core.editor=true", "cherry-pick", "--continue")
    git_out(s.fork, "worktree", "remove", str(wt))


def conflicted(root: Path) -> Sibling:
    s = build(root, {**BASE, "web/app.txt": "app\nbonjour\n"})
    s.add("banner", "feat(ui): a banner", {"web/banner.txt": "banner\n"}, 1)
    s.add("clash", "fix(ui): say hello", {"web/app.txt": "app\nhello\n", "web/hello.txt": "hello\n"}, 2)
    s.add("hi", "feat(ui): greet in the banner", {"web/hello.txt": "hello, hi\n", "web/banner.txt": "banner hi\n"}, 3)
    assert run_doit(s.ws).returncode == 2
    return s


def test_a_persons_pick_with_a_fix_is_taken_on_the_next_run_without_resolve(tmp_path: Path) -> None:
    s = conflicted(tmp_path)
    persons_pick(s, s.shas["clash"], "app\nbonjour, hello\n")
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    out = s.outcome()
    assert out["status"] == "adopted" and out["conflicts"] == [] and out["waiting"] == []
    assert tree(s.fork, s.branch())["web/banner.txt"][1] == b"banner hi\n"     # what waited on it landed too
    record = s.record()
    assert record["dropped"] == {} and record["processed"][s.shas["clash"]].startswith("picked by a person as ")


def test_a_persons_pick_counts_after_the_drift_is_forgotten_and_in_a_fresh_workspace(tmp_path: Path) -> None:
    s = conflicted(tmp_path)
    persons_pick(s, s.shas["clash"], "app\nbonjour, hello\n")
    assert run_doit(s.ws, "forget", "drift").returncode == 0
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    drift = {c["sha"]: c for c in read(s.ws / "reports" / "drift.json")["commits"]}
    assert drift[s.shas["clash"]]["kind"] == "already-present"
    assert tree(s.fork, s.branch())["web/banner.txt"][1] == b"banner hi\n"
    assert s.shas["clash"] not in s.record()["dropped"]
    tip, runs = s.branch(), s.check_runs()
    fresh = tmp_path / "ws2"
    configure(s, fresh)
    again = run_doit(fresh)
    assert again.returncode == 0, again.stdout + again.stderr
    assert s.branch() == tip and s.check_runs() == runs        # nothing picked again, nothing judged again
