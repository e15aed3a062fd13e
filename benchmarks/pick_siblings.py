"""Cherry-pick from a sibling that merges pull requests, into a fork with ten thousand commits of its own.

The shape of the real case: a fork and a sibling that share a history (a tree of ``--files`` files,
``--shared`` commits); the fork then has ``--fork-commits`` commits of its own; the sibling's main line
has ``--main-line`` first-parent commits, ``--merges`` of them GitHub pull-request merges (1-4 commits
each; the feature the maintainer wants, a citation viewer, is one pull request of ``--feature``
conventional commits titled ``feat(citations): citation viewer``; a bot's bump PRs, other scopes). Every
repository is written by one ``git fast-import`` stream.

Printed, forkwave beside plain git in the same run:

- **the analysis with 0 candidates** (the maintainer's filters, a scope no pull request has): forkwave's
  cherry-pick drift, in a process of its own (wall time, peak memory of its git children), beside
  ``git cherry <fork> <sibling>`` over the same objects. Target: <= 2x ``git cherry``. Then the same
  analysis with the feature as a candidate, first with an empty cache of the fork's commits, then warm.
- **a whole pick run**: ``doit`` in a fresh workspace on a copy of the fork (fetch, drift, plan, the
  pick, its checks, reports), beside plain git on another copy (fetch the sibling, ``git switch -c``,
  ``git cherry-pick -x -m 1`` of the feature's merge, the same check as many times as forkwave ran it),
  the median of ``--repeat`` runs each, forkwave's modules compiled as an installed one's are. Target: <= 1.3x. The
  check is ``--check``: both sides run the same command in a checkout of the same tree. Its default, ``sleep 3``, stands
  in for the real case's checks: there the run was 39-48x a plain cherry-pick and 1.6x cherry-pick plus the checks,
  which puts its six check runs near 3.5 s each. A cheaper check weighs forkwave's own time more: the line after
  the ratio prints that time alone.

    python -m benchmarks.pick_siblings [--fork-commits 10000] [--check 'sleep 3'] [--repeat 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks._common import ROOT, scratch
from tasks.repo import git
from tasks.repo.synth import EPOCH, check_out, init_repo

ANN = "Ann <ann@example.com>"
BOT = "renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>"
SCOPES = ("chat", "auth", "ui", "api", "search", "settings")


class Stream:
    """One ``git fast-import`` stream: commits with marks, written once."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.mark = 0
        self.tick = 0

    def commit(self, ref: str, message: str, files: dict[str, str], parents: list[str], author: str = ANN) -> str:
        self.mark += 1
        self.tick += 1
        when = f"{EPOCH + self.tick * 60} +0000"
        msg = message.encode()
        self.out += [f"commit {ref}".encode(), f"mark :{self.mark}".encode(), f"author {author} {when}".encode(),
                     f"committer {author} {when}".encode(), b"data %d" % len(msg), msg]
        if parents:
            self.out.append(f"from {parents[0]}".encode())
            self.out += [f"merge {p}".encode() for p in parents[1:]]
        for path, text in files.items():
            data = text.encode()
            self.out += [f"M 100644 inline {path}".encode(), b"data %d" % len(data), data]
        return f":{self.mark}"

    def run(self, repo: Path) -> None:
        git.git(repo, "fast-import", "--quiet", input=b"\n".join(self.out) + b"\n")


def file_of(i: int) -> str:
    return f"src/mod{i % 50:02}/file{i:04}.ts"


