"""A run's targets (pure): ``sources=``/``direction=`` selection, and the run summary in the seed's shape.

A *target* is one source in one direction: a ``both`` source is two targets, ``pull`` then
``push``. The summary (``reports/run-summary.json``, say) reports each target the run ran:

    {"timestamp": "2025-01-04T10:30:00Z", "total_targets": 2, "successful": 1, "failed": 1,
     "total_duration": 45.2, "results": [{"target": "oca_repos", "direction": "pull",
     "success": true, "status": "success", "message": "...", "duration": 12.5,
     "outputs_created": ["addons/oca/x/__init__.py"], "verification_passed": true}, ...]}

``status`` (beside the seed's keys) is the ledger's word for the target: ``success``,
``partial`` (something landed, something is left) or ``failed``.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.errors import ForkwaveError
from tasks.exitcodes import slice_state

DIRECTIONS = ("pull", "push")
SOURCE_DIRECTIONS = ("pull", "push", "both")


@dataclass(frozen=True)
class Target:
    """One source in one direction (``pull`` or ``push``)."""

    source: str
    direction: str


def directions_of(direction: str) -> tuple[str, ...]:
    """A source's ``direction`` as the directions it runs.

    >>> directions_of("both"), directions_of("push")
    (('pull', 'push'), ('push',))
    """
    return DIRECTIONS if direction == "both" else (direction,)


def select(sources: Iterable[tuple[str, str]], pattern: str | None = None,
           direction: str | None = None) -> tuple[Target, ...]:
    """The targets a run runs: sources (name, direction) in config order, narrowed by the command line.

    ``pattern`` (``sources=``) is a comma-separated list of names or globs (fnmatch, case
    sensitive; empty: every source); each part must match a source. ``direction``
    (``direction=``) keeps only that direction of each source (``both``, ``all`` or empty:
    each source's own). Nothing left to run is an error, never a silent no-op.

    >>> srcs = [("oca_web", "pull"), ("oca_base", "both"), ("apps", "push")]
    >>> [(t.source, t.direction) for t in select(srcs, "oca_*")]
    [('oca_web', 'pull'), ('oca_base', 'pull'), ('oca_base', 'push')]
    >>> [(t.source, t.direction) for t in select(srcs, direction="push")]
    [('oca_base', 'push'), ('apps', 'push')]
    """
    pairs = list(sources)
    names = _matching([name for name, _ in pairs], pattern)
    wanted = _direction_filter(direction)
    targets = tuple(Target(name, d) for name, own in pairs if name in names
                    for d in directions_of(own) if d in wanted)
    if not targets:
        chosen = ", ".join(f"{n} ({own})" for n, own in pairs if n in names)
        raise ForkwaveError(f"direction={direction}: none of the selected sources runs that way ({chosen}); "
                            "pick another direction or other sources")
    return targets


def _matching(names: Sequence[str], pattern: str | None) -> set[str]:
    if pattern is None or not pattern.strip():
        return set(names)
    chosen: set[str] = set()
    for part in (p.strip() for p in pattern.split(",")):
        if not part:
            raise ForkwaveError(f"sources={pattern}: an empty name between commas; list names or globs, e.g. "
                                "sources=oca_*,apps")
        found = fnmatch.filter(names, part) if _is_glob(part) else [n for n in names if n == part]
        if not found:
            raise ForkwaveError(f"sources={pattern}: {part!r} matches no source; the sources are {', '.join(names)}")
        chosen.update(found)
    return chosen


def _is_glob(part: str) -> bool:
    return any(c in part for c in "*?[")


def _direction_filter(direction: str | None) -> tuple[str, ...]:
    value = (direction or "").strip()
    if value in ("", "all", "both"):
        return DIRECTIONS
    if value not in DIRECTIONS:
        raise ForkwaveError(f"direction={direction}: use pull, push or both")
    return (value,)


# --- the summary ----------------------------------------------------------------------

def tally(outcomes: Iterable[Mapping[str, Any]], exported: Sequence[str] = ()) -> dict[str, int]:
    """Paths per kind over a target's slice outcomes: adopted, deferred, conflicted, exported.

    These are the ledger's counts. A path counts once per kind, even if several slices name it.

    >>> tally([{"status": "adopted", "adopted": ["a", "b"]},
    ...        {"status": "split", "adopted": ["c"], "deferred": [{"files": ["d"]}], "conflicts": [{"path": "e"}]}])
    {'adopted': 3, 'deferred': 1, 'conflicted': 1, 'exported': 0}
    """
    paths = _paths(list(outcomes))
    return {"adopted": len(paths["adopted"]), "deferred": len(paths["deferred"]),
            "conflicted": len(paths["conflicted"]), "exported": len(set(exported))}


def _paths(outcomes: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    return {"adopted": {p for o in outcomes for p in o.get("adopted", ())},
            "deferred": {f for o in outcomes for d in o.get("deferred", ()) for f in d.get("files", ())},
            "conflicted": {c["path"] for o in outcomes for c in o.get("conflicts", ())}}


def target_result(target: Mapping[str, Any]) -> dict[str, Any]:
    """One target's entry of ``results[]`` from plain data.

    ``target`` holds ``source``, ``direction``, ``duration`` (seconds) and optionally
    ``outcomes`` (slice outcome dicts, as ``outcome.json``), ``exported`` (paths),
    ``verification`` (``[{"name", "passed", "reason"}]``) and ``error`` (one line: the target
    could not finish). ``verification_passed`` is null when nothing was verified.

    >>> r = target_result({"source": "oca", "direction": "pull", "duration": 1.25,
    ...                    "outcomes": [{"status": "adopted", "adopted": ["x/a.py"]}]})
    >>> r["success"], r["status"], r["message"], r["outputs_created"]
    (True, 'success', '1 slice: 1 adopted; 1 path adopted', ['x/a.py'])
    """
    outcomes = list(target.get("outcomes", ()))
    exported = sorted(set(target.get("exported", ())))
    checks = list(target.get("verification", ()))
    verified = all(v["passed"] for v in checks) if checks else None
    status = _status(target.get("error"), outcomes, exported, verified)
    return {"target": target["source"], "direction": target["direction"], "success": status == "success",
            "status": status, "message": _message(target.get("error"), outcomes, exported, checks),
            "duration": round(float(target.get("duration", 0.0)), 3),
            "outputs_created": sorted({p for o in outcomes for p in o.get("adopted", ())} | set(exported)),
            "verification_passed": verified}


def _states(outcomes: Sequence[Mapping[str, Any]]) -> list[str]:
    return [slice_state(o.get("status", ""), len(o.get("conflicts", ()))) for o in outcomes]


def _status(error: str | None, outcomes: Sequence[Mapping[str, Any]], exported: Sequence[str],
            verified: bool | None) -> str:
    """failed: an error, or work left / a failed verification with nothing landed; partial: some landed."""
    if error:
        return "failed"
    left = any(s in ("deferred", "conflicted") for s in _states(outcomes)) or verified is False
    if not left:
        return "success"
    landed = any(o.get("adopted") for o in outcomes) or bool(exported)
    return "partial" if landed else "failed"


def _message(error: str | None, outcomes: Sequence[Mapping[str, Any]], exported: Sequence[str],
             checks: Sequence[Mapping[str, Any]]) -> str:
    if error:
        return error
    states = _states(outcomes)
    parts = [f"{len(states)} slice{'' if len(states) == 1 else 's'}: " + ", ".join(
        f"{states.count(s)} {s}" for s in ("adopted", "deferred", "conflicted", "rolled back") if s in states)
        if states else "nothing to do"]
    adopted = len({p for o in outcomes for p in o.get("adopted", ())})
    if adopted:
        parts.append(f"{adopted} path{'' if adopted == 1 else 's'} adopted")
    if exported:
        parts.append(f"{len(exported)} path{'' if len(exported) == 1 else 's'} exported")
    parts += [v["reason"] for v in checks if not v["passed"]]
    return "; ".join(parts)


def summary(targets: Sequence[Mapping[str, Any]], timestamp: str,
            total_duration: float | None = None) -> dict[str, Any]:
    """The run summary (the seed's shape) from each target's plain data (see ``target_result``).

    ``timestamp`` is the run's start (UTC ISO); ``total_duration`` its wall time, by default
    the targets' durations added up. ``failed`` counts every target that did not succeed
    (``partial`` ones too), so ``successful + failed == total_targets`` as in the seed.

    >>> s = summary([{"source": "a", "direction": "pull", "duration": 2},
    ...              {"source": "a", "direction": "push", "duration": 1, "error": "push refused"}],
    ...             "2025-01-04T10:30:00Z")
    >>> s["total_targets"], s["successful"], s["failed"], s["total_duration"]
    (2, 1, 1, 3.0)
    """
    results = [target_result(t) for t in targets]
    total = sum(r["duration"] for r in results) if total_duration is None else total_duration
    ok = sum(r["success"] for r in results)
    return {"timestamp": timestamp, "total_targets": len(results), "successful": ok,
            "failed": len(results) - ok, "total_duration": round(float(total), 3), "results": results}
