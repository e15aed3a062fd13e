"""The verdict memo: (candidate tree, check fingerprint) -> result, so no check runs twice on one tree.

A check's verdict is a function of the tree it runs on and of the check itself, so it is
recorded once — within a split, across slices and waves, and across runs. The memo lives
in ``reports/memo/`` (CI caches ``reports/``): a restored workspace runs no check again on
a tree it has already judged. A check that could not run (an error) or timed out is never
recorded: it may say more about the machine than about the tree.

A check that reads ``FORKWAVE_FILES`` judges the files it is given, not only the tree, so
the file list is part of its fingerprint.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.model import ERROR
from tasks.hashing import digest
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

VERSION = 1


def check_fingerprint(check: Any, containers: Mapping[str, Any], files: Sequence[str] = ()) -> str:
    """What a check's verdict depends on besides the tree: its definition and where it runs."""
    definition = {k: v for k, v in check.__dict__.items() if k != "when"}  # `when` picks slices, not verdicts
    key: dict[str, Any] = {"v": VERSION, "check": definition}
    if check.kind != "host":
        key["containers"] = dict(containers)
    if "FORKWAVE_FILES" in (check.run or ""):
        key["files"] = sorted(files)
    return digest(key)


class Memo:
    """Verdicts on disk, one small JSON file per (fingerprint, tree)."""

    def __init__(self, ws: Workspace):
        self.root = ws.reports / "memo"
        self.hits = 0

    def _path(self, fingerprint: str, tree: str) -> Path:
        return self.root / fingerprint / f"{tree}.json"

    def get(self, fingerprint: str, tree: str) -> dict[str, Any] | None:
        path = self._path(fingerprint, tree)
        if not path.exists():
            return None
        try:
            data = read_json(path)
        except ValueError:  # a torn write cannot happen (atomic), but a hand-edited file can
            return None
        self.hits += 1
        return data

    def put(self, fingerprint: str, tree: str, result: Mapping[str, Any]) -> None:
        if result.get("status") == ERROR or result.get("timed_out"):  # judged nothing, or maybe only the machine
            return
        write_if_changed(self._path(fingerprint, tree), dump_json(dict(result)))
