"""Two Docker engines against one: wall time of a slice whose failing file is isolated by bisection.

Target: sixteen upstream files, one poisoned, one container check of about 8 s — with two
engines the run takes at most 0.65x the time it takes with one, and ends the same way (only
the poisoned file deferred). Two parts:

1. the search as a model (pure, fast): ``bisect.isolate`` with every check taking one unit of
   time, the baseline beside the first candidate, for every position of the culprit; rounds with
   one slot (one engine) and with two, looking ahead failure first (what ``upcoming`` does) and,
   for comparison, success first;
2. the real thing: doit on a fresh workspace, once with the engine ``.ci/docker.sh`` started and
   once with it plus a second ``dockerd`` on this machine (``tests/dockerd.py``: its own network
   namespace), each with one slot; the check is ``sleep 8`` and a grep for the poison in
   ``forkwave/base:bookworm`` (loaded into the second engine before anything is timed).

    python -m benchmarks.engines [--positions 4,7,15 | --positions all] [--sleep 8] [--model-only]

The poisoned file's position decides how often the second slot guesses right (part 1 prints each
position's rounds): 4 is a good one, 7 the median, 15 the worst; every real run is printed, then
the whole of them.

Two engines pay off because the validator judges, on the second slot, the candidate the search
will ask for next (failure first), and the baseline beside the first candidate; the search takes
the same verdicts either way, so the outcome is the one engine's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, doit, workspace
from tasks.core import bisect
from tasks.core.bisect import Call, Verdict, isolate, replay

FILES = [f"pkg/f{i:02}.txt" for i in range(16)]
IMAGE = "forkwave/base:bookworm"
TARGET = 0.65


# --- 1. the model ------------------------------------------------------------------------------------

def lookahead(search: Any, known: dict[Any, Verdict], ready: dict[Any, Verdict], limit: int,
              fail_first: bool) -> list[Call]:
    """``bisect.upcoming``, with the order of the two branches to choose."""
    if fail_first:
        return bisect.upcoming(search, known, limit, ready)
    found: list[Call] = []
    queue = [dict(known)]
    while queue and len(found) < limit:
        assumed = queue.pop(0)
        call = replay(search, assumed)
        if call is None or call.key in {c.key for c in found}:
            continue
        if call.key in ready:
            queue.append({**assumed, call.key: ready[call.key]})
            continue
        found.append(call)
        queue += [{**assumed, call.key: bisect.PASS}, {**assumed, call.key: bisect.FAIL}]
    return found


def rounds(files: list[str], culprits: set[str], slots: int, fail_first: bool = True) -> float:
    """Time units a search takes when each check takes one, ``slots`` run at once and the baseline (one
    check on the sync tip) runs first, beside the search's first calls."""
    def truth(key: Any) -> Verdict:
        return Verdict(not culprits & {*key[0], *key[1]})

    def search(v: Any) -> Any:
        return isolate(files, v)

    clock = [0.0]
    running: dict[Any, float] = {"baseline": 1.0}   # what runs -> when it ends
    ready: dict[Any, Verdict] = {}
    known: dict[Any, Verdict] = {}

    def tick() -> None:
        clock[0] = min(running.values())
        for key, at in list(running.items()):
            if at <= clock[0]:
                del running[key]
                ready[key] = truth(key) if key != "baseline" else Verdict(True)

    def validate(adopted: Any, part: Any, n: int) -> Verdict:
        key = (tuple(adopted), tuple(part))
        while True:
            wanted = lookahead(search, known, {k: v for k, v in ready.items() if k != "baseline"},
                               slots, fail_first) if slots > 1 else [Call(*key, n)]
            for k in [k for k in running if k != "baseline" and k not in {c.key for c in wanted}]:
                del running[k]
            for call in wanted:
                if call.key not in running and call.key not in ready and len(running) < slots:
                    running[call.key] = clock[0] + 1
            if key in ready:
                break
            tick()
        while "baseline" in running:
            tick()
        known[key] = ready[key]
        return ready[key]

    isolate(files, validate)
    return clock[0]


