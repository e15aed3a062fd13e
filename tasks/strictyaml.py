"""YAML for config files that cannot hurt: one document, text keys given once, bounded depth and size.

PyYAML's ``safe_load`` keeps the last of two equal keys (a duplicated wave silently moves
its paths elsewhere), accepts keys of any type (``1:``, ``on:`` is ``True``), recurses once
per nesting level (5,000 levels end in ``RecursionError``), and expands aliases without a
limit (a few lines can stand for a billion values). ``load`` refuses all of that with a
``StrictYamlError`` naming the key, line and column, in one parse, before any value is constructed.
``load_marked`` also says where each key and value was written (``Marks``), so that an error
found later, in the values, can name its line too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 32          # a forkwave.yaml needs 4 (checks.0.env.NAME); anything deeper is a mistake
MAX_VALUES = 100_000    # after alias expansion; the README's example has about 120
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
_KINDS = {"int": "a number", "float": "a number", "bool": "true or false", "null": "null",
          "timestamp": "a date", "binary": "binary data"}


class StrictYamlError(Exception):
    """What is wrong, with ``key`` (dotted path, may be empty) and ``line``/``column`` (1-based, or None)."""

    def __init__(self, message: str, key: str = "", line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message, self.key, self.line, self.column = message, key, line, column


Position = tuple[int, int]   # (line, column), 1-based


@dataclass
class Marks:
    """Where each value (``values``) and each mapping key (``keys``) was written, by dotted path
    (``checks.0.timeout``). An alias's values are marked where its anchor was written."""

    values: dict[str, Position] = field(default_factory=dict)
    keys: dict[str, Position] = field(default_factory=dict)

    def at(self, key: str, *, own_key: bool = False) -> Position | None:
        """The position of ``key``, else of the nearest enclosing value that has one (a missing key is
        reported where its mapping is); ``own_key``: where the key itself is written, when it is."""
        if own_key and key in self.keys:
            return self.keys[key]
        parts = key.split(".") if key else []
        for n in range(len(parts), -1, -1):
            found = self.values.get(".".join(parts[:n]))
            if found:
                return found
        return None


def load(text: str) -> Any:
    """The single document in ``text``, as plain Python values; raises ``StrictYamlError`` or ``yaml.YAMLError``."""
    return load_marked(text)[0]


def load_marked(text: str) -> tuple[Any, Marks]:
    """``load``, and where each value was written."""
    loader = _Loader(text)
    marks = Marks()
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        _check_nodes(node, marks)
        return loader.construct_document(node), marks
    finally:
        loader.dispose()


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


def _at(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _check_nodes(root: Node, marks: Marks) -> None:
    """Keys are text and given once per mapping; no recursive aliases; the expanded size is bounded.

    One iterative pass over the composed node graph (aliases are shared nodes, so each is
    visited once and its expanded size computed from its children's).
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, tuple[Any, ...], bool]] = [(root, (), False)]
    marks.values[""] = _at(root)
    while stack:
        node, path, done = stack.pop()
        if done:
            on_path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in _children(node))
            if size[id(node)] > MAX_VALUES:
                raise StrictYamlError(f"expands to more than {MAX_VALUES:,} values (through aliases); simplify it",
                                      _dotted(path), *_at(node))
            continue
        if id(node) in size:
            continue
        if id(node) in on_path:
            raise StrictYamlError("refers to itself through an alias", _dotted(path), *_at(node))
        on_path.add(id(node))
        stack.append((node, path, True))
        if isinstance(node, MappingNode):
            _check_keys(node, path, marks)
        for key, child in reversed(_labelled(node)):
            if id(child) in on_path:
                raise StrictYamlError("refers to itself through an alias", _dotted((*path, key)), *_at(child))
            marks.values.setdefault(_dotted((*path, key)), _at(child))
            stack.append((child, (*path, key), False))


def _children(node: Node) -> list[Node]:
    return [child for _, child in _labelled(node)]


def _labelled(node: Node) -> list[tuple[Any, Node]]:
    """(key or index, node) for each value of a collection; keys of a mapping are checked, not walked."""
    if isinstance(node, SequenceNode):
        return list(enumerate(node.value))
    if isinstance(node, MappingNode):
        return [(k.value if isinstance(k, ScalarNode) else "?", v) for k, v in node.value]
    return []


def _check_keys(node: MappingNode, path: tuple[Any, ...], marks: Marks) -> None:
    first: dict[str, int] = {}
    for key, _ in node.value:
        if key.tag == MERGE_TAG:  # ``<<: *defaults``: merged keys may be overridden, that is its point
            continue
        line, column = _at(key)
        if not isinstance(key, ScalarNode):
            raise StrictYamlError("a key must be plain text, not a list or mapping", _dotted(path), line, column)
        where = _dotted((*path, key.value))
        if key.tag != STR_TAG:
            kind = _KINDS.get(key.tag.rsplit(":", 1)[-1], key.tag)
            raise StrictYamlError(f"a key must be text, and YAML reads {key.value!r} as {kind}; "
                                  f"quote it ('{key.value}') or rename it", where, line, column)
        if key.value in first:
            raise StrictYamlError(f"given twice (lines {first[key.value]} and {line}); YAML would silently keep "
                                  "only the last; remove or rename one", where, line, column)
        first[key.value] = line
        marks.keys.setdefault(where, (line, column))


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops composing past ``MAX_DEPTH`` (before Python's recursion limit), and
    whose scalar errors (``2026-02-30``, a 5,000-digit number) are YAML errors with a line."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._path: list[Any] = []  # the key or index of each node being composed, outermost first

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # a mapping's value comes with its key node, a sequence's item with its position
        self._path.append(index.value if isinstance(index, ScalarNode) else index)
        try:
            labels = [p for p in self._path[1:] if p is not None]  # a key's own node adds no level
            if len(labels) > MAX_DEPTH:
                shown = _dotted(tuple(labels[:6])) + (f"... ({len(labels)} levels)" if len(labels) > 6 else "")
                mark = self.peek_event().start_mark
                raise StrictYamlError(f"nested more than {MAX_DEPTH} levels deep; a forkwave config needs 4 at most",
                                      shown, mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            value = node.value if isinstance(node, ScalarNode) else ""
            reason = str(exc).split(":")[0][:80]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {str(value)[:40]!r}: {reason}", node.start_mark) from None
