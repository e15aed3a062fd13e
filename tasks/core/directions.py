"""Directions (pure): which of the fork's own changes go back to a source, under which names and contents.

``direction: push`` exports fork-changed and fork-added paths the source owns; ``both`` also pulls.
A path changed on both sides since the base is one conflict, reported once and exported nowhere (in a
``both`` run it is not pulled either). Names go back through the reversed ``map`` (a fork path no rule
gives back, or that would map forward elsewhere, has no name in the source); contents through the
reversed ``rewrite`` rules, last first — refused when the round trip does not give the fork's bytes
back, when the source's own version already holds a rule's ``to`` text (Copybara's reversible check,
``Rewriter.irreversible``), or when a regex rule applies (a regex has no inverse).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.config import MapRule
from tasks.core.paths import map_path
from tasks.core.rewrite import Rewriter

EXPORT_CLASSES = ("fork-changed", "fork-added")
TWO_SIDED = "both-changed"
PULLS, PUSHES = ("pull", "both"), ("push", "both")


@dataclass(frozen=True)
class Candidate:
    """A fork path to export: its fork-side and source-side names and the fork's ``mode oid``."""

    path: str
    source_path: str
    fork: str          # "mode oid"
    cls: str


@dataclass(frozen=True)
class Selection:
    candidates: tuple[Candidate, ...]
    conflicts: tuple[str, ...]                  # changed on both sides: exported nowhere
    refused: tuple[tuple[str, str], ...]        # (fork path, reason)


def unmap(path: str, rules: Sequence[MapRule]) -> str | None:
    """The source's name for fork-side ``path``, or None when ``map`` gives no path back to it.

    >>> rules = [MapRule("packages/twenty-", "packages/acme-")]
    >>> unmap("packages/acme-ui/a.ts", rules), unmap("README.md", rules), unmap("packages/twenty-x/a", rules)
    ('packages/twenty-ui/a.ts', 'README.md', None)
    """
    for rule in rules:
        if path.startswith(rule.dst):
            candidate = rule.src + path[len(rule.dst):]
            return candidate if map_path(candidate, rules) == path else None
    return path if map_path(path, rules) == path else None


def select(entries: Mapping[str, Mapping[str, Any]], rules: Sequence[MapRule]) -> Selection:
    """What ``drift.json``'s entries offer to export, in path order."""
    candidates, conflicts, refused = [], [], []
    for path in sorted(entries):
        e = entries[path]
        if e["class"] == TWO_SIDED:
            conflicts.append(path)
        elif e["class"] in EXPORT_CLASSES and e.get("fork"):
            back = unmap(path, rules)
            if back is None:
                refused.append((path, "map gives it no name in the source (no map rule leads back to it)"))
            else:
                candidates.append(Candidate(path, back, e["fork"], e["class"]))
    return Selection(tuple(candidates), tuple(conflicts), tuple(refused))


def unrewrite(rw: Rewriter, path: str, data: bytes, source_data: bytes | None) -> tuple[bytes | None, str]:
    """(the source's bytes for the fork's ``data`` at fork path ``path``, "") or (None, why it is refused).

    >>> from tasks.config import RewriteRule
    >>> rw = Rewriter((RewriteRule("twenty", "acme"),))
    >>> unrewrite(rw, "a.ts", b"acme app", None)
    (b'twenty app', '')
    >>> unrewrite(rw, "a.ts", b"acme and twenty", None)[1]
    "rewrite 'twenty' -> 'acme' is not reversible on this file: mapping it back and forth does not give the fork's bytes"
    >>> unrewrite(rw, "a.ts", b"acme", b"twenty, or acme")[1]
    "rewrite 'twenty' -> 'acme' is not reversible on this file: the source's version already holds 'acme'"
    """
    rules = [r for r in rw.rules if r.applies(path)]
    if not rules or b"\0" in data[:8000]:
        return data, ""
    regex = next((r for r in rules if r.regex), None)
    if regex is not None:
        return None, f"rewrite {regex.src!r} -> {regex.dst!r} is a regex and cannot be reversed"
    if source_data is not None:
        held = rw.irreversible(path, source_data)
        if held:
            rule = next(r for r in rules if f"{r.src!r} -> {r.dst!r}" == held[0])
            return None, f"rewrite {held[0]} is not reversible on this file: the source's version already holds {rule.dst!r}"
    back = data
    for rule in reversed(rules):
        back = back.replace(rule.dst.encode(), rule.src.encode()) if rule.dst else back
    if rw.apply(path, back) != data:
        first = rules[0]
        return None, (f"rewrite {first.src!r} -> {first.dst!r} is not reversible on this file: mapping it back and "
                      "forth does not give the fork's bytes")
    return back, ""


def pull_view(report: Mapping[str, Any], direction: str) -> Mapping[str, Any]:
    """``drift.json`` as the pull side of ``direction`` plans it: nothing for ``push``; for ``both``, without the
    paths changed on both sides (the export reports them, once, as conflicts); as it is for ``pull``.

    >>> r = {"entries": {"a": {"class": "both-changed"}, "b": {"class": "upstream-changed"}}}
    >>> sorted(pull_view(r, "both")["entries"]), sorted(pull_view(r, "push")["entries"]), pull_view(r, "pull") is r
    (['b'], [], True)
    """
    if direction == "pull":
        return report
    keep = {} if direction == "push" else {p: e for p, e in report["entries"].items() if e["class"] != TWO_SIDED}
    return {**report, "entries": keep}
