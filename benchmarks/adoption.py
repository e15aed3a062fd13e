"""How much lands, and for how many check runs, when upstream changes only work together?

A synthetic pair of the shape issue 9 reports from a real Python project (doit 0.34 → master,
waves ``a: proj/**``, ``b: tests/**``, ``c: **``, ``max_files: 10``):

- module/test pairs that pass only together: ``proj/modN.py`` moves to ``VERSION = 2`` and
  ``tests/test_modN.py`` to asserting it — all modules in one upstream commit, all tests in
  another, so only the module↔test link (not co-change) can keep them together;
- manifest/lockfile pairs (``web/pkgN/package.json`` + ``yarn.lock``, in separate commits)
  that must agree on a version;
- deletions blocked by an old test a later wave deletes (``proj/legacyN.py`` imported by
  ``tests/test_uses_legacyN.py``);
- with ``--broken``, a few truly broken files (a syntax error, a module that raises).

The check imports every module, runs every test and compares every manifest with its
lockfile, and appends a line to a file each time it runs. Printed: adopted / adoptable,
check runs beside the slice count, the runs of a no-op re-run, and the "all at once"
baseline (one run on the whole upstream). Targets: adopted >= 99% of adoptable, runs <= 1.2
x slices when nothing is broken, 0 runs for a no-op re-run.

    python -m benchmarks.adoption [--pairs 40] [--broken 3] [--legacy N] [--forkwave PATH]

``--forkwave PATH`` runs another checkout of forkwave (its ``dodo.py``) on the same pair,
for a before/after comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks._common import ROOT, scratch
from tasks.repo.synth import commit_tree, init_repo

CHECK = r'''
import glob, importlib, json, os, re, sys
sys.path.insert(0, os.getcwd())
failed = []
for path in sorted(glob.glob("proj/*.py")):
    try:
        importlib.import_module("proj." + os.path.basename(path)[:-3])
    except Exception as exc:
        failed.append(f"{path}: {type(exc).__name__}: {exc}")
for path in sorted(glob.glob("tests/test_*.py")):
    try:
        exec(compile(open(path).read(), path, "exec"), {})
    except Exception as exc:
        failed.append(f"{path}: {type(exc).__name__}: {exc}")
for manifest in sorted(glob.glob("web/*/package.json")):
    lock = os.path.join(os.path.dirname(manifest), "yarn.lock")
    want = json.load(open(manifest))["version"]
    have = re.search(r'version "(.*)"', open(lock).read()).group(1) if os.path.exists(lock) else None
    if want != have:
        failed.append(f"{manifest}: version {want} but yarn.lock has {have}")
print("\n".join(failed) or "all good")
sys.exit(1 if failed else 0)
'''


def module(v: int) -> str:
    return f"VERSION = {v}\n"


def test_of(i: int, v: int) -> str:
    return f"from proj.mod{i} import VERSION\nassert VERSION == {v}, VERSION\n"


def lock(v: str) -> str:
    return f'# yarn lockfile v1\n\nleft-pad@^1.0.0:\n  version "{v}"\n'


def manifest(v: str) -> str:
    return json.dumps({"name": "pkg", "version": v, "private": True}) + "\n"


LEGACY: int | None = None  # blocked deletions (--legacy); default: a tenth of the pairs


def history(pairs: int, broken: int) -> tuple[dict[str, str], list[dict[str, str]], set[str]]:
    """(base, upstream snapshots in commit order, the broken paths)."""
    legacy = max(2, pairs // 10) if LEGACY is None else LEGACY
    packages = max(2, pairs // 8)
    base: dict[str, str] = {"check.py": CHECK, "proj/__init__.py": "", "tests/__init__.py": "", "README.md": "# p\n"}
    for i in range(pairs):
        base[f"proj/mod{i}.py"] = module(1)
        base[f"tests/test_mod{i}.py"] = test_of(i, 1)
    for i in range(legacy):
        base[f"proj/legacy{i}.py"] = "OLD = True\n"
        base[f"tests/test_uses_legacy{i}.py"] = f"from proj.legacy{i} import OLD\nassert OLD\n"
    for i in range(packages):
        base[f"web/pkg{i}/package.json"] = manifest("1.0.0")
        base[f"web/pkg{i}/yarn.lock"] = lock("1.0.0")
    steps, snap = [], dict(base)
    snap = {**snap, **{f"proj/mod{i}.py": module(2) for i in range(pairs)}}
    steps.append(dict(snap))                                          # every module, one commit
    snap = {**snap, **{f"tests/test_mod{i}.py": test_of(i, 2) for i in range(pairs)}}
    steps.append(dict(snap))                                          # every test, another
    snap = {k: v for k, v in snap.items() if not k.startswith("proj/legacy")}
    steps.append(dict(snap))                                          # legacy modules deleted
    snap = {k: v for k, v in snap.items() if not k.startswith("tests/test_uses_legacy")}
    steps.append(dict(snap))                                          # ... and, later, their old tests
    snap = {**snap, **{f"web/pkg{i}/package.json": manifest("2.0.0") for i in range(packages)}}
    steps.append(dict(snap))                                          # manifests
    snap = {**snap, **{f"web/pkg{i}/yarn.lock": lock("2.0.0") for i in range(packages)}}
    steps.append(dict(snap))                                          # lockfiles, separately
    snap = {**snap, "README.md": "# project\n", "docs/guide.md": "# guide\n"}
    bad: set[str] = set()
    for i in range(broken):
        path = f"proj/broken{i}.py"
        snap[path] = "def oops(:\n" if i % 2 == 0 else "raise RuntimeError('broken on import')\n"
        bad.add(path)
    steps.append(dict(snap))
    return base, steps, bad


def build(root: Path, pairs: int, broken: int, log: Path) -> tuple[Path, dict[str, str], set[str]]:
    base, steps, bad = history(pairs, broken)
    up = init_repo(root / "upstream.git", bare=True)
    commit_tree(up, base, tag="v1")
    for i, snap in enumerate(steps, 1):
        commit_tree(up, snap, tick=i)
    fork = init_repo(root / "fork")
    commit_tree(fork, base, tick=0)
    ws = root / "ws"
    ws.mkdir()
    config = {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1",
              "waves": {"a": {"paths": ["proj/**"]}, "b": {"paths": ["tests/**"]}, "c": {"buckets": ["*"]}},
              "slices": {"max_files": 10}, "gates": ["deny", "syntax"],
              "checks": [{"name": "suite", "run": f'echo "${{FORKWAVE_SLICE:-baseline}}" >> {log}; python3 check.py'}]}
    (ws / "forkwave.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return ws, steps[-1], bad


def doit(ws: Path, dodo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run([sys.executable, "-m", "doit", "-f", str(dodo), "-d", str(ws)],
                          capture_output=True, text=True, env=env)


def count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def synced(fork: Path) -> dict[str, str]:
    out = subprocess.run(["git", "-C", str(fork), "ls-tree", "-r", "sync/upstream"], capture_output=True,
                         text=True).stdout
    return {line.split("\t", 1)[1]: line.split()[2] for line in out.splitlines()}


def blob(fork: Path, content: str) -> str:
    return subprocess.run(["git", "-C", str(fork), "hash-object", "--stdin"], input=content, capture_output=True,
                          text=True).stdout.strip()


def measure(root: Path, pairs: int, broken: int, dodo: Path) -> dict[str, object]:
    log = root / "runs.log"
    ws, target, bad = build(root, pairs, broken, log)
    fork = root / "fork"
    base, _, _ = history(pairs, broken)
    changed = {p for p in set(base) | set(target) if base.get(p) != target.get(p)}
    adoptable = changed - bad
    start = time.perf_counter()
    first = doit(ws, dodo)
    seconds = time.perf_counter() - start
    runs = count(log)
    baselines = sum(1 for line in log.read_text().splitlines() if line == "baseline") if log.exists() else 0
    tree = synced(fork)
    landed = {p for p in adoptable if (p in target and tree.get(p) == blob(fork, target[p]))
              or (p not in target and p not in tree)}
    plan = json.loads((ws / "reports" / "plan.json").read_text())
    again = doit(ws, dodo)
    rerun = count(log) - runs
    return {"changes": len(changed), "adoptable": len(adoptable), "adopted": len(landed), "slices": len(plan["slices"]),
            "waves": len(plan["waves"]), "runs": runs, "baselines": baselines, "rerun_runs": rerun, "seconds": seconds,
            "exit": first.returncode, "again_exit": again.returncode, "leaked": sorted(bad & set(tree))}


def all_at_once(root: Path, pairs: int, broken: int) -> str:
    """The whole upstream in one tree, one run of the check: what a person would try first."""
    import shutil
    import tempfile

    _, steps, _ = history(pairs, broken)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        for path, text in steps[-1].items():
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_text(text)
        proc = subprocess.run([sys.executable, "check.py"], cwd=tmp, capture_output=True, text=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return "passes" if proc.returncode == 0 else "fails"


def report(label: str, m: dict[str, object]) -> None:
    ratio = m["runs"] / m["slices"]  # type: ignore[operator]
    bare = (m["runs"] - m["baselines"]) / m["slices"]  # type: ignore[operator]
    share = 100.0 * m["adopted"] / m["adoptable"] if m["adoptable"] else 100.0  # type: ignore[operator]
    print(f"  {label}: adopted {m['adopted']}/{m['adoptable']} adoptable ({share:.1f}%) of {m['changes']} changes; "
          f"{m['runs']} check runs for {m['slices']} slices in {m['waves']} waves ({ratio:.2f}x; {m['baselines']} "
          f"baseline run(s), {bare:.2f}x without); no-op re-run: {m['rerun_runs']} runs; {m['seconds']:.1f} s; exit {m['exit']}"
          + (f"; broken files landed: {m['leaked']}" if m["leaked"] else ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=40, help="module/test pairs (doit's case: about 40)")
    ap.add_argument("--broken", type=int, default=3)
    ap.add_argument("--legacy", type=int, help="deletions blocked by an old test a later wave deletes "
                                              "(default: a tenth of the pairs; 0: none)")
    ap.add_argument("--forkwave", type=Path, help="another forkwave checkout to compare with")
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    global LEGACY
    LEGACY = args.legacy
    runs = [("forkwave", ROOT / "dodo.py")] + ([("compared", args.forkwave / "dodo.py")] if args.forkwave else [])
    with scratch(args.keep, "forkwave-adoption-") as root:
        for broken in sorted({0, args.broken}):
            legacy = max(2, args.pairs // 10) if args.legacy is None else args.legacy
            print(f"{args.pairs} module/test pairs, lockfile pairs, {legacy} blocked deletions, {broken} broken file(s); "
                  f"all at once: 1 run, {all_at_once(root, args.pairs, broken)}")
            for label, dodo in runs:
                where = root / f"{label}-{broken}"
                where.mkdir()
                report(label, measure(where, args.pairs, broken, dodo))
    print("targets: adopted >= 99% of adoptable; runs <= 1.2x slices with nothing broken; 0 runs re-run")


if __name__ == "__main__":
    main()
