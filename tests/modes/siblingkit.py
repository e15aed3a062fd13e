"""A sibling whose main line is pull-request merges, as GitHub makes them, and a fork cloned from it.

The sibling shares history with the fork (the fork was cloned from it at ``base``); its main line
after that is merges — ``Merge pull request #N from owner/branch`` with the PR title as the body's
first line — and one direct commit. The feature the maintainer wants (``cite``) is one pull request
of several conventional commits; other pull requests are other scopes, a bot's bump, and one whose
title is not conventional but whose commits are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from conftest import commit_tree, git_out, make_repo, write_config
from slicekit import read, rev
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

    def picked(self, rng: str | None = None, repo: Path | None = None) -> list[str]:
        """The source shas the picks on the integration branch (or ``rng`` in ``repo``) name, oldest first."""
        out = git_out(repo or self.fork, "log", "--reverse", "--format=%B%x00", rng or f"main..{self.branch()}")
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
