"""The commit modes' judging with free slots (``host: {slots: 2}``) against one slot, through doit on real
repositories: a merge range's bisection and cherry-pick's one-by-one picks judge the candidates they ask next
while the current one runs, and decide exactly what one slot decides — statuses, culprits, what lands, the
attempts and their numbers, the logs under those numbers — with no tree checked twice.

The check records when it ran and on which tree: two candidates judged at the same time show the slots were
used, and no tree appears twice."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import git_out, run_doit
from slicekit import read, tree
import test_cherrypick_fixups as fixups
import test_merge as merges

SLEEP = 0.6


def check(runs: Path, failing: str) -> dict[str, Any]:
    """A check that logs (start, end, tree) of each run and fails on ``failing`` (a shell test)."""
    return {"name": "app", "run": f"t=$(git rev-parse 'HEAD^{{tree}}'); s=$(date +%s.%N); sleep {SLEEP}; "
                                  f"echo \"$s $(date +%s.%N) $t\" >> {runs}; {failing}"}


def spans(runs: Path) -> list[tuple[float, float, str]]:
    lines = runs.read_text().split("\n") if runs.exists() else []
    return [(float(a), float(b), t) for a, b, t in (line.split() for line in lines if line.strip())]


def overlapped(runs: Path, besides: str) -> bool:
    """Two candidates (neither of them the tree ``besides``: the baseline's) checked at the same time."""
    own = [s for s in spans(runs) if s[2] != besides]
    return any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(own) for b in own[i + 1:])


def decided(ws: Path, fork: Path, branch: str, name: str = "slice-1") -> dict[str, Any]:
    """What a run decided, without what says how long it took, when, or which run it was — and with the
    commits forkwave made named by their trees (their committer dates differ from run to run)."""
    out = read(ws / "reports" / "slices" / name / "outcome.json")
    plain = plainly(ws, fork, branch, out["run"])

    attempts = [{k: a.get(k) for k in ("n", "files", "on_top_of", "passed", "inferred", "ran", "commits")}
                | {"results": [(r["name"], r["status"]) for r in a["results"]]} for a in out["attempts"]]
    keep = ("status", "adopted", "landed", "adopted_commits", "landed_commits", "deferred", "conflicts", "waiting",
            "runs", "error")
    culprit = out.get("culprit")
    return plain({k: out.get(k) for k in keep} | {"attempts": attempts, "culprit": culprit})


def plainly(ws: Path, fork: Path, branch: str, run: str) -> Callable[[Any], Any]:
    made = [line.split() for line in git_out(fork, "log", "--format=%H %T", f"main..{branch}").split("\n") if line]

    def plain(value: Any) -> Any:
        text = json.dumps(value, sort_keys=True).replace(f"/{run}/", "/RUN/").replace(str(ws.parent), "ROOT")
        for sha, tree_ in made:
            text = re.sub(sha[:10] + "[0-9a-f]*", f"<commit of {tree_}>", text)
        return json.loads(re.sub(r'"duration": [0-9.e-]+', '"duration": 0', text))
    return plain


def logs_where_reported(ws: Path, name: str = "slice-1") -> None:
    """Each attempt that ran has its check's log under ``attempt-<n>``, and each deferral's log exists."""
    out = read(ws / "reports" / "slices" / name / "outcome.json")
    root = ws / "reports" / "slices" / name / "logs" / out["run"]
    for a in out["attempts"]:
        if a["ran"] and not a["inferred"]:
            assert (root / f"attempt-{a['n']}" / "app.stdout.log").is_file(), a["n"]
    for d in out["deferred"]:
        if d.get("log"):
            assert (ws / "reports" / d["log"]).is_file(), d["log"]


# --- merge mode: a range bisected ------------------------------------------------------------------------

MERGE_CASES = {
    "culprit": dict(bad_at=33),
    "culprit-first": dict(bad_at=21),
    "revert": dict(bad_at=26, on_failure="revert"),
    "conflict-then-culprit": dict(bad_at=24, conflict_at=35),
    "clean": dict(),
}


