"""``doit dry=1`` beside the real run it previews, on a wave of N slices with a check that takes a while.

The dry run fetches, compares and plans as the run does, then simulates each slice (merges, gates on
its files, a commit object) without running a check: its cost should be the planning plus a few git
calls per slice, whatever the checks cost. Printed beside the real first run on a fresh copy.

    python -m benchmarks.dryrun [--slices 20] [--check-seconds 0.5] [--repeat 3]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks._common import doit, median_of, workspace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=20)
    ap.add_argument("--check-seconds", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    v1 = {f"packages/up-app/src/m{i:03}/index.js": f"v1 {i}\n" for i in range(args.slices * 2)}
    v2 = {p: c.replace("v1", "v2") for p, c in v1.items()}
    fork = {p.replace("packages/up-", "packages/fk-"): c for p, c in v1.items()}
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(Path(tmp), v1, v2, fork, map=[{"from": "packages/up-", "to": "packages/fk-"}],
                       slices={"max_files": 2}, waves={"a": {"buckets": ["*"]}},
                       checks=[{"name": "unit", "run": f"sleep {args.check_seconds}"}])
        dry = median_of(lambda: _timed(doit(ws, "dry=1")), args.repeat)
        seconds, proc = doit(ws)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        print(f"{args.slices} slices, a {args.check_seconds:g} s check each:")
        print(f"  doit dry=1 (plan + simulate every slice): median {dry:.2f} s over {args.repeat} runs")
        print(f"  doit (the real first run):               {seconds:.2f} s")
        print(f"  dry run / real run:                      {dry / seconds:.2f}")


def _timed(result: tuple[float, object]) -> float:
    seconds, proc = result
    assert getattr(proc, "returncode") == 0, getattr(proc, "stdout", "")
    return seconds


if __name__ == "__main__":
    main()
