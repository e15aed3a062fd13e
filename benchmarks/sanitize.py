"""What does sanitising a command source's output cost, and what does rescanning only the changed lines save?

Generates a production-style configuration of ``--lines`` lines (default 20,000: ``key_N = value N`` settings,
every one a candidate line for the keyword scanner, the worst case) with ``--secrets`` passwords spread through
it, and times ``Sanitizer.file`` on it — the rules, the first scan, the replacements and the rescans of the
windows around the changed lines — beside the baseline, a full rescan after every round, and beside one scan
of the file (the secrets gate's own cost on it). Checks that both leave no value behind.

    python -m benchmarks.sanitize [--lines 20000] [--secrets 20] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from tasks.config import SecretsPolicy
from tasks.engine import sanitize


def config(lines: int, secrets: int) -> tuple[bytes, list[str]]:
    values = [f"Zq8vN3kLp{i:04}WxRt" for i in range(secrets)]
    every = max(1, lines // max(secrets, 1))
    out = []
    for i in range(lines):
        out.append(f'db_password_{i} = "{values[i // every]}"' if i % every == every // 2 and i // every < secrets
                   else f"key_{i} = value {i}")
    return ("\n".join(out) + "\n").encode(), values


class FullRescan(sanitize.Sanitizer):
    """The baseline: every round scans the whole file again."""

    def _rescan(self, path: str, before: bytes, after: bytes) -> Any:
        return self.scanner.locate(path, after)


def timed(kind: type[sanitize.Sanitizer], data: bytes, runs: int) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(runs):
        with kind([], SecretsPolicy(), "bench") as clean:
            start = time.monotonic()
            out = clean.file("odoo.prod.conf", data)
            times.append(time.monotonic() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data, values = config(args.lines, args.secrets)
    windowed, out = timed(sanitize.Sanitizer, data, args.runs)
    full, base_out = timed(FullRescan, data, args.runs)
    with sanitize.Sanitizer([], SecretsPolicy(), "bench") as clean:
        start = time.monotonic()
        clean.scanner.locate("odoo.prod.conf", data)
        one = time.monotonic() - start
    left = [v for v in values if v.encode() in out or v.encode() in base_out]
    print(f"{args.lines:,} lines ({len(data) / 1e6:.1f} MB), {args.secrets} passwords, median of {args.runs}:")
    print(f"  one scan of the file (the secrets gate's cost)     {one:8.2f} s")
    print(f"  sanitise, rescanning the changed lines (forkwave)  {windowed:8.2f} s")
    print(f"  sanitise, rescanning the whole file (baseline)     {full:8.2f} s   ({full / windowed:.1f}x)")
    print(f"  values left in the output: {len(left)} (must be 0); outputs identical: {out == base_out}")


if __name__ == "__main__":
    main()
