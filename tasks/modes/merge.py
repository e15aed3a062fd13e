"""Merge mode: a fork that shares history with its upstream, synced by merging upstream commit ranges.

drift: the upstream's first-parent commits since the merge base with ``fork.branch`` (those old
enough, with ``min_age``), beside the usual 3-way drift of the trees against that merge base;
plan: consecutive ranges of at most ``slices.max_commits`` (``tasks.core.rangeplan``); a slice:
the range merged onto the sync branch, bisected by commit when it conflicts or fails its checks
(``tasks.engine.merging``). Nothing is recorded in a state file: the merge commits on the sync
branch are the record, and the next merge base says what is synced.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core.classify import Bases, Bucketer
from tasks.core.commit import iso_date
from tasks.core.plan import Plan
from tasks.core.rangeplan import plan_ranges
from tasks.errors import ForkwaveError
from tasks.repo import commits
from tasks.repo import drift as tree_drift
from tasks.repo.importer import Prepared
from tasks.workspace import Workspace

name = "merge"
joint_retry = False  # a range's culprit waits for a person; there is nothing to retry together


def drift(cfg: Config, mirror: Path, upstream: str, bases: Bases | None, window: set[str] | None) -> dict[str, Any]:
    head, _, objects = tree_drift.fork_info(cfg)
    env = {"GIT_ALTERNATE_OBJECT_DIRECTORIES": objects}
    base = commits.merge_base(mirror, head, upstream, env=env)
    if base is None:
        raise ForkwaveError(f"{cfg.file}: sources: {cfg.source} (mode: merge): {cfg.fork.branch} shares no history "
                            f"with {cfg.upstream.ref}; a fork copied without history syncs with mode: snapshot")
    options = cfg.current.options if cfg.sources else None
    cooled = commits.ripe(mirror, upstream, base, min_age=options.min_age if options else 0, env=env)
    ripe = list(cooled.ripe)
    tip = ripe[-1].sha if ripe else base
    report = tree_drift.compute(cfg, mirror, tip, Bases("merge-base", base, rev=f"merge base of {cfg.fork.branch}"),
                                window)
    bucket_of = Bucketer(cfg)
    for c in ripe:  # a path a range changes and changes back is still the range's: reports list it
        for p in c.paths:
            report["entries"].setdefault(p, {"class": "identical", "bucket": bucket_of(p), "upstream": None,
                                             "fork": None, "base": None})
    report["commits"] = [{"sha": c.sha, "parents": list(c.parents), "subject": c.subject, "author": c.author,
                          "date": iso_date(c.author_date), "paths": list(c.paths)} for c in ripe]
    report["cooldown"] = {"fetched": upstream, "waiting": len(cooled.waiting),
                          "ripens_at": iso_date(cooled.ripens_at) if cooled.ripens_at else None}
    return report


def plan(cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan:
    return plan_ranges(report, cfg.waves, cfg.max_commits, cfg.max_files, Bucketer(cfg))


def run_slice(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str, run_id: str = "run", runner: Any = None) -> dict[str, Any]:
    from tasks.engine.merging import run_range

    return run_range(cfg, ws, mirror, plan, drift, name, runner=runner, run_id=run_id)


def prepare(cfg: Config, ws: Workspace, mirror: Path, slice_: Mapping[str, Any], drift: Mapping[str, Any],
            tip: str, save: bool = True) -> Prepared:
    raise ForkwaveError(f"{slice_['name']}: a merge-mode slice is a commit range, not files; run `doit validate:"
                        f"{slice_['name']}`")


def record(cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
           source: str | None) -> str | None:
    return None  # the merge commits are the record: the next merge base is where the fork stands
