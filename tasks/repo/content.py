"""Content-aware drift: rewrites (``rewrite:``) and renames, applied to drift's path triples.

Both steps only look at paths that already differ by blob id, so their cost follows
the size of the difference. A triple is (base, upstream, fork) entries of one fork-side
path; base is False in a 2-way comparison.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from tasks.core.vocabulary import Base, Entry
from tasks.repo import git
from tasks.core.rewrite import Rewriter, blob_oid

Triple = tuple[Base, Entry, Entry]
REGULAR = ("100644", "100755")
MIN_SIMILARITY = 0.5
MAX_PAIRS = 250_000  # similarity comparisons before scoring only pairs that share a rare line or a name


@dataclass
class Rewritten:
    triples: dict[str, Triple]
    warnings: list[str] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)  # rewritten content to store (import, merge)


def _regular(entry: Base) -> TypeGuard[tuple[str, str]]:
    return isinstance(entry, tuple) and entry[0] in REGULAR


def apply_rewrites(repo: Path, env: dict[str, str], triples: Mapping[str, Triple], rewriter: Rewriter) -> Rewritten:
    """Rewrite upstream (and base) content of differing paths; drop paths that become identical."""
    todo = {p: t for p, t in triples.items() if rewriter.applies(p) and (_regular(t[1]) or _regular(t[0]))}
    oids = {e[1] for t in todo.values() for e in (t[0], t[1]) if _regular(e)}
    contents = dict(git.read_blobs(repo, oids, env=env)) if oids else {}
    out = Rewritten(dict(triples))
    for path, (base, up, fork) in todo.items():
        new_up = _rewrite(path, up, contents, rewriter, out)
        new_base: Base = _rewrite(path, base, contents, rewriter, out) if base is not False else False
        if up is not None and _regular(up) and (data := contents.get(up[1])) is not None:
            out.warnings += [f"rewrite {r} is not reversible on {path}: upstream already contains the target text"
                             for r in rewriter.irreversible(path, data)]
        if new_up == fork and fork is not None:  # (base, None, None) stays: the fork may have renamed it
            del out.triples[path]
        else:
            out.triples[path] = (new_base, new_up, fork)
    return out


def _rewrite(path: str, entry: Entry, contents: Mapping[str, bytes | None], rewriter: Rewriter,
             sink: Rewritten | None) -> Entry:
    if not _regular(entry):
        return entry
    mode, oid = entry
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
        out = git.git(repo, "hash-object", "-w", "--no-filters", "--stdin-paths",
                      input="\n".join(paths).encode() + b"\n")
    written = out.decode().split()
    assert sorted(written) == sorted(blobs), "hash-object disagrees with blob_oid"


# --- renames ------------------------------------------------------------------------

def similarity(a: bytes, b: bytes) -> float:
    """Bytes in lines the two files share, over the larger file's size (git's rename score).

    Measured in bytes, not lines, so two small files sharing only ``}`` and ``return x;``
    do not look alike.

    >>> (similarity(b"a\\nb\\nc\\n", b"c\\nb\\na\\n"), similarity(b"aaaa\\nb\\n", b"aaaa\\nc\\n"),
    ...  similarity(b"x\\n", b"y\\n"))
    (1.0, 0.7142857142857143, 0.0)
    """
    return _score(*_lines(a), *_lines(b))


def _ext(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1] if "." in name else ""


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _stem(path: str) -> str:
    name = _name(path)
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


# extensions a rename may move between (a fork converting to TypeScript renames a.js to a.ts)
FAMILIES = {**dict.fromkeys(("js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts"), "js"),
            "yml": "yaml", "mdx": "md", "markdown": "md", "htm": "html"}


def _kind(path: str) -> str:
    """The extension's family: files are compared within one (and across, when their stems match).

    >>> _kind("src/a.JS"), _kind("src/a.tsx"), _kind("ci.yml"), _kind("Makefile")
    ('js', 'js', 'yaml', '')
    """
    ext = _ext(path).lower()
    return FAMILIES.get(ext, ext)


def _affinity(p: str, q: str) -> int:
    """Path words two paths share (``modules/chip-account/index.ts`` and ``legacy-chip-account/index.ts``
    share chip, account, index, ts): breaks ties between equally similar candidates.

    >>> _affinity("a/chip-account/index.ts", "b/legacy-chip-account/index.ts"), _affinity("x.js", "y.ts")
    (4, 0)
    """
    return len(_words(p) & _words(q))


def _words(path: str) -> set[str]:
    return set(re.split(r"[/._-]+", path.lower())) - {""}


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
    Exact blob matches pair first; then the most similar pairs of one extension family (or
    with the same stem), greedily, above ``min_similarity``. Equal scores (identical small
    files) go to the same basename, then to the path sharing most words.
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
    for score, p, q in sorted(pairs, key=lambda t: (-t[0], _name(t[1]) != _name(t[2]), -_affinity(t[1], t[2]),
                                                     t[1], t[2])):
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
    """Scored pairs of one extension family or one stem. Beyond ``MAX_PAIRS`` of them, only the pairs
    that share a rare line (one at most ``RARE`` new files have), or their basename, are scored."""
    new_by_kind: dict[str, list[str]] = {}
    new_by_stem: dict[str, list[str]] = {}
    for q in new:
        new_by_kind.setdefault(_kind(q), []).append(q)
        new_by_stem.setdefault(_stem(q), []).append(q)

    def allowed(p: str, q: str) -> bool:
        return old_oid[p] != new_oid[q] and (_kind(p) == _kind(q) or _stem(p) == _stem(q))

    def partners(p: str) -> list[str]:
        return list(dict.fromkeys([*new_by_kind.get(_kind(p), ()), *new_by_stem.get(_stem(p), ())]))

    wide = sum(len(new_by_kind.get(_kind(p), ())) + len(new_by_stem.get(_stem(p), ())) for p in lost) > MAX_PAIRS
    wanted = [] if wide else [(p, q) for p in lost for q in partners(p) if allowed(p, q)]
    if not wide and not wanted:
        return []
    oids = {old_oid[p] for p in lost} | {new_oid[q] for q in new} if wide else \
        {old_oid[p] for p, _ in wanted} | {new_oid[q] for _, q in wanted}
    contents = dict(git.read_blobs(repo, oids, env=env))
    lines = {oid: _lines(data) for oid, data in contents.items() if data is not None and b"\0" not in data[:8000]}
    if wide:
        wanted = sorted(p_q for p_q in _proposed(lost, new, old_oid, new_oid, lines) if allowed(*p_q))
    out = []
    for p, q in wanted:
        a, b = lines.get(old_oid[p]), lines.get(new_oid[q])
        if a is None or b is None:
            continue
        if min(a[1], b[1]) < min_similarity * max(a[1], b[1]):
            continue  # they cannot share enough bytes
        score = _score(*a, *b)
        if score >= min_similarity:
            out.append((score, p, q))
    return out


RARE = 16  # a line in more new files than this proposes no pair (``}``, common imports)


def _proposed(lost: list[str], new: list[str], old_oid: Mapping[str, str], new_oid: Mapping[str, str],
              lines: Mapping[str, tuple[Counter[bytes], int]]) -> set[tuple[str, str]]:
    """Pairs worth scoring when there are too many to score all: same basename, or a shared rare line."""
    index: dict[bytes, list[str]] = {}
    for q in new:
        for line in lines.get(new_oid[q], (Counter(), 0))[0]:
            if len(line.strip()) >= 8:
                index.setdefault(line, []).append(q)
    by_name: dict[str, list[str]] = {}
    for q in new:
        by_name.setdefault(_name(q), []).append(q)
    out = {(p, q) for p in lost for q in by_name.get(_name(p), ())}
    for p in lost:
        for line in lines.get(old_oid[p], (Counter(), 0))[0]:
            hits = index.get(line, ())
            if len(hits) <= RARE:
                out.update((p, q) for q in hits)
    return out


def _lines(data: bytes) -> tuple[Counter[bytes], int]:
    return Counter(data.splitlines(keepends=True)), len(data)


def _score(la: Counter[bytes], size_a: int, lb: Counter[bytes], size_b: int) -> float:
    """``similarity`` from the files' line counts (each file's lines counted once, not once per pair)."""
    if not size_a and not size_b:
        return 1.0
    shared = sum(len(line) * min(n, lb[line]) for line, n in la.items() if line in lb)
    return shared / max(size_a, size_b)
