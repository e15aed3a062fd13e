"""Snapshot mode: a person's resolution of a both-changed file is recorded in the fork and replayed.

A fork copied from upstream v1 (no shared history) and upstream v2 both change the one line of
``conf/default.json``. A person resolves it once with ``doit resolve``; when the same conflict comes
back — the sync branch started over and the workspace cleaned — it is settled the same way.
"""
from __future__ import annotations

from pathlib import Path

from conftest import git_out, run_doit
from slicekit import build, outcome, rev, slice_names, tree
from tasks.repo import objects, resolutions

BASE = {"keep.txt": "keep\n", "conf/default.json": '{"a": 1}\n', "src/app.js": "app v1\n"}
UPSTREAM = {"keep.txt": "keep\n", "conf/default.json": '{"a": 2}\n', "src/app.js": "app v2\n"}
FORK = {**BASE, "conf/default.json": '{"a": 1, "acme": true}\n'}
RESOLVED = '{"a": 2, "acme": true}\n'


def test_a_both_changed_file_resolved_once_is_resolved_the_same_way_when_it_conflicts_again(tmp_path: Path) -> None:
    r = build(tmp_path, BASE, UPSTREAM, FORK, slices={"max_files": 1})
    assert run_doit(r.workspace).returncode == 2
    [name] = [n for n in slice_names(r) if "conf/default.json" in [f["path"] for f in outcome(r, n)["files"]]]
    (r.reports / "slices" / name / "conflicts" / "conf/default.json").write_text(RESOLVED)
    assert run_doit(r.workspace, f"resolve:{name}").returncode == 0
    assert git_out(r.fork, "ls-tree", "-r", "--name-only", resolutions.REF).count("/postimage") == 1

    git_out(r.fork, "update-ref", "-d", "refs/heads/sync/upstream")   # started over
    assert run_doit(r.workspace, "clean").returncode == 0
    before = objects.unreachable(r.fork)
    res = run_doit(r.workspace)
    assert res.returncode == 0, res.stdout + res.stderr
    assert tree(r.fork, rev(r.fork, "refs/heads/sync/upstream") or "")["conf/default.json"][1] == RESOLVED.encode()
    [name] = [n for n in slice_names(r) if "conf/default.json" in [f["path"] for f in outcome(r, n)["files"]]]
    out = outcome(r, name)
    assert out["status"] == "adopted" and out["conflicts"] == []
    assert [x["reason"] for x in out["reported"]][0].startswith(resolutions.REPLAYED)
    assert set(objects.unreachable(r.fork)) <= set(before)
