"""What the fork already holds of a source's commits, read over the divergence only and cached by commit.

A source commit counts as present in the fork when a fork commit's ``(cherry picked from commit …)``
trailer names it, or when a fork commit makes the same change (``git patch-id --stable``). Reading
every commit of a long-lived fork for that costs seconds and hundreds of megabytes on each run; git's
own ``git cherry`` is fast because it (1) looks only at the commits since the merge base and
(2) compares cheap ids first — the files a commit touches — and diffs blobs only when those agree.
This module does the same:

- the fork's commits are listed since a bound (the merge base with the source, when they share
  history; the caller passes it), with their paths and pick trailers, each read once and cached by
  sha in the source's mirror (``forkwave-fork-commits.json``: a commit never changes);
- a candidate is compared by its set of paths first: a patch-id is computed only for fork commits
  touching exactly the candidate's paths (a patch-id names every path it changes, so no other commit
  can share it), and cached too.

Nothing is read at all when there is no candidate.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.commit import Commit, picked_from
from tasks.hashing import digest
from tasks.repo import git
from tasks.repo.commits import Presence, patch_ids
from tasks.workspace import atomic_write

CACHE = "forkwave-fork-commits.json"
VERSION = 1
Env = Mapping[str, str] | None


def paths_key(paths: Sequence[str]) -> str:
    """What two commits with one patch-id must share: the set of paths they change.

    >>> paths_key(["b", "a"]) == paths_key(["a", "b"]) != paths_key(["a"])
    True
    """
    return digest(sorted(set(paths)))


@dataclass
class ForkCommits:
    """The fork's commits since the bound: path-set key, pick trailers and (once asked) patch-id of each.

    ``entries``: sha -> [key ("" for a merge or an empty commit), [source shas its trailers name],
    patch-id (None: not computed yet; "": none)].
    """

    repo: Path
    entries: dict[str, list[object]] = field(default_factory=dict)   # newest first
    cache: Path | None = None
    dirty: bool = False
    _keys: dict[str, list[str]] | None = None

    @property
    def by_trailer(self) -> dict[str, str]:
        """source sha -> the newest fork commit whose trailer names it."""
        out: dict[str, str] = {}
        for sha, (_, named, _) in self.entries.items():
            for source in named:  # type: ignore[attr-defined]
                out.setdefault(source, sha)
        return out

    def with_key(self, key: str) -> list[str]:
        if self._keys is None:
            self._keys = {}
            for sha, e in self.entries.items():
                self._keys.setdefault(str(e[0]), []).append(sha)
        return self._keys.get(key, []) if key else []

    def patch_id(self, shas: Sequence[str]) -> dict[str, str]:
        """fork sha -> patch-id for ``shas`` (computed once, then cached)."""
        todo = [s for s in shas if self.entries[s][2] is None]
        if todo:
            found = patch_ids(self.repo, todo)
            for s in todo:
                self.entries[s][2] = found.get(s, "")
            self.dirty = True
        return {s: str(self.entries[s][2]) for s in shas if self.entries[s][2]}

    def save(self) -> None:
        if self.cache is not None and self.dirty:
            atomic_write(self.cache, json.dumps({"version": VERSION, "commits": self.entries},
                                                separators=(",", ":")).encode())
            self.dirty = False


def scan(repo: Path, refs: Sequence[str], bound: Sequence[str] = (), cache: Path | None = None) -> ForkCommits:
    """The fork's commits of ``refs`` not reachable from ``bound``; what the cache holds is not read again."""
    listed = git.git(repo, "rev-list", "--end-of-options", *refs, *(f"^{b}" for b in bound), "--").decode().split()
    known = _load(cache)
    missing = [s for s in listed if s not in known]
    read = _read(repo, missing) if missing else {}
    entries = {s: known[s] if s in known else read[s] for s in listed}
    # entries outside the bound are dropped: the cache holds the divergence only
    return ForkCommits(repo, entries, cache, dirty=bool(missing) or len(entries) != len(known))


def _load(cache: Path | None) -> dict[str, list[object]]:
    if cache is None or not cache.is_file():
        return {}
    try:
        data = json.loads(cache.read_bytes())
    except ValueError:
        return {}  # a torn or foreign file: read again from git
    return dict(data.get("commits") or {}) if isinstance(data, dict) and data.get("version") == VERSION else {}


def _read(repo: Path, shas: Sequence[str]) -> dict[str, list[object]]:
    """[key, trailers, None] of each commit, from one ``git log --no-walk``."""
    marker = "\x01" + secrets.token_hex(8)
    out = git.git(repo, "log", "--no-walk=unsorted", "--stdin", "--diff-merges=off", "--no-renames", "--name-only",
                  "-z", "--no-color", "--no-show-signature", f"--format={marker}%H%x00%P%x00%B",
                  input="".join(f"{s}\n" for s in shas).encode())
    entries: dict[str, list[object]] = {}
    for record in out.decode("utf-8", "surrogateescape").split(marker)[1:]:
        sha, parents, rest = record.split("\0", 2)
        message, _, names = rest.partition("\0")
        paths = [p.lstrip("\n") for p in names.split("\0") if p.strip("\n")]
        merge = len(parents.split()) > 1
        entries[sha] = ["" if merge or not paths else paths_key(paths), list(picked_from(message)),
                        "" if merge or not paths else None]
    return entries


def held(fork: ForkCommits, mirror: Path, candidates: Sequence[Commit], *, env: Env = None) -> dict[str, Presence]:
    """Which ``candidates`` (source commits read in ``mirror``, the fork's objects in ``env``) the fork holds:
    named by a pick trailer, else the same patch-id — a merge compared by its change against its first
    parent. Patch-ids are computed only where the paths agree."""
    trailers = fork.by_trailer
    found = {c.sha: Presence(c.sha, trailers[c.sha], "trailer") for c in candidates if c.sha in trailers}
    alike = {c.sha: fork.with_key(paths_key(c.paths)) for c in candidates
             if c.sha not in found and c.paths}
    alike = {sha: shas for sha, shas in alike.items() if shas}
    if not alike:
        return found
    merges = {c.sha: c.parents[0] for c in candidates if c.sha in alike and c.is_merge}
    theirs = patch_ids(mirror, list(alike), env=env, first_parents=merges)
    mine = fork.patch_id(sorted({s for shas in alike.values() for s in shas}))
    for sha, shas in alike.items():
        hit = next((s for s in shas if sha in theirs and mine.get(s) == theirs[sha]), None)
        if hit:
            found[sha] = Presence(sha, hit, "patch-id")
    return found
