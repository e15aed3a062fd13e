"""A resolution made once: a person's resolution of a merge conflict, recorded in the fork and replayed.

Like ``git rerere``, a conflict is known by its pre-image: the conflicted file's hunks with the marker
labels and the base section dropped and the two sides of each hunk put in a fixed order (so the same
conflict met from the other side, or through another source, is the same conflict), hashed. The record
is kept in the fork itself, under ``refs/forkwave/resolutions``: a commit whose tree holds, per conflict
id and per variant (the same hunks met in files whose other lines differ, as rerere's ``preimage.N``),
``<id>/<variant>/preimage`` (normalised), ``postimage`` (the file as the person resolved it) and ``about``
(where it was made), each new record a new commit on top — so a clone, CI and a ``doit clean``
workspace all have it, and ``doit publish`` pushes it beside the sync branch.

When the same conflict comes back (a rollback re-adopted, a workspace cleaned, a later range), the
recorded post-image is applied to the new conflicted text by a 3-way ``git merge-file`` (pre-image as
base), as rerere does: the lines around the hunks may have moved on; a replay that does not merge
cleanly is not used, and the conflict is reported as before.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tasks.proc import run
from tasks.redact import redact_url
from tasks.repo import commits, git, objects
from tasks.repo.commits import TEXT_MODES, TreeMerge

REF = "refs/forkwave/resolutions"
REPLAYED = "resolved as a person resolved the same conflict before"
ORIGIN = "refs/forkwave/origin/resolutions"   # the fork remote's records, fetched (``fetch``)
_START, _BASE, _MIDDLE, _END = (re.compile(rb"^%s( |$)" % m) for m in (b"<<<<<<<", b"\\|\\|\\|\\|\\|\\|\\|",
                                                                      b"=======", b">>>>>>>"))


def normalise(text: bytes) -> tuple[str, bytes] | None:
    r"""(the conflict's id, its normalised pre-image) of a text with conflict markers; None without a hunk.

    >>> a = normalise(b"x\n<<<<<<< sync\nfork\n||||||| base\nold\n=======\nup\n>>>>>>> upstream\ny\n")
    >>> b = normalise(b"x\n<<<<<<< ours\nup\n=======\nfork\n>>>>>>> theirs\ny\n")
    >>> a == b, a[1].decode()
    (True, 'x\n<<<<<<<\nfork\n=======\nup\n>>>>>>>\ny\n')
    >>> normalise(b"no conflict\n") is None
    True
    """
    out: list[bytes] = []
    digest = hashlib.sha1()
    ours: list[bytes] = []
    theirs: list[bytes] = []
    state, hunks = "out", 0
    for line in text.splitlines(keepends=True):
        bare = line.rstrip(b"\r\n")
        if state == "out" and _START.match(bare):
            state, ours, theirs = "ours", [], []
        elif state == "ours" and _BASE.match(bare):
            state = "base"
        elif state in ("ours", "base") and _MIDDLE.match(bare):
            state = "theirs"
        elif state == "theirs" and _END.match(bare):
            one, two = sorted((b"".join(ours), b"".join(theirs)))
            digest.update(one + b"\0" + two + b"\0")
            out += [b"<<<<<<<\n", one, b"=======\n", two, b">>>>>>>\n"]
            state, hunks = "out", hunks + 1
        elif state == "ours":
            ours.append(line)
        elif state == "theirs":
            theirs.append(line)
        elif state == "out":
            out.append(line)
    if not hunks or state != "out":
        return None
    return digest.hexdigest(), b"".join(out)


@dataclass(frozen=True)
class Book:
    """The recorded resolutions a fork holds (its own ref and its remote's, fetched): id -> variant -> (pre-image
    blob, post-image blob)."""

    entries: Mapping[str, Mapping[str, tuple[str, str]]]
    tip: str | None

    def find(self, fork: Path, text: bytes) -> tuple[str, bytes] | None:
        """(id, the resolved text) for a conflicted ``text`` seen before: the variant recorded for this very
        pre-image, else the first whose replay merges cleanly."""
        found = normalise(text)
        if found is None or found[0] not in self.entries:
            return None
        key, current = found
        variants = self.entries[key]
        if variant_of(current) in variants:
            oid = variants[variant_of(current)][1]
            resolved = dict(git.read_blobs(fork, [oid])).get(oid)
            return None if resolved is None else (key, resolved)
        blobs = dict(git.read_blobs(fork, {o for pair in variants.values() for o in pair}))
        for pre_oid, post_oid in variants.values():
            pre, post = blobs.get(pre_oid), blobs.get(post_oid)
            if pre is not None and post is not None:
                merged = commits.merge_file(current, pre, post)
                if normalise(merged) is None:
                    return key, merged
        return None


def variant_of(preimage: bytes) -> str:
    """A normalised pre-image's own name among the variants of its conflict."""
    return hashlib.sha1(preimage).hexdigest()[:16]


_BOOKS: dict[tuple[str, tuple[str | None, ...]], Book] = {}


def book(fork: Path) -> Book:
    """The fork's recorded resolutions, read once per state of its two refs."""
    tips = tuple(git.rev_parse(fork, ref) for ref in (REF, ORIGIN))
    key = (str(fork), tips)
    if key not in _BOOKS:
        entries: dict[str, dict[str, tuple[str, str]]] = {}
        for tip in reversed(tips):  # the fork's own records win over its remote's
            for conflict, variants in (_entries(fork, tip) if tip else {}).items():
                entries[conflict] = {**entries.get(conflict, {}), **variants}
        _BOOKS[key] = Book(entries, tips[0])
    return _BOOKS[key]


def _entries(fork: Path, commit: str) -> dict[str, dict[str, tuple[str, str]]]:
    out = git.git(fork, "ls-tree", "-r", "-z", "--full-tree", commit).decode("utf-8", "surrogateescape")
    blobs: dict[tuple[str, str], dict[str, str]] = {}
    for rec in out.split("\0"):
        parts = rec.partition("\t")[2].split("/")
        if len(parts) == 3:
            blobs.setdefault((parts[0], parts[1]), {})[parts[2]] = rec.split()[2]
    entries: dict[str, dict[str, tuple[str, str]]] = {}
    for (key, variant), v in sorted(blobs.items()):
        if "preimage" in v and "postimage" in v:
            entries.setdefault(key, {})[variant] = (v["preimage"], v["postimage"])
    return entries


# --- replaying ---------------------------------------------------------------------------------------

def apply(fork: Path, result: TreeMerge, *, env: dict[str, str] | None = None
          ) -> tuple[TreeMerge, tuple[tuple[str, str], ...]]:
    """``result`` with every conflicted text file whose conflict was resolved before resolved the same way;
    (the merge, (path, record id) replayed). Like ``policy.resolve``, clean only when every conflict was settled."""
    if result.clean or not result.conflicts:
        return result, ()
    known = book(fork)
    if not known.entries:
        return result, ()
    texts = commits.conflict_texts(fork, result, env=env)
    done: dict[str, tuple[str, bytes, str]] = {}
    for c in result.conflicts:
        found = known.find(fork, texts[c.path]) if c.path in texts else None
        ours = c.stage(2)
        if found and ours:
            done[c.path] = (found[0], found[1], ours[0] if ours[0] in TEXT_MODES else "100644")
    if not done:
        return result, ()
    info = b""
    for path, (_, text, mode) in sorted(done.items()):
        oid = git.git(fork, "hash-object", "-w", "--stdin", input=text, env=env).decode().strip()
        info += f"{mode} {oid}\t".encode() + path.encode("utf-8", "surrogateescape") + b"\0"
    tree = commits._with_index(fork, result.tree, info, env=env)
    left = tuple(c for c in result.conflicts if c.path not in done)
    fixed = replace(result, tree=tree, conflicts=left,
                    exit_clean=not left and set(result.conflicted_paths) <= set(done))
    return fixed, tuple((p, key) for p, (key, _, _) in sorted(done.items()))


# --- recording ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resolution:
    """One conflicted file as it conflicted (diff3 text with markers) and as a person resolved it."""

    path: str
    conflict: bytes
    resolved: bytes
    about: Mapping[str, str]


def record(fork: Path, made: Iterable[Resolution]) -> str | None:
    """Add ``made`` to the fork's records (a new commit on ``REF``, compare-and-swap); the commit, or None when
    every one was known already (or holds no conflict, or still holds markers)."""
    known = book(fork)
    new: dict[tuple[str, str], Resolution] = {}
    for r in made:
        found = normalise(r.conflict)
        if found is None or normalise(r.resolved) is not None:
            continue
        key, variant = found[0], variant_of(found[1])
        have = known.entries.get(key, {}).get(variant)
        if have and dict(git.read_blobs(fork, [have[1]])).get(have[1]) == r.resolved:
            continue
        new[(key, variant)] = replace(r, conflict=found[1])
    if not new:
        return None
    base, origin = known.tip, git.rev_parse(fork, ORIGIN)
    ids = _variants(fork, [origin, base])
    for (key, variant), r in sorted(new.items()):
        about = json.dumps(dict(r.about, path=r.path), indent=2, sort_keys=True).encode() + b"\n"
        blobs = [(name, _blob(fork, data)) for name, data in (("about", about), ("postimage", r.resolved),
                                                               ("preimage", r.conflict))]
        ids.setdefault(key, {})[variant] = git.mktree(fork, [git.TreeEntry("100644", "blob", oid, n)
                                                              for n, oid in blobs])
    tree = _tree(fork, ids)
    paths = ", ".join(sorted({r.path for r in new.values()}))
    parents = [p for p in (base, origin) if p and (p == base or not _contains(fork, base, p))]
    commit = commits.commit_tree(fork, tree, parents, f"forkwave: record the resolution of {paths}\n\n"
                                 + "".join(f"Forkwave-Resolution: {k} {r.path}\n" for (k, _), r in sorted(new.items())))
    return commit if objects.update_ref(fork, REF, commit, base, "forkwave: record a resolution") else None


def _variants(fork: Path, tips: Sequence[str | None]) -> dict[str, dict[str, str]]:
    """id -> variant -> its tree, over the records of ``tips`` (a later tip's variant wins)."""
    out: dict[str, dict[str, str]] = {}
    for tip in tips:
        if not tip:
            continue
        for e in git.ls_tree(fork, f"{tip}^{{tree}}"):
            if e.type == "tree":
                out.setdefault(e.name, {}).update({v.name: v.oid for v in git.ls_tree(fork, e.oid) if v.type == "tree"})
    return out


def _tree(fork: Path, ids: Mapping[str, Mapping[str, str]]) -> str:
    return git.mktree(fork, [git.TreeEntry(git.TREE_MODE, "tree", git.mktree(
        fork, [git.TreeEntry(git.TREE_MODE, "tree", oid, v) for v, oid in sorted(variants.items())]), key)
        for key, variants in sorted(ids.items())])


def _blob(fork: Path, data: bytes) -> str:
    return git.git(fork, "hash-object", "-w", "--stdin", input=data).decode().strip()


def _contains(fork: Path, tip: str | None, commit: str) -> bool:
    return bool(tip) and commits.is_ancestor(fork, commit, tip or "")


def resolutions_of(fork: Path, merged: TreeMerge, tip: str, paths: Sequence[str], about: Mapping[str, str],
                   *, env: dict[str, str] | None = None) -> list[Resolution]:
    """The conflicts of ``merged`` on ``paths`` as the commit ``tip`` resolved them (text files only)."""
    texts = commits.conflict_texts(fork, merged, env=env)
    now = git.read_paths(fork, tip, [p for p in paths if p in texts])
    return [Resolution(p, texts[p], data, about) for p, data in now.items() if data is not None]


# --- shared through the fork's remote -----------------------------------------------------------------

def fetch(fork: Path, remote: str) -> str | None:
    """The records ``remote`` (a remote of the fork, or a URL or path) holds, fetched into ``ORIGIN``; None when it
    has none or cannot be reached — a fresh clone or a CI job then goes on with what it has (a warning, no error)."""
    url = git.remote_url(fork, remote)
    if url is None and "://" not in remote and not Path(remote).is_dir():
        return None   # no such remote: a fork without one keeps its records to itself
    where, env = git.remote(url or remote)
    proc = run(["git", "-C", str(fork), "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", where,
                f"+{REF}:{ORIGIN}"], check=False, env=git.git_env(env, own=True))
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        if "couldn't find remote ref" not in err:
            last = err.splitlines()[-1] if err else f"exit code {proc.returncode}"
            print(f"forkwave: warning: the resolutions recorded on {redact_url(url or remote)} could not be fetched "
                  f"({last}); going on with those this clone has", flush=True)
        return None
    return git.rev_parse(fork, ORIGIN)


def join(fork: Path) -> str | None:
    """``REF`` made to hold the remote's records too (a merge commit of both, the fork's own winning), so that a
    push of it is a fast-forward; the new commit, or None when nothing was missing."""
    mine, theirs = git.rev_parse(fork, REF), git.rev_parse(fork, ORIGIN)
    if theirs is None or mine == theirs or (mine and commits.is_ancestor(fork, theirs, mine)):
        return None
    if mine is None or commits.is_ancestor(fork, mine, theirs):
        return theirs if objects.update_ref(fork, REF, theirs, mine, "forkwave: the remote's resolutions") else None
    tree = _tree(fork, _variants(fork, [theirs, mine]))
    commit = commits.commit_tree(fork, tree, (mine, theirs), "forkwave: join the remote's recorded resolutions\n")
    return commit if objects.update_ref(fork, REF, commit, mine, "forkwave: join the remote's resolutions") else None
