"""drift, the repository side: compare trees by git object ids (never file contents).

The upstream tree (and the base tree, when known) is first mapped to fork-side names
(``treemap``); ``git diff-tree`` then lists only paths whose blob id or mode differ, so the
cost follows the size of the difference. Classification itself is pure
(``tasks.core.classify``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.config import Config, MapRule
from tasks.core.classify import Bases, Bucketer, build_report
from tasks.core.rewrite import rewriter
from tasks.core.vocabulary import Base, Entry
from tasks.errors import ForkwaveError
from tasks.globs import globs
from tasks.repo import content, git
from tasks.repo.fork import fork_head
from tasks.repo.state import STATE_PATH
from tasks.repo.treemap import map_tree
from tasks.workspace import write_if_changed

def resolve_base(cfg: Config, mirror: Path) -> str | None:
    if cfg.base is None:
        return None
    from tasks.repo.fetch import resolve
    sha = resolve(mirror, cfg.base)
    if sha is None:
        raise ForkwaveError(f"{cfg.file}: base: {cfg.base!r} is not a commit, branch or tag of the upstream; "
                            "give the upstream revision the fork last matched, or remove the key")
    return sha


def resolve_trees(cfg: Config, mirror: Path, upstream_sha: str, bases: Bases | None) -> tuple[Bases, dict[str, str]]:
    """The bases (the config's ``base`` when none are given) and the tree of every commit, in one call."""
    from tasks.repo.fetch import candidates

    given = sorted(bases.shas) if bases else []
    tries = candidates(cfg.base) if bases is None and cfg.base is not None else []
    revs = ([f"{s}^{{tree}}" for s in [upstream_sha, *given]]
            + [f"{c}^{{{k}}}" for c in tries for k in ("commit", "tree")])
    found = git.resolve_many(mirror, revs)
    trees = {s: t for s, t in zip([upstream_sha, *given], found) if t}
    if bases is None:
        pairs = list(zip(found[1 + len(given)::2], found[2 + len(given)::2]))
        commit, tree = next(((c, t) for c, t in pairs if c and t), (None, None))
        if cfg.base is not None and commit is None:
            resolve_base(cfg, mirror)  # raises the error naming the key
        bases = Bases("config", commit, rev=cfg.base) if commit else Bases("none")
        if commit and tree:
            trees[commit] = tree
    return bases, trees


def fork_info(cfg: Config) -> tuple[str, str, str]:
    """(head commit, its tree, the object directory) of ``fork.branch``, in one git call."""
    ref = f"refs/heads/{cfg.fork.branch}"
    out = git.git(cfg.fork.path, "rev-parse", "--path-format=absolute", "--git-common-dir", f"{ref}^{{commit}}",
                  f"{ref}^{{tree}}", check=False) if cfg.fork.path.is_dir() else b""
    lines = out.decode().split()
    if len(lines) != 3:
        fork_head(cfg)  # raises the error that explains what is wrong
        raise ForkwaveError(f"{cfg.file}: fork.path: cannot read {ref} in {cfg.fork.path}")
    common, head, tree = lines
    return head, tree, str(Path(common) / "objects")


class TreeCache:
    """Mapped trees and file counts by tree id, kept in the mirror (they never change for an id)."""

    LIMIT = 500

    def __init__(self, mirror: Path):
        self.path = mirror / "forkwave-trees.json"
        try:
            data = json.loads(self.path.read_text()) if self.path.exists() else {}
        except ValueError:
            data = {}
        self.data: dict[str, dict[str, Any]] = {"mapped": data.get("mapped", {}), "files": data.get("files", {})}
        self.dirty = False

    def mapped(self, tree: str, rules: Sequence[MapRule], env: dict[str, str]) -> tuple[str, list[str]]:
        key = tree + "|" + json.dumps([[r.src, r.dst] for r in rules])
        if key in self.data["mapped"]:
            oid, warnings = self.data["mapped"][key]
            return oid, warnings
        oid, warnings = map_tree(self.path.parent, tree, rules, env=env)
        self._put("mapped", key, [oid, warnings])
        return oid, warnings

    def files(self, repo: Path, tree: str) -> int:
        if tree not in self.data["files"]:
            self._put("files", tree, git.count_files(repo, tree))
        return int(self.data["files"][tree])

    def owned(self, repo: Path, tree: str, paths: Sequence[str]) -> int:
        """Files of ``tree`` the ``paths`` globs own (a source's share of the fork)."""
        key = tree + "|" + json.dumps(list(paths))
        if key not in self.data["files"]:
            names = git.git(repo, "ls-tree", "-r", "-z", "--name-only", "--full-tree", tree).split(b"\0")
            match = globs(tuple(paths))
            self._put("files", key, sum(1 for n in names if n and match(n.decode("utf-8", "surrogateescape"))))
        return int(self.data["files"][key])

    def _put(self, kind: str, key: str, value: Any) -> None:
        table = self.data[kind]
        table[key] = value
        while len(table) > self.LIMIT:
            table.pop(next(iter(table)))
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            write_if_changed(self.path, json.dumps(self.data))
            self.dirty = False


def owner(cfg: Config) -> Any:
    """The predicate of the paths the config's current source owns, or None when it owns everything."""
    if not cfg.sources or cfg.current.paths == ("**",):
        return None
    return cfg.current.owns


def compute(cfg: Config, mirror: Path, upstream_sha: str, bases: Bases | None = None,
            window: set[str] | None = None) -> dict[str, Any]:
    """Everything git-facing for drift, then the pure report.

    Process count matters at this scale (each git call costs about a millisecond): the fork
    is read in one call, all trees resolved in one, all tree pairs diffed in one, and mapped
    trees and file counts come from the mirror's cache when their tree ids were seen before.
    """
    head, fork_tree, objects = fork_info(cfg)
    env = {"GIT_ALTERNATE_OBJECT_DIRECTORIES": objects}
    bases, trees = resolve_trees(cfg, mirror, upstream_sha, bases)
    shas = [upstream_sha, *sorted(bases.shas)]
    cache = TreeCache(mirror)
    warnings: list[str] = []
    mapped = []
    for sha in shas:
        oid, w = cache.mapped(trees[sha], cfg.map, env)
        mapped.append(oid)
        warnings += w
    upstream_tree, base_trees = mapped[0], dict(zip(shas[1:], mapped[1:]))
    triples = collect_grouped(cfg, mirror, upstream_tree, fork_tree, base_trees, bases, env)
    own = triples.pop(STATE_PATH, None)  # forkwave's own record (tasks.repo.state): neither drift nor to import
    owned = owner(cfg)
    if owned is not None:  # several sources: only the paths this one owns, on either side
        triples = {p: t for p, t in triples.items() if owned(p)}
    three_way = bool(base_trees)
    if cfg.rewrite:
        rewritten = content.apply_rewrites(mirror, env, triples, rewriter(cfg.rewrite))
        content.store_blobs(mirror, rewritten.blobs)
        triples, warnings = rewritten.triples, warnings + rewritten.warnings
    triples, renamed = content.pair_renames(mirror, env, triples, three_way)
    counted_own = bool(own and own[2]) and (owned is None or owned(STATE_PATH))   # the state file, when counted
    fork_files = (cache.files(cfg.fork.path, fork_tree) if owned is None
                  else cache.owned(cfg.fork.path, fork_tree, cfg.current.paths)) - (1 if counted_own else 0)
    cache.save()
    report = build_report(cfg, triples, fork_files, three_way=three_way, renamed=renamed, window=window)
    header = {
        "upstream": {"ref": cfg.upstream.ref, "sha": upstream_sha},
        "fork": {"branch": cfg.fork.branch, "sha": head},
        "base": bases.to_json(),
        "warnings": sorted(set(warnings)),
    }
    return header | report


def collect_grouped(cfg: Config, repo: Path, upstream: str, fork: str, base_trees: Mapping[str, str], bases: Bases,
                    env: dict[str, str]) -> dict[str, tuple[Base, Entry, Entry]]:
    """(base, upstream, fork) per differing path; each path's base is its wave's recorded one."""
    shas = list(base_trees)
    uf, *bf = git.diff_many(repo, [(upstream, fork), *((base_trees[s], fork) for s in shas)], env=env)
    if not base_trees:
        return {c.path: (False, c.old, c.new) for c in uf}
    vs_fork = {sha: {c.path: c.old for c in changes} for sha, changes in zip(shas, bf)}
    from tasks.core.plan import assign_wave  # plan imports drift's classes

    bucket_of = Bucketer(cfg)
    out: dict[str, tuple[Base, Entry, Entry]] = {}
    for c in uf:
        wave = assign_wave(c.path, bucket_of(c.path), cfg.waves) if bases.groups else None
        sha = bases.for_wave(wave)
        out[c.path] = (False if sha is None else vs_fork[sha].get(c.path, c.new), c.old, c.new)
    # only the base has it: deleted upstream, and gone from that path in the fork, which may have renamed
    # it (content.pair_renames then carries the deletion to the fork's name)
    for sha, changes in zip(shas, bf):
        for c in changes:
            if c.new is None and c.path not in out and sha == bases.for_wave(
                    assign_wave(c.path, bucket_of(c.path), cfg.waves) if bases.groups else None):
                out[c.path] = (c.old, None, None)
    return out
