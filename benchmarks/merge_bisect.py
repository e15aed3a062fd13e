"""How many check runs merge mode needs to name the upstream commit that broke the build.

A fork that shares history with its upstream (cloned at upstream commit 20, one commit of its
own), then a range of 200 upstream commits to merge. For each of 20 positions, a branch of that
range in which the commit at that position writes ``BROKEN`` into ``src/app.txt`` (later
commits keep it). The check is real and runs on real git objects: the candidate tree is the
merge of "commits 1..i" into the fork's tip (``git merge-tree --write-tree``, a real merge, not
a fast-forward), and it fails when ``git grep`` finds ``BROKEN`` in that tree.

Printed per position: the runs ``tasks.core.ranges.first_bad`` needs to name the commit — from
nothing known, so the whole range's run and the start's (the baseline) count — beside a linear
per-commit scan (commit 1, then 1..2, ... until one fails), and whether the named commit is the
broken one. Target: ceil(log2 200) + 2 = 10 runs.

Then, for ``--engine`` positions (default 5), the same through merge mode's own runner
(``tasks.engine.merging.bisect``): each candidate judged by the ``Validator`` — a real host
check (``grep``) in a checked-out worktree, the verdict memo of a fresh workspace — so the
figures include checkouts and check processes, as a ``doit`` run pays them.

    python -m benchmarks.merge_bisect [--commits 200] [--positions 20] [--engine 5] [--keep DIR]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import scratch
from tasks.repo import git
from tasks.core.ranges import CULPRIT, first_bad, max_calls
from tasks.proc import run
from tasks.repo import commits
from tasks.repo.synth import EPOCH, commit_tree, init_repo

AT = 20  # the fork was cloned at upstream commit 20


def build(root: Path, n: int, positions: list[int]) -> tuple[Path, str, dict[int, list[str]]]:
    """(fork, fork tip, position -> the range's shas, oldest first), all in real repositories."""
    upstream = init_repo(root / "upstream.git", bare=True)
    files = {"README.md": "# up\n", "src/app.txt": "fine\n"}
    for k in range(1, AT + 1):
        files[f"src/m{k:03}.txt"] = f"m{k}\n"
        commit_tree(upstream, files, message=f"feat: upstream {k}", tick=k, tag=f"c{k}" if k == AT else None)
    fork = init_repo(root / "fork")
    git.git(fork, "fetch", "--quiet", "--no-tags", "--update-head-ok", str(upstream),
            f"refs/tags/c{AT}:refs/heads/main")
    tip = commit_tree(fork, {**files, "fork/notes.txt": "ours\n"}, message="fork: notes", tick=AT * 2)
    base = git.rev_parse(upstream, f"refs/tags/c{AT}") or ""
    return fork, tip, {p: fast_range(upstream, base, n, p) for p in positions}


def fast_range(upstream: Path, base: str, n: int, bad: int) -> list[str]:
    """``n`` commits on ``refs/heads/bad-<bad>`` after ``base`` in one ``git fast-import``; commit ``bad``
    (1-based) breaks ``src/app.txt``. Commits before it are the same objects on every branch."""
    branch = f"refs/heads/bad-{bad}".encode()
    stream = [b"reset " + branch, f"from {base}".encode()]
    for k in range(1, n + 1):
        when = f"{EPOCH + (AT + k) * 60} +0000"
        msg = ("fix: break the app" if k == bad else f"feat: range commit {k}").encode()
        stream += [b"commit " + branch, f"mark :{k}".encode(), f"author Up <up@example.com> {when}".encode(),
                   f"committer Up <up@example.com> {when}".encode(), b"data %d" % len(msg), msg]
        body = f"r{k}\n".encode()
        stream += [f"M 100644 inline src/r{k:03}.txt".encode(), b"data %d" % len(body), body]
        if k == bad:
            stream += [b"M 100644 inline src/app.txt", b"data 7", b"BROKEN\n"]
    git.git(upstream, "fast-import", "--quiet", input=b"\n".join(stream) + b"\n")
    return [c.sha for c in commits.first_parent(upstream, branch.decode(), base)]


def check(fork: Path, tip: str, env: dict[str, str]) -> Callable[[str], bool]:
    """The check: merge the commit into the fork's tip, fail when the merged tree holds ``BROKEN``."""
    def passes(commit: str) -> bool:
        merged = commits.merge(fork, tip, commit, env=env)
        found = run(["git", "-C", str(fork), "grep", "-q", "BROKEN", merged.tree, "--", "src/app.txt"],
                    check=False, env=git.git_env(env))
        if found.returncode not in (0, 1):
            raise SystemExit(f"git grep failed: {found.stderr.decode(errors='replace')}")
        return merged.clean and found.returncode == 1
    return passes


def bisect(shas: list[str], passes: Callable[[str], bool], base: str) -> tuple[int | None, int]:
    found = first_bad(len(shas), lambda i: passes(shas[i - 1] if i else base), check_ends=True)
    return (found.culprit if found.status == CULPRIT else None), found.calls


def linear(shas: list[str], passes: Callable[[str], bool]) -> tuple[int | None, int]:
    for i, sha in enumerate(shas):
        if not passes(sha):
            return i, i + 1
    return None, len(shas)


def engine(root: Path, fork: Path, tip: str, upstream: Path, shas: list[str], p: int) -> tuple[int, int, str, float]:
    """(verdicts asked, checks really run, the named commit, seconds) through merge mode's ``bisect`` (the
    pipeline's ``SliceRun``: baseline, validator, worktree checkouts, memo)."""
    from tasks.config import Check, Config, Fork, Upstream
    from tasks.core.drift import Drift
    from tasks.core.plan import Plan, Slice
    from tasks.engine.pipeline import SliceRun
    from tasks.engine.validate import default_runner
    from tasks.modes.merge import Range, bisect as range_bisect
    from tasks.repo import landing
    from tasks.workspace import Workspace

    ws = Workspace(root / f"ws-{p}")
    cfg = Config(file=root / "forkwave.yaml", upstream=Upstream(str(upstream)), fork=Fork(fork),
                 checks=(Check("app", run="! grep -q BROKEN src/app.txt"),), gates=())
    landing.bring(upstream, fork, shas[-1], [tip])
    pending = commits.first_parent(fork, shas[-1], limit=len(shas))
    bench = Slice("bench", "a", (), commits=tuple(shas))
    plan = Plan(shas[-1], None, 25, (("a", ("bench",)),), (bench,), ())
    job = SliceRun(cfg, ws, upstream, plan, Drift({}, {}, None, {}), bench, "bench", default_runner(cfg, ws),
                   start=tip)
    run = Range(job, tip, git.alternates_env(upstream))
    t0 = time.perf_counter()
    good, culprit = range_bisect(run, pending)
    took = time.perf_counter() - t0
    named = culprit.commit.sha if culprit else "-"
    return len(job.attempts), sum(1 for a in job.attempts if a.ran), named, took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--positions", type=int, default=20)
    ap.add_argument("--engine", type=int, default=5, help="positions also bisected through merge mode's runner")
    ap.add_argument("--keep", type=Path, help="build the repositories here and keep them")
    args = ap.parse_args()
    n, count = args.commits, args.positions
    positions = sorted({1 + round(k * (n - 1) / max(count - 1, 1)) for k in range(count)})
    target = max_calls(n, check_ends=True)
    with scratch(args.keep, "forkwave-merge-bisect-") as root:
        start = time.perf_counter()
        fork, tip, ranges = build(root, n, positions)
        base = git.rev_parse(fork, f"{tip}^") or ""
        print(f"built {len(positions)} ranges of {n} commits in {time.perf_counter() - start:.1f} s")
        passes = check(fork, tip, git.alternates_env(root / "upstream.git"))
        rows, wrong = [], 0
        for p in positions:
            shas = ranges[p]
            t0 = time.perf_counter()
            culprit, runs = bisect(shas, passes, base)
            t1 = time.perf_counter()
            lin_culprit, lin_runs = linear(shas, passes)
            t2 = time.perf_counter()
            ok = culprit == lin_culprit == p - 1
            wrong += not ok
            subject = git.git(fork, "log", "-1", "--format=%s", shas[culprit] if culprit is not None else tip,
                              env=git.alternates_env(root / "upstream.git")).decode().strip()
            rows.append((runs, lin_runs, t1 - t0, t2 - t1))
            print(f"bad commit at {p:3}/{n}: bisect {runs:2} runs ({t1 - t0:5.2f} s), linear scan {lin_runs:3} runs "
                  f"({t2 - t1:5.2f} s); named {shas[culprit][:10] if culprit is not None else '-'} "
                  f"{subject!r} {'ok' if ok else 'WRONG'}")
        bis, lin = [r[0] for r in rows], [r[1] for r in rows]
        print(f"bisect: max {max(bis)} runs, median {statistics.median(bis)}, {sum(r[2] for r in rows):.1f} s in all; "
              f"linear scan: max {max(lin)} runs, median {statistics.median(lin)}, {sum(r[3] for r in rows):.1f} s; "
              f"target <= {target} (ceil(log2 {n}) + 2)")
        picked = positions[::max(1, len(positions) // max(args.engine, 1))][:args.engine] if args.engine else []
        asked_all = []
        for p in picked:
            asked, ran, named, took = engine(root, fork, tip, root / "upstream.git", ranges[p], p)
            ok = named == ranges[p][p - 1]
            wrong += not ok
            asked_all.append(asked)
            per_run = took / max(ran, 1)
            print(f"merge mode's runner, bad commit at {p:3}/{n}: {asked:2} verdicts, {ran:2} check runs "
                  f"({took:5.2f} s, checkouts included); a linear scan: {p} runs, ~{per_run * p:5.1f} s at that cost; "
                  f"named {named[:10]} {'ok' if ok else 'WRONG'}")
        if asked_all:
            print(f"merge mode's runner: max {max(asked_all)} verdicts over {len(asked_all)} positions; "
                  f"target <= {target}")
        if wrong or max(bis) > target or (asked_all and max(asked_all) > target):
            sys.exit(1)


if __name__ == "__main__":
    main()
