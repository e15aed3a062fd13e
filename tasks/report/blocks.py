"""The dashboard's document, as plain values: what each section says, before it is markdown or HTML.

The sections (``tasks.report.dashboard``) build these once; one renderer turns them into
``dashboard.md`` (GitHub and GitLab), another into ``index.html`` (``tasks.report.page``). So the
two files cannot tell different stories: they are the same blocks, drawn twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Code:
    """Inline code: a path, a command."""

    text: str


@dataclass(frozen=True)
class Link:
    """A link to a report, relative to ``reports/``."""

    text: str
    href: str


@dataclass(frozen=True)
class Strong:
    text: str


Inline = str | Code | Link | Strong
Line = tuple[Inline, ...]


@dataclass(frozen=True)
class Para:
    line: Line
    muted: bool = False


@dataclass(frozen=True)
class Todo:
    """One thing a person does: what it is about, why, what to do, the command to run, where to read more."""

    kind: str            # error, conflict, deferred, waiting, verification, unverified, publish
    icon: str
    title: Line          # the slice (linked) or source it is about, and where
    why: Line
    step: Line           # what to do, in words
    command: str | None  # the command to run (after the step, when the step is work)
    link: Link | None    # the report that says more


@dataclass(frozen=True)
class Todos:
    items: tuple[Todo, ...]
    empty: str           # said when there is nothing


@dataclass(frozen=True)
class Segment:
    """Part of a status bar: ``n`` items (in the bar's unit) in one state."""

    key: str             # adopted, deferred, conflicted, waiting, skipped, not-run, other
    label: str
    n: int


@dataclass(frozen=True)
class Bar:
    """A source's wave at a glance: its items by state, in its unit, and its slices by status."""

    unit: str                          # files or commits
    total: int
    segments: tuple[Segment, ...]
    slices: tuple[tuple[str, int], ...]   # (status, how many slices)


@dataclass(frozen=True)
class Row:
    """One slice: its status, why, the next command, its report."""

    slice: Link
    icon: str
    status: str
    size: str            # "12 files", "3 commits"
    reason: str
    command: str | None
    settled: bool        # nothing left for anyone: the page may hide it


@dataclass(frozen=True)
class Rows:
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Point:
    """One run of one source: what it adopted, what was left when it ended."""

    run: str
    when: str            # the run's start, UTC ISO
    status: str
    adopted: int
    left: int


@dataclass(frozen=True)
class Series:
    source: str
    unit: str
    points: tuple[Point, ...]   # oldest first


@dataclass(frozen=True)
class Trend:
    series: tuple[Series, ...]


Block = Para | Todos | Bar | Rows | Trend


@dataclass(frozen=True)
class Section:
    """A heading and its blocks; ``keep``: when a forge's limit trims the markdown, sections of lower ``keep``
    lose their list items first."""

    title: str
    anchor: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    keep: int = 0
    level: int = 2
