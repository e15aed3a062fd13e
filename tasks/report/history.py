"""``doit history``'s output (pure): the ledger's recent runs as a markdown or plain table, or JSON.

Per run, newest first, one line for the run itself (type ``run``: its own status, the phase it is in
while it runs, why it ended as it did) and one per sync (a source's wave, its verification, an export):

    | run | source | type | status | started | took | revision | adopted | deferred | conflicted | exported | note |
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tasks.errors import ForkwaveError
from tasks.report.ledger import Counts, Run, Sync

FORMATS = ("markdown", "plain", "json")
COLUMNS = ("run", "source", "type", "status", "started", "took", "revision", "adopted", "deferred", "conflicted",
           "exported", "note")
NOTE_WIDTH = 100


def render(runs: Sequence[Run], fmt: str | None = "markdown", *, where: str = "reports/ledger.sqlite") -> str:
    """The runs in ``fmt`` (``format=``: markdown — the default —, plain or json).

    >>> render([], "plain")
    'no runs recorded yet (reports/ledger.sqlite)\\n'
    """
    fmt = (fmt or "markdown").strip().lower()
    if fmt not in FORMATS:
        raise ForkwaveError(f"format={fmt}: use markdown, plain or json")
    if fmt == "json":
        return as_json(runs)
    if not runs:
        return f"no runs recorded yet ({where})\n"
    return markdown(runs) if fmt == "markdown" else plain(runs)


def rows(runs: Sequence[Run]) -> list[list[str]]:
    """The table's cells: per run, its own line, then one list per sync."""
    out = []
    for run in runs:
        out.append(_cells(run, None))
        out.extend(_cells(run, sync) for sync in run.syncs)
    return out


def _cells(run: Run, sync: Sync | None) -> list[str]:
    if sync is None:
        now = f"now: {run.phase}" if run.ended is None and run.phase else None
        return [run.run, "—", "run", _status(run, run.status), run.started, _took(run.started, run.ended), "",
                "", "", "", "", _note(run.error, run.note or now)]
    c = sync.counts
    return [run.run, sync.source, sync.sync_type, _status(run, sync.status), sync.started,
            _took(sync.started, sync.ended), (sync.revision or "")[:12], *_counted(c), _note(sync.error, sync.note)]


def _counted(c: Counts) -> list[str]:
    """The counts as cells: plain numbers for files, with their unit otherwise (``3 commits``); what waits is
    said beside the deferred ones."""
    unit = "" if c.unit == "files" else f" {c.unit[:-1] if c.adopted == 1 else c.unit}"
    waits = f" (+{c.waiting} waiting)" if c.waiting else ""
    return [f"{c.adopted}{unit}", f"{c.deferred}{waits}", str(c.conflicted), str(c.exported)]


def _status(run: Run, status: str) -> str:
    """``running``, or what is known of a run that may be over but was not closed yet."""
    if status != "running" or run.live is True:
        return status
    if run.live is False:
        return f"running (pid {run.pid} gone: the next run closes it)" if run.pid else "running (gone)"
    return "running (elsewhere)"


def _took(started: str, ended: str | None) -> str:
    """A duration: ``42 s``, ``3 min``, ``2.5 h``; blank while running or when a time does not parse.

    >>> _took("2026-01-01T10:00:00Z", "2026-01-01T10:00:42Z"), _took("2026-01-01T10:00:00Z", "2026-01-01T12:30:00Z")
    ('42 s', '2.5 h')
    """
    try:
        seconds = (_time(ended) - _time(started)).total_seconds() if ended else None
    except ValueError:
        return ""
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _note(error: str | None, note: str | None) -> str:
    text = "; ".join(t for t in (error, note) if t)
    text = " ".join(text.split())  # one line whatever the error held
    return text if len(text) <= NOTE_WIDTH else text[:NOTE_WIDTH - 1] + "…"


def markdown(runs: Sequence[Run]) -> str:
    """A GitHub-flavoured markdown table (the CI job summary shows it as one).

    >>> from tasks.report.ledger import Counts
    >>> s = Sync("r1", "oca", "wave-a", "success", "T1", "T2", "0123456789abcdef", Counts(3), None, "a|b")
    >>> print("\\n".join(markdown([Run("r1", "T1", "T2", 1, "m", "ledger", None, None, "success", "wave a",
    ...                                (s,))]).splitlines()[2:]))
    | r1 | — | run | success | T1 |  |  |  |  |  |  |  |
    | r1 | oca | wave-a | success | T1 |  | 0123456789ab | 3 | 0 | 0 | 0 | a\\|b |
    """
    numeric = {COLUMNS.index(c) for c in ("adopted", "deferred", "conflicted", "exported")}
    head = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---:" if i in numeric else "---" for i in range(len(COLUMNS))) + "|"
    body = ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows(runs)]
    return "\n".join([head, rule, *body]) + "\n"


def _md(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|")


def plain(runs: Sequence[Run]) -> str:
    """Columns aligned with spaces, numbers to the right, for a terminal."""
    table = [list(COLUMNS), *rows(runs)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    numeric = {COLUMNS.index(c) for c in ("adopted", "deferred", "conflicted", "exported")}
    lines = ["  ".join(cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(row, widths, strict=True))).rstrip() for row in table]
    return "\n".join(lines) + "\n"


def as_json(runs: Sequence[Run]) -> str:
    """``format=json``: every run with its status and syncs, for machines (stable key order)."""
    return json.dumps({"runs": [_run_json(r) for r in runs]}, indent=2) + "\n"


def _run_json(run: Run) -> dict[str, Any]:
    return {"run": run.run, "status": run.status, "phase": run.phase, "started": run.started, "ended": run.ended,
            "pid": run.pid, "machine": run.machine, "live": run.live, "origin": run.origin, "error": run.error,
            "note": run.note, "syncs": [_sync_json(s) for s in run.syncs]}


def _sync_json(s: Sync) -> dict[str, Any]:
    return {"source": s.source, "sync_type": s.sync_type, "status": s.status, "started": s.started,
            "ended": s.ended, "revision": s.revision, "unit": s.counts.unit, "adopted": s.counts.adopted,
            "deferred": s.counts.deferred, "conflicted": s.counts.conflicted, "waiting": s.counts.waiting,
            "exported": s.counts.exported, "error": s.error, "note": s.note}
