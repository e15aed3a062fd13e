"""Merge mode on a fork hundreds of commits behind: an early conflict, later ones, a person's resolutions.

The fork has 200 commits of its own since the merge base; upstream is 300 commits ahead. Upstream commit 3
('refac: reorganize scripts') changes the line six CI workflows share, which fork commit 120 ('ci: push images
to our registry', by Ops) changed too; upstream commits 150 and 260 conflict with fork commits 60 and 180.
Everything is real git, written by ``git fast-import``.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

from conftest import git_out, make_repo, run_doit, write_config
from slicekit import rev, tree
from tasks.repo import objects, resolutions
from tasks.repo.synth import EPOCH

WORKFLOWS = tuple(f".github/workflows/w{i}.yml" for i in range(1, 7))
BEHIND, OWN = 300, 200
LATER = {150: ("src/x.txt", 60), 260: ("src/y.txt", 180)}   # upstream commit -> (file, the fork commit it meets)
CI_COMMIT = 120


def lines(name: str) -> list[str]:
    return [f"{name} line {k}\n" for k in range(6)]


def changed(name: str, k: int, text: str) -> str:
    old = lines(name)
    return "".join(old[:k] + [text] + old[k + 1:])


def stream(ref: str, commits: list[tuple[str, str, list[tuple[str, str]]]], parent: str | None, start: int) -> bytes:
    out: list[bytes] = []
    for i, (author, subject, files) in enumerate(commits):
        when = f"{EPOCH + (start + i) * 60} +0000"
        out += [f"commit {ref}".encode(), f"author {author} {when}".encode(), f"committer {author} {when}".encode(),
                b"data %d" % len(subject.encode()), subject.encode()]
        if i == 0 and parent:
            out.append(f"from {parent}".encode())
        for path, text in files:
            out += [f"M 100644 inline {path}".encode(), b"data %d" % len(text.encode()), text.encode()]
    return b"\n".join(out) + b"\n"


class Diverged(NamedTuple):
    root: Path
    upstream: Path
    fork: Path
    ws: Path
    shas: list[str]          # upstream commits 1..BEHIND (index k-1 is commit k)
    mine: list[str]          # the fork's own commits 1..OWN
    runs: Path

    @property
    def reports(self) -> Path:
        return self.ws / "reports"

    def sync(self) -> str:
        return rev(self.fork, "refs/heads/sync/upstream") or ""

    def holds(self, k: int) -> bool:
        return subprocess.run(["git", "-C", str(self.fork), "merge-base", "--is-ancestor", self.shas[k - 1],
                               self.sync()]).returncode == 0

    def outcome(self, name: str) -> dict[str, Any]:
        return json.loads((self.reports / "slices" / name / "outcome.json").read_text())

    def check_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


def build(root: Path, **top: Any) -> Diverged:
    up = make_repo(root / "upstream.git", bare=True)
    base = [(w, "".join(lines(w))) for w in WORKFLOWS] + [(p, "".join(lines(p))) for p, _ in LATER.values()]
    base += [("README.md", "# app\n")]
    subprocess.run(["git", "-C", str(up), "fast-import", "--quiet"], check=True,
                   input=stream("refs/heads/main", [("Up <up@example.com>", "initial", base)], None, 0))
    merge_base = rev(up, "refs/heads/main") or ""
    git_out(up, "tag", "base", merge_base)
    ups = []
    for k in range(1, BEHIND + 1):
        if k == 3:
            ups.append(("Up <up@example.com>", "refac: reorganize scripts",
                        [(w, changed(w, 2, "registry: upstream.example/app\n")) for w in WORKFLOWS]))
        elif k in LATER:
            path = LATER[k][0]
            ups.append(("Up <up@example.com>", f"fix: upstream {k}", [(path, changed(path, 4, f"upstream {k}\n"))]))
        else:
            ups.append(("Up <up@example.com>", f"feat: upstream {k}", [(f"up/n{k:03}.txt", f"{k}\n")]))
    subprocess.run(["git", "-C", str(up), "fast-import", "--quiet"], check=True,
                   input=stream("refs/heads/main", ups, merge_base, 1))
    fork = make_repo(root / "fork")
    git_out(fork, "fetch", "--quiet", "--no-tags", "--update-head-ok", str(up), "refs/tags/base:refs/heads/main")
    own = []
    meets = {n: path for path, n in LATER.values()}
    for k in range(1, OWN + 1):
        if k == CI_COMMIT:
            own.append(("Ops <ops@fork.example>", "ci: push images to our registry",
                        [(w, changed(w, 2, "registry: ours.example/app\n")) for w in WORKFLOWS]))
        elif k in meets:
            own.append(("Fork <f@fork.example>", f"fix: fork {k}", [(meets[k], changed(meets[k], 4, f"fork {k}\n"))]))
        else:
            own.append(("Fork <f@fork.example>", f"feat: fork {k}", [(f"fork/f{k:03}.txt", f"{k}\n")]))
    subprocess.run(["git", "-C", str(fork), "fast-import", "--quiet"], check=True,
                   input=stream("refs/heads/main", own, merge_base, 1000))
    ws = root / "ws"
    ws.mkdir()
    runs = root / "runs.log"
    write_config(ws, {"sources": [{"name": "upstream", "url": "../upstream.git", "ref": "main", "mode": "merge"}],
                      "fork": {"path": "../fork", "branch": "main"}, "waves": {"a": {"buckets": ["*"]}}, "gates": [],
                      "checks": [{"name": "no-markers",
                                  "run": f"echo run >> {runs}; ! grep -rqs --exclude-dir=.git '^<<<<<<< ' ."}],
                      **top})
    log = git_out(up, "rev-list", "--reverse", f"{merge_base}..main").split()
    mine = git_out(fork, "rev-list", "--reverse", f"{merge_base}..main").split()
    return Diverged(root, up, fork, ws, log, mine, runs)


def test_an_early_conflict_names_the_fork_commit_and_the_ranges_behind_it_cost_nothing(tmp_path: Path) -> None:
    d = build(tmp_path)
    before = objects.unreachable(d.fork)
    res = run_doit(d.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    assert d.holds(2) and not d.holds(3)
    first = d.outcome("slice-1")
    culprit = first["culprit"]
    assert first["status"] == "conflicted" and culprit["sha"] == d.shas[2] and culprit["position"] == 3
    assert sorted(culprit["conflicted"]) == sorted(WORKFLOWS)
    mine = culprit["fork_commit"]
    assert mine["sha"] == d.mine[CI_COMMIT - 1] and mine["subject"] == "ci: push images to our registry"
    assert mine["author"] == "Ops <ops@fork.example>"
    assert all("conflicts with fork commit" in c["reason"] and mine["short"] in c["reason"]
               for c in first["conflicts"])
    report = (d.reports / "slices" / "slice-1" / "report.md").read_text()
    assert (f"Upstream commit `{culprit['short']}` 'refac: reorganize scripts' (Up <up@example.com>) conflicts with "
            f"fork commit `{mine['short']}` 'ci: push images to our registry' (Ops <ops@fork.example>) in") in report
    later = [d.outcome(f"slice-{k}") for k in range(2, BEHIND // 20 + 1)]
    assert {o["status"] for o in later} == {"waiting"} and all(o["attempts"] == [] for o in later)
    assert all(o["waiting"][0]["behind"] == d.shas[2] and o["waiting"][0]["slice"] == "slice-1" for o in later)
    assert d.check_runs() == 1  # the merge of 1..2, once; the baseline is not needed when it passes
    assert objects.unreachable(d.fork) == before


def test_a_resolution_is_recorded_in_the_fork_and_replayed_when_the_conflict_comes_back(tmp_path: Path) -> None:
    d = build(tmp_path)
    assert run_doit(d.ws).returncode == 2
    ours = {w: changed(w, 2, "registry: ours.example/app and upstream.example/app\n") for w in WORKFLOWS}
    for w, text in ours.items():
        (d.reports / "slices" / "slice-1" / "conflicts" / w).write_text(text)
    done = run_doit(d.ws, "resolve:slice-1")
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = git_out(d.fork, "ls-tree", "-r", "--name-only", resolutions.REF).split()
    posts = [p for p in recorded if p.endswith("/postimage")]
    assert len(posts) == 6 and len({p.split("/")[0] for p in posts}) == 1  # one conflict (the same hunk), 6 files
    second = run_doit(d.ws)
    assert second.returncode == 2 and d.holds(149) and not d.holds(150), second.stdout + second.stderr
    eighth = d.outcome("slice-8")
    assert eighth["culprit"]["sha"] == d.shas[149] and eighth["culprit"]["fork_commit"]["subject"] == "fix: fork 60"

    # the sync branch is started over (a squash-merged pull request, a branch deleted) and the workspace cleaned:
    # upstream commit 3 conflicts again, and the person's resolution is applied, not asked for again
    git_out(d.fork, "update-ref", "-d", "refs/heads/sync/upstream")
    before = objects.unreachable(d.fork)  # the old tip, which no ref names any more
    assert run_doit(d.ws, "clean").returncode == 0
    again = run_doit(d.ws)
    assert again.returncode == 2, again.stdout + again.stderr
    assert d.holds(149) and not d.holds(150)
    files = tree(d.fork, d.sync())
    assert all(files[w][1] == text.encode() for w, text in ours.items())
    first = d.outcome("slice-1")
    assert first["status"] == "adopted" and {r["path"] for r in first["reported"]} == set(WORKFLOWS)
    assert all("resolved as a person resolved the same conflict before" in r["reason"] for r in first["reported"])
    assert "Forkwave-Resolution: .github/workflows/w1.yml as recorded in" in git_out(
        d.fork, "log", "--format=%B", "--first-parent", "-n", "30", d.sync())
    # nothing new left unreachable (some of the old tip's trees are the new tip's again: reachable once more)
    assert set(objects.unreachable(d.fork)) <= set(before)


def test_a_policy_change_re_judges_the_conflict_and_keeps_the_earlier_resolution(tmp_path: Path) -> None:
    d = build(tmp_path)
    assert run_doit(d.ws).returncode == 2
    person_merges(d, 3, {w: changed(w, 2, "registry: ours.example/app\n") for w in WORKFLOWS})
    second = run_doit(d.ws)
    assert second.returncode == 2 and not d.holds(150) and d.outcome("slice-8")["status"] == "conflicted"
    resolved = {r["path"] for r in d.outcome("slice-1")["resolved"]}
    assert resolved == set(WORKFLOWS)
    runs = d.check_runs()
    write_config(d.ws, {**json.loads(json.dumps(_config(d))), "policy": [{"paths": ["src/x.txt"], "take": "upstream"}]})
    third = run_doit(d.ws)  # no `doit clean`: the policy shaped the ranges, so they are judged again
    assert d.holds(259) and not d.holds(260), third.stdout + third.stderr
    assert tree(d.fork, d.sync())["src/x.txt"][1] == changed("src/x.txt", 4, "upstream 150\n").encode()
    assert d.outcome("slice-8")["status"] == "adopted"
    assert d.outcome("slice-13")["culprit"]["sha"] == d.shas[259]
    assert {r["path"] for r in d.outcome("slice-1")["resolved"]} == set(WORKFLOWS)  # the person's merge is kept
    assert d.check_runs() > runs


def test_a_persons_merge_with_conflict_markers_names_the_files_and_the_check(tmp_path: Path) -> None:
    d = build(tmp_path, gating="baseline")
    assert run_doit(d.ws).returncode == 2
    person_merges(d, 3, {}, commit_all=True)  # `git commit -a` in the middle of the merge: markers committed
    res = run_doit(d.ws)
    assert res.returncode == 2, res.stdout + res.stderr  # work for a person, not a failure of forkwave (3)
    out = d.outcome("slice-1")
    assert out["status"] == "failed"
    [failure] = out["deferred"]
    assert sorted(failure["files"]) == sorted(WORKFLOWS)
    assert "conflict markers" in failure["reason"] and ".github/workflows/w1.yml" in failure["reason"]
    assert failure["checks"] == ["conflict-markers", "no-markers"]
    assert "remove the markers" in failure["next"]
    assert "itself fails its checks" not in res.stdout + res.stderr
    assert not d.holds(4)  # nothing is merged on top of the markers


def _config(d: Diverged) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((d.ws / "forkwave.yaml").read_text())


def person_merges(d: Diverged, k: int, fixes: dict[str, str], commit_all: bool = False) -> None:
    """A person merges upstream commit ``k`` on the sync branch from a worktree of their own (fetched first)."""
    wt = d.root / "person"
    git_out(d.fork, "fetch", "--quiet", "--no-tags", str(d.upstream), "main")
    git_out(d.fork, "worktree", "add", "--quiet", str(wt), "sync/upstream")
    subprocess.run(["git", "-C", str(wt), "merge", "--quiet", "--no-edit", d.shas[k - 1]], capture_output=True)
    for path, text in fixes.items():
        (wt / path).write_text(text)
        git_out(wt, "add", path)
    git_out(wt, "commit", "--quiet", *(["-a"] if commit_all else []), "--no-edit", "-m", f"merge upstream {k}")
    git_out(d.fork, "worktree", "remove", "--force", str(wt))


def test_a_resolution_goes_with_publish_and_a_fresh_clone_replays_it(tmp_path: Path) -> None:
    from forgekit import bare_remote

    d = build(tmp_path, publish={"forge": "none", "automerge_max": None})
    origin = bare_remote(tmp_path / "origin.git")
    git_out(d.fork, "remote", "add", "origin", str(origin))
    git_out(d.fork, "push", "-q", "origin", "main")
    assert run_doit(d.ws).returncode == 2
    assert run_doit(d.ws, "resolve:slice-1", "take=upstream").returncode == 0
    published = run_doit(d.ws, "publish")
    assert rev(origin, resolutions.REF) == rev(d.fork, resolutions.REF), published.stdout + published.stderr

    # a CI job's clone of main alone (the pull request of the sync branch merged and its branch deleted, say):
    # it starts a sync branch of its own from main, meets upstream 3's conflict again, and has no record of
    # its own: the remote's is fetched and replayed
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--single-branch", "--branch", "main", str(origin), str(clone)], check=True)
    assert rev(clone, "refs/remotes/origin/sync/upstream") is None
    ws = tmp_path / "ws2"
    ws.mkdir()
    write_config(ws, {**_config(d), "fork": {"path": "../clone", "branch": "main"}})
    res = run_doit(ws)
    first = json.loads((ws / "reports" / "slices" / "slice-1" / "outcome.json").read_text())
    assert first["status"] == "adopted", res.stdout + res.stderr
    assert {r["path"] for r in first["reported"]} == set(WORKFLOWS)
    files = tree(clone, rev(clone, "refs/heads/sync/upstream") or "")
    assert files[WORKFLOWS[0]][1] == changed(WORKFLOWS[0], 2, "registry: upstream.example/app\n").encode()


def test_rollback_and_readopt_keep_the_persons_resolution(tmp_path: Path) -> None:
    d = build(tmp_path)
    assert run_doit(d.ws).returncode == 2
    person_merges(d, 3, {w: changed(w, 2, "registry: both\n") for w in WORKFLOWS})
    assert run_doit(d.ws).returncode == 2 and d.holds(149)
    assert run_doit(d.ws, "rollback:slice-1").returncode == 0
    rolled = tree(d.fork, d.sync())
    assert "up/n004.txt" not in rolled  # forkwave's own merges are reverted; the person's merge is theirs
    assert rolled[WORKFLOWS[0]][1] == changed(WORKFLOWS[0], 2, "registry: both\n").encode()
    assert run_doit(d.ws, "readopt:slice-1").returncode == 0
    res = run_doit(d.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    assert tree(d.fork, d.sync())[WORKFLOWS[0]][1] == changed(WORKFLOWS[0], 2, "registry: both\n").encode()
    first = d.outcome("slice-1")
    assert first["status"] == "adopted" and {r["path"] for r in first["resolved"]} == set(WORKFLOWS)
    recorded = git_out(d.fork, "ls-tree", "-r", "--name-only", resolutions.REF).split()
    assert len([p for p in recorded if p.endswith("/postimage")]) == 6  # the person's merge, recorded once
