"""The dashboard's sections, markdown and page from typed records: what waits for a person comes first, in
order, each with the command the outcome names; every slice has a row with its status, why and next command;
the bars count in each slice's unit; the runs over time come from the ledger's rows; the markdown has no raw
HTML and narrow tables; the page loads nothing and escapes everything."""
from __future__ import annotations

import doctest
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from tasks.core.outcome import COMMITS, Conflict, Deferral, Outcome, Status, Wait
from tasks.core.plan import PlanFile, Slice
from tasks.publish import body
from tasks.report import chart, dashboard, page
from tasks.report.blocks import Bar, Rows, Todos, Trend
from tasks.report.board import EVERY, Board, Hold, SliceState, Verification
from tasks.report.ledger import Counts, Run, Sync


def files(*paths: str) -> tuple[PlanFile, ...]:
    return tuple(PlanFile(p, "upstream-changed", "b") for p in paths)


def state(name: str, wave: str, outcome: Outcome | None, *, source: str = "upstream", commits: tuple[str, ...] = (),
          paths: tuple[str, ...] = ("a.py", "b.py")) -> SliceState:
    return SliceState(Slice(name, wave, files(*paths), source=source, commits=commits), source, outcome,
                      f"doit validate:{name}")


def outcome(name: str, wave: str, status: Status, **kw: Any) -> Outcome:
    return Outcome(name, wave, "u" * 40, status, "p" * 40, files=tuple({"path": p, "class": "upstream-changed"}
                                                                        for p in kw.pop("paths", ("a.py", "b.py"))),
                   **kw)


SHAS = tuple(f"{i:040x}" for i in range(1, 6))


def picked(name: str, wave: str, status: Status, **kw: Any) -> Outcome:
    return Outcome(name, wave, "u" * 40, status, "p" * 40, mode="merge", unit=COMMITS, source="web",
                   **({"slice_commits": SHAS} | kw))


def run(rid: str, started: str, *syncs: tuple[str, str, Counts], status: str = "partial") -> Run:
    return Run(rid, started, started, 1, "m", "ledger", None, None, recorded=status,
               syncs=tuple(Sync(rid, src, kind, status, started, started, "r" * 40, c, None, None)
                           for src, kind, c in syncs))


@pytest.fixture
def board() -> Board:
    """Two sources: a file source with every kind of snapshot outcome, a merge source whose second slice waits
    behind the first one's conflicting commit."""
    up = [
        state("slice-1", "a", outcome("slice-1", "a", Status.ADOPTED, adopted=("a.py", "b.py"))),
        state("slice-2", "a", outcome("slice-2", "a", Status.CONFLICTED, adopted=("a.py",), conflicts=(
            Conflict("b.py", "3-way merge conflict",
                     "edit reports/slices/slice-2/conflicts/b.py and run `doit resolve:slice-2`, or commit; the "
                     "next `doit` validates it", "conflicts/b.py"),))),
        state("slice-3", "b", outcome("slice-3", "b", Status.SPLIT, adopted=("a.py",), deferred=(
            Deferral(("b.py",), "unit: <b.py> failed @core-team", "fix it, then run `doit validate:slice-3`",
                     ("unit",)),))),
        state("slice-4", "b", outcome("slice-4", "b", Status.ERROR, error="check 'pytset' cannot run: not found")),
        state("slice-5", "b", None, paths=("c.py", "d.py", "e.py")),
    ]
    web = [
        state("slice-web-1", "a", picked("slice-web-1", "a", Status.CONFLICTED, adopted_commits=SHAS[:2],
                                         conflicts=(Conflict("x.py", "merge conflict",
                                                             "fix and run `doit resolve:slice-web-1`",
                                                             None, SHAS[2]),),
                                         waiting=(Wait(("y.py",), "waits behind it", "", SHAS[3:], SHAS[2],
                                                       "slice-web-1"),)),
              source="web", commits=SHAS),
        state("slice-web-2", "a", picked("slice-web-2", "a", Status.WAITING, slice_commits=SHAS[:3],
                                         waiting=(Wait(("z.py",), f"waits behind upstream commit {SHAS[2][:10]}",
                                                       f"resolve {SHAS[2][:10]} first", SHAS[:3], SHAS[2],
                                                       "slice-web-1"),)),
              source="web", commits=SHAS[:3]),
    ]
    runs = (run("r2", "2026-01-02T10:00:00Z", ("upstream", "wave-a", Counts(1, 0, 1, 0, 0)),
                ("upstream", "wave-b", Counts(1, 1, 0, 0, 0)), ("web", "wave-a", Counts(2, 0, 1, 0, 3, "commits")),
                ("web", "verify", Counts())),
            run("pub", "2026-01-02T11:00:00Z", status="success"),   # a publish: no sync, not "the last run"
            run("r1", "2026-01-01T10:00:00Z", ("upstream", "wave-a", Counts(2, 0, 0, 0, 0))))
    runs = (runs[1], runs[0], runs[2])   # newest first, as the ledger gives them
    return Board(tuple(up + web), ("a", "b"), True, "partial",
                 (Verification("web", False, "verify 'count': printed 1, below expected_min 5", "c" * 40,
                               "sources/web/verify/logs/count.stdout.log"), Verification("upstream", None)),
                 (Hold("web", "held, nothing pushed: verification failed for web; run `doit sources=web`", "T1"),
                  Hold(EVERY, "post-sync check failed", None)),
                 runs, (("upstream", "a" * 40), ("web", "b" * 40)))


