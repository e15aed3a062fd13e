"""The Disk table counts every worktree forkwave keeps: the private one and those of candidates judged beside it."""
from __future__ import annotations

from pathlib import Path

from checks.disk import markdown, usage


def test_the_worktrees_of_candidates_judged_beside_the_slice_are_counted(tmp_path: Path) -> None:
    state = tmp_path / ".forkwave"
    for name, size in (("worktree", 40_000), ("worktree-1", 80_000)):
        (state / name / "node_modules" / "x").mkdir(parents=True)
        (state / name / "src.txt").write_bytes(b"s" * size)
        (state / name / "node_modules" / "x" / "index.js").write_bytes(b"m" * size)
    (state / "worktree-notes").mkdir()  # a folder of that name that is no slot's worktree is not counted as one
    (state / "worktree-notes" / "big").write_bytes(b"n" * 1_000_000)
    alone = usage(state)
    assert 120_000 <= alone["worktree"] < 1_000_000 and alone["node_modules"] >= 120_000
    assert alone["total"] == alone["worktree"] + alone["node_modules"] + alone["cache_total"]
    assert "worktrees (without node_modules)" in "\n".join(markdown(alone))
