"""Write-ahead records of sync-branch moves, so a kill right after a move loses nothing.

Before forkwave moves the sync branch it writes what the move means — the outcome files it
is about to write — to ``reports/journal/<key>.json``; after the move and the outcomes are
written, the record is removed. A run that finds a record reconciles it first: if the
branch holds the new commit the move happened, and the outcomes are written from the
record; otherwise it never happened and the record is dropped.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tasks.workspace import Workspace, dump_json, read_json, write_if_changed


def _dir(ws: Workspace) -> Path:
    return ws.reports / "journal"


def intend(ws: Workspace, key: str, commit: str, outcomes: Mapping[str, Mapping[str, Any]]) -> None:
    """Record that the sync branch is about to move to ``commit``, and the outcome files that says."""
    write_if_changed(_dir(ws) / f"{key}.json", dump_json({"commit": commit, "outcomes": dict(outcomes)}))


def done(ws: Workspace, key: str) -> None:
    (_dir(ws) / f"{key}.json").unlink(missing_ok=True)


def reconcile(ws: Workspace, on_branch: Callable[[str], bool],
              write: Callable[[str, Mapping[str, Any]], None]) -> list[str]:
    """Finish or drop every recorded move; returns what was recovered (for a message)."""
    recovered = []
    folder = _dir(ws)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            record = read_json(path)
        except ValueError:
            path.unlink()
            continue
        if on_branch(record["commit"]):
            for name, outcome in record["outcomes"].items():
                write(name, outcome)
            recovered.append(f"{path.stem} (commit {record['commit'][:12]})")
        path.unlink()
    for item in recovered:
        print(f"forkwave: recorded a sync-branch move an interrupted run made: {item}", file=sys.stderr)
    return recovered
