"""Content-aware drift: rewrites (``rewrite:``) and renames, applied to drift's path triples.

Both steps only look at paths that already differ by blob id, so their cost follows
the size of the difference. A triple is (base, upstream, fork) entries of one fork-side
path; base is False in a 2-way comparison.
"""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tasks import git
from tasks.rewrite import Rewriter, blob_oid

Entry = tuple[str, str] | None
Triple = tuple[Entry | bool, Entry, Entry]
REGULAR = ("100644", "100755")
MIN_SIMILARITY = 0.5
MAX_PAIRS = 250_000  # similarity comparisons before falling back to same-name pairs only


@dataclass
class Rewritten:
    triples: dict[str, Triple]
    warnings: list[str] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)  # rewritten content to store (import, merge)


def _regular(entry: Entry | bool) -> bool:
    return bool(entry) and entry[0] in REGULAR  # type: ignore[index]


def apply_rewrites(repo: Path, env: dict[str, str], triples: Mapping[str, Triple], rewriter: Rewriter) -> Rewritten:
    """Rewrite upstream (and base) content of differing paths; drop paths that become identical."""
    todo = {p: t for p, t in triples.items() if rewriter.applies(p) and (_regular(t[1]) or _regular(t[0]))}
    oids = {e[1] for t in todo.values() for e in (t[0], t[1]) if _regular(e)}  # type: ignore[index]
    contents = dict(git.read_blobs(repo, oids, env=env)) if oids else {}
    out = Rewritten(dict(triples))
    for path, (base, up, fork) in todo.items():
        new_up = _rewrite(path, up, contents, rewriter, out)
        new_base = _rewrite(path, base, contents, rewriter, out) if base is not False else False
        if up is not None and _regular(up) and (data := contents.get(up[1])) is not None:
            out.warnings += [f"rewrite {r} is not reversible on {path}: upstream already contains the target text"
                             for r in rewriter.irreversible(path, data)]
        if new_up == fork:
            del out.triples[path]
        else:
            out.triples[path] = (new_base, new_up, fork)
    return out


def _rewrite(path: str, entry: Entry | bool, contents: Mapping[str, bytes | None], rewriter: Rewriter,
             sink: Rewritten | None) -> Entry | bool:
    if not _regular(entry):
        return entry
    mode, oid = entry  # type: ignore[misc]
    data = contents.get(oid)
    if data is None:
        return entry
    new = rewriter.apply(path, data)
    if new == data:
        return entry
    new_oid = blob_oid(new)
    if sink is not None:
        sink.blobs[new_oid] = new
    return (mode, new_oid)


def store_blobs(repo: Path, blobs: Mapping[str, bytes]) -> None:
    """Write rewritten content into ``repo`` so imports can copy it like any upstream blob."""
    if not blobs:
        return
    with tempfile.TemporaryDirectory(prefix="forkwave-blobs-") as tmp:
        paths = []
        for oid, data in blobs.items():
            path = os.path.join(tmp, oid)
            with open(path, "wb") as fh:
                fh.write(data)
            paths.append(path)
        out = git.git(repo, "hash-object", "-w", "--no-filters", "--stdin-paths", input="\n".join(paths).encode() + b"\n")
    written = out.decode().split()
    assert sorted(written) == sorted(blobs), "hash-object disagrees with blob_oid"


# --- renames ------------------------------------------------------------------------

def similarity(a: bytes, b: bytes) -> float:
    """Bytes in lines the two files share, over the larger file's size (git's rename score).

    Measured in bytes, not lines, so two small files sharing only ``}`` and ``return x;``
    do not look alike.

    >>> similarity(b"a\\nb\\nc\\n", b"c\\nb\\na\\n"), similarity(b"aaaa\\nb\\n", b"aaaa\\nc\\n"), similarity(b"x\\n", b"y\\n")
    (1.0, 0.7142857142857143, 0.0)
    """
    if not a and not b:
        return 1.0
    la, lb = Counter(a.splitlines(keepends=True)), Counter(b.splitlines(keepends=True))
    shared = sum(len(line) * n for line, n in (la & lb).items())
    return shared / max(len(a), len(b))


def _ext(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1] if "." in name else ""


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def rename_candidates(triples: Mapping[str, Triple], three_way: bool) -> tuple[list[str], list[str]]:
    """(paths the fork lost, paths only the fork has): the two sides a rename would pair."""
    if three_way:
        lost = [p for p, (b, u, f) in triples.items() if b and f is None]
        new = [p for p, (b, u, f) in triples.items() if f is not None and not b and u is None]
    else:
        lost = [p for p, (b, u, f) in triples.items() if u is not None and f is None]
        new = [p for p, (b, u, f) in triples.items() if f is not None and u is None]
    return sorted(lost), sorted(new)


def pair_renames(repo: Path, env: dict[str, str], triples: Mapping[str, Triple], three_way: bool,
                 min_similarity: float = MIN_SIMILARITY) -> tuple[dict[str, Triple], dict[str, str]]:
    """Pair lost and fork-only paths by content; return (new triples, fork path -> old path).

    The old side's content is the base's (3-way) or upstream's (2-way), already rewritten.
    Exact blob matches pair first; then the most similar pairs with the same extension,
    greedily, above ``min_similarity``.
    """
    lost, new = rename_candidates(triples, three_way)
    if not lost or not new:
        return dict(triples), {}
    side = 0 if three_way else 1
    old_oid = {p: triples[p][side][1] for p in lost}  # type: ignore[index]
    new_oid = {p: triples[p][2][1] for p in new}  # type: ignore[index]
    pairs: list[tuple[float, str, str]] = []
    by_oid: dict[str, list[str]] = {}
    for p in new:
        by_oid.setdefault(new_oid[p], []).append(p)
    for p in lost:
        for q in by_oid.get(old_oid[p], ()):
            pairs.append((1.0, p, q))
    pairs += _similar_pairs(repo, env, lost, new, old_oid, new_oid, min_similarity)
    renamed: dict[str, str] = {}
    used_old: set[str] = set()
    for score, p, q in sorted(pairs, key=lambda t: (-t[0], t[1], t[2])):
        if p in used_old or q in renamed:
            continue
        renamed[q] = p
        used_old.add(p)
    out = dict(triples)
    for q, p in renamed.items():
        base, up, _ = triples[p]
        out[q] = (base, up, triples[q][2])
        del out[p]
    return out, renamed


def _similar_pairs(repo: Path, env: dict[str, str], lost: list[str], new: list[str], old_oid: Mapping[str, str],
                   new_oid: Mapping[str, str], min_similarity: float) -> list[tuple[float, str, str]]:
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for p in lost:
        groups.setdefault(_ext(p), ([], []))[0].append(p)
    for q in new:
        groups.setdefault(_ext(q), ([], []))[1].append(q)
    budget = sum(len(a) * len(b) for a, b in groups.values())
    same_name_only = budget > MAX_PAIRS
    wanted = [(p, q) for a, b in groups.values() for p in a for q in b
              if old_oid[p] != new_oid[q] and (not same_name_only or _name(p) == _name(q))]
    if not wanted:
        return []
    contents = dict(git.read_blobs(repo, {old_oid[p] for p, _ in wanted} | {new_oid[q] for _, q in wanted}, env=env))
    out = []
    for p, q in wanted:
        a, b = contents.get(old_oid[p]), contents.get(new_oid[q])
        if a is None or b is None or b"\0" in a[:8000] or b"\0" in b[:8000]:
            continue
        score = similarity(a, b)
        if score >= min_similarity:
            out.append((score, p, q))
    return out

