"""The sync ledger at a few years of history: what a run pays to record itself, and what `doit history`
and `since=last-success` pay to read it, beside reading today's history.jsonl for the same runs.

    python -m benchmarks.ledger [--runs 5000] [--syncs 4] [--repeat 7]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import median_of
from tasks.report.history import render
from tasks.report.ledger import LEDGER, Ledger, jsonl_runs


def seconds(fn: Callable[[], object]) -> Callable[[], float]:
    def timed() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return timed


def fill(reports: Path, runs: int, syncs: int) -> float:
    """``runs`` finished runs of ``syncs`` syncs each, written as a run writes them; seconds per run."""
    lock = reports.parent / "lock"
    start = time.perf_counter()
    with Ledger.open(reports) as ledger:
        for i in range(runs):
            run = f"run-{i:07d}"
            ledger.begin(run, lock=lock)
            for k in range(syncs):
                ledger.open_sync(run, f"src-{i % 3}", f"wave-{k}", revision=f"{i:040x}")
                ledger.close_sync(run, f"src-{i % 3}", f"wave-{k}", ("success", "partial")[i % 2],
                                  counts={"adopted": i % 40, "deferred": i % 2})
            ledger.finish(run)
    return (time.perf_counter() - start) / runs


def write_jsonl(path: Path, runs: int) -> None:
    """The same runs as tasks/runlock.py records them (a start line and an end line per run)."""
    with open(path, "w") as fh:
        for i in range(runs):
            fh.write(json.dumps({"run": f"run-{i:07d}", "status": "running", "start": "2026-01-01T00:00:00Z",
                                 "pid": 1, "upstream": f"{i:040x}"}) + "\n")
            fh.write(json.dumps({"run": f"run-{i:07d}", "status": "success", "end": "2026-01-01T00:01:00Z",
                                 "adopted": [f"f{j}" for j in range(i % 40)], "deferred": [], "conflicted": [],
                                 "slices": {f"slice-{j}": "adopted" for j in range(4)}}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--syncs", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp) / "reports"
        per_run = fill(reports, args.runs, args.syncs)
        print(f"recording a run of {args.syncs} syncs (begin, open and close each, finish; synchronous=FULL): "
              f"{per_run * 1000:.2f} ms per run; {args.runs} runs -> {(reports / LEDGER).stat().st_size / 1e6:.1f} MB")

        def history() -> None:
            with Ledger.open(reports) as ledger:
                render(ledger.recent(20), "markdown")

        def last_success() -> None:
            with Ledger.open(reports) as ledger:
                ledger.last_success("src-1", "wave-2")

        ms = median_of(seconds(history), args.repeat) * 1000
        print(f"doit history (open, 20 recent runs, markdown): median {ms:.2f} ms")
        ms = median_of(seconds(last_success), args.repeat) * 1000
        print(f"since=last-success (open, one query): median {ms:.2f} ms")
        legacy = Path(tmp) / "history.jsonl"
        write_jsonl(legacy, args.runs)
        parse = median_of(seconds(lambda: jsonl_runs(legacy.read_text())), args.repeat)
        print(f"baseline: reading history.jsonl of the same {args.runs} runs ({legacy.stat().st_size / 1e6:.1f} MB), "
              f"as any answer from it must: median {parse * 1000:.2f} ms")
        imported = Path(tmp) / "imported"
        imported.mkdir()
        legacy.rename(imported / "history.jsonl")
        start = time.perf_counter()
        Ledger.open(imported).close()
        print(f"first use: importing that history.jsonl into a new ledger: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
