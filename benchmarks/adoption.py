"""How much lands, for how many check runs, when upstream's changes only work together?

The shape of a real Python project's sync (its 0.34 release, rebranded, synced to master: 131
upstream changes, its own pytest suite as the check, the package in wave a and its tests in
wave b, as the playbook orders runtime before tests):

- module/test pairs that pass only together: ``proj/modN.py`` moves to ``VERSION = 2`` and
  ``tests/test_featureN.py`` to asserting it — code in wave a, its test in wave b, named apart (as a
  real suite's tests often are), and changed in separate upstream commits, so neither a name nor
  co-change couples them;
- an API change used by many modules: ``proj/api.py`` renames ``fetch`` to ``load``, and every
  caller ``proj/useN.py`` (and its test) follows — any part of it alone breaks the suite;
- legacy modules deleted upstream, whose old tests (wave b) are deleted too;
- docs in wave c;
- with ``--broken``, one truly broken upstream module (it raises on import).

The check is pytest itself (``python -m pytest``): forkwave makes it write JUnit without being
told, so failures name the tests a search suspects first. Printed beside "all at once" (one
pytest run on the whole upstream tree, as a person would try first): adopted of adoptable, check
runs (the baseline included), and the runs of a re-run with nothing changed. Targets: every
adoptable change lands; at most 2 runs (baseline + batch) when all at once passes; at most
ceil(log2 n) + 3 when one file is broken; 0 on a re-run.

    python -m benchmarks.adoption [--pairs 40] [--callers 20] [--forkwave PATH]

``--forkwave PATH`` runs another checkout of forkwave (its ``dodo.py``) on the same case, for a
before/after comparison in the same run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks._common import ROOT, scratch
from tasks.repo.synth import commit_tree, init_repo


def project(pairs: int, callers: int, legacy: int, upstream: bool, broken: bool) -> dict[str, str]:
    """The project at the fork's release (``upstream=False``) or at upstream's master."""
    v = 2 if upstream else 1
    files = {"proj/__init__.py": "", "tests/__init__.py": "", "README.md": f"# proj v{v}\n",
             "pytest.ini": "[pytest]\ntestpaths = tests\n"}
    for i in range(pairs):
        files[f"proj/mod{i}.py"] = f"VERSION = {v}\n"
        files[f"tests/test_feature{i}.py"] = (f"from proj.mod{i} import VERSION\n\n\ndef test_version():\n"
                                          f"    assert VERSION == {v}\n")
    name = "load" if upstream else "fetch"
    files["proj/api.py"] = f"def {name}(key):\n    return key.upper()\n"
    for i in range(callers):
        files[f"proj/use{i}.py"] = f"from proj import api\n\n\ndef run():\n    return api.{name}('u{i}')\n"
        files[f"tests/test_flow{i}.py"] = (f"from proj.use{i} import run\n\n\ndef test_run():\n"
                                          f"    assert run() == 'U{i}'{'  # via load' if upstream else ''}\n")
    if not upstream:
        for i in range(legacy):
            files[f"proj/legacy{i}.py"] = "OLD = True\n"
            files[f"tests/test_old{i}.py"] = f"from proj.legacy{i} import OLD\n\n\ndef test_old():\n    assert OLD\n"
    else:
        files.update({f"docs/page{i}.md": f"# page {i}\n" for i in range(5)})
    if broken:
        files["proj/mod3.py"] = "VERSION = 2\nraise RuntimeError('mod3 is broken upstream')\n"
    return files


def build(root: Path, args: argparse.Namespace, broken: bool, log: Path) -> Path:
    base = project(args.pairs, args.callers, args.legacy, False, False)
    target = project(args.pairs, args.callers, args.legacy, True, broken)
    up = init_repo(root / "upstream.git", bare=True)
    commit_tree(up, base, tag="v1")
    # the package and its tests in separate upstream commits: co-change alone cannot couple them
    code = {**base, **{p: t for p, t in target.items() if p.startswith("proj/")}}
    code = {p: t for p, t in code.items() if p in target or not p.startswith("proj/")}
    commit_tree(up, code, tick=1)
    commit_tree(up, target, tick=2)
    fork = init_repo(root / "fork")
    commit_tree(fork, base, tick=0)
    ws = root / "ws"
    ws.mkdir()
    check = f'echo "${{FORKWAVE_SLICE:-baseline}}" >> {log}; {sys.executable} -m pytest -q -p no:cacheprovider'
    config = {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1",
              "waves": {"a": {"paths": ["proj/**"]}, "b": {"paths": ["tests/**"]}, "c": {"buckets": ["*"]}},
              "slices": {"max_files": 10}, "gates": ["deny", "syntax"],
              "checks": [{"name": "suite", "run": check}]}
    (ws / "forkwave.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return ws


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


def all_at_once(files: dict[str, str]) -> bool:
    """The whole upstream in one tree, one pytest run."""
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in files.items():
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_text(text)
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp,
                              capture_output=True).returncode == 0


def adoptable(args: argparse.Namespace, broken: bool) -> tuple[set[str], dict[str, str]]:
    """The changes that can land: all of them, but the broken module and what only works with it."""
    base = project(args.pairs, args.callers, args.legacy, False, False)
    target = project(args.pairs, args.callers, args.legacy, True, broken)
    changed = {p for p in set(base) | set(target) if base.get(p) != target.get(p)}
    held = {"proj/mod3.py", "tests/test_feature3.py"} if broken else set()
    return changed - held, target


def measure(root: Path, args: argparse.Namespace, broken: bool, dodo: Path) -> dict[str, object]:
    log = root / "runs.log"
    ws = build(root, args, broken, log)
    fork = root / "fork"
    can, target = adoptable(args, broken)
    start = time.perf_counter()
    first = doit(ws, dodo)
    seconds = time.perf_counter() - start
    runs = count(log)
    tree = synced(fork)
    landed = {p for p in can if (p in target and tree.get(p) == blob(fork, target[p]))
              or (p not in target and p not in tree)}
    plan = json.loads((ws / "reports" / "plan.json").read_text())
    again = doit(ws, dodo)
    return {"adoptable": len(can), "adopted": len(landed), "slices": len(plan["slices"]), "runs": runs,
            "rerun_runs": count(log) - runs, "seconds": seconds, "exit": first.returncode,
            "again_exit": again.returncode,
            "leaked": ["proj/mod3.py"] if broken and tree.get("proj/mod3.py") == blob(fork, target["proj/mod3.py"])
            else []}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=40, help="module/test pairs")
    ap.add_argument("--callers", type=int, default=20, help="modules (and their tests) that use the changed API")
    ap.add_argument("--legacy", type=int, default=4, help="legacy modules deleted upstream, with their tests")
    ap.add_argument("--forkwave", type=Path, help="another forkwave checkout to compare with")
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    runs = [("forkwave", ROOT / "dodo.py")] + ([("compared", args.forkwave / "dodo.py")] if args.forkwave else [])
    with scratch(args.keep, "forkwave-adoption-") as root:
        for broken in (False, True):
            can, target = adoptable(args, broken)
            n = len(can) + (2 if broken else 0)
            bound = 2 if not broken else math.ceil(math.log2(n)) + 3
            print(f"{n} upstream changes ({args.pairs} module/test pairs across waves a and b, an API change used by "
                  f"{args.callers} modules, {args.legacy} deletions){', one broken module' if broken else ''}; "
                  f"all at once: 1 run, {'passes' if all_at_once(target) else 'fails'}; target <= {bound} runs")
            for label, dodo in runs:
                where = root / f"{label}-{int(broken)}"
                where.mkdir()
                m = measure(where, args, broken, dodo)
                print(f"  {label}: adopted {m['adopted']}/{m['adoptable']} adoptable; {m['runs']} check runs "
                      f"(baseline included) for {m['slices']} slices; re-run with nothing changed: {m['rerun_runs']} "
                      f"runs; {m['seconds']:.1f} s; exit {m['exit']}"
                      + (f"; the broken module landed: {m['leaked']}" if m["leaked"] else ""))


if __name__ == "__main__":
    main()
