"""Snapshot mode: a fork with no shared history, synced by comparing trees 3-way against a base.

drift compares the mapped upstream tree with the fork's by object id (``tasks.repo.drift``);
a slice's changes are upstream's blobs, clean 3-way merges and deletions
(``tasks.engine.slices.prepare_slice``); a landed wave records its upstream revision in
``.forkwave/sync-state.json`` on the sync branch (``tasks.repo.state``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import time

from tasks.config import Config
from tasks.core.commit import iso_date
from tasks.core.cooldown import cool, parse_duration
from tasks.core.classify import Bases
from tasks.core.plan import Plan, plan_waves
from tasks.engine import slices
from tasks.engine.slices import prepare_slice
from tasks.repo import commits
from tasks.repo import drift as tree_drift
from tasks.repo import state
from tasks.repo.importer import Prepared
from tasks.workspace import Workspace

name = "snapshot"
joint_retry = True  # what a wave deferred is retried together when it ends


COOLDOWN_LOOKBACK = 1000  # first-parent commits searched for one old enough (``min_age``)


def drift(cfg: Config, mirror: Path, upstream: str, bases: Bases | None, window: set[str] | None) -> dict[str, Any]:
    min_age = cfg.current.options.min_age if cfg.sources else 0
    if not min_age:
        return tree_drift.compute(cfg, mirror, upstream, bases, window)
    # cooldown: compare with the newest upstream revision whose first-parent history is min_age old
    found = commits.first_parent(mirror, upstream, limit=COOLDOWN_LOOKBACK)
    newest_first = list(reversed(found))
    cooled = cool(found, parse_duration(min_age), int(time.time()))
    tip = cooled.ripe[-1].sha if cooled.ripe else (newest_first[-1].parents[0] if newest_first and
                                                     newest_first[-1].parents else upstream)
    report = tree_drift.compute(cfg, mirror, tip, bases, window)
    report["cooldown"] = {"fetched": upstream, "waiting": len(cooled.waiting),
                          "ripens_at": iso_date(cooled.ripens_at) if cooled.ripens_at else None}
    return report


def plan(cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan:
    return plan_waves(report, cfg.waves, cfg.max_files, cfg.couple, history())


def run_slice(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str, run_id: str = "run", runner: Any = None) -> dict[str, Any]:
    return slices.run_slice(cfg, ws, mirror, plan, drift, name, runner, run_id=run_id, prepare=prepare)


def prepare(cfg: Config, ws: Workspace, mirror: Path, slice_: Mapping[str, Any], drift: Mapping[str, Any],
            tip: str, save: bool = True) -> Prepared:
    return prepare_slice(cfg, ws, mirror, slice_, drift, tip, save)


def record(cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
           source: str | None) -> str | None:
    return state.record_wave(cfg, wave, revision, upstream_url, ws, source)
