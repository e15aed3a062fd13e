"""Cherry-pick from a sibling whose main line is pull-request merges, as GitHub makes them.

The sibling shares history with the fork (the fork was cloned from it at ``base``); its main line
after that is merges — ``Merge pull request #N from owner/branch`` with the PR title as the body's
first line — and one direct commit. The feature the maintainer wants (``cite``) is one pull request
of several conventional commits; other pull requests are other scopes, a bot's bump, and one whose
title is not conventional but whose commits are.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, NamedTuple

from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from slicekit import read, rev, tree
from tasks.repo import git

BASE = {"web/app.txt": "app\n", "web/README.md": "# web\n", "docs/index.md": "# docs\n"}
BOT = "renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>"
ANN = "Ann <ann@example.com>"


class Sibling(NamedTuple):
    root: Path
    web: Path
    fork: Path
    ws: Path
    shas: dict[str, str]      # label -> sha in the sibling (merges: "pr<N>")
    runs: Path

    def branch(self) -> str:
        return rev(self.fork, "refs/heads/sync/web") or ""

    def check_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0

    def drift(self) -> dict[str, dict[str, Any]]:
        return {c["sha"]: c for c in read(self.ws / "reports" / "drift.json")["commits"]}

    def picked(self, rng: str | None = None) -> list[str]:
        """The source shas the picks on the integration branch name, oldest first."""
        out = git_out(self.fork, "log", "--reverse", "--format=%B%x00", rng or f"main..{self.branch()}")
        return [line.split()[-1].rstrip(")") for m in out.split("\0") for line in m.splitlines()
                if line.startswith("(cherry picked from commit ")]


def pull_request(repo: Path, files: dict[str, str], number: int, title: str,
                 commits: list[tuple[str, str, dict[str, str | None]]], tick: int, shas: dict[str, str],
                 author: str = ANN) -> dict[str, str]:
    """A pull request branched from main, its commits, then GitHub's merge commit on main; returns main's files."""
    branch = f"pr/{number}"
    git.git(repo, "update-ref", f"refs/heads/{branch}", "refs/heads/main")
    mine = dict(files)
    for k, (label, subject, changes) in enumerate(commits):
        for path, text in changes.items():
            if text is None:
                mine.pop(path, None)
            else:
                mine[path] = text
        shas[label] = commit_tree(repo, mine, branch=branch, message=subject, tick=tick + k, author=author)
    merged = {**files, **{p: t for p, t in mine.items()}}
    for gone in set(files) - set(mine):
        merged.pop(gone)
    message = f"Merge pull request #{number} from {author.split()[0].lower()}/{branch}\n\n{title}\n"
    shas[f"pr{number}"] = commit_tree(repo, merged, message=message, tick=tick + len(commits), author=ANN,
                                      merge=[shas[commits[-1][0]]])
    return merged


def build(root: Path, **source: Any) -> Sibling:
    web = make_repo(root / "web.git", bare=True)
    shas = {"base": commit_tree(web, BASE, message="chore: the shared start", author=ANN)}
    files = dict(BASE)
    files = pull_request(web, files, 1, "fix(cite): bump the lockfile",
                         [("bump", "fix(cite): bump the lockfile", {"web/lock.txt": "v2\n"})], 10, shas, BOT)
    files = pull_request(web, files, 2, "feat(cite): a citation viewer", [
        ("viewer", "feat(cite): the viewer", {"web/cite/viewer.txt": "viewer\n"}),
        ("tests", "test(cite): cover the viewer", {"web/cite/viewer.test.txt": "ok\n"}),
        ("escape", "fix(cite): escape titles", {"web/cite/viewer.txt": "viewer, escaped\n"}),
        ("guide", "docs(cite): the guide", {"docs/cite.md": "# cite\n"}),
    ], 20, shas)
    files = pull_request(web, files, 3, "feat(chat): typing indicator",
                         [("typing", "feat(chat): typing indicator", {"web/chat.txt": "typing\n"})], 30, shas)
    files["web/README.md"] = "# web\nnotes\n"
    shas["direct"] = commit_tree(web, files, message="docs: notes on main", tick=40, author=ANN)
    files = pull_request(web, files, 4, "Citations polish", [
        ("keys", "fix(cite): keyboard navigation", {"web/cite/keys.txt": "keys\n"}),
        ("lint", "style: lint", {"web/cite/keys.txt": "keys;\n"}),
    ], 50, shas)
    fork = make_repo(root / "fork")
    git.git(fork, "fetch", "--quiet", "--no-tags", "--update-head-ok", str(web), f"{shas['base']}:refs/heads/main")
    commit_tree(fork, {**BASE, "web/app.txt": "app, our brand\n"}, message="brand: ours", tick=5,
                author="Fork <f@example.com>")
    ws = root / "ws"
    ws.mkdir()
    runs = root / "runs.log"
    write_config(ws, config(shas, runs, **source))
    return Sibling(root, web, fork, ws, shas, runs)


def config(shas: dict[str, str], runs: Path, **source: Any) -> dict[str, Any]:
    return {"sources": [{"name": "web", "url": "../web.git", "ref": "main", "mode": "cherry-pick",
                         "paths": ["web/**"], "scopes": ["cite"], "exclude_authors": ["*[bot]"],
                         "base": shas["base"], **source}],
            "fork": {"path": "../fork", "branch": "main"}, "waves": {"a": {"buckets": ["*"]}}, "gates": [],
            "checks": [{"name": "build", "run": f"echo run >> {runs}; ! grep -rq BROKEN web"}]}


def test_a_pull_request_is_picked_whole_by_its_title(tmp_path: Path) -> None:
    s = build(tmp_path)
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "upstream-changed 0" not in res.stdout
    drift = s.drift()
    assert drift[s.shas["pr2"]]["pick"] and "pull request 'feat(cite): a citation viewer' (4 commits)" in \
        drift[s.shas["pr2"]]["reason"]
    assert drift[s.shas["pr2"]]["commits"] == [s.shas[k] for k in ("viewer", "tests", "escape", "guide")]
    assert drift[s.shas["pr4"]]["pick"] and "fix(cite) (1 of its 2 commits)" in drift[s.shas["pr4"]]["reason"]
    assert "every author is excluded" in drift[s.shas["pr1"]]["reason"]
    assert "scope 'chat'" in drift[s.shas["pr3"]]["reason"] and not drift[s.shas["direct"]]["pick"]
    assert s.picked() == [s.shas["pr2"], s.shas["pr4"]]          # two picks, each a whole pull request
    files = tree(s.fork, s.branch())
    assert files["web/cite/viewer.txt"][1] == b"viewer, escaped\n" and files["web/cite/viewer.test.txt"][1] == b"ok\n"
    assert files["web/cite/keys.txt"][1] == b"keys;\n" and files["web/app.txt"][1] == b"app, our brand\n"
    assert "docs/cite.md" not in files and "web/chat.txt" not in files and "web/lock.txt" not in files
    message = git_out(s.fork, "log", "-1", "--format=%B", f"--grep={s.shas['pr2']}", s.branch())
    assert message.startswith("Merge pull request #2 from ann/pr/2\n\nfeat(cite): a citation viewer")
    assert s.check_runs() == 2                                   # the baseline, then the chain judged once
    record = read(s.ws / "reports" / "slices" / "slice-1" / "outcome.json")
    assert record["status"] == "adopted" and record["counts"]["adopted"] == 2
    # the cursor stands on the main line: the next run offers nothing and runs nothing
    state = git_out(s.fork, "show", f"{s.branch()}:.forkwave/sync-state.json")
    assert f'"cursor": "{s.shas["pr4"]}"' in state
    again = run_doit(s.ws, "forget", "drift")
    again = run_doit(s.ws)
    assert again.returncode == 0 and s.check_runs() == 2 and s.picked() == [s.shas["pr2"], s.shas["pr4"]]


def test_pull_requests_commits_picks_each_commit_filtered(tmp_path: Path) -> None:
    s = build(tmp_path, pull_requests="commits")
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    drift = s.drift()
    assert not drift[s.shas["pr2"]]["pick"] and "its commits are decided one by one" in drift[s.shas["pr2"]]["reason"]
    assert drift[s.shas["tests"]]["reason"] == "type 'test' is not one of feat, fix, perf, refactor"
    assert drift[s.shas["viewer"]]["unit"] == s.shas["pr2"]
    assert s.picked() == [s.shas["viewer"], s.shas["escape"], s.shas["keys"]]
    files = tree(s.fork, s.branch())
    assert files["web/cite/viewer.txt"][1] == b"viewer, escaped\n" and "web/cite/viewer.test.txt" not in files
    assert files["web/cite/keys.txt"][1] == b"keys\n"            # the lint commit is a `style:` one: not picked
    state = git_out(s.fork, "show", f"{s.branch()}:.forkwave/sync-state.json")
    assert f'"cursor": "{s.shas["pr4"]}"' in state                # a main-line commit, never a PR's own


def test_a_pull_request_already_picked_by_hand_is_not_picked_again_in_either_form(tmp_path: Path) -> None:
    """The fork's main holds PR 2 picked whole (``cherry-pick -m 1 -x``) and PR 4's fix picked alone: in
    `commits` form PR 2's commits are present through their merge; in `merge` form PR 4 is not present (its
    lint commit is not) — and PR 2, taken commit by commit by hand, is present through its commits."""
    s = build(tmp_path)
    person = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(s.fork), str(person)], check=True)
    git_out(person, "fetch", "-q", str(s.web), "main")
    git_out(person, "cherry-pick", "-m", "1", "-x", s.shas["pr2"])
    git_out(s.fork, "fetch", "-q", "--update-head-ok", str(person), "main:main")
    write_config(s.ws, config(s.shas, s.runs, pull_requests="commits"))
    assert run_doit(s.ws).returncode == 0
    drift = s.drift()
    for label in ("viewer", "escape"):
        assert drift[s.shas[label]]["kind"] == "already-present"
        assert drift[s.shas[label]]["reason"].startswith(f"already present: its pull request {s.shas['pr2'][:10]}")
    assert s.picked() == [s.shas["keys"]]
    # the other way round: each commit of PR 2 picked by hand, then `merge` form
    t = build(tmp_path / "two")
    person = tmp_path / "two" / "person"
    subprocess.run(["git", "clone", "-q", str(t.fork), str(person)], check=True)
    git_out(person, "fetch", "-q", str(t.web), "main")
    for label in ("viewer", "tests", "escape", "guide"):
        git_out(person, "cherry-pick", t.shas[label])             # no -x: found by patch-id
    git_out(t.fork, "fetch", "-q", "--update-head-ok", str(person), "main:main")
    assert run_doit(t.ws).returncode == 0
    pr2 = t.drift()[t.shas["pr2"]]
    assert pr2["kind"] == "already-present" and pr2["reason"].startswith("already present: its 4 commits")
    assert t.picked() == [t.shas["pr4"]]


def test_a_merge_picked_whole_is_found_by_its_patch_id(tmp_path: Path) -> None:
    """A squash of the pull request on the fork (no trailer) is the merge's change against its first parent."""
    s = build(tmp_path)
    person = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(s.fork), str(person)], check=True)
    git_out(person, "fetch", "-q", str(s.web), "main")
    git_out(person, "cherry-pick", "-m", "1", s.shas["pr4"])
    git_out(s.fork, "fetch", "-q", "--update-head-ok", str(person), "main:main")
    assert run_doit(s.ws).returncode == 0
    pr4 = s.drift()[s.shas["pr4"]]
    assert pr4["kind"] == "already-present" and "same change (patch-id)" in pr4["reason"]
    assert s.picked() == [s.shas["pr2"]]