def model() -> None:
    print("1. the search as a model: time units (one per check, baseline included), every culprit position")
    print(f"   {'files':>5} {'culprits':>8} {'1 slot':>7} {'2 slots':>8} {'ratio':>6} {'ratio, success first':>14}")
    cases = [(FILES, [{f} for f in FILES]),
             ([f"pkg/d{i // 8}/f{i:02}.txt" for i in range(32)], None),
             (FILES, [{a, b} for i, a in enumerate(FILES) for b in FILES[i + 1:]])]
    for files, sets in cases:
        sets = sets or [{f} for f in files]
        one = statistics.mean(rounds(files, s, 1) for s in sets)
        two = statistics.mean(rounds(files, s, 2) for s in sets)
        other = statistics.mean(rounds(files, s, 2, fail_first=False) for s in sets)
        print(f"   {len(files):>5} {len(next(iter(sets))):>8} {one:>7.2f} {two:>8.2f} {two / one:>6.2f} "
              f"{other / one:>14.2f}")
    per = [(rounds(FILES, {f}, 1), rounds(FILES, {f}, 2)) for f in FILES]
    print("   16 files, 1 culprit, by position (2 slots/1 slot): " + " ".join(f"{b:g}/{a:g}" for a, b in per))


# --- 2. the real thing ---------------------------------------------------------------------------------

def one_run(root: Path, poisoned: int, engines: list[dict[str, Any]], sleep: float) -> dict[str, Any]:
    v1 = {f: f"v1 {i}\n" for i, f in enumerate(FILES)}
    v2 = {f: f"v2 {i}\n" for i, f in enumerate(FILES)}
    v2[FILES[poisoned]] = "v2 POISON\n"
    ws = workspace(root, v1, v2, dict(v1), gates=[], containers={"engines": engines},
                   checks=[{"name": "check", "image": IMAGE, "timeout": 600,
                            "run": f"sleep {sleep:g}; ! grep -rq POISON pkg"}])
    seconds, proc = doit(ws)
    outcome = json.loads((ws / "reports/slices/slice-1/outcome.json").read_text())
    batch = ws / "reports/batch.json"   # batch first (the default): the batch's search judged the slice
    runs = json.loads(batch.read_text())["runs"] if batch.exists() else outcome["runs"]
    return {"seconds": seconds, "exit": proc.returncode, "status": outcome["status"], "runs": runs,
            "adopted": outcome["adopted"], "deferred": [d["files"] for d in outcome["deferred"]],
            "log": proc.stdout + proc.stderr}


def real(positions: list[int], sleep: float) -> bool:
    sys.path.insert(0, str(ROOT / "tests"))
    from dockerd import Dockerd, problem

    why = problem()
    if why:
        print(f"2. skipped: {why}")
        return False
    import os

    first = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    ok, totals = True, [0.0, 0.0]
    print(f"2. doit on a fresh workspace: 16 files, one poisoned, check `sleep {sleep:g}; grep` in {IMAGE}")
    with Dockerd.started(images=[IMAGE]) as second:
        for pos in positions:
            runs = {}
            for label, engines in (("one engine", [{"name": "first", "url": first}]),
                                   ("two engines", [{"name": "first", "url": first},
                                                    {"name": "second", "url": second.url}])):
                with tempfile.TemporaryDirectory(prefix="fw-bench-engines-") as tmp:
                    runs[label] = one_run(Path(tmp), pos, engines, sleep)
            a, b = runs["one engine"], runs["two engines"]
            same = (a["adopted"], a["deferred"], a["status"]) == (b["adopted"], b["deferred"], b["status"])
            ratio = b["seconds"] / a["seconds"]
            for label, r in runs.items():
                print(f"   poisoned {FILES[pos]} · {label:11}: {r['seconds']:6.1f} s, {r['status']}, {r['runs']} runs "
                      f"and the baseline, deferred {r['deferred']}")
            only = b["deferred"] == [[FILES[pos]]]
            verdict = "meets" if ratio <= TARGET else "misses"
            print(f"   → two engines take {ratio:.2f}x the time of one ({verdict} the {TARGET}x target); "
                  f"same outcome: {'yes' if same else 'NO'}; "
                  f"only the poisoned file deferred: {'yes' if only else 'NO'}")
            ok = ok and same and only and ratio <= TARGET
            totals = [totals[0] + a["seconds"], totals[1] + b["seconds"]]
            if not (same and only):
                print(a["log"][-3000:], b["log"][-3000:])
    if len(positions) > 1:
        print(f"   all {len(positions)} positions: {totals[1]:.1f} s with two engines against {totals[0]:.1f} s with "
              "one: "
              f"{totals[1] / totals[0]:.2f}x (target {TARGET}x)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", default="4,7,15",
                        help="comma-separated positions (0-15) of the poisoned file, or 'all': the target is about "
                             "a poisoned file wherever it lands, which 'all' measures (about an hour)")
    parser.add_argument("--sleep", type=float, default=8.0, help="seconds the check sleeps")
    parser.add_argument("--model-only", action="store_true")
    args = parser.parse_args()
    model()
    if not args.model_only:
        positions = range(len(FILES)) if args.positions == "all" else [int(p) for p in args.positions.split(",")]
        real(list(positions), args.sleep)


if __name__ == "__main__":
    main()
