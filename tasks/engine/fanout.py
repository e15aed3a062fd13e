"""The records a CI matrix job leaves for the final job: each source's batch judged on its own runner.

``doit batch sources=<one> fanout=1`` (a matrix job of ``doit ci matrix=sources``) judges that source's
file slices on the sync tip as the batch does, lands nothing, and writes ``reports/fanout/<source>.json``:
the start, the key of what it judged (``batch.batch_key`` of that source's slices), and whether it reached
the plan's last wave. The verdicts themselves are in the memo (``reports/memo/``), content-addressed by
check fingerprint and tree, so the final job can union the memos of every matrix job and ask again, with
no check running, exactly the questions each of them asked (``tasks.engine.batch``: ``by_source``).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

FOLDER = "fanout"


def path(ws: Workspace, source: str) -> Path:
    return ws.reports / FOLDER / f"{source}.json"


def write(ws: Workspace, source: str, record: Mapping[str, Any]) -> None:
    write_if_changed(path(ws, source), dump_json(dict(record)))


def read(ws: Workspace, source: str) -> dict[str, Any] | None:
    """The source's record, or None (no matrix job judged it, or its file cannot be read)."""
    try:
        return read_json(path(ws, source)) if path(ws, source).exists() else None
    except ValueError:
        return None
