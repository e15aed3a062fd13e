"""What does planning with coupled groups cost on a long upstream history?

Builds, in one ``git fast-import`` stream, an upstream of ``--files`` files (default 10,000:
modules with a test beside each, a workspace of packages sharing a root ``yarn.lock``) and
``--commits`` first-parent commits after the base (default 5,000), each changing 1-12
files, a module with its test now and then; one of them is a mass reformat touching every
file. Every path the history changed is planned (a synthetic drift, all upstream-changed).

Timed, median of ``--runs``: the one ``git log --name-only`` of the history
(``git.first_parent_paths``), merging and mapping it (``coupling.history``), and
``plan_waves`` with coupling — beside ``plan_waves`` without the history (tests, lockfiles
only) and the plan before coupled groups (each path to its wave, waves cut by directory). It prints how many groups the
plan keeps whole, how many it had to split, and that the mass commit coupled nothing.

    python -m benchmarks.coupling [--files 10000] [--commits 5000] [--max-files 25] [--runs 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks._common import scratch
from tasks.core import coupling
from tasks.repo import git
from tasks.config import DEFAULT_WAVES, Wave
from tasks.core.plan import assign_wave, cut, plan_waves
from tasks.repo.synth import EPOCH, init_repo

PACKAGES = 40


def tree(n: int) -> list[str]:
    files = ["package.json", "yarn.lock"] + [f"packages/p{i:02}/package.json" for i in range(PACKAGES)]
    i = 0
    while len(files) < n:
        pkg, module = i % PACKAGES, i // PACKAGES
        files += [f"packages/p{pkg:02}/src/m{module // 20:03}/f{module % 20:02}.ts",
                  f"packages/p{pkg:02}/src/m{module // 20:03}/__tests__/f{module % 20:02}.spec.ts"]
        i += 1
    return sorted(files[:n])


def stream(files: list[str], commits: int, rng: random.Random) -> tuple[bytes, int]:
    """The fast-import stream (base commit tagged ``base``, then the history) and the mass commit's position."""
    when, chunks = EPOCH, []
    mass = commits // 2

    def commit(n: int, paths: list[str], base: bool = False) -> None:
        msg = f"change {n}".encode()
        out = [b"commit refs/heads/main", f"committer Dev <dev@example.com> {when + n * 60} +0000".encode(),
               b"data %d" % len(msg), msg]
        for p in paths:
            data = f"// {p} {n}\n".encode()
            out += [f"M 100644 inline {p}".encode(), b"data %d" % len(data), data]
        if base:
            out += [b"reset refs/tags/base", b"from refs/heads/main"]
        chunks.append(b"\n".join(out) + b"\n")

    commit(0, files, base=True)
    modules = [p for p in files if p.endswith(".ts") and "__tests__" not in p]
    for n in range(1, commits + 1):
        if n == mass:
            commit(n, files)
            continue
        picked = set(rng.sample(files, rng.randint(1, 12)))
        if rng.random() < 0.3:  # a module with its test
            m = rng.choice(modules)
            picked |= {m, m.replace("/f", "/__tests__/f").replace(".ts", ".spec.ts")}
        if rng.random() < 0.05:  # a dependency bump: a package's manifest and the root lockfile
            picked |= {f"packages/p{rng.randrange(PACKAGES):02}/package.json", "yarn.lock"}
        commit(n, sorted(picked))
    return b"".join(chunks), mass


def drift_for(paths: set[str], base: str, tip: str) -> dict[str, Any]:
    entries = {p: {"class": "upstream-changed", "bucket": "/".join(p.split("/")[:2]), "upstream": None,
                   "fork": None, "base": None} for p in sorted(paths)}
    return {"upstream": {"sha": tip}, "base": {"sha": base, "groups": {}}, "entries": entries}


def before_coupling(drift: dict[str, Any], waves: tuple[Wave, ...], max_files: int) -> dict[str, list[list[str]]]:
    """The plan before coupled groups: each path to its wave, each wave cut by directory."""
    by_wave: dict[str, list[str]] = {w.name: [] for w in waves}
    for path, e in drift["entries"].items():
        wave = assign_wave(path, e["bucket"], waves)
        if wave:
            by_wave[wave].append(path)
    return {w: cut(paths, max_files) for w, paths in by_wave.items()}


def timed(fn: Any, runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--commits", type=int, default=5_000)
    ap.add_argument("--max-files", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    waves = tuple(Wave(n, tuple(w.get("buckets", ())), tuple(w.get("paths", ()))) for n, w in DEFAULT_WAVES.items())
    with scratch(args.keep, "forkwave-coupling-") as root:
        t = time.perf_counter()
        up = init_repo(root / "upstream.git", bare=True)
        body, mass = stream(tree(args.files), args.commits, random.Random(7))
        git.git(up, "fast-import", "--quiet", input=body)
        base, tip = git.rev_parse(up, "base^{commit}"), git.rev_parse(up, "main")
        assert base and tip
        print(f"built {args.files:,} files and {args.commits:,} commits after the base "
              f"in {time.perf_counter() - t:.1f} s")

        t_log, log = timed(lambda: git.first_parent_paths(up, tip, base), args.runs)
        t_hist, commits = timed(lambda: coupling.history({base: log}, ()), args.runs)
        drift = drift_for({p for c in commits for p in c.files}, base, tip)
        t_plan, plan = timed(lambda: plan_waves(drift, waves, args.max_files, commits=commits), args.runs)
        t_flat, flat = timed(lambda: plan_waves(drift, waves, args.max_files), args.runs)
        t_old, old = timed(lambda: before_coupling(drift, waves, args.max_files), args.runs)

        info = plan.coupling
        print(f"planned paths: {len(drift['entries']):,}; commits over the cap ({info['commit_cap']} files): "
              f"{info['commits']['too_large']} (the mass reformat, #{mass}, touched {args.files:,})")
        print(f"{'step':<40}{'seconds':>10}")
        for name, secs in [("git log --name-only (first_parent_paths)", t_log), ("coupling.history", t_hist),
                           ("plan_waves with coupling", t_plan), ("plan_waves without history", t_flat),
                           ("waves + cut by directory (baseline)", t_old)]:
            print(f"{name:<40}{secs:>10.3f}")
        for label, per_wave in (("with coupling", {w: sum(len(s.files) for s in plan.slices if s.wave == w)
                                                   for w, _ in plan.waves}),
                                ("baseline", {w: sum(len(c) for c in cuts) for w, cuts in old.items()})):
            print(f"files per wave, {label}: " + ", ".join(f"{w} {n:,}" for w, n in per_wave.items()))
        groups = [g for s in plan.slices for g in s.groups]
        whole = [g for g in groups if not g.split]
        print(f"slices: {len(plan.slices):,} with coupling, {sum(len(c) for c in old.values()):,} baseline; coupled "
              "groups kept whole: "
              f"{len(whole):,} ({sum(len(g.files) for g in whole):,} files); parts of groups larger than "
              f"{args.max_files}, cut: {len(groups) - len(whole):,}; largest slice "
              f"{max(len(s.files) for s in plan.slices)} files (a manifest/lockfile group is never split)")


if __name__ == "__main__":
    main()
