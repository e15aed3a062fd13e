"""How light is the doit face? ``doit list`` and a no-op ``doit`` on the demo, beside a bare doit.

doit runs every task creator on every command, even ``doit list``, so whatever the creators
import is paid every time. Target: ``doit list`` and a no-op ``doit`` within 1.3x of
a bare doit's ``doit list`` (a dodo.py with one task), medians of ``--repeat`` runs each,
interleaved so the machine's noise falls on all three alike.

    python -m benchmarks.startup [--repeat 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import ROOT


# As a user's machine runs it: Python caches compiled modules in __pycache__. (This machine's
# environment sets PYTHONDONTWRITEBYTECODE, which would recompile forkwave's modules, and only
# forkwave's, on every run: an editable install's sources have no .pyc of pip's making.)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=ENV)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 2):  # the demo's run exits 2 (work left for a person)
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="forkwave-startup-") as tmp:
        bare, ws = Path(tmp) / "bare", Path(tmp) / "ws"
        bare.mkdir()
        ws.mkdir()
        (bare / "dodo.py").write_text('def task_hello():\n    return {"actions": ["true"]}\n')
        doit = [sys.executable, "-m", "doit"]
        ours = [*doit, "-f", str(ROOT / "dodo.py"), "-d", str(ws)]
        subprocess.run(ours, capture_output=True, env=ENV)           # the whole demo, once
        subprocess.run(ours, capture_output=True, env=ENV)           # so the next ones are no-ops
        subprocess.run([*doit, "list"], cwd=bare, capture_output=True, env=ENV)
        runs: dict[str, list[float]] = {"bare doit list": [], "forkwave doit list": [], "forkwave doit (no-op)": []}
        for _ in range(args.repeat):
            runs["bare doit list"].append(timed([*doit, "list"], bare))
            runs["forkwave doit list"].append(timed([*ours, "list"], ws))
            runs["forkwave doit (no-op)"].append(timed(ours, ws))
    floor = statistics.median(runs["bare doit list"])
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"{name:24s} median {median * 1000:6.1f} ms  ({median / floor:.2f}x the bare doit list; "
              f"min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f})")
    print("target: forkwave's doit list and no-op doit within 1.30x of the bare doit list")


if __name__ == "__main__":
    main()