@pytest.mark.parametrize("case", list(MERGE_CASES))
def test_a_merge_range_bisected_on_two_slots_decides_what_one_slot_does(tmp_path: Path, case: str) -> None:
    runs: dict[int, tuple[merges.Merge, dict[str, Any], str]] = {}
    for slots in (1, 2):
        root = tmp_path / f"slots-{slots}"
        root.mkdir()
        log = root / "checks.log"
        m = merges.build(root, checks=False, top={"checks": [check(log, "! grep -q BROKEN src/app.txt")],
                                                  "host": {"slots": slots}}, **MERGE_CASES[case])
        res = run_doit(m.ws, timeout=600)
        assert res.returncode == (0 if case == "clean" else 2), res.stdout + res.stderr
        runs[slots] = (m, decided(m.ws, m.fork, "sync/upstream"),
                       git_out(m.fork, "rev-parse", "refs/heads/sync/upstream^{tree}").strip())
        logs_where_reported(m.ws)
        trees = [t for _, _, t in spans(log)]
        assert len(trees) == len(set(trees)), "a tree was checked twice"
    (_, one, tree_one), (m, two, tree_two) = runs[1], runs[2]
    assert two == one
    assert tree_two == tree_one                 # the same merges landed
    if case in ("culprit", "culprit-first"):
        assert two["culprit"]["position"] == MERGE_CASES[case]["bad_at"] - merges.AT
    if case != "clean":
        start = git_out(m.fork, "rev-parse", "main^{tree}").strip()
        assert overlapped(m.root / "checks.log", start), "no two candidates were judged at once"


# --- cherry-pick: picks judged one by one ----------------------------------------------------------------

def without_keys(record: dict[str, Any]) -> dict[str, Any]:
    """The record without each dropped commit's ``key``: a digest of the check's definition, whose log path
    differs between the two workspaces."""
    dropped = {sha: {k: v for k, v in d.items() if k != "key"} for sha, d in record["dropped"].items()}
    return record | {"dropped": dropped}


def picks(root: Path, slots: int) -> fixups.Sibling:
    s = fixups.build(root, {**fixups.BASE, "web/app.txt": "app\nbonjour\n"})
    config = (s.ws / "forkwave.yaml").read_text()
    data = __import__("yaml").safe_load(config)
    data["checks"] = [check(s.runs, "! grep -rq BROKEN web")]
    data["host"] = {"slots": slots}
    (s.ws / "forkwave.yaml").write_text(__import__("yaml").safe_dump(data, sort_keys=False))
    s.add("a", "feat(ui): a", {"web/a.txt": "a\n"}, 1)
    s.add("broken", "feat(ui): a broken helper", {"web/b.txt": "BROKEN\n"}, 2)
    s.add("c", "feat(ui): c", {"web/c.txt": "c\n"}, 3)
    s.add("clash", "fix(ui): say hello", {"web/app.txt": "app\nhello\n"}, 4)     # the fork said bonjour there
    s.add("d", "feat(ui): d", {"web/d.txt": "d\n"}, 5)
    s.add("fixup", "fix(ui): the helper works", {"web/b.txt": "fixed\n"}, 6)   # lands with the broken one
    s.add("e", "feat(ui): e uses the helper", {"web/e.txt": "BROKEN too\n"}, 7)
    s.add("f", "feat(ui): f", {"web/f.txt": "f\n"}, 8)
    return s


def test_picks_judged_one_by_one_on_two_slots_decide_what_one_slot_does(tmp_path: Path) -> None:
    runs: dict[int, tuple[fixups.Sibling, dict[str, Any], Any, Any]] = {}
    for slots in (1, 2):
        s = picks(tmp_path / f"slots-{slots}", slots)
        res = run_doit(s.ws, timeout=600)
        assert res.returncode == 2, res.stdout + res.stderr
        picked = git_out(s.fork, "log", "--reverse", "--format=%s", f"main..{s.branch()}").split("\n")
        files = {p: c for p, (_, c) in tree(s.fork, s.branch()).items() if not p.startswith(".forkwave/")}
        run = read(s.ws / "reports/slices/slice-1/outcome.json")["run"]
        runs[slots] = (s, decided(s.ws, s.fork, "sync/web"), (picked, files),
                       plainly(s.ws, s.fork, "sync/web", run)(without_keys(s.record())))
        logs_where_reported(s.ws)
        trees = [t for _, _, t in spans(s.runs)]
        assert len(trees) == len(set(trees)), "a tree was checked twice"
    (_, one, landed_one, record_one), (s, two, landed_two, record_two) = runs[1], runs[2]
    assert two == one
    assert landed_two == landed_one and record_two == record_one
    picked, files = landed_two
    assert files["web/b.txt"] == b"fixed\n" and "web/e.txt" not in files and "web/f.txt" in files
    assert {d["reason"].split(":")[0] for d in two["deferred"]} and two["conflicts"]
    start = git_out(s.fork, "rev-parse", "main^{tree}").strip()
    assert overlapped(s.runs, start), "no two candidates were judged at once"
