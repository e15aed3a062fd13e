"""Merge mode as a person sees it: reports that list the slice's own commits, counts in commits, JUnit that
fails what needs a person, every command a report recommends run for real, and a dry run that writes nothing.

The fork is cloned from upstream commit 20 of 40 with a commit of its own (``tests/modes/test_merge.py``).
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import git_out, run_doit
from slicekit import tree
from test_merge import AT, N, Merge, build, outcome


def cases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def test_a_report_lists_exactly_the_slices_commits_and_counts_in_commits(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=23, checks=False, top={"slices": {"max_commits": 5}})
    res = run_doit(m.ws)
    assert res.returncode == 2, res.stdout + res.stderr
    # slice-1 holds commits 21..25: 21-22 land, 23 conflicts, 24-25 wait; slices 2..4 wait behind 23
    assert "slice-1: conflicted — 2 of 5 commits adopted, 1 conflicted, 2 waiting" in res.stdout
    assert "slice-2: waiting — 0 of 5 commits adopted, 5 waiting" in res.stdout
    for k in range(1, 5):
        mine = m.shas[AT + 5 * (k - 1):AT + 5 * k]
        report = (m.reports / "slices" / f"slice-{k}" / "report.md").read_text()
        listed = re.findall(r"\| `([0-9a-f]{12})` \|", report.split("## Commits (5)")[1].split("\n## ")[0])
        assert listed == [s[:12] for s in mine]                           # the slice's own, in order
        named = {s for s in set(m.shas) - set(mine) if s[:10] in report}
        assert named <= {m.shas[22], m.shas[-1]}                          # besides: its blocker, the upstream tip
    first = (m.reports / "slices" / "slice-1" / "report.md").read_text()
    assert "| adopted |" in first and "| conflicted |" in first and "waiting behind" in first
    assert f"| `src/m23.txt` | upstream-added | in `{m.shas[22][:10]}`, which conflicts |" in first
    summary = (m.reports / "summary.json").read_text()
    assert '"waiting": 17' in summary                                      # 2 in slice-1, 15 in slices 2..4
    # no reverted or deferred slice: nothing was judged behind the conflict
    assert [outcome(m, f"slice-{k}")["status"] for k in range(1, 5)] == ["conflicted"] + ["waiting"] * 3
    assert all(outcome(m, f"slice-{k}")["attempts"] == [] for k in range(2, 5))
    last = res.stdout.splitlines()[-1]
    assert last.startswith("forkwave: 4 slices: 0 adopted, 0 deferred, 1 conflicted, 3 waiting (commits: 2 of 20 "
                           "adopted, 1 conflicted, 17 waiting)")


def test_junit_fails_the_conflict_and_skips_what_waits(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=23, checks=False, top={"slices": {"max_commits": 5}})
    assert run_doit(m.ws).returncode == 2
    first = cases(m.reports / "slices" / "slice-1" / "junit.xml")
    failing = [c for c in first if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["conflict: shared.txt"]
    assert m.shas[22][:10] in failing[0].find("failure").get("message")
    waiting = [c for c in cases(m.reports / "slices" / "slice-2" / "junit.xml")]
    assert [c.find("skipped") is not None for c in waiting] == [True]
    assert waiting[0].get("name").startswith(f"waiting: {m.shas[25][:10]}")
    suite = ET.parse(m.reports / "wave-a" / "junit.xml").getroot()
    assert sum(int(s.get("failures")) for s in suite.iter("testsuite")) == 1


def test_resolve_commits_the_merge_with_the_persons_edit_of_the_conflict_file(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=25, checks=False)
    assert run_doit(m.ws).returncode == 2
    conflict = m.reports / "slices" / "slice-1" / "conflicts" / "shared.txt"
    conflict.write_text("line1\nboth\nline3\n")
    res = run_doit(m.ws, "resolve:slice-1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "resolution committed on sync/upstream" in res.stdout and not conflict.exists()
    assert m.holds(25) and tree(m.fork, m.sync())["shared.txt"][1] == b"line1\nboth\nline3\n"
    parents = git_out(m.fork, "rev-list", "--parents", "-n1", m.sync()).split()[1:]
    assert parents[1] == m.shas[24]                                     # a merge of the conflicting commit
    done = run_doit(m.ws)
    assert done.returncode == 0, done.stdout + done.stderr
    assert m.holds(N) and outcome(m)["status"] == "adopted"
    assert tree(m.fork, m.sync())["shared.txt"][1] == b"line1\nboth\nline3\n"


def test_resolve_take_upstream_for_a_merge_conflict(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=25, checks=False)
    assert run_doit(m.ws).returncode == 2
    res = run_doit(m.ws, "resolve:slice-1", "take=upstream")
    assert res.returncode == 0, res.stdout + res.stderr
    assert tree(m.fork, m.sync())["shared.txt"][1] == b"line1\nupstream\nline3\n"
    assert run_doit(m.ws).returncode == 0 and m.holds(N)


def test_the_merge_commands_a_conflict_report_gives_work_from_a_checkout_of_the_fork(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=25, checks=False)
    assert run_doit(m.ws).returncode == 2
    step = outcome(m)["conflicts"][0]["next"]
    [command] = re.findall(r"\(`(git fetch [^`]+)`, resolve, commit\)", step)
    person = m.root / "person"
    subprocess.run(["git", "clone", "-q", str(m.fork), str(person)], check=True)
    git_out(person, "branch", "-q", "sync/upstream", "origin/sync/upstream")
    subprocess.run(command, shell=True, cwd=m.ws, check=False, capture_output=True)  # paths relative to ws
    run = subprocess.run(f"cd {person} && {command}", shell=True, capture_output=True, text=True)
    assert "CONFLICT" in run.stdout + run.stderr                          # the merge stops on the conflict
    (person / "shared.txt").write_text("line1\nmerged by hand\nline3\n")
    git_out(person, "commit", "-qam", "merge upstream 25 by hand")
    git_out(person, "push", "-q", "origin", "sync/upstream")
    assert run_doit(m.ws, "resolve:slice-1").returncode == 0
    assert run_doit(m.ws).returncode == 0 and m.holds(N)


def test_rollback_reverts_the_merge_and_readopt_takes_it_again(tmp_path: Path) -> None:
    m = build(tmp_path, checks=False)
    assert run_doit(m.ws).returncode == 0 and m.holds(N)
    merged = m.sync()
    res = run_doit(m.ws, "rollback:slice-1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert tree(m.fork, m.sync()) == tree(m.fork, m.fork_tip)           # the merge's changes are gone
    assert git_out(m.fork, "rev-parse", f"{m.sync()}^") == merged + "\n"  # a new commit on top: nothing rewritten
    assert "Forkwave-Rollback: slice-1" in git_out(m.fork, "log", "-1", "--format=%B", m.sync())
    again = run_doit(m.ws)
    assert again.returncode == 0 and outcome(m)["status"] == "rolled-back"
    assert tree(m.fork, m.sync()) == tree(m.fork, m.fork_tip)           # left alone: not merged again
    twice = run_doit(m.ws, "rollback:slice-1")
    assert twice.returncode == 1 and "already rolled back" in twice.stderr and "readopt:slice-1" in twice.stderr
    assert run_doit(m.ws, "readopt:slice-1").returncode == 0
    back = run_doit(m.ws)
    assert back.returncode == 0, back.stdout + back.stderr
    assert outcome(m)["status"] == "adopted" and tree(m.fork, m.sync()) == tree(m.fork, merged)


def test_the_manual_rollback_a_report_shows_reverts_the_merge(tmp_path: Path) -> None:
    m = build(tmp_path, checks=False)
    assert run_doit(m.ws).returncode == 0
    report = (m.reports / "slices" / "slice-1" / "report.md").read_text()
    [command] = re.findall(r"```sh\n(.+?)\n```", report, re.S)
    assert "revert --no-edit -m 1" in command                             # a merge commit: its first parent
    subprocess.run(command, shell=True, check=True, capture_output=True)
    assert tree(m.fork, m.sync()) == tree(m.fork, m.fork_tip)


def test_the_manual_rollback_of_a_fast_forward_reverts_its_span(tmp_path: Path) -> None:
    m = build(tmp_path, checks=False, fork_own=False)
    assert run_doit(m.ws).returncode == 0 and m.sync() == m.shas[-1]
    report = (m.reports / "slices" / "slice-1" / "report.md").read_text()
    [command] = re.findall(r"```sh\n(.+?)\n```", report, re.S)
    assert f"{m.fork_tip}..{m.shas[-1]}" in command
    subprocess.run(command, shell=True, check=True, capture_output=True)
    assert tree(m.fork, m.sync()) == tree(m.fork, m.fork_tip)


def state(m: Merge) -> dict[str, str]:
    """Every ref of the fork and the mirror, and every file under reports/ but the dry run's own."""
    out = {"fork": git_out(m.fork, "for-each-ref", "--format=%(refname) %(objectname)"),
           "mirror": git_out(m.ws / ".forkwave" / "upstream.git", "for-each-ref",
                             "--format=%(refname) %(objectname)")}
    for p in sorted(m.reports.rglob("*")):
        if p.is_file() and not p.name.startswith("dry-run."):
            out[str(p.relative_to(m.reports))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_a_dry_run_in_merge_mode_shows_each_commit_and_writes_nothing_else(tmp_path: Path) -> None:
    m = build(tmp_path, conflict_at=33, checks=False, top={"slices": {"max_commits": 5}})
    first = run_doit(m.ws, "plan")
    assert first.returncode == 0, first.stdout + first.stderr
    before = state(m)
    res = run_doit(m.ws, "dry=1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert state(m) == before
    assert "dry run: reports/dry-run.md (a real run would exit 2)" in res.stdout
    data = (m.reports / "dry-run.json").read_text()
    import json
    sims = {s["slice"]: s for s in json.loads(data)["slices"]}
    assert [s["status"] for s in sims.values()] == ["adopted", "adopted", "conflicted", "waiting"]
    third = [r["would"] for r in sims["slice-3"]["commits"]]
    assert third == ["merge", "merge", "conflict", "wait", "wait"]        # 31, 32 merge; 33 conflicts
    assert sims["slice-3"]["conflicts"] == [{"path": "shared.txt", "reason": f"merge of {m.shas[32][:10]} conflicts"}]
    again = run_doit(m.ws, "dry=1")
    assert again.returncode == 0 and (m.reports / "dry-run.json").read_text() == data  # the same bytes


def test_a_merge_plan_says_its_slices_are_cut_by_commits(tmp_path: Path) -> None:
    m = build(tmp_path, checks=False, top={"slices": {"max_commits": 5}})
    assert run_doit(m.ws, "plan").returncode == 0
    manifest = (m.reports / "wave-a.md").read_text()
    assert "at most 5 upstream commits" in manifest and "files a slice" not in manifest
    assert f"5 commits (`{m.shas[AT][:12]}`..`{m.shas[AT + 4][:12]}`) changing" in manifest
