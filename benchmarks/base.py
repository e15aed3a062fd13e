"""How long does base detection take on a long upstream history, and does it find the truth?

Builds, in one ``git fast-import`` stream, a synthetic upstream of ``--commits``
first-parent commits (default 5,000) over a tree of ``--files`` files (default 3,000)
under ``packages/twenty-*``: every commit changes 1-4 files, some add, delete or rename
one, and every 100th is a merge of a side-branch commit. A quarter of the files and
every ``package.json`` mention ``twenty``. The fork is the tree at commit ``--truth``
(default 60 % of the way) with ``packages/twenty-*`` renamed ``packages/acme-*`` and
``twenty`` rewritten ``acme`` in ``*.ts`` and ``package.json``, plus 20 changed, 15 added
and 10 deleted files, committed with no shared history.

Timed, median of ``--runs``: ``basedetect.detect`` (one ``git log --raw`` over the
first-parent history, one ``ls-tree -r`` of the fork, the upstream blobs that may match
only after rewriting read once, the incremental walk, the best candidate's differences).
Then the obvious alternative, measured on ``--sample`` commits and extrapolated: map each
commit's tree and ``diff-tree`` it against the fork (without even rewriting content).

Target (issue): 5,000 commits under 10 s.

    python -m benchmarks.base [--commits 5000] [--files 3000] [--truth N] [--runs 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from benchmarks._common import scratch
from tasks.repo import basedetect, git
from tasks.config import Config, Fork, MapRule, Upstream
from tasks.config import RewriteRule
from tasks.core.rewrite import Rewriter
from tasks.repo.synth import EPOCH, commit_tree, init_repo
from tasks.repo.treemap import map_tree

PACKAGES = ["server", "front", "ui", "shared", "emails", "website", "zapier", "sdk", "cli", "utils"]
MAP = (MapRule("packages/twenty-", "packages/acme-"),)
REWRITE = (RewriteRule("twenty", "acme", ("*.ts", "package.json")),)
MERGE_EVERY = 100
EDITS = {"changed": 20, "added": 15, "deleted": 10}


def initial_files(n: int) -> dict[str, str]:
    files = {"README.md": "# Twenty\n", "package.json": '{"name": "twenty", "private": true}\n'}
    for pkg in PACKAGES:
        files[f"packages/twenty-{pkg}/package.json"] = f'{{"name": "twenty-{pkg}", "version": "0.1.0"}}\n'
    i = 0
    while len(files) < n:
        pkg = PACKAGES[i % len(PACKAGES)]
        module, f = divmod(i // len(PACKAGES), 20)
        path = f"packages/twenty-{pkg}/src/modules/m{module:03}/f{f:02}.ts"
        files[path] = (f"import {{ x }} from '@twenty/{pkg}';\n" if i % 4 == 0 else "") + f"export const v{i} = {i};\n"
        i += 1
    return files


class Stream:
    """A fast-import stream under construction, and the upstream tree it leaves on main."""

    def __init__(self, files: dict[str, str]):
        self.files = dict(files)
        self.chunks: list[bytes] = []
        self.when = EPOCH
        self.marks = 0
        self.commit("main", "initial import", self.files, (), parent=None, deleteall=True)

    def commit(self, branch: str, message: str, modified: dict[str, str], deleted: tuple[str, ...],
               parent: str | None, merge: str | None = None, deleteall: bool = False,
               renames: tuple[tuple[str, str], ...] = ()) -> str:
        self.marks += 1
        self.when += 60
        msg = message.encode()
        head = [f"commit refs/heads/{branch}", f"mark :{self.marks}",
                f"author Twenty <dev@twenty.com> {self.when} +0000",
                f"committer Twenty <dev@twenty.com> {self.when} +0000", f"data {len(msg)}"]
        out = [line.encode() for line in head] + [msg]
        if parent:
            out.append(f"from {parent}".encode())
        if merge:
            out.append(f"merge {merge}".encode())
        if deleteall:
            out.append(b"deleteall")
        out += [f"R {old} {new}".encode() for old, new in renames]
        out += [f"D {p}".encode() for p in deleted]
        for path, content in modified.items():
            data = content.encode()
            out += [f"M 100644 inline {path}".encode(), b"data %d" % len(data), data]
        self.chunks.append(b"\n".join(out) + b"\n")
        return f":{self.marks}"


def build_upstream(root: Path, args: argparse.Namespace,
                   rng: random.Random) -> tuple[Path, str, str, dict[str, str], set[str]]:
    """(repo, main tip, truth commit, the tree at the truth, paths the truth commit touched)."""
    stream = Stream(initial_files(args.files))
    files = stream.files
    tip, truth_mark, truth_files, truth_touched = ":1", ":1", dict(files), set(files)
    paths = sorted(files)
    for k in range(2, args.commits + 1):
        if k % 50 == 0:  # sampling from a list; refreshed now and then (stale entries are skipped)
            paths = sorted(files)
        modified: dict[str, str] = {}
        for path in rng.sample(paths, rng.randint(1, 4)):
            if path in files:
                modified[path] = files[path] + f"// change {k}{' twenty' if 'twenty' in files[path] else ''}\n"
        deleted: tuple[str, ...] = ()
        renames: tuple[tuple[str, str], ...] = ()
        roll = rng.random()
        if roll < 0.2:
            pkg = rng.choice(PACKAGES)
            modified[f"packages/twenty-{pkg}/src/added/a{k:05}.ts"] = f"export const a{k} = '{k}';\n"
        elif roll < 0.28:
            victim = rng.choice(paths)
            if victim in files and victim not in modified and victim.endswith(".ts"):
                deleted = (victim,)
        elif roll < 0.31:
            old = rng.choice(paths)
            if old in files and old not in modified and old.endswith(".ts"):
                new = old.replace("/src/", "/src/moved/", 1)
                if new not in files:
                    renames = ((old, new),)
        if k % MERGE_EVERY == 0:  # a side-branch commit carrying part of the change, merged with the rest
            side_path = f"packages/twenty-shared/src/side/s{k:05}.ts"
            side = stream.commit("side", f"side {k}", {side_path: f"export const s{k} = 1; // twenty\n"}, (),
                                 parent=tip)
            modified[side_path] = f"export const s{k} = 1; // twenty\n"
            tip = stream.commit("main", f"merge side {k}", modified, deleted, parent=tip, merge=side, renames=renames)
        else:
            tip = stream.commit("main", f"change {k}", modified, deleted, parent=tip, renames=renames)
        for old, new in renames:
            files[new] = files.pop(old)
        for p in deleted:
            del files[p]
        files.update(modified)
        touched = set(modified) | set(deleted) | {p for r in renames for p in r}
        if k == args.truth:
            truth_mark, truth_files, truth_touched = tip, dict(files), touched
    up = init_repo(root / "upstream.git", bare=True)
    marks = root / "marks"
    git.git(up, "fast-import", "--quiet", f"--export-marks={marks}", input=b"".join(stream.chunks))
    by_mark = dict(line.split(" ") for line in marks.read_text().splitlines())
    assert stream.files == files
    return up, by_mark[tip], by_mark[truth_mark], truth_files, truth_touched


def make_fork(root: Path, truth_files: dict[str, str], touched: set[str], rng: random.Random) -> Path:
    """The truth's tree renamed, rebranded and edited (never on the paths the truth commit touched)."""
    rw = Rewriter(REWRITE)
    fork = {}
    for path, content in truth_files.items():
        q = basedetect.map_path(path, MAP)
        fork[q] = rw.apply(q, content.encode()).decode() if rw.applies(q) else content
    untouched = sorted(p for p in fork if basedetect.map_path(p, ()) not in touched and p.endswith(".ts"))
    untouched = [p for p in untouched if p.replace("packages/acme-", "packages/twenty-", 1) not in touched]
    picked = rng.sample(untouched, EDITS["changed"] + EDITS["deleted"])
    for p in picked[:EDITS["changed"]]:
        fork[p] += "// acme edit\n"
    for p in picked[EDITS["changed"]:]:
        del fork[p]
    for j in range(EDITS["added"]):
        fork[f"packages/acme-billing/src/invoice{j:02}.ts"] = f"export const invoice{j} = {j};\n"
    repo = init_repo(root / "fork")
    commit_tree(repo, fork, message="acme snapshot", tick=10)
    return repo


