"""Reports are written atomically, only when their bytes change, as ordinary files."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from tasks.workspace import Workspace, dump_json, write_if_changed


def test_write_if_changed_leaves_identical_files_alone(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "plan.json"
    assert write_if_changed(path, dump_json({"a": 1}))
    mtime = path.stat().st_mtime_ns
    assert not write_if_changed(path, dump_json({"a": 1}))
    assert path.stat().st_mtime_ns == mtime
    assert write_if_changed(path, dump_json({"a": 2}))
    assert path.read_text() == '{\n  "a": 2\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["plan.json"]  # no temporary files left behind


def test_reports_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_if_changed(tmp_path / "drift.md", "# board\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "drift.md").stat().st_mode) == 0o644  # not mkstemp's private 0600


def test_dump_json_keeps_non_ascii_readable() -> None:
    assert dump_json({"path": "café/日本.md"}) == '{\n  "path": "café/日本.md"\n}\n'


def test_workspace_paths(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert ws.report("drift.json") == tmp_path / "reports" / "drift.json"
    assert ws.mirror == tmp_path / ".forkwave" / "upstream.git"
    assert ws.rel(tmp_path / "reports" / "x") == os.path.join("reports", "x")
