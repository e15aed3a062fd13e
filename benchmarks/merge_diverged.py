"""Merge mode's first run on a long-diverged fork, beside doing the same by hand with git, in the same run.

The shape of a real case: an upstream ``--behind`` first-parent commits (1,247 in the case it is modelled
on) ahead of the merge base, a fork with ``--fork-commits`` commits of its own since then (ten thousand),
``--files`` files. Upstream commit 3 changes six CI workflow files a fork commit (``ci: push images to our
registry``) changed too — the first conflict —, and two later upstream commits conflict with two other fork
commits. Every repository is written by ``git fast-import``.

Timed, on two copies of the same fork:

- **forkwave**: ``doit`` in a fresh workspace (fetch, drift, plan, every range: the first lands commits 1–2
  and names commit 3 and the fork commit it conflicts with; the other ranges wait behind it);
- **by hand**: what a person does for the same decision — ``git fetch``, ``git merge-tree`` bisection for the
  first upstream commit whose merge conflicts, one ``git merge`` of the clean prefix, the check once.

Printed: the time to forkwave's first decision (slice-1's outcome) and to the end of its first run beside the
time by hand, and their ratio (target ≤ 1.5 for the first decision); CPU seconds of each (the machine's other
work does not inflate them); each side's time without the check, so the ratio for any check duration can be
read off (``--check-seconds`` stands for the project's checks: a real build and test suite takes minutes);
what forkwave decided; and the fork's unreachable objects before and after its run (``git fsck --unreachable
--no-reflogs``: target unchanged). Exits 1 when a target is missed or forkwave decided differently from the
hand-made bisection.

    python -m benchmarks.merge_diverged [--behind 1250] [--fork-commits 10000] [--files 3000]
                                        [--check-seconds 10] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import yaml

from benchmarks._common import ROOT, doit, scratch
from tasks.repo import git, objects
from tasks.repo.synth import EPOCH, init_repo

WORKFLOWS = tuple(f".github/workflows/w{i}.yml" for i in range(1, 7))
FIRST_CONFLICT = 3


def lines(name: str, n: int = 8) -> list[str]:
    return [f"{name} line {k}\n" for k in range(n)]


def blob(text: str | list[str]) -> list[bytes]:
    data = ("".join(text) if isinstance(text, list) else text).encode()
    return [b"data %d" % len(data), data]


def commit(ref: str, mark: int, tick: int, author: str, message: str, changes: Iterable[tuple[str, str]],
           parent: str | None = None) -> list[bytes]:
    when = f"{EPOCH + tick * 60} +0000"
    out = [f"commit {ref}".encode(), f"mark :{mark}".encode(), f"author {author} {when}".encode(),
           f"committer {author} {when}".encode(), *blob(message)]
    if parent:
        out.append(f"from {parent}".encode())
    for path, text in changes:
        out += [f"M 100644 inline {path}".encode(), *blob(text)]
    return out


def src(i: int) -> str:
    return f"src/d{i // 40:03}/f{i:05}.txt"


def build(root: Path, behind: int, fork_commits: int, files: int) -> dict[str, object]:
    """The upstream (bare), the fork (a checkout) and what the run must find."""
    later = sorted({max(FIRST_CONFLICT + 1, behind * 2 // 5), max(FIRST_CONFLICT + 2, behind * 4 // 5)})
    clash = {later[0]: src(7), later[1]: src(11)}            # upstream commit -> the file it clashes on
    fork_side = {max(1, fork_commits * 3 // 10): src(7), max(2, fork_commits * 9 // 10): src(11)}
    ci_commit = max(3, fork_commits * 7 // 10)               # the fork commit upstream 3 conflicts with
    up = init_repo(root / "upstream.git", bare=True)
    tree = [(src(i), "".join(lines(src(i)))) for i in range(files)]
    tree += [(w, "".join(lines(w))) for w in WORKFLOWS]
    stream = commit("refs/heads/main", 1, 0, "Up <up@example.com>", "initial", tree)
    stream += [b"reset refs/tags/base", b"from :1"]
    for k in range(1, behind + 1):
        if k == FIRST_CONFLICT:
            changes = [(w, "".join(lines(w)[:2] + ["registry: upstream.example/app\n"] + lines(w)[3:]))
                       for w in WORKFLOWS]
            subject = "refac: reorganize scripts"
        elif k in clash:
            p = clash[k]
            changes = [(p, "".join(lines(p)[:4] + [f"upstream change {k}\n"] + lines(p)[5:]))]
            subject = f"fix: upstream {k}"
        else:
            changes = [(src((k * 7919) % files), f"upstream {k}\n"), (f"up/new{k:05}.txt", f"new {k}\n")]
            subject = f"feat: upstream {k}"
        stream += commit("refs/heads/main", k + 1, k, "Up <up@example.com>", subject, changes)
    git.git(up, "fast-import", "--quiet", input=b"\n".join(stream) + b"\n")
    base = git.rev_parse(up, "refs/tags/base") or ""
    fork = init_repo(root / "fork")
    git.git(fork, "fetch", "--quiet", "--no-tags", "--update-head-ok", str(up), "refs/tags/base:refs/heads/main")
    stream = []
    for k in range(1, fork_commits + 1):
        if k == ci_commit:
            changes = [(w, "".join(lines(w)[:2] + ["registry: ours.example/app\n"] + lines(w)[3:])) for w in WORKFLOWS]
            subject, author = "ci: push images to our registry", "Ops <ops@fork.example>"
        elif k in fork_side:
            p = fork_side[k]
            changes = [(p, "".join(lines(p)[:4] + [f"fork change {k}\n"] + lines(p)[5:]))]
            subject, author = f"fix: fork {k}", "Fork <f@fork.example>"
        else:
            changes = [(f"fork/d{k % 97:02}/f{k % 1500:04}.txt", f"fork {k}\n")]
            subject, author = f"feat: fork {k}", "Fork <f@fork.example>"
        stream += commit("refs/heads/main", k, k, author, subject, changes, parent=base if k == 1 else None)
    git.git(fork, "fast-import", "--quiet", input=b"\n".join(stream) + b"\n")
    git.git(fork, "read-tree", "--reset", "-u", "HEAD")
    git.git(fork, "gc", "--quiet")  # the fork a person has is packed, as a clone is
    return {"upstream": up, "fork": fork, "later": later, "ci_commit": ci_commit}


CHECK = "sleep {s}; ! grep -rqs --exclude-dir=.git -e '^<<<<<<< ' -e '^>>>>>>> ' ."


def workspace(root: Path, check_seconds: float) -> Path:
    ws = root / "ws"
    ws.mkdir()
    cfg = {"sources": [{"name": "upstream", "url": "../upstream.git", "ref": "main", "mode": "merge"}],
           "fork": {"path": "../fork", "branch": "main"}, "waves": {"a": {"buckets": ["*"]}},
           "checks": [{"name": "build", "run": CHECK.format(s=check_seconds)}]}
    (ws / "forkwave.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return ws


def sh(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=git.git_env())


def by_hand(hand: Path, upstream: Path, check_seconds: float) -> tuple[float, int]:
    """(seconds, the first conflicting upstream commit's position): fetch, merge-tree bisection, merge, check."""
    t0 = time.perf_counter()
    sh(hand, "fetch", "--quiet", "--no-tags", str(upstream), "main")
    base = sh(hand, "merge-base", "HEAD", "FETCH_HEAD").stdout.strip()
    shas = sh(hand, "rev-list", "--first-parent", "--reverse", f"{base}..FETCH_HEAD").stdout.split()
    lo, hi = 0, len(shas)           # the merge of commit lo is clean (0: nothing), of hi conflicts
    if sh(hand, "merge-tree", "--write-tree", "HEAD", shas[-1]).returncode == 0:
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        clean = sh(hand, "merge-tree", "--write-tree", "HEAD", shas[mid - 1]).returncode == 0
        lo, hi = (mid, hi) if clean else (lo, mid)
    if lo:
        merged = sh(hand, "merge", "--quiet", "--no-edit", shas[lo - 1])
        if merged.returncode:
            raise SystemExit(f"by hand: the merge failed: {merged.stderr}")
    subprocess.run(["bash", "-c", CHECK.format(s=check_seconds)], cwd=hand, check=False)
    return time.perf_counter() - t0, lo + 1


def cpu() -> float:
    """CPU seconds of this process's finished children (git, doit and what they waited for): unlike the wall
    clock, not inflated by other work on the machine."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def forkwave(ws: Path) -> tuple[float, float, float, int]:
    """(seconds to slice-1's decision, seconds of the whole run, CPU seconds, exit code) of ``doit`` in ``ws``;
    the decision is the moment doit prints slice-1's outcome."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    c0, t0 = cpu(), time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "-d", str(ws)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    first = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if first is None and re.search(r"\] slice-1: \w", line) and "..." not in line:
            first = time.perf_counter() - t0
    code = proc.wait()
    total = time.perf_counter() - t0
    return first if first is not None else total, total, cpu() - c0, code


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--behind", type=int, default=1250)
    ap.add_argument("--fork-commits", type=int, default=10_000)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--check-seconds", type=float, default=10.0)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    with scratch(args.keep, "forkwave-merge-diverged-") as root:
        t0 = time.perf_counter()
        made = build(root, args.behind, args.fork_commits, args.files)
        fork, up = Path(str(made["fork"])), Path(str(made["upstream"]))
        hand = root / "hand"
        shutil.copytree(fork, hand, symlinks=True)
        ws = workspace(root, args.check_seconds)
        print(f"built: upstream {args.behind} commits ahead of the merge base, fork {args.fork_commits} commits of "
              f"its own, {args.files} files, in {time.perf_counter() - t0:.1f} s; check: {args.check_seconds:g} s")
        c0 = cpu()
        hand_s, position = by_hand(hand, up, args.check_seconds)
        hand_cpu = cpu() - c0
        before = objects.unreachable(fork)
        first_s, fw_s, fw_cpu, code = forkwave(ws)
        after = objects.unreachable(fork)
        if code not in (0, 2):
            raise SystemExit(f"forkwave failed (exit {code}); see {ws / 'reports'}")
        out = json.loads((ws / "reports" / "slices" / "slice-1" / "outcome.json").read_text())
        culprit = out.get("culprit") or {}
        statuses = [json.loads(p.read_text())["status"] for p in sorted((ws / "reports" / "slices").glob(
            "*/outcome.json"))]
        again_s, _ = doit(ws)
        ratio = first_s / hand_s
        check = args.check_seconds
        print(f"by hand:  {hand_s:6.2f} s, {hand_cpu:5.2f} s CPU, {hand_s - check:5.2f} s without the check  (fetch, "
              f"merge-tree bisection: upstream commit {position} conflicts, one merge, the check once)")
        print(f"forkwave: {first_s:6.2f} s to the first decision, {ratio:.2f}x by hand (target <= 1.5), "
              f"{first_s - check:5.2f} s without the check; the whole first run {fw_s:.2f} s ({fw_s / hand_s:.2f}x), "
              f"{fw_cpu:5.2f} s CPU")
        print(f"          slice-1 {out['status']}: {culprit.get('line', '-')}")
        fork_commit = culprit.get("fork_commit") or {}
        print(f"          it conflicts with fork commit {fork_commit.get('short', '-')} "
              f"{fork_commit.get('subject', '')!r} ({fork_commit.get('author', '-')}); {statuses.count('waiting')} of "
              f"{len(statuses)} ranges wait behind it")
        print(f"          second run (nothing new): {again_s:.2f} s")
        print(f"fork's unreachable objects: {len(before)} before, {len(after)} after (target: unchanged)")
        wrong = (culprit.get("position") != FIRST_CONFLICT or position != FIRST_CONFLICT
                 or fork_commit.get("subject") != "ci: push images to our registry")
        if wrong or ratio > 1.5 or before != after:
            sys.exit(1)


if __name__ == "__main__":
    main()