def test_doctests() -> None:
    assert doctest.testmod(dashboard).failed == 0 and doctest.testmod(chart).failed == 0


def test_the_sections_come_in_order_what_waits_first(board: Board) -> None:
    titles = [s.title for s in dashboard.sections(board)]
    assert titles == ["Sync dashboard", "What waits for you", "Slices by source and wave", "upstream · wave a",
                      "upstream · wave b", "web · wave a", "Drift and adoption over time"]


def test_what_waits_lists_every_kind_in_order_with_its_command_and_report(board: Board) -> None:
    (todos,) = dashboard.waiting(board).blocks
    assert isinstance(todos, Todos)
    kinds = [(t.kind, t.command, t.link.href if t.link else None) for t in todos.items]
    assert kinds == [
        ("error", "doit validate:slice-4", "slices/slice-4/report.md"),
        ("conflict", "doit resolve:slice-2", "slices/slice-2/report.md"),
        ("conflict", "doit resolve:slice-web-1", "slices/slice-web-1/report.md"),
        ("deferred", "doit validate:slice-3", "slices/slice-3/report.md"),
        ("waiting", "doit resolve:slice-web-1", "slices/slice-web-1/report.md"),   # its own conflict first
        ("waiting", "doit resolve:slice-web-1", "slices/slice-web-2/report.md"),   # what it waits behind
        ("verification", "doit sources=web", "sources/web/verify/logs/count.stdout.log"),
        ("unverified", "doit sources=upstream", None),
        ("publish", "doit sources=web", None),
        ("publish", "doit publish", None)]
    waits = [t for t in todos.items if t.kind == "waiting"]
    assert dashboard.line(waits[1].title, dashboard.plain) == (
        f"slice-web-2 (web, wave a): 3 commits wait behind {SHAS[2][:10]} in slice-web-1")
    held = dashboard.line(todos.items[-1].title, dashboard.plain)
    assert held.startswith("**every source**: held by the last `doit publish`")
    web = todos.items[-2]   # its own command first (it names it), then the publish
    assert dashboard.line(web.step, dashboard.plain) == ("when the cause is fixed, run `doit sources=web`, then "
                                                         "`doit publish`")
    assert dashboard.line(web.why, dashboard.plain).endswith("verification failed for web; run `doit sources=web`")


def test_nothing_waiting_says_so() -> None:
    quiet = Board((state("slice-1", "a", outcome("slice-1", "a", Status.ADOPTED, adopted=("a.py", "b.py"))),), ("a",))
    (todos,) = dashboard.waiting(quiet).blocks
    assert todos.items == () and "Nothing" in dashboard.markdown([dashboard.waiting(quiet)])


def test_each_slice_has_a_row_with_status_why_and_next_command(board: Board) -> None:
    rows = {r.slice.text: r for s in dashboard.sections(board) for b in s.blocks if isinstance(b, Rows) for r in b.rows}
    assert list(rows) == [s.name for s in board.slices]
    assert (rows["slice-1"].status, rows["slice-1"].command, rows["slice-1"].settled) == ("adopted", None, True)
    assert rows["slice-1"].reason == "2 of 2 files adopted"
    assert (rows["slice-2"].command, rows["slice-2"].reason) == (
        "doit resolve:slice-2", "conflict in b.py: 3-way merge conflict")
    assert rows["slice-5"].status == "not run" and rows["slice-5"].command == "doit validate:slice-5"
    assert rows["slice-5"].size == "3 files" and rows["slice-web-2"].size == "3 commits"
    assert rows["slice-web-2"].command == "doit resolve:slice-web-1"              # the one it waits behind


def test_a_bar_counts_in_the_slices_unit_and_adds_up(board: Board) -> None:
    bars = {s.title: b for s in dashboard.sections(board) for b in s.blocks if isinstance(b, Bar)}
    web = bars["web · wave a"]
    assert web.unit == "commits" and web.total == 8
    assert {s.key: s.n for s in web.segments} == {"adopted": 2, "conflicted": 1, "waiting": 5}
    b = bars["upstream · wave b"]
    assert b.unit == "files" and b.total == 7 and sum(s.n for s in b.segments) == 7
    assert {s.key: s.n for s in b.segments} == {"adopted": 1, "deferred": 1, "error": 2, "not-run": 3}
    assert dict(b.slices) == {"split": 1, "error": 1, "not run": 1}


