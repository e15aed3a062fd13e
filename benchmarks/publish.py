"""What `doit publish` costs: the body of a huge sync trimmed to GitHub's limit, and a publish with nothing new.

1. The pull request body of a sync with ``--files`` changed files (default 20,000), 3,000 upstream
   commits, 400 deferred files and 300 conflicts: rendered whole (the baseline) and trimmed to
   GitHub's 65,536 characters (``tasks.publish.body.description``), median of ``--runs``.
2. ``doit publish`` on a small workspace (``forge: none``, a bare remote): the first publish (a
   push and reports/pr.md), then a second with nothing new (a no-op: no push), beside ``doit list``.

    python -m benchmarks.publish [--files 20000] [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import doit, scratch, workspace
from tasks.config import DEFAULT_RISK_WEIGHTS
from tasks.publish import body
from tasks.publish.risk import automerge, facts, score

LIMIT = 65_536


def huge(n: int) -> body.Sync:
    paths = [f"packages/p{i % 50}/src/module_{i}/index.ts" for i in range(n)]
    outcomes: dict[str, Any] = {"slice-1": {
        "slice": "slice-1", "status": "conflicted", "adopted": paths, "files": [],
        "conflicts": [{"path": f"c/{i}.ts", "reason": "3-way merge conflict",
                       "next": "resolve it"} for i in range(300)],
        "deferred": [{"files": [f"d/{i}.ts"], "reason": "build failed", "checks": ["build"], "next": "fix it"}
                     for i in range(400)]}}
    commits = {"slice-1": [{"sha": f"{i:040x}", "subject": f"commit {i} of upstream's history", "author": "Dev"}
                           for i in range(3000)]}
    f = facts(outcomes, paths)
    r = score(f, DEFAULT_RISK_WEIGHTS)
    return body.Sync("sync/upstream", "main", "acme/app", "https://github.com/acme/app.git", "main", "f" * 40,
                     outcomes, f, r, automerge(r, f, 5), True, "github", commits)


def median(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bodies(files: int, runs: int) -> None:
    s = huge(files)
    whole_t, whole = median(lambda: body.description(s, None, None), runs)
    trim_t, trimmed = median(lambda: body.description(s, LIMIT, "https://ci.example/run/1"), runs)
    print(f"body of {files:,} files, 3,000 commits, 400 deferred, 300 conflicts (median of {runs}):")
    print(f"  {'whole (baseline)':<22}{whole_t * 1000:8.1f} ms  {len(whole):>10,} characters")
    print(f"  {f'trimmed to {LIMIT:,}':<22}{trim_t * 1000:8.1f} ms  {len(trimmed):>10,} characters"
          f"  ({'fits' if len(trimmed) <= LIMIT else 'OVER THE LIMIT'})")


def publishes() -> None:
    base = {"README.md": "# app\n", **{f"src/m{i}.py": f"M{i} = 1\n" for i in range(20)}}
    upstream = {**base, **{f"src/m{i}.py": f"M{i} = 2\n" for i in range(3)}}
    with scratch(None, "forkwave-bench-publish-") as root:
        ws = workspace(root, base, upstream, base, publish={"forge": "none"})
        subprocess.run(["git", "init", "-q", "--bare", str(root / "remote.git")], check=True)
        subprocess.run(["git", "-C", str(root / "fork"), "remote", "add", "origin", str(root / "remote.git")],
                       check=True)
        doit(ws)
        first, _ = doit(ws, "publish")
        again, out = doit(ws, "publish")
        listing, _ = doit(ws, "list")
        assert "nothing changed since the last publish" in out.stdout, out.stdout + out.stderr
    print("doit publish on a 3-file sync (forge: none, a local bare remote):")
    print(f"  {'first publish':<22}{first * 1000:8.0f} ms  (push, reports/pr.md, fast-forward of main)")
    print(f"  {'again, nothing new':<22}{again * 1000:8.0f} ms  (no push)")
    print(f"  {'doit list (baseline)':<22}{listing * 1000:8.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bodies(args.files, args.runs)
    publishes()


if __name__ == "__main__":
    main()
