"""Merging both-changed files 3-way (``git merge-file``), after rewrites.

A clean merge is imported like any change. A conflict never reaches the sync branch:
the file is deferred and its diff3-style conflict text is kept for a person to resolve.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.repo import git, resolutions

REGULAR = ("100644", "100755")


@dataclass(frozen=True)
class Merge:
    path: str
    clean: bool
    mode: str | None = None
    oid: str | None = None          # the merged blob, written into the fork, when clean
    reason: str = ""                # why it did not merge cleanly
    conflict: bytes | None = None   # diff3-style text for a person


def _entry(text: str | None) -> tuple[str, str] | None:
    return None if not text else tuple(text.split(" "))  # type: ignore[return-value]


def blocker(base: tuple[str, str] | None, up: tuple[str, str] | None, fork: tuple[str, str] | None,
            contents: Mapping[str, bytes | None]) -> str | None:
    """Why these three versions cannot be merged as text, or None.

    >>> a, b = ("100644", "a" * 40), ("100644", "b" * 40)
    >>> blocker(a, None, b, {}), blocker(a, b, None, {})
    ('deleted upstream, changed in the fork', 'deleted in the fork, changed upstream')
    >>> blocker(a, ("120000", "c" * 40), b, {})
    'not a regular file on every side (symlink or submodule)'
    """
    if up is None:
        return "deleted upstream, changed in the fork"
    if fork is None:
        return "deleted in the fork, changed upstream"
    if any(e is not None and e[0] not in REGULAR for e in (base, up, fork)):
        return "not a regular file on every side (symlink or submodule)"
    for e in (base, up, fork):
        data = contents.get(e[1]) if e else b""
        if data is None:
            return "content missing from the object stores"
        if b"\0" in data[:8000]:
            return "binary file changed on both sides"
    return None


def _text(entry: tuple[str, str] | None, contents: Mapping[str, bytes | None]) -> bytes:
    """A side's text (no side: empty) once ``blocker`` passed the path."""
    if entry is None:
        return b""
    data = contents[entry[1]]
    assert data is not None, "blocker() turns a path with a missing blob away"
    return data


def merge_mode(base: tuple[str, str] | None, up: tuple[str, str], fork: tuple[str, str]) -> str:
    """Upstream's mode if only upstream changed it, else the fork's."""
    return up[0] if base is not None and fork[0] == base[0] and up[0] != base[0] else fork[0]


def merge_text(base: bytes, fork: bytes, up: bytes) -> tuple[bool, bytes]:
    """(clean, merged or diff3-conflicted text), by ``git merge-file``."""
    with tempfile.TemporaryDirectory(prefix="forkwave-merge-") as tmp:
        paths = []
        for name, data in (("fork", fork), ("base", base), ("upstream", up)):
            p = os.path.join(tmp, name)
            with open(p, "wb") as fh:
                fh.write(data)
            paths.append(p)
        proc = subprocess.run(["git", "merge-file", "-p", "--diff3", "-L", "fork", "-L", "base", "-L", "upstream",
                               *paths], capture_output=True, env=git.git_env())
    if proc.returncode < 0 or proc.returncode > 127:
        raise RuntimeError(f"git merge-file failed: {proc.stderr.decode(errors='replace')}")
    return proc.returncode == 0, proc.stdout


def merge_paths(mirror: Path, fork_repo: Path, entries: Mapping[str, Mapping[str, Any]],
                paths: Sequence[str], policy: Sequence[Any] = (), replay: Sequence[str] = ()) -> dict[str, Merge]:
    """Merge each both-changed path (entries give base/upstream/fork ``mode oid``); a conflicting one that
    a ``policy:`` rule covers takes that rule's side for its conflicting hunks (``tasks.repo.policy``); one of
    ``replay`` a person resolved before is resolved the same way (``tasks.repo.resolutions``)."""
    env = git.alternates_env(fork_repo)
    triples = {p: (_entry(entries[p]["base"]), _entry(entries[p]["upstream"]), _entry(entries[p]["fork"]))
               for p in paths}
    oids = {e[1] for t in triples.values() for e in t if e and e[0] in REGULAR}
    contents = dict(git.read_blobs(mirror, oids, env=env)) if oids else {}
    out = {}
    for path, (base, up, fork) in triples.items():
        reason = blocker(base, up, fork, contents)
        if reason:
            out[path] = Merge(path, False, reason=reason)
            continue
        assert up is not None and fork is not None
        old, ours, theirs = _text(base, contents), _text(fork, contents), _text(up, contents)
        clean, text = merge_text(old, ours, theirs)
        take = None
        if not clean and policy:
            from tasks.repo.policy import merge_favoring, take_for

            take = take_for(path, policy)
            if take:
                clean, text = True, merge_favoring(old, ours, theirs, take)
        why = f"policy take: {take}" if take else ""
        if not clean and path in replay:
            found = resolutions.book(fork_repo).find(fork_repo, text)
            if found:
                clean, text, why = True, found[1], f"{resolutions.REPLAYED} (record {found[0][:12]})"
        if clean:
            oid = git.git(fork_repo, "hash-object", "-w", "--no-filters", "--stdin", input=text).decode().strip()
            out[path] = Merge(path, True, merge_mode(base, up, fork), oid, reason=why)
        else:
            out[path] = Merge(path, False, reason="3-way merge conflict", conflict=text)
    return out
