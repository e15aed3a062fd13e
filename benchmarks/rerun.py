"""A 50-slice wave, all adopted, re-run with nothing changed: how long does `doit` take?

Target: under 0.5 s median. Printed beside `doit list` on the same
workspace, which is the floor: doit loading the dodo file and the task creators.

    python benchmarks/rerun.py [--slices 50] [--repeat 7]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks._common import doit, median_of, workspace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    v1 = {f"packages/up-app/src/m{i:03}/index.js": f"v1 {i}\n" for i in range(args.slices * 2)}
    v2 = {p: c.replace("v1", "v2") for p, c in v1.items()}
    fork = {p.replace("packages/up-", "packages/fk-"): c for p, c in v1.items()}
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(Path(tmp), v1, v2, fork, map=[{"from": "packages/up-", "to": "packages/fk-"}],
                       slices={"max_files": 2}, waves={"a": {"buckets": ["*"]}},
                       checks=[{"name": "unit", "run": "true"}])
        seconds, proc = doit(ws)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ran = sum(1 for line in proc.stdout.splitlines() if line.startswith(".  validate:"))
        print(f"first run: {ran} slices validated and adopted in {seconds:.1f} s")
        _, again = doit(ws)
        stale = [line for line in again.stdout.splitlines() if line.startswith(".  ")]
        assert not stale, f"expected everything up to date, ran: {stale}"
        rerun = median_of(lambda: doit(ws)[0], args.repeat)
        listing = median_of(lambda: doit(ws, "list")[0], args.repeat)
        print(f"re-run, nothing changed: median {rerun:.3f} s over {args.repeat} runs (target < 0.5 s)")
        print(f"doit list, same workspace: median {listing:.3f} s")
        print(f"re-run minus list (up-to-date checks of {args.slices} slices + graph): {rerun - listing:.3f} s")


if __name__ == "__main__":
    main()
