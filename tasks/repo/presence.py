"""What the fork already holds of a source's commits, read over the divergence only.

A source commit counts as present in the fork when a fork commit's ``(cherry picked from commit …)``
trailer names it, or when a fork commit makes the same change (``git patch-id --stable``). Reading
every commit of a long-lived fork for that costs seconds and hundreds of megabytes on each run; git's
own ``git cherry`` is fast because it (1) looks only at the commits since the merge base and
(2) compares cheap ids first — the files a commit touches — and diffs blobs only when those agree.
This module does the same:

- the fork's commits are read where the fork diverged from the source (``^<source tip>``: the
  caller passes the bound), and only those that touch a path a candidate changes — one ``git log``
  limited by those paths: a pick of a commit, or the same change, touches its paths;
- a candidate is compared by its whole set of paths first: a patch-id is computed only for fork
  commits touching exactly the candidate's paths (a patch-id names every path it changes, so no other
  commit can share it), and kept by sha in the source's mirror (``forkwave-fork-patch-ids.json``: a
  commit never changes).

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

CACHE = "forkwave-fork-patch-ids.json"
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
    """The fork's commits since the bound that touch the candidates' paths: each one's path-set key and the
    source shas its pick trailers name (``entries``: sha -> (key — "" for a merge —, trailers), newest
    first); their patch-ids computed on demand and cached by sha."""

    repo: Path
    entries: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    cache: Path | None = None
    pids: dict[str, str] = field(default_factory=dict)   # sha -> patch-id ("": none)
    dirty: bool = False

    @property
    def by_trailer(self) -> dict[str, str]:
        """source sha -> the newest fork commit whose trailer names it."""
        out: dict[str, str] = {}
        for sha, (_, named) in self.entries.items():
            for source in named:
                out.setdefault(source, sha)
        return out

    def with_key(self, key: str) -> list[str]:
        return [sha for sha, (k, _) in self.entries.items() if k and k == key]

    def patch_id(self, shas: Sequence[str]) -> dict[str, str]:
        """fork sha -> patch-id for ``shas`` (computed once, then cached)."""
        todo = [s for s in shas if s not in self.pids]
        if todo:
            found = patch_ids(self.repo, todo)
            self.pids.update({s: found.get(s, "") for s in todo})
            self.dirty = True
        return {s: self.pids[s] for s in shas if self.pids.get(s)}

    def save(self) -> None:
        """Keep the patch-ids of the commits still in the divergence (a commit never changes)."""
        if self.cache is not None and self.dirty:
            atomic_write(self.cache, json.dumps({"version": VERSION, "patch-ids": self.pids},
                                                separators=(",", ":")).encode())
            self.dirty = False


def scan(repo: Path, refs: Sequence[str], bound: Sequence[str], paths: Sequence[str],
         cache: Path | None = None, env: Env = None) -> ForkCommits:
    """The fork's commits of ``refs`` not reachable from ``bound`` (commits the fork, or the repositories in
    ``env``'s alternates, hold) that change one of ``paths``; none without paths. One ``git log`` (revisions
    and paths on its stdin: any number of them, taken literally)."""
    if not paths:
        return ForkCommits(repo, {}, cache)
    marker = "\x01" + secrets.token_hex(8)
    lines = [*refs, *(f"^{b}" for b in bound), "--", *sorted(set(paths))]
    out = git.git(repo, "--literal-pathspecs", "log", "--stdin", "--full-history", "--diff-merges=off",
                  "--no-renames", "--name-only", "--full-diff", "-z", "--no-color", "--no-show-signature",
                  f"--format={marker}%H%x00%P%x00%B",
                  input="".join(f"{x}\n" for x in lines).encode("utf-8", "surrogateescape"),
                  env=dict(env) if env else None)
    entries: dict[str, tuple[str, tuple[str, ...]]] = {}
    for record in out.decode("utf-8", "surrogateescape").split(marker)[1:]:
        sha, parents, rest = record.split("\0", 2)
        message, _, names = rest.partition("\0")
        changed = [p.lstrip("\n") for p in names.split("\0") if p.strip("\n")]
        merge = len(parents.split()) > 1
        entries[sha] = ("" if merge or not changed else paths_key(changed), picked_from(message))
    return ForkCommits(repo, entries, cache, _load(cache, entries))


def _load(cache: Path | None, entries: Mapping[str, object]) -> dict[str, str]:
    if cache is None or not cache.is_file():
        return {}
    try:
        data = json.loads(cache.read_bytes())
    except ValueError:
        return {}  # a torn or foreign file: computed again
    known = data.get("patch-ids") if isinstance(data, dict) and data.get("version") == VERSION else None
    return {s: str(p) for s, p in (known or {}).items() if s in entries} if isinstance(known, dict) else {}


def held(fork: ForkCommits, mirror: Path, candidates: Sequence[Commit], *, env: Env = None) -> dict[str, Presence]:
    """Which ``candidates`` (source commits read in ``mirror``, the fork's objects in ``env``) the fork holds:
    named by a pick trailer, else the same patch-id — a merge compared by its change against its first
    parent. Patch-ids are computed only where the paths agree."""
    trailers = fork.by_trailer
    found = {c.sha: Presence(c.sha, trailers[c.sha], "trailer") for c in candidates if c.sha in trailers}
    alike = {c.sha: fork.with_key(paths_key(c.paths)) for c in candidates if c.sha not in found and c.paths}
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
