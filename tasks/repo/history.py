"""What happened on the sync branch since ``fork.branch``: forkwave's commits and a person's.

A person closes the loop on the sync branch itself — a resolved conflict committed from
any checkout, ``doit resolve``, a ``git revert`` of a forkwave commit, ``doit rollback`` —
so the branch's own history is the record every clone shares. This module reads it once
per tip (one ``git log``) and answers: who last changed a path, which (path, content)
pairs were rolled back, and a digest of every person's commit (an input of deferred
slices: they stay as they are until it changes).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tasks.repo import git
from tasks.hashing import digest

AUTOMATIC = ("Forkwave-Slice", "Forkwave-State", "Forkwave-Retry")  # trailers of forkwave's own commits
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.+)$")


@dataclass(frozen=True)
class SyncCommit:
    sha: str
    message: str
    changes: tuple[git.Change, ...]

    @property
    def trailers(self) -> dict[str, str]:
        lines = self.message.strip().splitlines()
        out: dict[str, str] = {}
        for line in reversed(lines):
            m = _TRAILER.match(line.strip())
            if not m:
                break
            out.setdefault(m[1], m[2])
        return out

    @property
    def automatic(self) -> bool:
        """Made by forkwave on its own (a slice, a joint retry, a recorded state), not for a person."""
        return any(t in self.trailers for t in AUTOMATIC)

    @property
    def is_revert(self) -> bool:
        return "Forkwave-Rollback" in self.trailers or bool(_REVERTS.search(self.message))

    @property
    def subject(self) -> str:
        return self.message.strip().splitlines()[0] if self.message.strip() else ""


def parse_log(out: bytes) -> list[SyncCommit]:
    r"""Parse ``git log -z --raw --no-renames --no-abbrev --format=%x1e%H%x00%B%x00``.

    >>> z, a = "0" * 40, "a" * 40
    >>> [c.sha for c in parse_log(f"\x1e{'1' * 40}\0msg\n\0\0\n:000000 100644 {z} {a} A\0f\0".encode())]
    ['1111111111111111111111111111111111111111']
    """
    commits = []
    for rec in out.split(b"\x1e"):
        if not rec.strip(b"\0\n"):
            continue
        sha, _, rest = rec.partition(b"\0")
        body, _, raw = rest.partition(b"\0")
        changes = git.parse_diff_raw(raw.lstrip(b"\0\n"))
        commits.append(SyncCommit(sha.decode().strip(), body.decode("utf-8", "replace"), tuple(changes)))
    return commits


@lru_cache(maxsize=32)
def _log(fork: str, base: str, tip: str) -> tuple[SyncCommit, ...]:
    out = git.git(fork, "log", "-z", "--raw", "--no-renames", "--no-abbrev", "--no-color",
                  "--format=%x1e%H%x00%B%x00", f"{base}..{tip}")
    return tuple(parse_log(out))


def sync_history(fork: Path, branch: str, sync_branch: str) -> tuple[SyncCommit, ...]:
    """Commits on the sync branch that ``branch`` lacks, newest first (empty when either is missing)."""
    base = git.ref_tip(fork, f"refs/heads/{branch}")
    tip = git.ref_tip(fork, f"refs/heads/{sync_branch}")
    if base is None or tip is None:
        return ()
    return _log(str(fork), base, tip)


def kept(commit: SyncCommit) -> set[str]:
    """Paths a person resolved by keeping the fork's version (``Forkwave-Kept:`` trailers; no tree change)."""
    lines = commit.message.strip().splitlines()
    return {line.split(": ", 1)[1].strip() for line in lines if line.startswith("Forkwave-Kept: ")}


def last_change(history: Sequence[SyncCommit], path: str) -> SyncCommit | None:
    """The newest commit of ``history`` that changed ``path`` (or kept the fork's version of it)."""
    return next((c for c in history if any(ch.path == path for ch in c.changes) or path in kept(c)), None)


def entry_text(entry: tuple[str, str] | None) -> str | None:
    return None if entry is None else f"{entry[0]} {entry[1]}"


def rollbacks(history: Iterable[SyncCommit], ignored: Iterable[str] = ()) -> dict[tuple[str, str | None], str]:
    """(path, the entry a revert took away) -> the revert's sha, for every revert a person asked for.

    A rolled-back change is not imported again while upstream offers the same content;
    reverts named in ``ignored`` (``doit readopt``) no longer count.
    """
    skip = set(ignored)
    out: dict[tuple[str, str | None], str] = {}
    for c in history:
        if c.is_revert and c.sha not in skip:
            for ch in c.changes:
                out.setdefault((ch.path, entry_text(ch.old)), c.sha)
    return out


def person_digest(history: Iterable[SyncCommit], ignored: Iterable[str] = ()) -> str:
    """A digest of every commit a person made (or asked for) on the sync branch."""
    return digest([c.sha for c in history if not c.automatic] + sorted(ignored))


def forkwave_commits(history: Iterable[SyncCommit]) -> Mapping[str, SyncCommit]:
    return {c.sha: c for c in history if c.automatic}


def has_conflict_markers(data: bytes) -> bool:
    """Does the text still hold merge conflict markers (a start or end marker at a line start)?

    >>> (has_conflict_markers(b"a\\n<<<<<<< fork\\nx\\n=======\\ny\\n>>>>>>> upstream\\n"),
    ...  has_conflict_markers(b"=== a"))
    (True, False)
    """
    return bool(re.search(rb"^(<<<<<<<|>>>>>>>)( |$)", data, re.M))