def test_the_runs_over_time_come_from_the_ledgers_wave_syncs(board: Board) -> None:
    (_, trend) = dashboard.over_time(board).blocks
    assert isinstance(trend, Trend)
    series = {s.source: s for s in trend.series}
    assert list(series) == ["upstream", "web"]
    assert [(p.run, p.adopted, p.left) for p in series["upstream"].points] == [("r1", 2, 0), ("r2", 2, 2)]
    assert [(p.run, p.adopted, p.left) for p in series["web"].points] == [("r2", 2, 4)]
    assert series["web"].unit == COMMITS
    header = dashboard.markdown([dashboard.header(board)])
    assert "Last run `r2`" in header                                   # the publish run synced nothing


UNESCAPED = re.compile(r"(?<!\\)<")


def test_the_markdown_has_no_raw_html_and_narrow_tables(board: Board) -> None:
    text = dashboard.markdown(dashboard.sections(board))
    assert not UNESCAPED.search(text), [line for line in text.splitlines() if UNESCAPED.search(line)]
    assert "@\u200bcore-team" in text and "@core-team" not in text          # nobody is mentioned
    for line in text.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            assert len(cells) <= 4, line
    assert "[slice-2](slices/slice-2/report.md)" in text
    assert ("| [slice-5](slices/slice-5/report.md) | ⬜ not run (3 files) | no run has reached it yet "
            "| `doit validate:slice-5` |") in text


def test_the_issue_body_names_slices_without_links_and_fits_the_limit(board: Board) -> None:
    many = Board(tuple(state(f"slice-{i}", "a", None) for i in range(1, 400)), ("a",))
    parts = dashboard.parts(dashboard.sections(many), dashboard.plain)
    whole = body.fit([body.Section(p.head, p.items, p.tail, p.keep) for p in parts], None, "x")
    trimmed = body.fit([body.Section(p.head, p.items, p.tail, p.keep) for p in parts], 8_000, "x")
    assert len(whole) > 8_000 >= len(trimmed) and "](slices/" not in whole
    assert "| slice-1 | ⬜ not run" in trimmed and "| slice-399 |" not in trimmed
    assert "more in the full report" in trimmed and "# Sync dashboard" in trimmed


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_page_escapes_everything_and_asks_for_nothing(board: Board) -> None:
    html = page.html(dashboard.sections(board))
    parsed = Tags()
    parsed.feed(html)
    tags = [t for t, _ in parsed.tags]
    assert "script" in tags and tags.count("script") == 1 and "link" not in tags and "img" not in tags
    assert not any("src" in a for _, a in parsed.tags)                          # nothing loaded from anywhere
    hrefs = [a["href"] for _, a in parsed.tags if a.get("href")]
    assert hrefs and all(not re.match(r"^[a-z]+:", h) for h in hrefs)           # links stay beside the page
    csp = next(a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv"))
    assert csp.startswith("default-src 'none'")
    assert "&lt;b.py&gt; failed" in html and "<b.py>" not in html
    text = "".join(parsed.text)
    for st in board.slices:
        assert st.name in text
    assert text.count("doit resolve:slice-web-1") >= 3                          # its todos and both its rows
    assert html.count('<svg class="chart"') == 2


def test_a_board_with_no_run_yet() -> None:
    fresh = Board((state("slice-1", "a", None),), ("a",))
    text = dashboard.markdown(dashboard.sections(fresh))
    assert "The sync is **not run yet**: 1 slice — 1 not run." in text
    assert "No run is recorded in the ledger yet." in text
    assert "<svg" not in page.html(dashboard.sections(fresh))


def test_the_chart_scales_to_the_largest_value_and_names_each_run() -> None:
    from tasks.report.blocks import Point, Series

    svg = chart.svg(Series("web", "files", (Point("r1", "2026-01-01T00:00:00Z", "success", 40, 3),
                                            Point("r2", "2026-01-02T00:00:00Z", "partial", 7, 12))))
    assert svg.count("<rect") == 2 and svg.count("<circle") == 2
    assert "run r2 (2026-01-02T00:00:00Z, partial): adopted 7 files, left 12" in svg
    assert '>50</text>' in svg and "2026-01-01" in svg and "2026-01-02" in svg


def test_a_link_to_a_file_with_spaces_or_brackets_stays_one_link() -> None:
    from tasks.report.blocks import Link

    assert dashboard.relative(Link("log",
                                   "verify/logs/my check (1).log")) == "[log](verify/logs/my%20check%20%281%29.log)"
    assert 'href="verify/logs/my%20check%20%281%29.log"' in page._inline(Link("log", "verify/logs/my check (1).log"))
