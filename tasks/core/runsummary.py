"""A run's targets (pure): ``sources=``/``direction=`` selection, and the run summary in the seed's shape.

A *target* is one source in one direction: a ``both`` source is two targets, ``pull`` then
``push``. The summary (``reports/run-summary.json``, say) reports each target the run ran:

    {"timestamp": "2025-01-04T10:30:00Z", "total_targets": 2, "successful": 1, "failed": 1,
     "total_duration": 45.2, "results": [{"target": "oca_repos", "direction": "pull",
     "success": true, "status": "success", "message": "...", "duration": 12.5,
     "outputs_created": ["addons/oca/x/__init__.py"], "verification_passed": true}, ...]}

``status`` (beside the seed's keys) is the ledger's word for the target (``tasks.core.runstatus``):
``success``, ``partial`` (this run landed something, something is left or failed) or ``failed``;
the summary's own ``status`` and ``message`` (also beside the seed's keys) are the run's.

``outputs_created`` holds the files the run *created*: what was not there before and is now. The
seed's runner listed the outputs a pull produced (folders a clone made); forkwave lands files
into a tree that already holds most of them, so a changed or deleted file is no output created:
a pulled file counts when its drift class is ``upstream-added`` (or ``missing``: upstream has it,
the fork does not), an exported one when the export adds it to the source. The paths are the
fork's for a pull, the source's for a push.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.core import runstatus
from tasks.core.outcome import COMMITS, FILES, Outcome, plural
from tasks.errors import ForkwaveError

DIRECTIONS = ("pull", "push")
CREATE_CLASSES = frozenset({"upstream-added", "missing"})   # drift classes of a file the sync creates
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

def tally(outcomes: Iterable[Outcome], exported: Sequence[str] = (), run: str | None = None) -> dict[str, Any]:
    """Items per kind over a target's slice outcomes, in their unit: adopted, deferred, conflicted, waiting
    (files for snapshot slices, upstream commits for merge and cherry-pick), and paths exported.

    These are the ledger's counts. ``adopted`` is what run ``run`` landed (``Outcome.landed_by``; every
    adopted item when ``run`` is None); deferred, conflicted and waiting are what is left in those slices
    when it ends. An item counts once per kind, even if several slices name it.

    >>> from tasks.core.outcome import Conflict, Deferral, Outcome, Status
    >>> two = [Outcome("s1", "a", "u", Status.ADOPTED, "p", adopted=("a", "b"), landed=("b",), run="r2"),
    ...        Outcome("s2", "a", "u", Status.SPLIT, "p", adopted=("c",), deferred=(Deferral(("d",), "x"),),
    ...                conflicts=(Conflict("e", "y"),), landed=("c",), run="r1")]
    >>> tally(two)
    {'unit': 'files', 'adopted': 3, 'deferred': 1, 'conflicted': 1, 'waiting': 0, 'exported': 0}
    >>> tally(two, run="r2")["adopted"], tally(two, run="r3")["adopted"]
    (1, 0)
    """
    every = list(outcomes)
    unit = every[0].unit if every else FILES
    if unit == COMMITS:
        found = {"adopted": {s for o in every for s in _landed(o, run)},
                 "deferred": {d.commit for o in every for d in o.deferred if d.commit},
                 "conflicted": {c.commit for o in every for c in o.conflicts if c.commit},
                 "waiting": {s for o in every for w in o.waiting for s in w.commits}}
    else:
        found = {"adopted": {p for o in every for p in _landed(o, run)},
                 "deferred": {f for o in every for d in o.deferred for f in d.files},
                 "conflicted": {c.path for o in every for c in o.conflicts},
                 "waiting": {f for o in every for w in o.waiting for f in w.files}}
    return {"unit": unit, **{k: len(v) for k, v in found.items()}, "exported": len(set(exported))}


def _landed(o: Outcome, run: str | None) -> tuple[str, ...]:
    """What ``run`` landed of the slice in its unit (None: everything on the sync branch)."""
    if run is not None:
        return o.landed_by(run)
    return o.adopted_commits if o.unit == COMMITS else o.adopted


def created(outcomes: Iterable[Outcome], run: str | None = None) -> list[str]:
    """The files ``run`` created on the fork's side (see the module's docstring): landed by it, and new there.

    >>> from tasks.core.outcome import Outcome, Status
    >>> o = Outcome("s1", "a", "u", Status.ADOPTED, "p", adopted=("new.py", "old.py", "gone.py"),
    ...             landed=("new.py", "old.py", "gone.py"), run="r1", files=(
    ...     {"path": "new.py", "class": "upstream-added"}, {"path": "old.py", "class": "upstream-changed"},
    ...     {"path": "gone.py", "class": "upstream-deleted"}))
    >>> created([o], "r1"), created([o], "r2")
    (['new.py'], [])
    """
    out: set[str] = set()
    for o in outcomes:
        new = {f["path"] for f in o.files if f.get("class") in CREATE_CLASSES}
        paths = set(o.adopted) if run is None else {*(o.landed if o.run == run else ()),
                                                     *(f for r in o.retried if r.get("run") == run
                                                       for f in r.get("files") or ())}
        out |= paths & new
    return sorted(out)


def target_result(target: Mapping[str, Any]) -> dict[str, Any]:
    """One target's entry of ``results[]``.

    ``target`` holds ``source``, ``direction``, ``duration`` (seconds) and optionally
    ``outcomes`` (``Outcome``s), ``run`` (the run's id: only what it landed counts as landed; without
    it, everything adopted does), ``exported`` (paths), ``created`` (the exported paths new to the
    source), ``verification`` (``[{"name", "passed", "reason"}]``: this run's), ``standing`` (the same, as it
    stands on the sync tip, for a run that did not verify: shown, not judged), ``held`` (why work is left
    that no outcome shows: a drift gate, a push check) and ``error`` (one line: the target could not
    finish). ``verification_passed`` is null when nothing was verified.

    >>> from tasks.core.outcome import Outcome, Status
    >>> r = target_result({"source": "oca", "direction": "pull", "duration": 1.25,
    ...                    "outcomes": [Outcome("s1", "a", "u", Status.ADOPTED, "p", adopted=("x/a.py",),
    ...                                         files=({"path": "x/a.py", "class": "upstream-added"},))]})
    >>> r["success"], r["status"], r["message"], r["outputs_created"]
    (True, 'success', '1 slice: 1 adopted; 1 file adopted', ['x/a.py'])
    """
    outcomes: list[Outcome] = list(target.get("outcomes", ()))
    run = target.get("run")
    exported = sorted(set(target.get("exported", ())))
    checks = list(target.get("verification", ()))
    verified = all(v["passed"] for v in checks) if checks else None
    standing = list(target.get("standing", ()))
    landed = bool(exported) or any(_landed(o, run) for o in outcomes)
    left = any(o.left for o in outcomes) or verified is False or bool(target.get("held"))
    status = runstatus.judge(landed=landed, left=left, failed=bool(target.get("error")))
    return {"target": target["source"], "direction": target["direction"], "success": status == runstatus.SUCCESS,
            "status": status, "message": _message(target, outcomes, exported, checks),
            "duration": round(float(target.get("duration", 0.0)), 3),
            "outputs_created": sorted({*created(outcomes, run), *target.get("created", ())}),
            "verification_passed": verified if checks or not standing else all(v["passed"] for v in standing)}


def _states(outcomes: Sequence[Outcome]) -> list[str]:
    return [o.status.state for o in outcomes]


def _message(target: Mapping[str, Any], outcomes: Sequence[Outcome], exported: Sequence[str],
             checks: Sequence[Mapping[str, Any]]) -> str:
    """What the target did, this run's counts; the reason first when it could not finish or was held."""
    states = _states(outcomes)
    parts = [f"{len(states)} slice{'' if len(states) == 1 else 's'}: " + ", ".join(
        f"{states.count(s)} {s}" for s in ("adopted", "deferred", "conflicted", "waiting", "rolled back")
        if s in states) if states else "nothing to do"]
    counted = tally(outcomes, run=target.get("run"))
    if counted["adopted"]:
        parts.append(f"{plural(counted['adopted'], counted['unit'])} adopted")
    if exported:
        parts.append(f"{len(exported)} path{'' if len(exported) == 1 else 's'} exported")
    failed = [v["reason"] for v in checks if not v["passed"]]
    if failed:
        parts.append(f"verification failed for {target['source']}: " + "; ".join(failed))
    reasons = [r for r in (target.get("error"), target.get("held")) if r]
    return "; ".join([*reasons, *parts]) if reasons else "; ".join(parts)


