"""Drift gates: the numbers ``drift`` measured against ``drift_gates`` limits, right after drift, before any slice.

``tasks.core.thresholds.check_drift`` judges; this module measures what only git can tell (how many
both-changed paths conflict, how many upstream commits since the base) and keeps the verdict in
``drift-gates.json`` beside the source's ``drift.json``. Only the numbers a set gate needs are measured:
the conflict count merges every both-changed path, which a run without ``max_conflicts`` never pays for.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core import thresholds
from tasks.core.vocabulary import UPSTREAM_WORK
from tasks.repo import git, importer, merge
from tasks.workspace import Workspace, dump_json, write_if_changed

RECORD = "drift-gates.json"


def both_changed(report: Mapping[str, Any]) -> list[str]:
    return sorted(p for p, e in report["entries"].items() if e["class"] == "both-changed")


def upstream_paths(report: Mapping[str, Any]) -> int:
    """Paths upstream changed that the plan would take.

    Added, changed, deleted and both-changed; in a 2-way comparison, missing and differs."""
    return sum(1 for e in report["entries"].values() if e["class"] in UPSTREAM_WORK)


def conflicts(cfg: Config, mirror: Path, report: Mapping[str, Any]) -> list[str]:
    """Both-changed paths whose 3-way merge would conflict (binary, symlinks, deleted on one side included); what a
    ``policy:`` rule settles is no conflict, as at import."""
    paths = [p for p in both_changed(report) if importer.check_path(p) is None]
    merged = merge.merge_paths(mirror, cfg.fork.path, report["entries"], paths, cfg.policy) if paths else {}
    return sorted(p for p, m in merged.items() if not m.clean)


def behind_commits(mirror: Path, report: Mapping[str, Any]) -> int:
    """Upstream commits since the base (the oldest, when waves sit at different ones); all of them without one."""
    tip = report["upstream"]["sha"]
    base = report.get("base") or {}
    bases = {sha for sha in [base.get("sha"), *(base.get("groups") or {}).values()] if sha}
    if not bases:
        return git.count_commits(mirror, tip)
    return max(git.count_commits(mirror, f"{b}..{tip}") for b in sorted(bases))


def measure(cfg: Config, mirror: Path, report: Mapping[str, Any], gates: Mapping[str, int]) -> dict[str, int]:
    """The numbers the set ``gates`` need, keyed as ``thresholds.check_drift`` wants them."""
    numbers: dict[str, int] = {}
    if "max_both_changed" in gates:
        numbers["both_changed"] = len(both_changed(report))
    if "max_upstream_paths" in gates:
        numbers["upstream_paths"] = upstream_paths(report)
    if "max_conflicts" in gates:
        numbers["conflicts"] = len(conflicts(cfg, mirror, report))
    if "max_behind_commits" in gates:
        numbers["behind_commits"] = behind_commits(mirror, report)
    return numbers


def enforce(cfg: Config, ws: Workspace, mirror: Path, report: Mapping[str, Any]) -> tuple[thresholds.Trip, ...]:
    """Measure and judge the source's gates; record them in ``drift-gates.json``; the limits exceeded, if any."""
    gates = dict(cfg.current.drift_gates)
    path = ws.source_report(RECORD)
    if not gates:
        path.unlink(missing_ok=True)
        return ()
    key = _key(cfg)
    numbers = measure(cfg, mirror, report, gates)
    trips = thresholds.check_drift(gates, numbers, key)
    write_if_changed(path, dump_json({
        "upstream": report["upstream"]["sha"], "fork": report["fork"]["sha"], "limits": gates, "numbers": numbers,
        "stopped": bool(trips),
        "trips": [{"limit": t.limit, "value": t.value, "maximum": t.maximum, "message": t.message} for t in trips]}))
    return trips


def _key(cfg: Config) -> str:
    """Where the limits were written: the source's own ``drift_gates``, else the top level's."""
    if "sources" not in cfg.raw:
        return "drift_gates"
    i = [s.name for s in cfg.sources].index(cfg.source)
    own = (cfg.raw["sources"][i] or {}).get("drift_gates")
    return f"sources.{i}.drift_gates" if own else "drift_gates"
