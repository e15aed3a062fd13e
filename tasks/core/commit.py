"""Commits as plain data: the record ``repo.commits`` reads, its short forms, and the trailers of a pick."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

PICKED_FROM = "(cherry picked from commit {sha})"  # the line ``git cherry-pick -x`` writes
SOURCE_TRAILER = "Forkwave-Source"
_PICKED = re.compile(r"^\(cherry picked from commit ([0-9a-f]{40})\)\s*$", re.MULTILINE)
_TRAILER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*:\s|^\(cherry picked from commit [0-9a-f]{40}\)$")


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit: dates are Unix seconds; ``paths`` are those it changed against its first parent."""

    sha: str
    parents: tuple[str, ...] = ()
    author_name: str = ""
    author_email: str = ""
    author_date: int = 0
    committer_date: int = 0
    subject: str = ""
    body: str = ""
    paths: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.sha[:10]

    @property
    def author(self) -> str:
        return f"{self.author_name} <{self.author_email}>"

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    @property
    def message(self) -> str:
        """Subject and body as git stores them (one blank line between)."""
        body = self.body.strip("\n")
        return f"{self.subject}\n\n{body}\n" if body else f"{self.subject}\n"


def iso_date(seconds: int) -> str:
    """A Unix time as the UTC date reports print.

    >>> iso_date(1_700_000_000)
    '2023-11-14T22:13:20Z'
    """
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def picked_from(message: str) -> tuple[str, ...]:
    """The source shas a message names in ``(cherry picked from commit <sha>)`` lines, in order.

    >>> picked_from("fix: x\\n\\n(cherry picked from commit " + "a" * 40 + ")\\n")
    ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',)
    >>> picked_from("fix: x (cherry picked from commit " + "a" * 40 + ")")
    ()
    """
    return tuple(_PICKED.findall(message))


def pick_message(commit: Commit, source: str, message: str | None = None, extra: tuple[str, ...] = ()) -> str:
    """The message of a pick of ``commit`` from ``source``: the original (``message`` as git stores it,
    else subject and body), then the trailers.

    Like ``git cherry-pick -x``, the trailers join the message's own trailer block when it
    ends with one (``Signed-off-by: …``), else start a paragraph of their own, so
    ``git interpret-trailers --parse`` reads them all.

    >>> print(pick_message(Commit("b" * 40, subject="fix: y"), "web"), end="")
    fix: y
    <BLANKLINE>
    (cherry picked from commit bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb)
    Forkwave-Source: web
    >>> pick_message(Commit("b" * 40, subject="fix: y", body="Why.\\n\\nSigned-off-by: A <a@x>"), "web").count("\\n\\n")
    2
    """
    text = (commit.message if message is None else message).rstrip("\n")
    lines = [PICKED_FROM.format(sha=commit.sha), f"{SOURCE_TRAILER}: {source}", *extra]
    joined = "\n" if ends_with_trailers(text) else "\n\n"
    return text + joined + "\n".join(lines) + "\n"


def ends_with_trailers(text: str) -> bool:
    """Does the message's last paragraph (not its subject) consist of trailer lines only?

    >>> [ends_with_trailers(t) for t in ("x\\n\\nSigned-off-by: A <a@x>", "x\\n\\nJust prose.", "x: y")]
    [True, False, False]
    """
    paragraphs = text.strip("\n").split("\n\n")
    if len(paragraphs) < 2:
        return False
    return all(_TRAILER.match(line) for line in paragraphs[-1].splitlines())


def short_list(items: Iterable[str], limit: int = 5) -> str:
    """The first ``limit`` items joined, with how many more.

    >>> short_list(["a", "b", "c"], 2), short_list([])
    ('a, b and 1 more', '')
    """
    items = list(items)
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")