def summary(targets: Sequence[Mapping[str, Any]], timestamp: str,
            total_duration: float | None = None, run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run summary (the seed's shape) from each target's plain data (see ``target_result``).

    ``timestamp`` is the run's start (UTC ISO); ``total_duration`` its wall time, by default
    the targets' durations added up. ``failed`` counts every target that did not succeed
    (``partial`` ones too), so ``successful + failed == total_targets`` as in the seed. ``run``
    (``{"status", "message"}``): the run's own status and why, added after the seed's keys.

    >>> s = summary([{"source": "a", "direction": "pull", "duration": 2},
    ...              {"source": "a", "direction": "push", "duration": 1, "error": "push refused"}],
    ...             "2025-01-04T10:30:00Z")
    >>> s["total_targets"], s["successful"], s["failed"], s["total_duration"]
    (2, 1, 1, 3.0)
    """
    results = [target_result(t) for t in targets]
    total = sum(r["duration"] for r in results) if total_duration is None else total_duration
    ok = sum(r["success"] for r in results)
    out = {"timestamp": timestamp, "total_targets": len(results), "successful": ok,
           "failed": len(results) - ok, "total_duration": round(float(total), 3), "results": results}
    if run is not None:
        out |= {"status": run["status"], "message": run["message"]}
    return out
