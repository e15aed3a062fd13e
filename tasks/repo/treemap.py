"""Path mapping as tree surgery: build the upstream tree as the fork would name it.

``map`` rules are string-prefix rewrites (``packages/twenty-`` -> ``packages/acme-``), first
match wins. Instead of rewriting every path, we move whole entries: only the directories
named in the rules are read and rewritten (``git ls-tree`` / ``git mktree``); every other
subtree keeps its object id. The mapped tree can then be compared with the fork's tree by
``git diff-tree``, which skips identical subtrees by id, so drift costs what changed, not
what exists.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tasks.repo import git
from tasks.config import MapRule

Node = dict[str, "git.TreeEntry | Node"]


@dataclass
class _Surgeon:
    repo: Path
    env: dict[str, str] | None
    warnings: list[str] = field(default_factory=list)

    def load(self, oid: str) -> Node:
        return {e.name: e for e in git.ls_tree(self.repo, oid, env=self.env)}

    def dir(self, root: Node, path: str, create: bool = False) -> Node | None:
        node = root
        for part in filter(None, path.split("/")):
            child = node.get(part)
            if isinstance(child, git.TreeEntry):
                if child.type != "tree":
                    return None
                child = node[part] = self.load(child.oid)
            elif child is None:
                if not create:
                    return None
                child = node[part] = {}
            node = child
        return node

    def place(self, node: Node, name: str, item: git.TreeEntry | Node, where: str) -> None:
        existing = node.get(name)
        if existing is None:
            node[name] = item
            return
        if self._is_tree(existing) and self._is_tree(item):
            target = self.dir(node, name)
            source = item if isinstance(item, dict) else self.load(item.oid)
            assert target is not None
            for child_name, child in source.items():
                self.place(target, child_name, child, f"{where}/{child_name}")
            return
        self.warnings.append(f"map: upstream {where} lands on a path upstream already has; the mapped one wins")
        node[name] = item

    @staticmethod
    def _is_tree(item: git.TreeEntry | Node) -> bool:
        return isinstance(item, dict) or item.type == "tree"

    def write(self, node: Node) -> str | None:
        entries = []
        for name, item in node.items():
            if isinstance(item, dict):
                oid = self.write(item)
                if oid is None:
                    continue
                item = git.TreeEntry(git.TREE_MODE, "tree", oid, name)
            elif item.name != name:  # moved by a rule: the key is its new name
                item = git.TreeEntry(item.mode, item.type, item.oid, name)
            entries.append(item)
        if not entries:
            return None
        return git.mktree(self.repo, entries, env=self.env)


def split_prefix(prefix: str) -> tuple[str, str]:
    """``packages/twenty-`` -> (``packages``, ``twenty-``); ``docs/`` -> (``docs``, ``)."""
    head, _, tail = prefix.rpartition("/")
    return head, tail


def map_tree(repo: Path, tree: str, rules: Sequence[MapRule], *,
             env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Return (id of the mapped tree, warnings). With no rules the tree is returned as is."""
    if not rules:
        return tree, []
    surgeon = _Surgeon(repo, env)
    root = surgeon.load(tree)
    moves: list[tuple[str, str, git.TreeEntry | Node]] = []
    # Extract every rule's matches before placing any, so a moved entry is never
    # matched again by a later rule (first match wins, once).
    for rule in rules:
        src_dir, src_name = split_prefix(rule.src)
        dst_dir, dst_name = split_prefix(rule.dst)
        node = surgeon.dir(root, src_dir)
        if node is None:
            continue
        for name in sorted(n for n in node if n.startswith(src_name)):
            moves.append((dst_dir, dst_name + name[len(src_name):], node.pop(name)))
    for dst_dir, name, item in moves:
        target = surgeon.dir(root, dst_dir, create=True)
        if target is None:
            surgeon.warnings.append(f"map: cannot place {name} under {dst_dir}: it is a file upstream")
            continue
        surgeon.place(target, name, item, f"{dst_dir}/{name}".lstrip("/"))
    return surgeon.write(root) or git.EMPTY_TREE, surgeon.warnings


def upstream_path(path: str, rules: Sequence[MapRule]) -> str:
    """The upstream path that maps to fork-side ``path`` (inverse of first-match-wins)."""
    for rule in rules:
        if path.startswith(rule.dst):
            candidate = rule.src + path[len(rule.dst):]
            if next((r for r in rules if candidate.startswith(r.src)), None) is rule:
                return candidate
    return path
