"""Suspects for a failing candidate, from its check results and the candidate's own files (``core.suspects``)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.model import Result
from tasks.core.bisect import Atom
from tasks.core.suspects import pointed_at
from tasks.repo import git
from tasks.repo.importer import Change

MAX_TEXT = 200_000   # characters of failure output searched for names


def text_of(detail: Any) -> str:
    """What a failure says: each failing result's message, first error, failing tests and output."""
    parts: list[str] = []
    for r in detail if isinstance(detail, list) else ():
        if isinstance(r, Result) and not r.ok:
            parts += [r.message, r.error, *(f"{t[0]} {t[1]}" for t in r.tests), r.stdout[-50_000:],
                      r.stderr[-50_000:]]
    return "\n".join(parts)[-MAX_TEXT:]


def suspects(fork: Path, changes: Mapping[str, Change],
             env: Mapping[str, str] | None = None) -> Callable[[Any, Sequence[Atom]], list[str]]:
    """``isolate``'s ``suspects``: the files of a part the failure points at."""
    def read(paths: list[str]) -> dict[str, bytes]:
        oids = {c.oid: p for p in paths if (c := changes.get(p)) and c.oid and c.mode != "160000"}
        return {oids[oid]: data for oid, data in git.read_blobs(fork, oids, env=dict(env or {})) if data is not None}

    def pick(detail: Any, part: Sequence[Atom]) -> list[str]:
        text = text_of(detail)
        if not text.strip():
            return []
        return sorted(pointed_at(text, [f for atom in part for f in atom], read))

    return pick
