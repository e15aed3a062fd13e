"""What the fork is synced to, recorded inside the fork's own history.

When a wave lands, a small committed file (``.forkwave/sync-state.json``) on the sync
branch records the upstream revision of that wave's path group, and the commit carries
trailers. Any clone of the fork (once the sync branch is merged into ``fork.branch``)
knows its bases without forkwave's local state, per group: wave a's paths can sit at a
newer upstream revision than wave c's.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from tasks.repo import git, importer, worktree
from tasks.config import Config
from tasks.repo.importer import Change

STATE_PATH = ".forkwave/sync-state.json"


def read(cfg: Config, rev: str | None = None) -> dict[str, Any] | None:
    """The state committed at ``rev`` (default: ``fork.branch``), or None."""
    rev = rev or f"refs/heads/{cfg.fork.branch}"
    out = git.git(cfg.fork.path, "cat-file", "blob", f"{rev}:{STATE_PATH}", check=False)
    if not out:
        return None
    try:
        data = json.loads(out)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def groups(state: dict[str, Any] | None, source: str | None = None) -> dict[str, str]:
    """wave -> upstream revision, from a state record (one source's, with several: ``source``)."""
    if not state:
        return {}
    if source is not None:  # version 2: one record per source
        state = (state.get("sources") or {}).get(source) if isinstance(state.get("sources"), dict) else None
        if not isinstance(state, dict):
            return {}
    return {wave: g["revision"] for wave, g in (state.get("groups") or {}).items()
            if isinstance(g, dict) and isinstance(g.get("revision"), str)}


def updated(state: dict[str, Any] | None, wave: str, revision: str, upstream_url: str,
            source: str | None = None) -> dict[str, Any]:
    """The record with ``wave`` at ``revision``: version 1 for one source, version 2 (per source) for several."""
    state = dict(state or {})
    if source is not None:
        every = dict(state.get("sources") or {}) if state.get("version") == 2 else {}
        every[source] = updated(every.get(source), wave, revision, upstream_url)
        every[source].pop("version", None)
        return {"version": 2, "sources": dict(sorted(every.items()))}
    state["version"] = 1
    state["upstream"] = upstream_url
    grps = dict(state.get("groups") or {})
    grps[wave] = {"revision": revision,
                  "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    state["groups"] = dict(sorted(grps.items()))
    return state


def record_wave(cfg: Config, wave: str, revision: str, upstream_url: str, ws: Any = None,
                source: str | None = None) -> str | None:
    """Commit the wave's revision onto the sync branch (compare-and-swap); None if already recorded.
    With several sources, ``source`` names whose revision it is (the record keeps one per source)."""
    tip = worktree.sync_tip(cfg)
    current = read(cfg, tip)
    if groups(current, source).get(wave) == revision:
        return None
    body = (json.dumps(updated(current, wave, revision, upstream_url, source), indent=2, sort_keys=True)
            + "\n").encode()
    oid = git.git(cfg.fork.path, "hash-object", "-w", "--stdin", input=body).decode().strip()
    what = f"{source} " if source else "upstream "
    message = (f"forkwave: wave {wave} synced to {what}{revision[:12]}\n\n"
               f"Upstream-Revision: {revision}\nForkwave-State: wave {wave}\n"
               + (f"Forkwave-Source: {source}\n" if source else ""))
    commit = importer.build_commit(cfg.fork.path, tip, [Change(STATE_PATH, "state", "100644", oid)], message)
    worktree.move_sync(cfg, commit, tip, f"forkwave: record wave {wave}", ws)
    return commit
