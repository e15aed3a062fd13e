"""``since=last-success`` (only upstream commits newer than the last successful sync in the ledger),
``full=1`` (ledger and recorded state ignored) and ``batch_size=N`` (max_files for one run), on real
repositories and real doit runs."""
from __future__ import annotations

from pathlib import Path

from conftest import commit_tree, run_doit
from slicekit import build, ledger_runs, plan, read, rev

BASE = {"s1/a.txt": "a\n", "s2/b.txt": "b\n", "s3/c.txt": "c\n"}
V2 = {**BASE, "s1/a.txt": "a2\n"}


def planned(reports: Path) -> list[str]:
    return sorted(f["path"] for s in read(reports / "plan.json")["slices"] for f in s["files"])


def test_since_last_success_plans_only_upstream_commits_newer_than_the_last_success(tmp_path: Path) -> None:
    r = build(tmp_path, BASE, V2)
    first = run_doit(r.workspace, "since=last-success")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "no successful sync of wave a in the ledger yet; comparing everything" in first.stdout
    assert planned(r.reports) == ["s1/a.txt"]
    [wave] = ledger_runs(r.reports)[-1].syncs
    assert (wave.sync_type, wave.status, wave.revision) == ("wave-a", "success", r.main)

    v3 = commit_tree(r.upstream, {**V2, "s2/b.txt": "b3\n"}, message="v3", tick=20)  # upstream moves on
    second = run_doit(r.workspace, "since=last-success")
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"since=last-success: upstream changes after {r.main[:12]} (1 paths)" in second.stdout
    # s1/a.txt still differs from the fork's main (the sync branch is not merged), but it came before
    # the last success: only v3's change is planned
    assert planned(r.reports) == ["s2/b.txt"]
    drift = read(r.reports / "drift.json")
    assert drift["entries"]["s1/a.txt"]["class"] == "before-since"
    assert ledger_runs(r.reports)[-1].syncs[0].revision == v3

    again = run_doit(r.workspace, "since=last-success")          # nothing newer than v3: nothing planned
    assert again.returncode == 0 and planned(r.reports) == []

    full = run_doit(r.workspace, "since=last-success", "full=1")  # full=1: the ledger is not read
    assert full.returncode == 0, full.stdout + full.stderr
    assert "full=1: since=last-success ignored" in full.stdout
    assert planned(r.reports) == ["s1/a.txt", "s2/b.txt"]


def test_batch_size_overrides_max_files_for_one_run(tmp_path: Path) -> None:
    steps = [{**BASE, "s1/a.txt": "a2\n"}, {**BASE, "s1/a.txt": "a2\n", "s2/b.txt": "b2\n"}]  # one commit each
    r = build(tmp_path, BASE, {**BASE, "s1/a.txt": "a2\n", "s2/b.txt": "b2\n", "s3/c.txt": "c2\n"}, steps=steps,
              slices={"max_files": 25})
    assert run_doit(r.workspace, "plan").returncode == 0
    assert [len(s["files"]) for s in plan(r)["slices"]] == [3]
    assert run_doit(r.workspace, "plan", "batch_size=1").returncode == 0   # re-plans: the override is an input
    assert [len(s["files"]) for s in plan(r)["slices"]] == [1, 1, 1]
    result = run_doit(r.workspace, "batch_size=2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(len(s["files"]) for s in plan(r)["slices"]) == [1, 2]
    assert rev(r.fork, "sync/upstream")
    assert run_doit(r.workspace, "plan").returncode == 0                  # the next run is back to max_files
    assert [len(s["files"]) for s in plan(r)["slices"]] == [3]
    bad = run_doit(r.workspace, "plan", "batch_size=0")
    assert bad.returncode == 1 and "batch_size=0: give a whole number from 1 to 100,000" in bad.stderr


def test_a_wave_with_nothing_to_do_is_a_success_so_since_last_success_narrows(tmp_path: Path) -> None:
    waves = {"a": {"paths": ["s1/**"]}, "b": {"paths": ["docs/**"]}}       # upstream never touches docs/
    r = build(tmp_path, {**BASE, "docs/x.md": "x\n"}, {**V2, "docs/x.md": "x\n"}, waves=waves)
    assert run_doit(r.workspace).returncode == 0
    rows = {s.sync_type: (s.status, s.counts.adopted, s.revision) for s in ledger_runs(r.reports)[-1].syncs}
    assert rows == {"wave-a": ("success", 1, r.main), "wave-b": ("success", 0, r.main)}
    commit_tree(r.upstream, {**V2, "docs/x.md": "x\n", "s1/new.txt": "new\n"}, message="v3", tick=20)
    second = run_doit(r.workspace, "since=last-success")
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"since=last-success: upstream changes after {r.main[:12]} (1 paths)" in second.stdout
    assert planned(r.reports) == ["s1/new.txt"]           # not s1/a.txt: before the last success
