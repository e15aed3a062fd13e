"""A cherry-pick source's record in the fork: its cursor, the commits it processed and the ones it dropped.

It lives in the fork's state file (``.forkwave/sync-state.json``) on the source's integration
branch, beside the snapshot waves' records, so any clone of the fork knows what was picked:
``{"cherry-pick": {"cursor": sha, "processed": {sha: what}, "dropped": {sha: {reason, key}}}}``
(per source under ``sources`` with several).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tasks.config import Config
from tasks.repo import git, importer, state, worktree
from tasks.repo.importer import Change

KEY = "cherry-pick"
KEEP = 5000  # processed SHAs kept per source (the cursor covers the older ones)


def read(cfg: Config, rev: str | None = None) -> dict[str, Any]:
    """The source's record at ``rev`` (default: its integration branch, else the fork's remote's — a fresh clone —,
    else ``fork.branch``)."""
    rev = rev or worktree.sync_ref(cfg) or f"refs/heads/{cfg.fork.branch}"
    data = state.read(cfg, rev) or {}
    if cfg.several:
        data = (data.get("sources") or {}).get(cfg.source) or {}
    record = data.get(KEY) if isinstance(data, dict) else None
    if not isinstance(record, dict):
        return {"cursor": None, "processed": {}, "dropped": {}}
    return {"cursor": record.get("cursor"), "processed": dict(record.get("processed") or {}),
            "dropped": dict(record.get("dropped") or {})}


def body(cfg: Config, tip: str, record: Mapping[str, Any]) -> bytes:
    """The state file at ``tip`` with this source's record replaced."""
    data = dict(state.read(cfg, tip) or {})
    processed = dict(list((record.get("processed") or {}).items())[-KEEP:])
    mine = {"cursor": record.get("cursor"), "processed": processed, "dropped": dict(record.get("dropped") or {})}
    if cfg.several:
        every = dict(data.get("sources") or {}) if data.get("version") == 2 else {}
        every[cfg.source] = {**(every.get(cfg.source) or {}), KEY: mine}
        data = {"version": 2, "sources": dict(sorted(every.items()))}
    else:
        data = {**data, "version": data.get("version", 1), KEY: mine}
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def commit(cfg: Config, tip: str, record: Mapping[str, Any], slice_name: str) -> str | None:
    """A commit on ``tip`` recording ``record`` (objects only; the caller moves the branch); None if unchanged."""
    text = body(cfg, tip, record)
    current = git.git(cfg.fork.path, "cat-file", "blob", f"{tip}:{state.STATE_PATH}", check=False)
    if current == text:
        return None
    oid = git.git(cfg.fork.path, "hash-object", "-w", "--stdin", input=text).decode().strip()
    cursor = record.get("cursor") or ""
    message = (f"forkwave: {cfg.source} cursor at {cursor[:12]}\n\nForkwave-State: cherry-pick {slice_name}\n"
               f"Forkwave-Source: {cfg.source}\n")
    return importer.build_commit(cfg.fork.path, tip, [Change(state.STATE_PATH, "state", "100644", oid)], message)
