"""How many validation runs revert-and-split needs to isolate culprits.

Targets: one culprit among 32 files in at most 11 runs; two among 64 in at
most 22. Two parts:

1. the search itself (``tasks.core.bisect.isolate``), exhaustively: every culprit position,
   every pair — the validator answers like a deterministic check would;
2. the real pipeline for a few positions: a 32-file slice in real repositories, a real
   check (``grep``) run by doit in the private worktree; runs read back from outcome.json.

    python benchmarks/split.py
"""
from __future__ import annotations

import itertools
import json
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import doit, workspace
from tasks.core.bisect import Validate, Verdict, isolate


def predicate(culprits: set[str]) -> Validate:
    """A check that fails exactly when one of ``culprits`` is in what it judges (``isolate`` also passes the
    search's round, which a deterministic check ignores)."""
    def validate(adopted: Sequence[str], part: Sequence[str], n: int = 0) -> Verdict:
        return Verdict(not (culprits & (set(adopted) | set(part))))
    return validate


def exhaustive() -> None:
    files32 = [f"pkg/d{i // 8}/f{i:02}.js" for i in range(32)]
    runs = [isolate(files32, predicate({c})).runs for c in files32]
    print(f"search, 1 culprit / 32 files, all 32 positions: max {max(runs)}, "
          f"median {statistics.median(runs)}, target <= 11")
    files64 = [f"pkg/d{i // 8}/f{i:02}.js" for i in range(64)]
    runs = [isolate(files64, predicate({a, b})).runs for a, b in itertools.combinations(files64, 2)]
    print(f"search, 2 culprits / 64 files, all {len(runs)} pairs: max {max(runs)}, "
          f"median {statistics.median(runs)}, target <= 22")


def real(positions: list[int]) -> None:
    v1 = {f"packages/up-app/src/d{i // 8}/f{i:02}.js": f"v1 {i}\n" for i in range(32)}
    for pos in positions:
        v2 = {p: c.replace("v1", "v2") for p, c in v1.items()}
        culprit = sorted(v2)[pos]
        v2[culprit] = "v2 CULPRIT\n"
        fork = {p.replace("packages/up-", "packages/fk-"): c for p, c in v1.items()}
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace(Path(tmp), v1, v2, fork, map=[{"from": "packages/up-", "to": "packages/fk-"}],
                           slices={"max_files": 32}, gates=[],
                           checks=[{"name": "no-culprit", "run": "! grep -rq CULPRIT packages"}])
            seconds, _ = doit(ws, "validate:slice-1")
            outcome = json.loads((ws / "reports/slices/slice-1/outcome.json").read_text())
            print(f"pipeline, culprit at position {pos:2}: {outcome['runs']} runs, status {outcome['status']}, "
                  f"deferred {[d['files'] for d in outcome['deferred']]}, {seconds:.1f} s")


if __name__ == "__main__":
    exhaustive()
    real([0, 13, 31])
