"""What the input-safety checks cost: strict config loading, and judging a slice's
symlinks against the whole sync tip.

Printed beside a baseline each: ``yaml.safe_load`` of the same config (what loading did
before), and reading only the slice's own entries from the tip (what import did before).
Target: both well under the cost of one check run (tens of milliseconds at 20,000 files).

    python -m benchmarks.safety [--files 20000] [--links 500] [--repeat 7]
"""
from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from benchmarks._common import ROOT, median_of, scratch
from tasks.repo import importer
from tasks.config import load_config
from tasks.repo.importer import Change
from tasks.repo.synth import Content, Symlink, commit_tree, init_repo


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def config_figures(tmp: Path, repeat: int) -> None:
    text = re.findall(r"^```yaml\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)[0]
    path = tmp / "forkwave.yaml"
    path.write_text(text)
    strict = median_of(lambda: timed(lambda: load_config(path)), repeat)
    plain = median_of(lambda: timed(lambda: yaml.safe_load(text)), repeat)
    print(f"config: load_config of the README example: median {strict * 1000:.1f} ms "
          f"(baseline yaml.safe_load alone: {plain * 1000:.1f} ms)")


def tip_files(files: int, links: int) -> dict[str, Content]:
    tree: dict[str, Content] = {f"packages/p{i % 40:02}/src/m{i // 40:03}/f{i}.ts": f"x {i}\n" for i in range(files)}
    for i in range(links):  # chains: each link goes through the previous one
        tree[f"packages/p{i % 40:02}/link{i}"] = Symlink(f"../p{(i + 39) % 40:02}/link{i - 1}" if i else "src")
    return tree


def slice_changes(fork: Path) -> list[Change]:
    blob = importer.git.git(fork, "hash-object", "-w", "--stdin", input=b"new\n").decode().strip()
    target = importer.git.git(fork, "hash-object", "-w", "--stdin", input=b"../p00/link0").decode().strip()
    changes = [Change(f"packages/p{i:02}/src/new{i}.ts", "upstream-added", "100644", blob) for i in range(20)]
    return changes + [Change(f"packages/p{i:02}/newlink", "upstream-added", "120000", target) for i in range(1, 6)]


def import_figures(tmp: Path, files: int, links: int, repeat: int) -> None:
    fork = init_repo(tmp / "fork")
    tip = commit_tree(fork, tip_files(files, links))
    changes = slice_changes(fork)
    paths = [c.path for c in changes]
    upstream_links = [c.oid for c in changes if c.mode == "120000" and c.oid]
    read = median_of(lambda: timed(lambda: importer.read_tip(fork, fork, tip, upstream_links)), repeat)
    before = median_of(lambda: timed(lambda: importer.tip_entries(fork, tip, paths)), repeat)
    tree, targets = importer.read_tip(fork, fork, tip, upstream_links)
    judged = median_of(lambda: timed(lambda: importer.tree_hazards(tree, changes, targets)), repeat)
    hazards = importer.tree_hazards(tree, changes, targets)
    print(f"import: read the whole tip ({len(tree):,} entries, {links} chained links): median {read * 1000:.1f} ms "
          f"(baseline, the slice's {len(paths)} entries only: {before * 1000:.1f} ms)")
    print(f"import: tree_hazards for {len(changes)} changes against it: median {judged * 1000:.1f} ms, "
          f"{len(hazards)} blocked")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--links", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep it")
    args = ap.parse_args()
    with scratch(args.keep, "forkwave-safety-") as tmp:
        config_figures(tmp, args.repeat)
        import_figures(tmp, args.files, args.links, args.repeat)


if __name__ == "__main__":
    main()