def build(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The world (one repository, all branches), then the sibling (bare) and the fork from it."""
    world = init_repo(root / "world.git", bare=True)
    s = Stream()
    tip = s.commit("refs/heads/shared", "chore: initial import",
                   {file_of(i): f"export const v{i} = 0;\n" for i in range(args.files)}, [])
    for k in range(1, args.shared):
        tip = s.commit("refs/heads/shared", f"fix: shared change {k}", {file_of(k * 7 % args.files): f"// {k}\n"},
                       [tip])
    shared = tip
    # the fork: its own commits, never on the feature's files
    fork = shared
    for k in range(args.fork_commits):
        fork = s.commit("refs/heads/fork", f"feat(fork): our change {k}",
                        {file_of(k % args.files): f"export const ours{k} = {k};\n"}, [fork])
    # the sibling: a main line of merges and direct commits
    direct = args.main_line - args.merges
    plain_at = {1 + i * args.main_line // direct for i in range(direct)} if direct else set()
    main, prs, feature_at = shared, 0, args.merges // 2
    feature: dict[str, Any] = {}
    for k in range(args.main_line):
        if k in plain_at:
            main = s.commit("refs/heads/sibling", f"chore(release): v1.{k}", {"package.json": f'{{"v": {k}}}\n'},
                            [main])
            continue
        prs += 1
        if prs == feature_at:
            main, commits = pull_request(s, main, prs, "feat(citations): citation viewer",
                                         feature_commits(args.feature))
            feature = {"merge": main, "commits": commits}
        else:
            scope = SCOPES[prs % len(SCOPES)]
            bot = prs % 5 == 0
            title = f"chore(deps): bump lib{prs}" if bot else f"{'feat' if prs % 2 else 'fix'}({scope}): change {prs}"
            work = [(title, {f"src/{scope}/pr{prs}-{c}.ts": f"export const pr{prs}c{c} = 1;\n"})
                    for c in range(1 + prs % 4)]
            main, _ = pull_request(s, main, prs, title, work, BOT if bot else ANN)
    s.out += [b"reset refs/heads/sibling-tip", f"from {main}".encode(), b"reset refs/heads/feature-merge",
              f"from {feature['merge']}".encode()]
    s.run(world)
    sibling = init_repo(root / "sibling.git", bare=True)
    git.git(sibling, "fetch", "--quiet", "--no-tags", str(world), "refs/heads/sibling:refs/heads/main")
    fork_repo = init_repo(root / "fork")
    git.git(fork_repo, "fetch", "--quiet", "--no-tags", "--update-head-ok", str(world),
            "refs/heads/fork:refs/heads/main")
    check_out(fork_repo)
    return {"sibling": sibling, "fork": fork_repo, "base": git.rev_parse(world, "refs/heads/shared"),
            "feature": git.rev_parse(world, "refs/heads/feature-merge"),
            "tip": git.rev_parse(world, "refs/heads/sibling-tip")}


def feature_commits(n: int) -> list[tuple[str, dict[str, str]]]:
    kinds = ["feat", "feat", "fix", "feat", "refactor", "test", "feat", "fix", "docs", "feat", "fix"]
    out = []
    for c in range(n):
        kind = kinds[c % len(kinds)]
        path = "docs/citations.md" if kind == "docs" else f"src/citations/part{c}.ts"
        out.append((f"{kind}(citations): step {c}", {path: f"export const citation{c} = {c};\n"}))
    return out


def pull_request(s: Stream, main: str, number: int, title: str, work: list[tuple[str, dict[str, str]]],
                 author: str = ANN) -> tuple[str, list[str]]:
    ref, tip, commits, changed = f"refs/heads/pr/{number}", main, [], {}
    for subject, files in work:
        tip = s.commit(ref, subject, files, [tip], author)
        commits.append(tip)
        changed.update(files)
    merge = s.commit("refs/heads/sibling", f"Merge pull request #{number} from someone/pr-{number}\n\n{title}\n",
                     changed, [main, tip])
    return merge, commits


def config(root: Path, shapes: dict[str, Any], fork: str, scopes: list[str], check: str) -> dict[str, Any]:
    """The maintainer's config: types feat/fix/perf/refactor, the feature's scope, an allow list (src/**), the
    default deny list, bots excluded."""
    return {"sources": [{"name": "web", "url": str(shapes["sibling"]), "ref": "main", "mode": "cherry-pick",
                         "base": shapes["base"], "paths": ["src/**"], "scopes": scopes,
                         "exclude_authors": ["*[bot]"]}],
            "fork": {"path": fork, "branch": "main"}, "waves": {"a": {"buckets": ["*"]}}, "gates": [],
            "checks": [{"name": "test", "run": check}]}


def workspace(root: Path, name: str, data: dict[str, Any]) -> Path:
    ws = root / name
    ws.mkdir()
    (ws / "forkwave.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return ws


# --- doit, as an installed forkwave runs it ----------------------------------------------------------

def environment() -> dict[str, str]:
    """The caller's environment without git's variables, and with Python's bytecode kept: an installed
    forkwave has its modules compiled; without them (``PYTHONDONTWRITEBYTECODE``, set on some machines)
    every ``doit`` compiles all of them again, some 0.7 s that are no part of what is measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "PYTHONDONTWRITEBYTECODE"}


def doit(ws: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "-d", str(ws), *args],
                          capture_output=True, text=True, env=environment())
    return time.perf_counter() - start, proc


# --- the analysis, in a process of its own --------------------------------------------------------

def analyse(ws: str) -> None:
    """One cherry-pick analysis of ``ws``'s source (its mirror fetched); prints seconds and peak memory."""
    import resource

    from tasks.config import load_config
    from tasks.modes import cherrypick
    from tasks.workspace import Workspace

    cfg = load_config(Path(ws) / "forkwave.yaml").for_source("web")
    mirror = Workspace(Path(ws), "web").mirror if cfg.several else Workspace(Path(ws)).mirror
    upstream = git.rev_parse(mirror, "refs/heads/main") or ""
    t0 = time.perf_counter()
    report = cherrypick.drift(cfg, mirror, upstream, None, None)
    took = time.perf_counter() - t0
    print(json.dumps({"seconds": took, "picks": sum(1 for c in report["commits"] if c["pick"]),
                      "offered": len(report["commits"]),
                      "git_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                      "self_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def analysis(ws: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", f"from benchmarks.pick_siblings import analyse; analyse({str(ws)!r})"],
                          capture_output=True, text=True, cwd=ROOT, env=environment())
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.splitlines()[-1])


def git_cherry(fork: Path, mirror: Path, tip: str) -> float:
    t0 = time.perf_counter()
    git.git(fork, "cherry", "refs/heads/main", tip, env=git.alternates_env(mirror))
    return time.perf_counter() - t0


# --- a whole run ---------------------------------------------------------------------------------

def plain(fork: Path, sibling: Path, merge: str, check: str, runs: int) -> tuple[float, float]:
    """(seconds for fetch + switch + cherry-pick, seconds for the checks) in a checkout of the fork."""
    t0 = time.perf_counter()
    git.git(fork, "fetch", "--quiet", "--no-tags", str(sibling), "main")
    git.git(fork, "switch", "--quiet", "-c", "pick", "main")
    git.git(fork, "cherry-pick", "-x", "-m", "1", merge)
    picked = time.perf_counter() - t0
    for _ in range(runs):
        subprocess.run(["bash", "-c", check], cwd=fork, check=True)
    return picked, time.perf_counter() - t0 - picked


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1500)
    ap.add_argument("--shared", type=int, default=300)
    ap.add_argument("--fork-commits", type=int, default=10_000)
    ap.add_argument("--main-line", type=int, default=110)
    ap.add_argument("--merges", type=int, default=71)
    ap.add_argument("--feature", type=int, default=11)
    ap.add_argument("--check", default="sleep 3")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    with scratch(args.keep, "forkwave-pick-siblings-") as root:
        t0 = time.perf_counter()
        shapes = build(root, args)
        line = git.git(shapes["sibling"], "rev-list", "--first-parent", "--count", f"{shapes['base']}..main").decode()
        merges = git.git(shapes["sibling"], "rev-list", "--first-parent", "--merges", "--count",
                         f"{shapes['base']}..main").decode()
        own = git.git(shapes["fork"], "rev-list", "--count", f"{shapes['base']}..main").decode()
        print(f"built in {time.perf_counter() - t0:.1f} s: sibling main line {line.strip()} commits "
              f"({merges.strip()} merges), the fork {own.strip()} commits of its own, {args.files} files")
        fails = 0

        # 1. the analysis with 0 candidates, beside git cherry
        none_ws = workspace(root, "ws-none",
                            config(root, shapes, str(shapes["fork"]), ["nothing-has-this"], args.check))
        doit(none_ws, "list")  # compiles forkwave's modules once, as installing it does
        _, fetched = doit(none_ws, "fetch")
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
        mirror = none_ws / ".forkwave" / "sources" / "web.git"
        if not mirror.exists():
            mirror = none_ws / ".forkwave" / "upstream.git"
        runs = [analysis(none_ws) for _ in range(args.repeat)]
        cherry = statistics.median(git_cherry(shapes["fork"], mirror, shapes["tip"]) for _ in range(args.repeat))
        took = statistics.median(r["seconds"] for r in runs)
        ratio = took / cherry
        fails += ratio > 2
        print(f"analysis, 0 candidates ({runs[0]['offered']} commits offered, {runs[0]['picks']} picked): forkwave "
              f"{took:.2f} s (git children peak {max(r['git_peak_mb'] for r in runs):.0f} MB, python "
              f"{max(r['self_peak_mb'] for r in runs):.0f} MB); git cherry {cherry:.2f} s; {ratio:.2f}x "
              f"(target <= 2x) {'ok' if ratio <= 2 else 'OVER'}")

        # 2. the same analysis with the feature as a candidate: the fork is read (cold cache, then warm)
        want_ws = workspace(root, "ws-want", config(root, shapes, str(shapes["fork"]), ["citations"], args.check))
        assert doit(want_ws, "fetch")[1].returncode == 0
        cold = analysis(want_ws)
        warm = statistics.median(analysis(want_ws)["seconds"] for _ in range(args.repeat))
        print(f"analysis, the feature a candidate ({cold['picks']} pick): forkwave {cold['seconds']:.2f} s with an "
              f"empty cache (git children peak {cold['git_peak_mb']:.0f} MB), {warm:.2f} s warm; git cherry "
              f"{cherry:.2f} s ({cold['seconds'] / cherry:.2f}x cold, {warm / cherry:.2f}x warm)")

        # 3. a whole run: doit in a fresh workspace, beside plain git on a copy of the same fork
        wholes, plains, check_runs = [], [], 0
        for k in range(args.repeat):
            fw_fork, plain_fork = root / f"fork-forkwave-{k}", root / f"fork-plain-{k}"
            shutil.copytree(shapes["fork"], fw_fork, symlinks=True)
            shutil.copytree(shapes["fork"], plain_fork, symlinks=True)
            log = root / f"checks-{k}.log"
            run_ws = workspace(root, f"ws-run-{k}", config(root, shapes, str(fw_fork), ["citations"],
                                                           f"echo run >> {log}; {args.check}"))
            whole, proc = doit(run_ws)
            if proc.returncode != 0:
                raise SystemExit(f"doit failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
            check_runs = len(log.read_text().splitlines())
            picked = git.git(fw_fork, "log", "--format=%B", "refs/heads/main..refs/heads/sync/web").decode()
            assert f"(cherry picked from commit {shapes['feature']})" in picked, "the feature was not picked"
            wholes.append(whole)
            plains.append(plain(plain_fork, shapes["sibling"], shapes["feature"], args.check, check_runs))
        whole = statistics.median(wholes)
        pick_s = statistics.median(p[0] for p in plains)
        checks_s = statistics.median(p[1] for p in plains)
        baseline = pick_s + checks_s
        ratio = whole / baseline
        fails += ratio > 1.3
        what = "the pick alone: a passing pick needs no baseline" if check_runs == 1 else "the pick and the baseline"
        print(f"whole run (median of {args.repeat}): forkwave {whole:.2f} s, {check_runs} check run(s) "
              f"({what}); plain git {pick_s:.2f} s fetch + switch + cherry-pick -m 1, + {checks_s:.2f} s for "
              f"the same {check_runs} check runs = {baseline:.2f} s; {ratio:.2f}x (target <= 1.3x) "
              f"{'ok' if ratio <= 1.3 else 'OVER'}")
        once = pick_s + checks_s / max(check_runs, 1)
        print(f"  forkwave's own time (the run less its check runs): {whole - checks_s:.2f} s; plain git with the "
              f"check run once: {once:.2f} s ({whole / once:.2f}x)")
        if fails:
            sys.exit(1)


def _timed(check: str, where: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", check], cwd=where, check=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
