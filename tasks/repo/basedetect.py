"""Base detection: the upstream commit a fork was snapshotted from, found by content.

A rebranded snapshot shares no history with its upstream, so git cannot say where it
came from. Its base is the commit on the upstream ref's first-parent history whose
tree, mapped to fork-side names (``map``) and rewritten (``rewrite``), is closest to the
fork's tree: the fewest paths that differ by mode and blob id (``ignore`` and ``deny``
paths do not count). A path counts once whether it is missing on one side or differs.

No commit is ever diffed against the fork. One ``git log --raw`` streams what every
first-parent commit changed (a merge against its first parent); walking it oldest to
newest, the mapped upstream state and its distance to the fork are updated one changed
path at a time (+1 when a path stops matching the fork, -1 when it starts), so the whole
search costs the total number of changes in the history, not commits x files. Rewritten
content is compared by blob id: only the upstream blobs that could match a fork file
after rewriting (same path and mode, different raw id, a rule applies) are read, each
once, with ``git cat-file --batch``.

Ties. Commits whose counted mapped trees are identical (an empty commit, a change to an
ignored path, a revert) cannot be told apart: the oldest is reported and the others are
listed in ``same_tree_as``. Commits with different trees at the same distance are a real
ambiguity: the oldest is reported (a warning names the other). Older is the safer base:
a 3-way drift then sees an upstream change the fork also touched as ``both-changed`` (a
merge), where a too-new base would take the upstream change for the fork's own edit.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.repo import git
from tasks.repo.git import parse_batch, read_blobs  # noqa: F401  (re-exported)
from tasks.config import Config
from tasks.core.paths import IDENTITY, map_path, place  # noqa: F401  (the walk lands paths as map_tree does)
from tasks.globs import globs
from tasks.core.rewrite import Rewriter, blob_oid
from tasks.repo.state import STATE_PATH

Entry = tuple[str, str] | None  # (mode, oid), or absent
REGULAR = ("100644", "100755")   # rewrites apply to file content, not to symlink targets or submodules
SAME_TREE_SHOWN = 10             # shas listed in ``same_tree_as`` (the count is always given)
SAMPLE_PATHS = 20                # differing paths listed for the best candidate

_HEADER = b"\x01"
LOG_FORMAT = "%x01%H %cI %s"


# --- pure: log parsing -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LogCommit:
    """One first-parent commit: what it left at each path it changed (None: deleted)."""

    sha: str
    date: str
    subject: str
    changes: tuple[tuple[str, Entry], ...]


def parse_log(out: bytes) -> list[LogCommit]:
    r"""Parse ``git log --raw -z --no-renames --no-abbrev --format=LOG_FORMAT``.

    >>> z, a = "0" * 40, "a" * 40
    >>> out = f"\x01{'1' * 40} 2024-01-01T00:00:00+00:00 first\0\n:000000 100644 {z} {a} A\0x y\0".encode()
    >>> parse_log(out + b"\x01" + b"2" * 40 + b" 2024-01-02T00:00:00+00:00 empty\0")[0].changes
    (('x y', ('100644', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')),)
    """
    commits: list[LogCommit] = []
    head: list[str] = []
    changes: list[tuple[str, Entry]] = []
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        tok = fields[i].lstrip(b"\n")
        if tok.startswith(_HEADER):
            if head:
                commits.append(LogCommit(head[0], head[1], head[2], tuple(changes)))
            sha, date, subject = (tok[1:].decode("utf-8", "replace").split(" ", 2) + ["", ""])[:3]
            head, changes = [sha, date, subject], []
        elif tok.startswith(b":"):
            _, mode, _, oid, _status = tok[1:].decode().split(" ")
            path = fields[i + 1].decode("utf-8", "surrogateescape")
            changes.append((path, None if mode == "000000" else (mode, oid)))
            i += 1
        elif tok:
            raise ValueError(f"unexpected git log output near {tok[:60]!r}")
        i += 1
    if head:
        commits.append(LogCommit(head[0], head[1], head[2], tuple(changes)))
    return commits


# --- pure: the incremental walk ---------------------------------------------------------

def _token(path: str, entry: Entry) -> int:
    """A 128-bit hash of one (path, entry); the tree fingerprint is their sum."""
    if entry is None:
        return 0
    digest = hashlib.blake2b(f"{path}\0{entry[0]} {entry[1]}".encode("utf-8", "surrogateescape"),
                             digest_size=16).digest()
    return int.from_bytes(digest, "big")


_MOD = 1 << 128


@dataclass
class Matcher:
    """Does an upstream entry, at a fork-side path, match the fork? Raw or rewritten blob id."""

    fork: Mapping[str, tuple[str, str]]
    rewritten: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (fork path, raw oid) -> rewritten oid

    def differs(self, path: str, entry: Entry) -> bool:
        want = self.fork.get(path)
        if entry == want:
            return False
        if entry is None or want is None or entry[0] != want[0]:
            return True
        return self.rewritten.get((path, entry[1])) != want[1]


class State:
    """The mapped upstream tree (counted paths only), its distance to the fork and fingerprint.

    Several upstream paths can land on one fork-side path (a mapped package onto a name
    upstream also has): as in ``treemap``, a moved entry wins over one left in place, and a
    later rule over an earlier one.
    """

    def __init__(self, matcher: Matcher):
        self.matcher = matcher
        self.slots: dict[str, dict[int, tuple[str, str]]] = {}
        self.distance = len(matcher.fork)  # before the first commit nothing matches
        self.fingerprint = 0

    def entry(self, path: str) -> Entry:
        slot = self.slots.get(path)
        return slot[max(slot)] if slot else None

    def set(self, path: str, prio: int, new: Entry) -> None:
        before = self.entry(path)
        slot = self.slots.setdefault(path, {})
        if new is None:
            slot.pop(prio, None)
            if not slot:
                del self.slots[path]
        else:
            slot[prio] = new
        after = self.entry(path)
        if after == before:
            return
        differs = self.matcher.differs
        self.distance += differs(path, after) - differs(path, before)
        self.fingerprint = (self.fingerprint + _token(path, after) - _token(path, before)) % _MOD

    def differences(self) -> list[tuple[str, str]]:
        """(path, kind) for every counted path that differs: fork-only, upstream-only, differs."""
        out = []
        for path in sorted(set(self.slots) | set(self.matcher.fork)):
            up, fk = self.entry(path), self.matcher.fork.get(path)
            if self.matcher.differs(path, up):
                out.append((path, "fork-only" if up is None else "upstream-only" if fk is None else "differs"))
        return out


Landing = tuple[str, int] | None  # (fork-side path, map priority), or None: not counted


class Lander:
    """Where an upstream path lands in the fork, cached: ``place`` then ignore/deny."""

    def __init__(self, cfg: Config):
        self.rules = cfg.map
        self.ignored, self.denied = globs(tuple(cfg.ignore)), cfg.is_denied
        self.owned = cfg.current.owns if cfg.sources and cfg.current.paths != ("**",) else None  # several sources
        self.cache: dict[str, Landing] = {}

    def counted(self, path: str) -> bool:
        if self.owned is not None and not self.owned(path):
            return False  # another source's, or the fork's own
        return not (self.ignored(path) or self.denied(path) or path == STATE_PATH)  # forkwave's own record

    def __call__(self, upstream_path: str) -> Landing:
        if upstream_path not in self.cache:
            q, prio = place(upstream_path, self.rules)
            self.cache[upstream_path] = (q, prio) if self.counted(q) else None
        return self.cache[upstream_path]


@dataclass(frozen=True)
class Profile:
    """Per first-parent commit, oldest first: distance to the fork and tree fingerprint."""

    distances: tuple[int, ...]
    fingerprints: tuple[int, ...]


def walk(commits: Sequence[LogCommit], land: Lander, matcher: Matcher,
         stop: int | None = None) -> tuple[Profile, State]:
    """Replay ``commits`` (up to index ``stop`` included) from an empty tree."""
    state = State(matcher)
    distances, fingerprints = [], []
    for i, commit in enumerate(commits):
        for path, new in commit.changes:
            where = land(path)
            if where is not None:
                state.set(where[0], where[1], new)
        distances.append(state.distance)
        fingerprints.append(state.fingerprint)
        if i == stop:
            break
    return Profile(tuple(distances), tuple(fingerprints)), state


def rank(profile: Profile) -> tuple[int, int | None]:
    """(best, runner-up) indices: the oldest smallest distance, then the same among other trees.

    >>> rank(Profile((5, 2, 2, 3, 2), (1, 2, 2, 3, 4)))
    (1, 4)
    >>> rank(Profile((4,), (9,)))
    (0, None)
    """
    d, fp = profile.distances, profile.fingerprints
    best = min(range(len(d)), key=lambda i: (d[i], i))
    others = [i for i in range(len(d)) if fp[i] != fp[best]]
    return best, min(others, key=lambda i: (d[i], i)) if others else None


# --- git-facing -------------------------------------------------------------------------

def first_parent_log(mirror: Path, sha: str) -> list[LogCommit]:
    """Every commit on ``sha``'s first-parent history, oldest first, with its changed paths."""
    out = git.git(mirror, "log", "--first-parent", "-m", "--root", "--reverse", "--raw", "-z", "--no-renames",
                  "--no-abbrev", "--no-color", "--no-show-signature", "--no-relative", f"--format={LOG_FORMAT}",
                  "--end-of-options", sha, "--")
    return parse_log(out)


def fork_entries(cfg: Config, land: Lander) -> tuple[str, str, dict[str, tuple[str, str]]]:
    """(head, tree, counted fork path -> (mode, oid)) of ``fork.branch``."""
    from tasks.repo.fork import fork_head  # clear errors for a missing fork or branch

    head = fork_head(cfg)
    tree = git.tree_of(cfg.fork.path, head)
    entries = {e.name: (e.mode, e.oid) for e in git.ls_tree_recursive(cfg.fork.path, tree) if land.counted(e.name)}
    return head, tree, entries


def needed_rewrites(commits: Iterable[LogCommit], land: Lander, fork: Mapping[str, tuple[str, str]],
                    rewriter: Rewriter) -> set[tuple[str, str]]:
    """(fork path, upstream oid) pairs that match the fork only if their rewritten content does."""
    if not rewriter.rules:
        return set()
    applies: dict[str, bool] = {}
    needed = set()
    for commit in commits:
        for path, new in commit.changes:
            where = land(path) if new is not None else None
            if where is None or new is None:
                continue
            q, want = where[0], fork.get(where[0])
            if want is None or new == want or new[0] != want[0] or new[0] not in REGULAR:
                continue  # absent from the fork, already equal, or a mode no rewrite can fix
            if q not in applies:
                applies[q] = rewriter.applies(q)
            if applies[q]:
                needed.add((q, new[1]))
    return needed


def rewritten_oids(mirror: Path, needed: set[tuple[str, str]], rewriter: Rewriter) -> dict[tuple[str, str], str]:
    """Blob id of each needed upstream blob once rewritten for its fork path (each blob read once)."""
    by_oid: dict[str, list[str]] = {}
    for q, oid in needed:
        by_oid.setdefault(oid, []).append(q)
    rules_of: dict[str, tuple[int, ...]] = {}
    out: dict[tuple[str, str], str] = {}
    for oid, data in read_blobs(mirror, by_oid):
        if data is None:
            continue
        done: dict[tuple[int, ...], str] = {}  # same rules -> same rewrite
        for q in by_oid[oid]:
            key = rules_of.setdefault(q, tuple(i for i, r in enumerate(rewriter.rules) if r.applies(q)))
            if key not in done:
                done[key] = blob_oid(rewriter.apply(q, data))
            out[(q, oid)] = done[key]
    return out


@dataclass(frozen=True)
class Scan:
    """Everything ``detect`` learnt, before choosing."""

    commits: tuple[LogCommit, ...]
    profile: Profile
    fork_head: str
    fork_files: int
    lander: Lander
    matcher: Matcher
    blobs_read: int


def scan(cfg: Config, mirror: Path, upstream_sha: str) -> Scan:
    """The distance profile of every first-parent commit of ``upstream_sha``."""
    land = Lander(cfg)
    head, _tree, fork = fork_entries(cfg, land)
    commits = first_parent_log(mirror, upstream_sha)
    rewriter = Rewriter(tuple(cfg.rewrite))
    needed = needed_rewrites(commits, land, fork, rewriter)
    matcher = Matcher(fork, rewritten_oids(mirror, needed, rewriter) if needed else {})
    profile, _ = walk(commits, land, matcher)
    return Scan(tuple(commits), profile, head, len(fork), land, matcher, len({oid for _, oid in needed}))


# --- the report ---------------------------------------------------------------------------

def _candidate(sc: Scan, i: int) -> dict[str, Any]:
    c = sc.commits[i]
    fp = sc.profile.fingerprints
    same = [sc.commits[j].sha for j in range(len(fp)) if fp[j] == fp[i] and j != i]
    out: dict[str, Any] = {"sha": c.sha, "distance": sc.profile.distances[i], "subject": c.subject, "date": c.date,
                           "position": i + 1}
    if same:
        out["same_tree_as"] = same[:SAME_TREE_SHOWN]
        out["same_tree_count"] = len(same)
    return out


def _differences(sc: Scan, i: int) -> dict[str, Any]:
    _, state = walk(sc.commits, sc.lander, sc.matcher, stop=i)
    diffs = state.differences()
    counts = {k: sum(1 for _, kind in diffs if kind == k) for k in ("differs", "fork-only", "upstream-only")}
    return {"counts": counts, "sample": [{"path": p, "kind": k} for p, k in diffs[:SAMPLE_PATHS]]}


def _warnings(sc: Scan, best: dict[str, Any], runner: dict[str, Any] | None) -> list[str]:
    out = []
    if sc.fork_files == 0:
        out.append("the fork has no counted files: every commit is as far as its own file count")
    elif best["distance"] * 2 > sc.fork_files:
        out.append(f"the best candidate differs in {best['distance']} paths, more than half the fork's "
                   f"{sc.fork_files}: check `map` and `rewrite`, or whether the fork comes from this upstream")
    if runner is not None and runner["distance"] == best["distance"]:
        out.append(f"ambiguous: {runner['sha'][:12]} has a different tree at the same distance; the older "
                   f"commit is reported (the safer base)")
    return out


def detect(cfg: Config, mirror: Path, upstream_sha: str) -> dict[str, Any]:
    """The upstream commit the fork was most likely snapshotted from, with its runner-up.

    Returns ``{"best", "runner_up", "commits_scanned", "fork", "upstream", "blobs_read",
    "warnings", "seconds"}``; a candidate is ``{"sha", "distance", "subject", "date",
    "position"}`` (1 = the oldest first-parent commit), plus ``same_tree_as`` (up to 10
    other commits with the identical counted mapped tree; the best is the oldest of them)
    and ``same_tree_count``. ``best`` also carries ``differences``: counts by kind and
    a sample of the paths that differ.
    """
    start = time.perf_counter()
    sc = scan(cfg, mirror, upstream_sha)
    best_i, runner_i = rank(sc.profile)
    best = _candidate(sc, best_i) | {"differences": _differences(sc, best_i)}
    runner = None if runner_i is None else _candidate(sc, runner_i)
    return {
        "upstream": {"ref": cfg.upstream.ref, "sha": upstream_sha},
        "fork": {"branch": cfg.fork.branch, "sha": sc.fork_head, "files": sc.fork_files},
        "best": best,
        "runner_up": runner,
        "commits_scanned": len(sc.commits),
        "blobs_read": sc.blobs_read,
        "warnings": _warnings(sc, best, runner),
        "seconds": round(time.perf_counter() - start, 3),
    }
