"""What the dashboard shows, read once from the records: the plan's slices with their outcomes, each source's
verification on the sync tip, what the last ``doit publish`` held, and the ledger's runs.

``Board`` holds typed records only (``Plan``'s ``Slice``, ``Outcome``, the ledger's ``Run``); ``load`` reads
them from ``reports/`` — every source's plan (a run of one CI schedule plans only its own sources; the
others' last plans stay in ``reports/sources/<name>/plan.json``). Nothing here needs the config or git:
the dashboard is written at the end of every run from what the run left.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.outcome import COMMITS, FILES, Outcome
from tasks.core.plan import Plan, Slice
from tasks.report.ledger import LEDGER, Ledger, Run
from tasks.workspace import Workspace, read_json

RUNS = 30          # runs of the ledger the dashboard reads (its chart shows each source's last ones)
EVERY = "*"        # a publish hold on every source (a post-sync check failed on the tip)


@dataclass(frozen=True)
class SliceState:
    """A slice of the plan and its outcome (None: no run reached it yet)."""

    slice: Slice
    source: str
    outcome: Outcome | None
    again: str              # the command that validates it (with the ``batch_size=`` that named it)

    @property
    def name(self) -> str:
        return self.slice.name

    @property
    def unit(self) -> str:
        if self.outcome is not None:
            return self.outcome.unit
        return COMMITS if self.slice.commits else FILES

    @property
    def size(self) -> int:
        if self.outcome is not None:
            return self.outcome.counts().total
        return len(self.slice.commits) if self.slice.commits else len(self.slice.files)


@dataclass(frozen=True)
class Verification:
    """A source's ``verify:`` as it stands on its sync tip: passed, failed (the first failing command's reason
    and log), or None — not run there with the commands the config has now."""

    source: str
    passed: bool | None
    reason: str | None = None
    commit: str | None = None
    log: str | None = None  # relative to reports/


@dataclass(frozen=True)
class Hold:
    """A source the last ``doit publish`` held (``EVERY``: all of them), and why."""

    source: str
    why: str
    at: str | None = None


@dataclass(frozen=True)
class Board:
    slices: tuple[SliceState, ...]                 # plan order, source by source
    waves: tuple[str, ...]                         # the waves, in plan order
    several: bool = False                          # several sources: headings name them
    status: str | None = None                      # the sync's status (summary.json)
    verifications: tuple[Verification, ...] = ()
    holds: tuple[Hold, ...] = ()
    runs: tuple[Run, ...] = ()                     # the ledger's, newest first
    revisions: tuple[tuple[str, str], ...] = ()    # (source, the upstream revision its slices were planned at)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.source for s in self.slices))

    def state(self, name: str) -> SliceState | None:
        return next((s for s in self.slices if s.name == name), None)

    def group(self, source: str, wave: str) -> tuple[SliceState, ...]:
        return tuple(s for s in self.slices if s.source == source and s.slice.wave == wave)


SINGLE = "upstream"   # the one source's name when the plan names none


# --- reading the records ---------------------------------------------------------------------------

def load(ws: Workspace, runs: Sequence[Run] | None = None) -> Board:
    """The board as ``reports/`` holds it; ``runs``: the ledger's, when the caller has it open (else read here)."""
    from tasks.report.reports import load_outcomes

    plans = plans_of(ws)
    slices: list[SliceState] = []
    waves: list[str] = []
    for source, plan in plans:
        outcomes = load_outcomes(ws, [s.name for s in plan.slices])
        waves += [w for w, _ in plan.waves if w not in waves]
        slices += [SliceState(s, s.source or source, outcomes[s.name], plan.again(s.name)) for s in plan.slices]
    summary = _json(ws.report("summary.json")) or {}
    several = len(plans) > 1 or bool(plans and plans[0][1].sources)
    return Board(tuple(slices), tuple(waves), several, summary.get("status"),
                 verifications(ws, summary.get("verification") or {}, several), holds(ws),
                 tuple(runs) if runs is not None else recent(ws.reports),
                 tuple((src, rev) for source, plan in plans for src, rev in _revisions(source, plan)))


def plans_of(ws: Workspace) -> list[tuple[str, Plan]]:
    """(source, plan) for every source with a plan: the run's ``plan.json``, and each source's own last plan that
    it lacks (another CI schedule's sources)."""
    main = _json(ws.report("plan.json"))
    out: list[tuple[str, Plan]] = []
    if main is not None:
        plan = Plan.from_json(main)
        out.append((SINGLE if not plan.sources else "", plan))
    known = {s.source for _, p in out for s in p.slices if s.source} | set(main.get("sources") or {} if main else {})
    folder = ws.reports / "sources"
    for own in sorted(folder.glob("*/plan.json")) if folder.is_dir() else ():
        if own.parent.name not in known and (data := _json(own)) is not None:
            out.append((own.parent.name, Plan.from_json(data)))
    return out


def _revisions(source: str, plan: Plan) -> list[tuple[str, str]]:
    return list(plan.sources.items()) if plan.sources else [(source, plan.upstream)]


def verifications(ws: Workspace, standing: dict[str, Any], several: bool) -> tuple[Verification, ...]:
    """Each source that has a ``verify:``, as ``summary.json`` says it stands on the sync tip, with the failing
    command's reason from the source's ``verify.json``."""
    out = []
    for source, passed in standing.items():
        record = _json(ws.scoped(source if several else None).source_report("verify.json")) or {}
        bad = next((r for r in record.get("results") or () if not r.get("passed")), None)
        out.append(Verification(source, passed, bad["reason"] if bad and passed is False else None,
                                record.get("commit") if passed is not None else None,
                                _under_reports(bad.get("log")) if bad and passed is False else None))
    return tuple(out)


def holds(ws: Workspace) -> tuple[Hold, ...]:
    """What the last ``doit publish`` held (``publish.json``'s ``held``)."""
    record = _json(ws.report("publish.json")) or {}
    held = record.get("held") or {}
    return tuple(Hold(source, h.get("why", ""), h.get("at")) for source, h in held.items())


def recent(reports: Path, limit: int = RUNS) -> tuple[Run, ...]:
    """The ledger's newest runs; none when there is no ledger yet (reading never creates one)."""
    if not (reports / LEDGER).exists():
        return ()
    with Ledger.open(reports) as book:
        return tuple(book.recent(limit))


def _under_reports(path: str | None) -> str | None:
    return path.removeprefix("reports/") if path else None


def _json(path: Path) -> Any:
    return read_json(path) if path.exists() else None

