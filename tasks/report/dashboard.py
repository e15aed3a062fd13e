"""The dashboard: one page of what waits for a person, every slice by source and wave, and how the runs went.

``reports/dashboard.md`` (GitHub, GitLab, a CI job summary, the pinned issue ``doit publish`` keeps) and
``reports/index.html`` (self-contained, for a phone as for a desk) are drawn from the same sections, in
this order (nox's ``create_report``: small section renderers over typed results):

1. the sync's status and the last run;
2. **what waits for a person**: errors, conflicts, deferrals, what waits and behind what, failed
   verifications, held publishes — each with the next command and a link to its report;
3. per source and wave: a status bar (the items by state, in the slices' unit: files or commits) and
   one row per slice (status, why, the next command, its report);
4. drift and adoption over time: per source, what each run adopted and what was left when it ended
   (the ledger's counts).

The markdown holds no raw HTML (GitLab and other renderers show it as text) and no table wider than
four columns; every text is escaped, and ``@name`` is broken so that no one is mentioned.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from tasks.core.outcome import ICONS, Status, plural
from tasks.report.blocks import (Bar, Block, Code, Inline, Line, Link, Para, Point, Row, Rows, Section, Segment,
                                 Series, Strong, Todo, Todos, Trend)
from tasks.report.board import EVERY, Board, SliceState, Verification, load
from tasks.report.ledger import Run
from tasks.report.render import code
from tasks.workspace import Workspace, write_if_changed

MARKDOWN, PAGE = "dashboard.md", "index.html"
REASON = 160          # characters of a row's reason (the slice's report has all of it)
SHOWN = 3             # paths named in an item before "+N more"
HISTORY_ROWS = 8      # runs per source in the markdown's table
NOT_RUN = "not run"

# the states of a status bar, in order, with the words and the markdown's squares
STATES = (("adopted", "adopted", "🟩"), ("deferred", "deferred", "🟧"), ("conflicted", "conflicted", "🟥"),
          ("waiting", "waiting", "🟨"), ("error", "not judged: a check could not run", "🟥"),
          ("skipped", "skipped", "⬛"), ("not-run", "not run yet", "⬜"), ("rolled-back", "rolled back", "🟦"),
          ("other", "already there or left alone", "🟦"))
REST = {Status.ERROR: "error", Status.ROLLED_BACK: "rolled-back"}   # where a slice's uncounted items go
SQUARES = 10


# --- what a slice says ------------------------------------------------------------------------------

_COMMAND = re.compile(r"`(doit(?:\s[^`]*)?)`")


def command_in(text: str | None) -> str | None:
    """The ``doit`` command a next step names (a task's, before a bare ``doit``).

    >>> command_in("edit the file and run `doit resolve:slice-4`, or commit; the next `doit` validates it")
    'doit resolve:slice-4'
    >>> command_in("run `doit` (it verifies what it synced)"), command_in("copy it by hand")
    ('doit', None)
    """
    found = _COMMAND.findall(text or "")
    named = [c for c in found if c.strip() != "doit"]
    return (named or found or [None])[0]


def next_command(st: SliceState, board: Board, depth: int = 0) -> str | None:
    """The command that moves a slice on: validate it (not run, an error, a deferral without its own), resolve it
    (a conflict), or the one of what it waits behind; None when nothing is left."""
    o = st.outcome
    if o is None or o.error:
        return st.again
    if o.status is Status.ROLLED_BACK:
        return None
    if o.conflicts:
        return command_in(o.conflicts[0].next) or f"doit resolve:{st.name}"
    if o.deferred:
        return command_in(o.deferred[0].next) or st.again
    if o.waiting:
        behind = board.state(o.waiting[0].slice or "")
        if behind is not None and behind.name != st.name and depth < 3:
            return next_command(behind, board, depth + 1)
        return command_in(o.waiting[0].next)
    return None if o.status.settled else st.again


def reason(st: SliceState) -> str:
    """Why the slice is where it is, in one short line."""
    o = st.outcome
    if o is None:
        return "no run has reached it yet"
    if o.error:
        text = o.error
    elif o.conflicts:
        first = o.conflicts[0]
        text = f"conflict in {first.path}: {first.reason}" + _more(len(o.conflicts))
    elif o.deferred:
        text = o.deferred[0].reason + _more(len(o.deferred))
    elif o.waiting:
        text = o.waiting[0].reason
    elif o.status is Status.ROLLED_BACK:
        text = "rolled back by a person; left alone until upstream changes it"
    elif o.status is Status.EMPTY:
        text = "nothing to change: already there"
    else:
        text = o.counts().line()
    return short(text)


def short(text: str, limit: int = REASON) -> str:
    """One line of at most ``limit`` characters.

    >>> short("a  b\\nc"), short("x" * 10, 5)
    ('a b c', 'xxxx…')
    """
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _more(n: int) -> str:
    return f" (+{n - 1} more)" if n > 1 else ""


def report_link(name: str) -> Link:
    return Link(name, f"slices/{name}/report.md")


def full_report(name: str) -> Link:
    return Link("report", f"slices/{name}/report.md")


def where(st: SliceState, board: Board) -> str:
    """``wave b`` or ``web, wave b``."""
    return f"{st.source}, wave {st.slice.wave}" if board.several else f"wave {st.slice.wave}"


# --- the sections -------------------------------------------------------------------------------------

def sections(board: Board) -> list[Section]:
    """Every section of the dashboard, in order."""
    groups = [group(board, source, wave) for source in board.sources for wave in board.waves
              if board.group(source, wave)]
    return [header(board), waiting(board),
            Section("Slices by source and wave", "slices", () if groups else (Para(("The plan has no slice.",)),),
                    keep=5),
            *groups, over_time(board)]


def header(board: Board) -> Section:
    states = board.slices
    counts: dict[str, int] = {}
    for st in states:
        key = str(st.outcome.status) if st.outcome else NOT_RUN
        counts[key] = counts.get(key, 0) + 1
    said: list[Inline] = ["The sync is ", Strong(board.status or "not run yet"), ": "
                          f"{plural(len(states), 'slices')}"]
    if counts:
        said.append(" — " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    said.append(".")
    blocks: list[Block] = [Para(tuple(said))]
    if board.revisions:
        blocks.append(Para(("Planned at ", *_revision_line(board), "."), muted=True))
    last = last_run(board.runs)
    if last is not None:
        blocks.append(Para(_run_line(last), muted=True))
    return Section("Sync dashboard", "top", tuple(blocks), keep=9, level=1)


def _revision_line(board: Board) -> list[Inline]:
    out: list[Inline] = []
    for i, (source, rev) in enumerate(board.revisions):
        out += ([", "] if i else []) + ([f"{source} "] if board.several else ["upstream "]) + [Code(rev[:12])]
    return out


def last_run(runs: Sequence[Run]) -> Run | None:
    """The newest run that synced something (a run of ``doit publish`` alone has no sync to tell of)."""
    return next((r for r in runs if r.syncs), None)


def _run_line(run: Run) -> Line:
    now = f" (now: {run.phase})" if run.ended is None and run.phase else ""
    why = f": {short(run.error, 200)}" if run.error and run.status != "success" else ""
    return ("Last run ", Code(run.run), f", started {run.started}: ", Strong(run.status), f"{now}{why}.")


def waiting(board: Board) -> Section:
    """What waits for a person, most pressing first."""
    items = [t for st in board.slices if st.outcome and st.outcome.error for t in [_error(st, board)]]
    items += [_conflicts(st, board) for st in board.slices if st.outcome and st.outcome.conflicts]
    items += [t for st in board.slices if st.outcome for t in _deferrals(st, board)]
    items += [_waits(st, board) for st in board.slices if st.outcome and st.outcome.waiting]
    items += [t for v in board.verifications if (t := _verification(v, board)) is not None]
    passing = {v.source for v in board.verifications if v.passed is True}
    items += [_hold(h.source, h.why, h.at, h.source in passing) for h in board.holds]
    return Section("What waits for you", "waiting",
                   (Todos(tuple(items), "Nothing: every slice that ran is settled, and nothing is held."),), keep=8)


def _title(st: SliceState, board: Board, what: str = "") -> Line:
    return (report_link(st.name), f" ({where(st, board)})" + (f": {what}" if what else ""))


def _error(st: SliceState, board: Board) -> Todo:
    o = st.outcome
    assert o is not None and o.error
    return Todo("error", ICONS[Status.ERROR], _title(st, board, "a check could not run"), _prose(short(o.error, 300)),
                ("make the check runnable (install what it needs, or fix its command), then validate the slice "
                 "again",), st.again, full_report(st.name))


def _paths(paths: Sequence[str]) -> str:
    return ", ".join(paths[:SHOWN]) + (f" (+{len(paths) - SHOWN} more)" if len(paths) > SHOWN else "")


def _conflicts(st: SliceState, board: Board) -> Todo:
    o = st.outcome
    assert o is not None
    paths = list(dict.fromkeys(c.path for c in o.conflicts))
    first = o.conflicts[0]
    return Todo("conflict", ICONS[Status.CONFLICTED], _title(st, board, f"{plural(len(paths), 'conflicts')}"),
                (f"{_paths(paths)}: {first.reason}",),
                _prose(first.next or f"resolve it and run `doit resolve:{st.name}`"),
                command_in(first.next) or f"doit resolve:{st.name}", full_report(st.name))


def _deferrals(st: SliceState, board: Board) -> list[Todo]:
    o = st.outcome
    assert o is not None
    out = []
    for d in o.deferred:
        what = f"commit {d.commit[:10]}" if d.commit else _paths(list(d.files))
        out.append(Todo("deferred", ICONS[Status.REVERTED], _title(st, board, f"deferred {what}"),
                        _prose(short(d.reason, 300)),
                        _prose(d.next or f"fix the cause, then run `{st.again}`"),
                        command_in(d.next) or st.again, full_report(st.name)))
    return out


def _waits(st: SliceState, board: Board) -> Todo:
    o = st.outcome
    assert o is not None
    n = o.counts().waiting or len({f for w in o.waiting for f in w.files})
    first = o.waiting[0]
    behind = " behind " + ", ".join(dict.fromkeys(
        (f"{w.behind[:10]}" if w.behind else "an earlier item") + (f" in {w.slice}" if w.slice not in (None, st.name)
                                                                     else "")
        for w in o.waiting))
    return Todo("waiting", ICONS[Status.WAITING], _title(st, board, f"{plural(n, o.unit)} wait{behind}"),
                _prose(short(first.reason, 300)),
                _prose(first.next or "resolve what it waits behind; it follows on the next `doit`"),
                next_command(st, board), full_report(st.name))


def _verification(v: Verification, board: Board) -> Todo | None:
    if v.passed is True:
        return None
    rerun = f"doit sources={v.source}" if board.several else "doit"
    if v.passed is None:
        return Todo("unverified", ICONS[Status.WAITING], (Strong(v.source), ": not verified on the sync tip"),
                    _prose("its `verify:` commands have not run on the sync branch as it is now; publishing holds "
                           "it until they pass"), ("run ", Code(rerun), " (it verifies what it synced)"), rerun, None)
    return Todo("verification", ICONS[Status.FAILED], (Strong(v.source), ": verification failed"),
                _prose(short(v.reason or "a `verify:` command failed", 300)),
                ("fix it on the sync branch (a person's commit there is kept) or in the config, then run ",
                 Code(rerun)), rerun, Link("log", v.log) if v.log else None)


def _hold(source: str, why: str, at: str | None, verified: bool = False) -> Todo:
    """What the last publish held; ``verified``: the source's verification passes on the sync tip since."""
    who = "every source" if source == EVERY else source
    command = "doit publish" if verified else command_in(why) or "doit publish"
    step: Line = (("its verification passes on the sync tip now: run ", Code("doit publish")) if verified else
                  ("when the cause is fixed, run ", Code(command), ", then ", Code("doit publish"))
                  if command != "doit publish" else ("when the cause is fixed, run ", Code("doit publish"), " again"))
    return Todo("publish", "✋", (Strong(who), ": held by the last ", Code("doit publish"), f" ({at})" if at else ""),
                _prose(short(why, 300)), step, command, None)


def _prose(text: str) -> Line:
    """A next step in words, its backquoted commands and paths as code."""
    out: list[Inline] = []
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        if part:
            out.append(Code(part) if i % 2 else part)
    return tuple(out)


def group(board: Board, source: str, wave: str) -> Section:
    states = board.group(source, wave)
    title = f"{source} · wave {wave}" if board.several else f"Wave {wave}"
    return Section(title, f"{source}-{wave}" if board.several else f"wave-{wave}",
                   (bar(states), Rows(tuple(row(st, board) for st in states))), keep=1, level=3)


def bar(states: Sequence[SliceState]) -> Bar:
    """The items of some slices by state, in their unit (one source's slices share one)."""
    unit = states[0].unit if states else "files"
    n = {key: 0 for key, _, _ in STATES}
    for st in states:
        if st.outcome is None:
            n["not-run"] += st.size
            continue
        c = st.outcome.counts()
        counted = [getattr(c, key) for key in ("adopted", "deferred", "conflicted", "waiting", "skipped")]
        for key, k in zip(("adopted", "deferred", "conflicted", "waiting", "skipped"), counted):
            n[key] += k
        n[REST.get(st.outcome.status, "other")] += max(0, c.total - sum(counted))
    total = sum(n.values())
    slices: dict[str, int] = {}
    for st in states:
        key = str(st.outcome.status) if st.outcome else NOT_RUN
        slices[key] = slices.get(key, 0) + 1
    return Bar(unit, total, tuple(Segment(key, label, n[key]) for key, label, _ in STATES if n[key]),
               tuple(slices.items()))


def row(st: SliceState, board: Board) -> Row:
    o = st.outcome
    status = str(o.status) if o else NOT_RUN
    icon = ICONS.get(o.status, "") if o else "⬜"
    settled = o is not None and not o.left and not o.error
    return Row(report_link(st.name), icon, status, plural(st.size, st.unit), reason(st),
               None if settled else next_command(st, board), settled)


def over_time(board: Board) -> Section:
    series = trend(board.runs, board.sources)
    if not series:
        return Section("Drift and adoption over time", "history",
                       (Para(("No run is recorded in the ledger yet.",)),))
    return Section("Drift and adoption over time", "history",
                   (Para(("Per source and run (the ledger, ", Code("reports/ledger.sqlite"), "): what the run adopted, "
                          "and what was left when it ended — deferred, conflicted or waiting — in the source's unit.")),
                    Trend(tuple(series))))


def trend(runs: Sequence[Run], order: Sequence[str] = ()) -> list[Series]:
    """Per source, each run that pulled its waves (oldest first): adopted by it, left when it ended."""
    points: dict[str, list[Point]] = {}
    units: dict[str, str] = {}
    for run in reversed(runs):
        by_source: dict[str, list] = {}
        for s in run.syncs:
            if s.sync_type.startswith("wave-"):
                by_source.setdefault(s.source, []).append(s)
        for source, syncs in by_source.items():
            units.setdefault(source, syncs[0].counts.unit)
            points.setdefault(source, []).append(Point(
                run.run, run.started, run.status, sum(s.counts.adopted for s in syncs),
                sum(s.counts.deferred + s.counts.conflicted + s.counts.waiting for s in syncs)))
    ranked = sorted(points, key=lambda s: (order.index(s) if s in order else len(order), s))
    return [Series(s, units[s], tuple(points[s])) for s in ranked]


# --- markdown --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """A section as markdown lines: ``items`` (list items, table rows) may be left out from the end to fit a
    forge's limit, ``keep`` says which sections lose theirs first (``tasks.publish.body.fit``)."""

    head: list[str]
    items: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    keep: int = 0


def _escape(text: str) -> str:
    """Plain text, safe in markdown: punctuation that could start markup escaped, ``@`` mentioning no one.

    >>> _escape("a <b> *c* @team #1 | x")
    'a \\\\<b\\\\> \\\\*c\\\\* @\\u200bteam \\\\#1 \\\\| x'
    """
    text = re.sub(r"([\\`*_\[\]<>|~&#!])", r"\\\1", re.sub(r"\s+", " ", text))
    return re.sub(r"@(?=\w)", "@\u200b", text)


Links = Callable[[Link], str]


def relative(link: Link) -> str:
    """A link relative to ``reports/`` (``dashboard.md`` lives there)."""
    return f"[{_escape(link.text)}]({quote(link.href, safe='/')})"


def plain(link: Link) -> str:
    """A link's text only (where the reports are not beside the text: an issue on a forge)."""
    return _escape(link.text)


def inline(part: Inline, links: Links, cell: bool = False) -> str:
    if isinstance(part, Code):
        return code(part.text, cell=cell)
    if isinstance(part, Link):
        return links(part)
    if isinstance(part, Strong):
        return f"**{_escape(part.text)}**"
    return _escape(part)


def line(parts: Line, links: Links, cell: bool = False) -> str:
    return "".join(inline(p, links, cell) for p in parts)


def parts(secs: Sequence[Section], links: Links = relative) -> list[Part]:
    return [_part(s, links) for s in secs]


def markdown(secs: Sequence[Section], links: Links = relative) -> str:
    return "\n".join("\n".join([*p.head, *p.items, *p.tail]) for p in parts(secs, links)).rstrip("\n") + "\n"


def _part(s: Section, links: Links) -> Part:
    head = [f"{'#' * s.level} {_escape(s.title)}", ""]
    items: list[str] = []
    tail: list[str] = []
    for block in s.blocks:
        target = tail if items else head
        if isinstance(block, Para):
            text = line(block.line, links)
            target += [f"_{text}_" if block.muted else text, ""]
        elif isinstance(block, Bar):
            target += [bar_markdown(block), ""]
        elif isinstance(block, Todos):
            if not block.items:
                target += [_escape(block.empty), ""]
            items += [todo_markdown(t, links) for t in block.items]
            tail += [""] if block.items else []
        elif isinstance(block, Rows):
            head += ["| slice | status | why | next |", "| --- | --- | --- | --- |"]
            items += [row_markdown(r, links) for r in block.rows]
            tail += [""]
        elif isinstance(block, Trend):
            for series in block.series:
                head += trend_markdown(series)
    return Part(head, items, tail, s.keep)


def todo_markdown(t: Todo, links: Links) -> str:
    """One list item: what, why, what to do, the command (unless the words name it), the report."""
    step = line(t.step, links)
    said = t.command and any(isinstance(p, Code) and p.text == t.command for p in t.step)
    out = f"- {t.icon} {line(t.title, links)} — {line(t.why, links)}. **Next**: {step}"
    out += "" if said or not t.command else f"; run {code(t.command, cell=False)}"
    return out + (f" ({links(t.link)})" if t.link else "")


def row_markdown(r: Row, links: Links) -> str:
    status = f"{r.icon} {_escape(r.status)} ({_escape(r.size)})".strip()
    command = code(r.command) if r.command else "—"
    return f"| {links(r.slice)} | {status} | {_escape(r.reason)} | {command} |"


def squares(segments: Sequence[Segment], total: int, n: int = SQUARES) -> str:
    """``n`` squares split by the segments' sizes (largest remainder; any state present gets one).

    >>> squares([Segment("adopted", "", 55), Segment("conflicted", "", 5), Segment("deferred", "", 1)], 61)
    '🟩🟩🟩🟩🟩🟩🟩🟩🟥🟧'
    """
    if total <= 0 or not segments:
        return ""
    glyph = {key: g for key, _, g in STATES}
    shares = [max(1, round(s.n * n / total)) for s in segments]
    while sum(shares) > n:
        i = max(range(len(shares)), key=lambda k: (shares[k], segments[k].n))
        shares[i] -= 1
    while sum(shares) < n:
        i = max(range(len(shares)), key=lambda k: segments[k].n / total * n - shares[k])
        shares[i] += 1
    return "".join(glyph[s.key] * k for s, k in zip(segments, shares))


def bar_markdown(b: Bar) -> str:
    items = ", ".join(f"{s.n} {s.label}" for s in b.segments)
    slices = ", ".join(f"{n} {status}" for status, n in b.slices)
    count = sum(n for _, n in b.slices)
    return (f"{squares(b.segments, b.total)} **{plural(b.total, b.unit)}**: {items} · "
            f"{plural(count, 'slices')}: {slices}")


SPARK = "▁▂▃▄▅▆▇█"


def spark(values: Sequence[int]) -> str:
    """A sparkline of ``values``, scaled to their largest.

    >>> spark([0, 4, 8]), spark([0, 0])
    ('▁▅█', '▁▁')
    """
    top = max(values, default=0)
    return "".join(SPARK[0] if not top else SPARK[round(v * (len(SPARK) - 1) / top)] for v in values)


def trend_markdown(s: Series) -> list[str]:
    shown = s.points[-HISTORY_ROWS:]
    out = [f"**{_escape(s.source)}** ({s.unit}), {plural(len(s.points), 'runs')}: adopted "
           f"{spark([p.adopted for p in s.points])}"
           f" · left {spark([p.left for p in s.points])}", "",
           "| run started | status | adopted | left |", "| --- | --- | ---: | ---: |"]
    out += [f"| {code(p.when)} | {_escape(p.status)} | {p.adopted} | {p.left} |" for p in reversed(shown)]
    if len(s.points) > len(shown):
        out.append(f"| … {len(s.points) - len(shown)} earlier | | | |")
    return out + [""]


# --- writing -------------------------------------------------------------------------------------

def write(ws: Workspace, runs: Sequence[Run] | None = None) -> Board:
    """``reports/dashboard.md`` and ``reports/index.html`` from what ``reports/`` holds (``runs``: the ledger's,
    when the caller has it open); each file rewritten only when its bytes change."""
    from tasks.report import page

    board = load(ws, runs)
    secs = sections(board)
    write_if_changed(ws.reports / MARKDOWN, markdown(secs))
    write_if_changed(ws.reports / PAGE, page.html(secs))
    return board

