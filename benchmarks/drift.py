"""How long does drift take on a large monorepo pair, beside the obvious alternative?

Builds (git fast-import) an upstream of N files under ``packages/twenty-*`` with a tag
``v1`` and a ``main`` carrying a few hundred changes, additions and deletions, and a fork
copied from v1 with ``packages/twenty-*`` renamed to ``packages/acme-*`` plus its own edits
and additions. Both are also checked out on disk.

Timed, median of ``--runs``:

* ``drift.compute`` (3-way, one map rule): read the fork's head and tree, resolve the
  base and the trees (one ``cat-file --batch-check``), map the upstream and base trees
  (ls-tree/mktree), one ``diff-tree --stdin`` for both pairs, count the fork's files
  (``ls-tree -r``), classify and group. The mirror is created and fetched beforehand
  (printed, not included). The first run is cold: it maps the trees and counts the
  fork's files, and caches both by tree id in the mirror (``forkwave-trees.json``), as
  every later drift on the same trees does. It is printed separately and is part of the
  median; later runs show the warm cost (a re-run after a config change, say).
* the same plus serialising drift.json and rendering drift.md (what the task writes).
* the obvious alternative: ``os.walk`` both checked-out trees and compare the file lists
  (upstream names mapped). It finds missing and extra files but no content change at all.

Targets (issue): 20,000 files under 0.5 s, 100,000 under 2.5 s, at least 5x faster than the walk.

    python benchmarks/drift.py [--files 20000] [--runs 7] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import scratch
from tasks.repo import drift, fetch, git
from tasks.report import render
from tasks.config import Config, Fork, MapRule, Upstream, Wave
from tasks.repo.synth import commit_tree, init_repo
from tasks.workspace import Workspace, dump_json

PACKAGES = ["server", "front", "ui", "shared", "emails", "website", "docs", "zapier", "chrome-extension",
            "utils", "sdk", "cli", "e2e-testing", "apps", "workers", "tinybird"]
FILES_PER_DIR = 20
DIRS_PER_MODULE = 5


def upstream_files(n: int) -> dict[str, str]:
    """``n`` files spread over packages/twenty-*/src/modules/mNNN/dN/ (20 a directory), plus a few at the top."""
    files = {"README.md": "# Twenty\n", "package.json": "{}\n", "nx.json": "{}\n"}
    per_pkg = -(-(n - len(files)) // len(PACKAGES))
    i = 0
    for pkg in PACKAGES:
        for k in range(per_pkg):
            if len(files) >= n:
                break
            d, f = divmod(k, FILES_PER_DIR)
            module, sub = divmod(d, DIRS_PER_MODULE)
            path = f"packages/twenty-{pkg}/src/modules/m{module:03}/d{sub}/f{f:02}.ts"
            files[path] = f"// {path}\nexport const value{i} = {i};\n"
            i += 1
    return files


def evolve(v1: dict[str, str], rng: random.Random) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """(upstream main, fork) from v1: a few hundred changes on each side."""
    paths = sorted(p for p in v1 if p.startswith("packages/"))
    picked = rng.sample(paths, 530)
    up_changed, up_deleted, fork_changed, both = picked[:300], picked[300:400], picked[400:480], picked[480:530]
    main = dict(v1)
    for p in up_changed + both:
        main[p] = f"{v1[p]}// upstream change\n"
    for p in up_deleted:
        del main[p]
    for j in range(100):
        main[f"packages/twenty-{PACKAGES[j % len(PACKAGES)]}/src/modules/new{j // 20}/f{j:02}.ts"] = f"new {j}\n"
    fork = dict(v1)
    for p in fork_changed + both:
        fork[p] = f"{v1[p]}// acme change\n"
    for j in range(60):
        fork[f"packages/twenty-billing/src/invoice{j // 20}/f{j:02}.ts"] = f"invoice {j}\n"
    fork = {p.replace("packages/twenty-", "packages/acme-", 1): c for p, c in fork.items()}
    counts = {"upstream changes": len(up_changed), "upstream deletions": len(up_deleted),
              "upstream additions": 100, "fork changes": len(fork_changed), "both changed": len(both),
              "fork additions": 60}
    return main, fork, counts


def checkout(repo: Path, dest: Path) -> Path:
    git.git(None, "clone", "--quiet", "--branch", "main", str(repo), str(dest))
    return dest


def walk_compare(upstream_dir: Path, fork_dir: Path, rules: tuple[MapRule, ...]) -> tuple[int, int]:
    """The obvious alternative: list both trees from disk, map upstream names, compare the sets."""
    def listing(root: Path) -> set[str]:
        out: set[str] = set()
        prefix = len(str(root)) + 1
        for dirpath, dirnames, filenames in os.walk(root):
            if ".git" in dirnames:
                dirnames.remove(".git")
            base = dirpath[prefix:]
            out.update(f"{base}/{f}" if base else f for f in filenames)
        return out

    def mapped(path: str) -> str:
        rule = next((r for r in rules if path.startswith(r.src)), None)
        return path if rule is None else rule.dst + path[len(rule.src):]

    up = {mapped(p) for p in listing(upstream_dir)}
    fk = listing(fork_dir)
    return len(up - fk), len(fk - up)


def count_git_processes(fn: Callable[[], Any]) -> int:
    """How many git commands ``fn`` runs (every git command goes through ``tasks.repo.git.run``)."""
    calls = 0
    real = git.run

    def counting(*a: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*a, **kw)

    git.run = counting
    try:
        fn()
    finally:
        git.run = real
    return calls


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="build here and keep it (default: a temporary directory)")
    args = ap.parse_args()
    with scratch(args.keep, "forkwave-bench-") as root:
        run(root, args)


def run(root: Path, args: argparse.Namespace) -> None:
    start = time.perf_counter()
    v1 = upstream_files(args.files)
    main_files, fork_files, counts = evolve(v1, random.Random(args.seed))
    up = init_repo(root / "upstream.git", bare=True)
    commit_tree(up, v1, message="v1", tag="v1")
    up_sha = commit_tree(up, main_files, message="main", tick=10)
    fk = init_repo(root / "fork")
    commit_tree(fk, fork_files, message="fork", tick=5)
    print(f"built upstream ({len(v1):,} files at v1, {len(main_files):,} at main) and fork "
          f"({len(fork_files):,} files) with git fast-import in {time.perf_counter() - start:.1f} s")
    print("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    start = time.perf_counter()
    git.git(fk, "checkout", "--quiet", "-f", "main")
    up_dir = checkout(up, root / "upstream-checkout")
    print(f"checked both out on disk in {time.perf_counter() - start:.1f} s")

    rules = (MapRule("packages/twenty-", "packages/acme-"),)
    cfg = Config(file=root / "forkwave.yaml", upstream=Upstream(str(up)), fork=Fork(fk), base="v1", map=rules,
                 waves=(Wave("a", ("packages/acme-server",), ("**/migrations/**",)), Wave("b", ("*",))))
    ws = Workspace(root / "ws")
    start = time.perf_counter()
    record = fetch.fetch(cfg, ws)
    assert record["sha"] == up_sha
    print(f"cold mirror creation (git fetch into .forkwave/upstream.git), not timed below: "
          f"{time.perf_counter() - start:.1f} s")

    compute_times, report = timed(lambda: drift.compute(cfg, ws.mirror, up_sha), args.runs)
    totals = report["totals"]
    expected = {"upstream-changed": counts["upstream changes"], "upstream-deleted": counts["upstream deletions"],
                "upstream-added": counts["upstream additions"], "fork-changed": counts["fork changes"],
                "both-changed": counts["both changed"], "fork-added": counts["fork additions"]}
    assert {k: totals.get(k, 0) for k in expected} == expected, totals

    def compute_and_write() -> None:
        r = drift.compute(cfg, ws.mirror, up_sha)
        dump_json(r).encode()
        render.drift_board(r, cfg.upstream.url).encode()

    write_times, _ = timed(compute_and_write, args.runs)
    spawns = count_git_processes(lambda: drift.compute(cfg, ws.mirror, up_sha))
    spawn_times, _ = timed(lambda: git.git(None, "--version"), 15)
    walk_times, (missing, extra) = timed(lambda: walk_compare(up_dir, fk, rules), args.runs)
    assert (missing, extra) == (counts["upstream additions"], counts["upstream deletions"] + counts["fork additions"])

    drift_median, walk_median = statistics.median(compute_times), statistics.median(walk_times)
    target = 0.5 if args.files <= 20_000 else 2.5 * args.files / 100_000
    print(f"\ndrift on {args.files:,} files, median of {args.runs} runs:")
    print(f"  drift.compute                        {drift_median:8.3f} s   (first run {compute_times[0]:.3f} s; "
          f"classes: " + ", ".join(f"{k} {v}" for k, v in totals.items()) + ")")
    print(f"  drift.compute + drift.json + drift.md {statistics.median(write_times):7.3f} s")
    print(f"  os.walk both checkouts, compare lists {walk_median:7.3f} s   "
          f"(finds {missing} missing + {extra} extra, no content changes)")
    print(f"  walk / drift                         {walk_median / drift_median:8.1f} x")
    print(f"  (drift.compute runs {spawns} git processes; one `git --version` costs "
          f"{statistics.median(spawn_times) * 1000:.1f} ms here)")
    ratio = walk_median / drift_median
    print(f"targets: drift < {target:.2f} s: {'met' if drift_median < target else 'NOT met'}; "
          f">= 5x faster than the walk: {'met' if ratio >= 5 else 'NOT met'} ({ratio:.1f}x)")


if __name__ == "__main__":
    main()