def brute_force_seconds(cfg: Config, up: Path, fork_tree: str, shas: list[str]) -> float:
    """Seconds to map one commit's tree and diff it against the fork (no content rewrite at all)."""
    env = git.alternates_env(cfg.fork.path)
    start = time.perf_counter()
    for sha in shas:
        mapped, _ = map_tree(up, git.tree_of(up, sha), cfg.map, env=env)
        git.diff_trees(up, mapped, fork_tree, env=env)
    return (time.perf_counter() - start) / len(shas)


def phases(cfg: Config, up: Path, tip: str) -> dict[str, float]:
    """Where the time of one detection goes."""
    out: dict[str, float] = {}
    t = time.perf_counter()
    land = basedetect.Lander(cfg)
    _, _, fork = basedetect.fork_entries(cfg, land)
    out["fork ls-tree -r"] = time.perf_counter() - t
    t = time.perf_counter()
    commits = basedetect.first_parent_log(up, tip)
    out["git log --raw (and parse)"] = time.perf_counter() - t
    t = time.perf_counter()
    rw = Rewriter(REWRITE)
    needed = basedetect.needed_rewrites(commits, land, fork, rw)
    rewritten = basedetect.rewritten_oids(up, needed, rw)
    out[f"read + rewrite {len({o for _, o in needed}):,} blobs"] = time.perf_counter() - t
    t = time.perf_counter()
    basedetect.walk(commits, land, basedetect.Matcher(fork, rewritten))
    out[f"walk {sum(len(c.changes) for c in commits):,} changes"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=5000)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--truth", type=int, help="the commit (1 = the first) the fork is made from; default 60 %%")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sample", type=int, default=20, help="commits timed for the diff-every-commit estimate")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="build here and keep it (default: a temporary directory)")
    args = ap.parse_args()
    args.truth = args.truth or max(1, args.commits * 3 // 5)
    with scratch(args.keep, "forkwave-base-") as root:
        run(root, args)


def run(root: Path, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    start = time.perf_counter()
    up, tip, truth, truth_files, touched = build_upstream(root, args, rng)
    fork = make_fork(root, truth_files, touched, rng)
    print(f"built an upstream of {args.commits:,} first-parent commits ({args.commits // MERGE_EVERY} merges) over "
          f"{args.files:,} files and a fork of commit {args.truth:,} (its {len(truth_files):,} files, "
          f"+{EDITS['changed']} changed, +{EDITS['added']} added, -{EDITS['deleted']} deleted) "
          f"in {time.perf_counter() - start:.1f} s")
    cfg = Config(file=root / "forkwave.yaml", upstream=Upstream(str(up)), fork=Fork(fork), map=MAP, rewrite=REWRITE)

    times, report = [], {}
    for _ in range(args.runs):
        t = time.perf_counter()
        report = basedetect.detect(cfg, up, tip)
        times.append(time.perf_counter() - t)
    best, runner = report["best"], report["runner_up"]
    found = best["sha"] == truth or (map_tree(up, git.tree_of(up, best["sha"]), MAP)[0]
                                     == map_tree(up, git.tree_of(up, truth), MAP)[0])
    median = statistics.median(times)
    print(f"\nbasedetect.detect, median of {args.runs} runs: {median:.3f} s "
          f"(runs: {', '.join(f'{t:.3f}' for t in times)})")
    for name, seconds in phases(cfg, up, tip).items():
        print(f"  {name:32} {seconds:7.3f} s")
    print(f"commits scanned: {report['commits_scanned']:,}; blobs read for rewrites: {report['blobs_read']:,}")
    print(f"found {best['sha'][:12]} (#{best['position']}, {best['subject']!r}, distance {best['distance']}); "
          f"truth {truth[:12]} (#{args.truth}): {'correct' if found else 'WRONG'}; "
          f"expected distance {sum(EDITS.values())}")
    if runner:
        print(f"runner-up {runner['sha'][:12]} (#{runner['position']}, distance {runner['distance']})")

    fork_tree = git.tree_of(fork, "refs/heads/main")
    shas = git.git(up, "rev-list", "--first-parent", tip).decode().split()
    per_commit = brute_force_seconds(cfg, up, fork_tree, rng.sample(shas, min(args.sample, len(shas))))
    print(f"\nthe alternative, map + diff-tree every commit: {per_commit * 1000:.1f} ms a commit "
          f"(sampled {min(args.sample, len(shas))}) -> about {per_commit * len(shas):.1f} s for {len(shas):,}, "
          f"without rewriting any content ({per_commit * len(shas) / median:.0f}x)")
    print(f"target: < 10 s for 5,000 commits: {'met' if median < 10 else 'NOT met'} ({median:.2f} s); "
          f"found the truth: {'yes' if found else 'NO'}")


if __name__ == "__main__":
    main()
