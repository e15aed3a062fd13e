"""Merge mode on real repositories: a fork cloned from its upstream at commit 20 of 40, with commits of its own."""
from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from slicekit import read, rev, tree
from tasks.config import load_config
from tasks.errors import ForkwaveError
from tasks.repo.synth import EPOCH

AT, N = 20, 40
NOW_TICK = (int(time.time()) - EPOCH) // 60
SHARED = "line1\nline2\nline3\n"


class Merge(NamedTuple):
    root: Path
    upstream: Path
    fork: Path
    ws: Path
    shas: list[str]          # upstream commits 1..N (index k-1 is commit k)
    fork_tip: str
    runs: Path               # one line per check run

    @property
    def reports(self) -> Path:
        return self.ws / "reports"

    def sync(self) -> str:
        return rev(self.fork, "refs/heads/sync/upstream") or ""

    def holds(self, k: int) -> bool:
        return _ancestor(self.fork, self.shas[k - 1], self.sync())

    def check_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


def _ancestor(repo: Path, a: str, b: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", a, b]).returncode == 0


def build(root: Path, *, bad_at: int | None = None, conflict_at: int | None = None, fork_own: bool = True,
          checks: bool = True, top: dict[str, Any] | None = None, recent_from: int | None = None,
          tags: dict[int, str] | None = None, extra: dict[str, str] | None = None, **source: Any) -> Merge:
    up = make_repo(root / "upstream.git", bare=True)
    files = {"README.md": "# up\n", "src/app.txt": "fine\n", "shared.txt": SHARED, **(extra or {})}
    shas, at_fork = [], {}
    for k in range(1, N + 1):
        files = {**files, f"src/m{k:02}.txt": f"m{k}\n"}
        if k == bad_at:
            files["src/app.txt"] = "BROKEN\n"
        if k == conflict_at:
            files["shared.txt"] = "line1\nupstream\nline3\n"
        tick = k if recent_from is None or k < recent_from else NOW_TICK - (N - k)  # minutes before now
        tag = f"c{k}" if k == AT else (tags or {}).get(k)
        shas.append(commit_tree(up, files, message=f"feat: upstream {k}", tick=tick, tag=tag,
                                author="Up <up@example.com>"))
        if k == AT:
            at_fork = dict(files)
    fork = make_repo(root / "fork")
    git_out(fork, "fetch", "--quiet", "--no-tags", "--update-head-ok", str(up), f"refs/tags/c{AT}:refs/heads/main")
    tip = shas[AT - 1]
    if fork_own:
        mine = {**at_fork, "fork/notes.txt": "ours\n"}
        if conflict_at:
            mine["shared.txt"] = "line1\nfork\nline3\n"
        tip = commit_tree(fork, mine, message="fork: our notes", tick=100, author="Fork <f@example.com>")
    ws = root / "ws"
    ws.mkdir()
    runs = root / "runs.log"
    cfg: dict[str, Any] = {
        "sources": [{"name": "upstream", "url": "../upstream.git", "ref": "main", "mode": "merge", **source}],
        "fork": {"path": "../fork", "branch": "main"},
        "waves": {"a": {"buckets": ["*"]}},
        "gates": [],
    }
    cfg.update(top or {})
    if checks:
        cfg["checks"] = [{"name": "app", "run": f"echo run >> {runs}; ! grep -q BROKEN src/app.txt"}]
    write_config(ws, cfg)
    return Merge(root, up, fork, ws, shas, tip, runs)


def outcome(m: Merge, name: str = "slice-1") -> dict[str, Any]:
    return read(m.reports / "slices" / name / "outcome.json")


def backups(m: Merge) -> list[str]:
    return git_out(m.fork, "for-each-ref", "--format=%(refname)", "refs/forkwave/backup/").split()


def test_fast_forward_when_the_sync_branch_has_no_commits_of_its_own(tmp_path: Path) -> None:
    m = build(tmp_path, fork_own=False, checks=False)
    res = run_doit(m.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert m.sync() == m.shas[-1]  # fast-forward: the upstream tip itself, no merge commit
    assert rev(m.fork, "refs/heads/main") == m.fork_tip  # fork.branch is never written
    assert backups(m) == [f"refs/forkwave/backup/sync/upstream/{m.fork_tip}"]
    moves = outcome(m)["range"]["moves"]
    assert [mv["how"] for mv in moves] == ["fast-forward"] and moves[0]["commits"] == N - AT


def test_a_merge_commit_keeps_every_fork_commit(tmp_path: Path) -> None:
    m = build(tmp_path, checks=False)
    res = run_doit(m.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    tip = m.sync()
    parents = git_out(m.fork, "rev-list", "--parents", "-n1", tip).split()[1:]
    assert parents == [m.fork_tip, m.shas[-1]]  # first parent: the sync branch's own line
    assert _ancestor(m.fork, m.fork_tip, tip) and m.holds(N)
    files = tree(m.fork, tip)
    assert files["fork/notes.txt"][1] == b"ours\n" and files[f"src/m{N}.txt"][1] == f"m{N}\n".encode()
    assert backups(m) == [f"refs/forkwave/backup/sync/upstream/{m.fork_tip}"]
    out = outcome(m)
    assert out["status"] == "adopted" and out["commits"] == [tip]
    assert rev(m.fork, "refs/heads/main") == m.fork_tip
    again = run_doit(m.ws)  # nothing new: nothing moves
    assert again.returncode == 0 and m.sync() == tip


def test_a_check_breaking_at_31_lands_up_to_30_and_names_31(tmp_path: Path) -> None:
    m = build(tmp_path, bad_at=31)
    res = run_doit(m.ws)
    assert res.returncode == 2, res.stdout + res.stderr  # work left for a person
    assert m.holds(30) and not m.holds(31)
    assert _ancestor(m.fork, m.fork_tip, m.sync())
    out = outcome(m)
    culprit = out["culprit"]
    assert culprit["sha"] == m.shas[30] and culprit["subject"] == "feat: upstream 31"
    assert culprit["kind"] == "checks" and culprit["landed_before"] == 10 and culprit["position"] == 11
    bound = math.ceil(math.log2(N - AT)) + 2
    assert culprit["runs"] <= bound
    assert m.check_runs() <= bound  # the baseline's run answers the bisection's start from the memo
    assert out["status"] == "split" and out["deferred"][0]["commit"] == m.shas[30]
    report = (m.reports / "slices" / "slice-1" / "report.md").read_text()
    assert m.shas[30][:10] in report and "feat: upstream 31" in report and "Up <up@example.com>" in report
    before = m.check_runs()
    again = run_doit(m.ws)  # nothing changed: the memo answers, no check runs
    assert again.returncode == 2 and m.check_runs() == before and not m.holds(31)
    assert again.status()["validate:slice-1"] == "up to date"  # waiting for a person, every input as it was
    # a person merges 31 with a fix on the sync branch, from a checkout of their own
    person_merges(m, 31, {"src/app.txt": "fine\n"})
    done = run_doit(m.ws)
    assert done.returncode == 0, done.stdout + done.stderr
    assert m.holds(N) and tree(m.fork, m.sync())["src/app.txt"][1] == b"fine\n"
    out = outcome(m)
    assert out["status"] == "adopted" and out["culprit"] is None
    assert {r["path"] for r in out["resolved"]} == {"src/app.txt", "src/m31.txt"}


def person_merges(m: Merge, k: int, fixes: dict[str, str]) -> None:
    """A person's merge of upstream commit ``k`` on the sync branch in a worktree of their own, with ``fixes`` —
    fetched first, as the report says: the fork holds only what forkwave landed."""
    wt = m.root / "person"
    git_out(m.fork, "fetch", "--quiet", "--no-tags", str(m.upstream), "main")
    git_out(m.fork, "worktree", "add", "--quiet", str(wt), "sync/upstream")
    subprocess.run(["git", "-C", str(wt), "merge", "--quiet", "--no-edit", m.shas[k - 1]], capture_output=True)
    for path, text in fixes.items():
        (wt / path).write_text(text)
        git_out(wt, "add", path)
    git_out(wt, "commit", "--quiet", "--allow-empty", "--no-edit", "-m", f"merge upstream {k} with a fix")
    git_out(m.fork, "worktree", "remove", str(wt))


def test_ranges_after_a_culprit_wait_behind_it(tmp_path: Path) -> None:
    m = build(tmp_path, bad_at=31, top={"slices": {"max_commits": 5}})
    res = run_doit(m.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    # slice-3's first commit (31) fails its checks: deferred, and 32..35 wait behind it; slice-4 only waits
    assert [outcome(m, f"slice-{k}")["status"] for k in (1, 2, 3, 4)] == ["adopted", "adopted", "reverted", "waiting"]
    third = outcome(m, "slice-3")
    assert third["culprit"]["sha"] == m.shas[30]
    assert third["counts"] == {"unit": "commits", "total": 5, "adopted": 0, "deferred": 1, "conflicted": 0,
                               "waiting": 4, "skipped": 0}
    assert third["deferred"][0]["commit"] == m.shas[30] and third["waiting"][0]["commits"] == m.shas[31:35]
    fourth = outcome(m, "slice-4")
    assert fourth["deferred"] == [] and fourth["runs"] == 0 and fourth["attempts"] == []  # nothing judged
    [waits] = fourth["waiting"]
    assert waits["behind"] == m.shas[30] and waits["slice"] == "slice-3" and waits["commits"] == m.shas[35:40]
    assert "slice-3" in waits["reason"] and "feat: upstream 31" in waits["reason"]
    assert m.holds(30) and not m.holds(31)
    summary = read(m.reports / "summary.json")
    assert summary["commits"]["waiting"] == 9 and summary["commits"]["deferred"] == 1
    assert summary["files"]["deferred"] == len({"src/app.txt", "src/m31.txt"})  # distinct paths, not per slice


def test_a_conflict_lands_the_prefix_and_writes_diff3_files(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=25, checks=False)
    res = run_doit(m.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    assert m.holds(24) and not m.holds(25)
    out = outcome(m)
    assert out["status"] == "conflicted" and out["culprit"]["kind"] == "conflict"
    assert out["culprit"]["sha"] == m.shas[24] and out["culprit"]["conflicted"] == ["shared.txt"]
    assert [c["path"] for c in out["conflicts"]] == ["shared.txt"] and out["conflicts"][0]["commit"] == m.shas[24]
    text = (m.reports / "slices" / "slice-1" / "conflicts" / "shared.txt").read_text()
    assert "<<<<<<< sync" in text and "||||||| base" in text and ">>>>>>> upstream" in text
    assert "fork" in text and "upstream" in text
    told = run_doit(m.ws, "resolve:slice-1")  # the conflict file still has its markers: nothing is committed
    assert told.returncode == 1 and "still has conflict markers" in told.stderr and not m.holds(25)
    person_merges(m, 25, {"shared.txt": "line1\nfork and upstream\nline3\n"})
    found = run_doit(m.ws, "resolve:slice-1")  # the person's merge is on the sync branch: resolve takes it
    assert found.returncode == 0 and "your resolution is on sync/upstream already" in found.stdout
    done = run_doit(m.ws)
    assert done.returncode == 0, done.stdout + done.stderr
    assert m.holds(N) and tree(m.fork, m.sync())["shared.txt"][1] == b"line1\nfork and upstream\nline3\n"
    assert outcome(m)["resolved"][0]["path"] == "shared.txt"
    assert not (m.reports / "slices" / "slice-1" / "conflicts" / "shared.txt").exists()


def test_on_failure_revert_merges_the_culprit_and_reverts_it(tmp_path: Path) -> None:
    m = build(tmp_path, bad_at=31, on_failure="revert")
    res = run_doit(m.ws)
    assert res.returncode == 2, res.stdout + res.stderr  # the reverted commit is not in: it waits for a fix
    assert m.holds(N)
    assert tree(m.fork, m.sync())["src/app.txt"][1] == b"fine\n"
    out = outcome(m)
    assert [r["reverted"] for r in out["reverted"]] == [m.shas[30]]
    messages = git_out(m.fork, "log", "--format=%B", f"{m.fork_tip}..{m.sync()}", "--first-parent")
    assert f"This reverts commit {m.shas[30]}" in messages and "on_failure: revert" in messages
    assert out["culprit"] is None and out["status"] == "split"
    [reverted] = out["deferred"]
    assert reverted["commit"] == m.shas[30] and "merged and reverted" in reverted["reason"]
    assert out["counts"]["adopted"] == N - AT - 1 and out["counts"]["deferred"] == 1



def test_min_age_merges_only_commits_old_enough(tmp_path: Path) -> None:
    m = build(tmp_path, checks=False, recent_from=36, min_age="3d")
    res = run_doit(m.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert m.holds(35) and not m.holds(36)  # 36..40 were committed minutes ago
    drift = read(m.reports / "drift.json")
    assert drift["cooldown"]["waiting"] == 5 and drift["cooldown"]["ripens_at"]


def test_a_tag_glob_follows_the_newest_release(tmp_path: Path) -> None:
    m = build(tmp_path, checks=False, tags={25: "v1.0.0", 30: "v1.1.0", 33: "v1.2.0-rc.1"}, ref="tags/v*")
    res = run_doit(m.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert m.holds(30) and not m.holds(31)  # the release candidate is no release
    assert read(m.reports / "upstream.json")["sha"] == m.shas[29]


# --- per-path policies (merge mode, and snapshot mode's both-changed files) -----------------------

def test_policy_takes_a_side_for_conflicting_hunks_in_merge_mode(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=25, checks=False, top={"policy": [{"paths": ["shared.*"], "take": "upstream"}]})
    res = run_doit(m.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert m.holds(N) and tree(m.fork, m.sync())["shared.txt"][1] == b"line1\nupstream\nline3\n"
    out = outcome(m)
    assert out["reported"] == [{"path": "shared.txt", "reason": out["reported"][0]["reason"]}]
    assert "take: upstream" in out["reported"][0]["reason"]
    assert "Forkwave-Policy: shared.txt take upstream" in git_out(m.fork, "log", "-1", "--format=%B", m.sync())


def test_policy_fork_and_regenerate_in_merge_mode(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=25, checks=False, top={"policy": [{"paths": ["*.txt"], "take": "fork"}]})
    assert run_doit(m.ws).returncode == 0
    assert tree(m.fork, m.sync())["shared.txt"][1] == b"line1\nfork\nline3\n"
    r = build(tmp_path / "r", conflict_at=25, checks=False,
              top={"policy": [{"paths": ["shared.txt"], "take": "regenerate"}]})
    assert run_doit(r.ws).returncode == 0
    assert outcome(r)["reported"][0]["reason"].startswith("policy take: regenerate")


def test_policy_settles_a_both_changed_file_in_snapshot_mode(tmp_path: Path) -> None:
    from slicekit import build as snapshot_build
    from slicekit import outcome as snapshot_outcome

    base = {"app/a.txt": "1\n2\n3\n", "docs/guide.md": "a\nb\nc\n"}
    upstream = {"app/a.txt": "1\nU\n3\n", "docs/guide.md": "a\nUP\nc\n"}
    fork = {"app/a.txt": "1\nF\n3\n", "docs/guide.md": "a\nFORK\nc\n"}
    repos = snapshot_build(tmp_path, base, upstream, fork,
                           policy=[{"paths": ["docs/**"], "take": "upstream"}, {"paths": ["app/**"], "take": "fork"}])
    res = run_doit(repos.workspace)
    assert res.returncode == 0, res.stdout + res.stderr
    tip = rev(repos.fork, "refs/heads/sync/upstream") or ""
    files = tree(repos.fork, tip)
    assert files["docs/guide.md"][1] == b"a\nUP\nc\n" and files["app/a.txt"][1] == b"1\nF\n3\n"
    out = snapshot_outcome(repos, "slice-1")
    assert {r["path"] for r in out["reported"]} == {"app/a.txt", "docs/guide.md"}
    assert out["status"] == "adopted"


# --- the modes' config keys -------------------------------------------------------------------

@pytest.mark.parametrize("source, top, message", [
    ({"mode": "merge", "min_age": "3 days"}, {}, "key 'sources.0.min_age': expected a duration"),
    ({"mode": "cherry-pick", "on_failure": "revert"}, {}, "key 'sources.0.on_failure': applies to mode: merge only"),
    ({"mode": "merge", "scopes": ["x"]}, {}, "key 'sources.0.scopes': applies to mode: cherry-pick only"),
    ({"mode": "cherry-pick", "branch": "main"}, {}, "key 'sources.0.branch': 'main' must be a valid branch"),
    ({"mode": "cherry-pick", "branch": "bad..name"}, {}, "must be a valid branch"),
    ({"mode": "cherry-pick", "exclude_authors": ["/(/"]}, {}, "key 'sources.0.exclude_authors.0': not a valid regex"),
    ({"mode": "merge"}, {"policy": [{"paths": ["x"], "take": "both"}]}, "key 'policy.0.take': expected one of"),
    ({"mode": "merge"}, {"policy": [{"paths": ["[z-a]"], "take": "fork"}]}, "key 'policy.0.paths.0'"),
    ({"mode": "merge"}, {"slices": {"max_commits": 0}}, "key 'slices.max_commits': expected a number >= 1"),
    ({"mode": "merge", "ref": "tags/v*[", "url": "/x"}, {}, "not a valid branch, tag or commit name"),
    ({"mode": "merge", "direction": "push", "push_url": "/x"}, {},
     "key 'sources.0.direction': push applies to mode: snapshot only (this source is mode: merge"),
    ({"mode": "cherry-pick", "direction": "both", "push_url": "/x"}, {},
     "key 'sources.0.direction': both applies to mode: snapshot only"),
])
def test_mode_keys_are_checked(tmp_path: Path, source: dict[str, Any], top: dict[str, Any], message: str) -> None:
    path = write_config(tmp_path, {"sources": [{"name": "upstream", "url": "/x", **source}],
                                   "fork": {"path": "/f"}, **top})
    with pytest.raises(ForkwaveError) as err:
        load_config(path)
    assert message in str(err.value)


def test_mode_keys_load(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"sources": [
        {"name": "web", "url": "/x", "mode": "cherry-pick", "paths": ["web/**"], "types": ["*"], "min_age": "1w2d"},
        {"name": "up", "url": "/y", "mode": "merge", "paths": ["src/**"], "on_failure": "revert", "ref": "tags/v*"}],
        "fork": {"path": "/f"}, "slices": {"max_commits": 7}, "policy": [{"paths": ["docs/**"], "take": "upstream"}]})
    cfg = load_config(path)
    assert cfg.for_source("web").fork.sync_branch == "sync/web"
    assert cfg.for_source("up").fork.sync_branch == "sync/upstream"
    assert cfg.for_source("up").current.options.on_failure == "revert" and cfg.max_commits == 7
    assert cfg.policy[0].take == "upstream" and cfg.for_source("web").current.options.types == ("*",)


def test_every_config_of_the_sync_mode_guides_loads(tmp_path: Path) -> None:
    """The complete configs the sync-mode guides show for merge and cherry-pick mode load as shown."""
    import re

    guides = Path(__file__).resolve().parents[2] / "docs" / "guides"
    section = "".join((guides / page).read_text(encoding="utf-8")
                      for page in ("sync-modes.md", "merge-mode.md", "cherry-pick-mode.md"))
    blocks = re.findall(r"^```yml\n(.*?)^```", section, re.M | re.S)
    modes = []
    for i, block in enumerate(blocks):
        cfg = load_config(write_config(tmp_path, block, name=f"c{i}.yaml"))
        modes.append(sorted({s.mode for s in cfg.sources}))
    assert modes == [["merge"], ["cherry-pick"]]


def test_min_age_in_snapshot_mode_compares_with_the_newest_revision_old_enough(tmp_path: Path) -> None:
    from slicekit import build as snapshot_build
    from slicekit import rewrite_config

    base = {"app/a.txt": "1\n", "app/b.txt": "b\n"}
    repos = snapshot_build(tmp_path, base, {"app/a.txt": "2\n", "app/b.txt": "b\n"})
    rewrite_config(repos, upstream=..., base=..., sources=[{"name": "upstream", "url": "../upstream.git", "ref": "main",
                                                            "base": "v1", "min_age": "2d"}])
    young = commit_tree(repos.upstream, {"app/a.txt": "2\n", "app/b.txt": "young\n"}, message="young",
                        tick=NOW_TICK)
    res = run_doit(repos.workspace)
    assert res.returncode == 0, res.stdout + res.stderr
    files = tree(repos.fork, rev(repos.fork, "refs/heads/sync/upstream") or "")
    assert files["app/a.txt"][1] == b"2\n" and files["app/b.txt"][1] == b"b\n"  # v2, not the young commit
    drift = read(repos.reports / "drift.json")
    assert drift["upstream"]["sha"] == repos.main and drift["cooldown"] == {
        "fetched": young, "waiting": 1, "ripens_at": drift["cooldown"]["ripens_at"]}
