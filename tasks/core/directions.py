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

from collections.abc import Callable, Mapping, Sequence
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
    >>> unrewrite(rw, "a.ts", b"acme and twenty", None)[1]  # doctest: +NORMALIZE_WHITESPACE
    "rewrite 'twenty' -> 'acme' is not reversible on this file: mapping it back and forth does not give the fork's
    bytes"
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
            return None, (f"rewrite {held[0]} is not reversible on this file: "
                          f"the source's version already holds {rule.dst!r}")
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


def command_view(report: Mapping[str, Any], pushed: Callable[[str], bool], sent: Mapping[str, str]) -> dict[str, Any]:
    """A command source's ``drift.json``: what its entrypoint wrote is the source's, so a version of an output the
    fork holds with no base to tell who changed it (``differs``) is not a question for a person:

    - a path only pulled: the fork's copy is stale; the source's version is taken (``upstream-changed`` against
      it);
    - a path that also goes back (``pushed``: a ``both`` source's input): both sides hold their own version and
      nothing says which is newer: one conflict (``both-changed``), sent nowhere, pulled nowhere;
    - such a path ``both-changed`` where the fork's version is what ``push_run`` last sent (``sent``: path -> blob
      id): the source had it, then changed it: its change is pulled (``upstream-changed`` or ``-deleted``
      against the version sent).

    >>> e = lambda cls, fork, up: {"class": cls, "bucket": "d", "base": None, "fork": f"100644 {fork}",
    ...                            "upstream": up and f"100644 {up}"}
    >>> r = {"totals": {}, "buckets": {}, "paths": {}, "entries": {"a": e("differs", "f1", "u1"),
    ...      "b": e("both-changed", "f2", "u2"), "c": e("both-changed", "f3", None)}}
    >>> [x["class"] for x in command_view(r, lambda p: False, {})["entries"].values()]
    ['upstream-changed', 'both-changed', 'both-changed']
    >>> [x["class"] for x in command_view(r, lambda p: True, {"b": "f2", "c": "f3"})["entries"].values()]
    ['both-changed', 'upstream-changed', 'upstream-deleted']
    """
    from tasks.core.classify import reclassified

    changes: dict[str, tuple[str, str | None]] = {}
    for path, e in report["entries"].items():
        fork_oid = (e.get("fork") or " ").split(" ")[1] or None
        if e["class"] == "differs":
            changes[path] = (TWO_SIDED, None) if pushed(path) else ("upstream-changed", e["fork"])
        elif e["class"] == TWO_SIDED and pushed(path) and fork_oid and sent.get(path) == fork_oid:
            changes[path] = ("upstream-changed" if e.get("upstream") else "upstream-deleted", e["fork"])
    return reclassified(report, changes)


REGULAR = ("100644", "100755")
SOURCE_CHANGES = ("upstream-added", "upstream-changed", "upstream-deleted")


@dataclass(frozen=True)
class Sending:
    """What a command source's ``push_run`` is to take of the fork's inputs, and why the others stay."""

    send: tuple[tuple[str, str | None], ...]     # (fork path, blob id; None: deleted in the fork)
    conflicts: tuple[str, ...]                    # changed on both sides since the last sync: sent nowhere
    skipped: tuple[tuple[str, str], ...]          # (path, why)
    refused: tuple[tuple[str, str], ...]          # (path, why)
    state: Mapping[str, str]                      # path -> blob id the source holds once ``send`` went

    def to_json(self) -> dict[str, Any]:
        return {"send": [{"path": p, "oid": o} for p, o in self.send], "conflicts": list(self.conflicts),
                "skipped": [{"path": p, "why": w} for p, w in self.skipped],
                "refused": [{"path": p, "reason": r} for p, r in self.refused]}


def to_send(fork: Mapping[str, tuple[str, str]], sent: Mapping[str, str], *,
            pulled: Callable[[str], bool] = lambda path: False, source: Mapping[str, str] | None = None,
            entries: Mapping[str, Mapping[str, Any]] | None = None, take_conflicts: bool = False) -> Sending:
    """Which input files go to ``push_run``: those whose blob differs from what the source took last (``sent``,
    from the ledger's last successful push; a path there the fork no longer has was deleted).

    ``fork``: the fork's input files (path -> (mode, blob id)). For a path the source also writes (``pulled``,
    a ``both`` source's output): ``source`` is its output now (path -> blob id) and ``entries`` the drift's view of
    it — the source holding the fork's version already is no change; the source's change and not the fork's
    comes in with the pull; a change on both sides is a conflict (``take_conflicts``: the person chose the fork's
    side with ``direction=push``).

    >>> f = {"a.md": ("100644", "a2"), "b.md": ("100644", "b1"), "c.md": ("100644", "c2"), "l": ("120000", "x")}
    >>> s = to_send(f, {"a.md": "a1", "b.md": "b1", "gone.md": "g1"}, pulled=lambda p: p == "c.md",
    ...             source={"c.md": "c3"}, entries={"c.md": {"class": "both-changed", "fork": "100644 c2"}})
    >>> s.send, s.conflicts, s.refused, dict(s.state)  # doctest: +NORMALIZE_WHITESPACE
    ((('a.md', 'a2'), ('gone.md', None)), ('c.md',), (('l', 'not a regular file (symlinks and submodules are not
    sent)'),), {'a.md': 'a2', 'b.md': 'b1'})
    """
    source, entries = source or {}, entries or {}
    send: list[tuple[str, str | None]] = []
    conflicts: list[str] = []
    skipped: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    state = dict(sent)
    for path in sorted(set(fork) | set(sent)):
        mode, oid = fork.get(path, (None, None))
        if oid is not None and mode not in REGULAR:
            refused.append((path, "not a regular file (symlinks and submodules are not sent)"))
            continue
        if "\n" in path or "\r" in path:
            refused.append((path, "a line break in its name: it cannot go on standard input, one path a line"))
            continue
        if sent.get(path) == oid:
            continue
        verdict = _two_sided(path, oid, source, entries, take_conflicts) if pulled(path) else None
        if verdict == "conflict":
            conflicts.append(path)
            continue
        if verdict is not None:
            skipped.append((path, verdict))
            if verdict != HELD_BY_SOURCE:
                continue
        else:
            send.append((path, oid))
        if oid is None:
            state.pop(path, None)
        else:
            state[path] = oid
    return Sending(tuple(send), tuple(conflicts), tuple(skipped), tuple(refused), dict(sorted(state.items())))


HELD_BY_SOURCE = "the source holds this version already"


def _two_sided(path: str, oid: str | None, source: Mapping[str, str], entries: Mapping[str, Mapping[str, Any]],
               take_conflicts: bool) -> str | None:
    """For a path both sides write: None (send it), ``conflict``, or why it is not sent."""
    theirs = source.get(path)
    if theirs == oid:
        return HELD_BY_SOURCE
    e = entries.get(path)
    cls = e["class"] if e else None
    then = ((e.get("fork") or " ").split(" ")[1] or None) if e else theirs   # no entry: identical at drift time
    source_moved = cls in SOURCE_CHANGES or cls == TWO_SIDED
    if take_conflicts:
        return None
    if then != oid:  # the fork changed it after the drift looked: both sides, when the source did too
        return "conflict" if source_moved else None
    if cls == TWO_SIDED:
        return "conflict"
    if cls in SOURCE_CHANGES:
        return "the source changed it and the fork did not: it comes in with the pull"
    return None
