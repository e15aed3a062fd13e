"""gitignore-style glob matching (pathspec), compiled once into a single regex per list.

Patterns follow .gitignore rules, which users already know: a pattern without a slash
(``.env``, ``Dockerfile*``) matches at any depth; one with a slash (``docs/**``) is
anchored at the repository root. Matching is done on fork-side paths.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

try:  # pathspec >= 1.0, where GitWildMatchPattern (the same rules) warns that it is deprecated
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern as _Pattern
except ImportError:  # pathspec 0.12
    from pathspec.patterns import GitWildMatchPattern as _Pattern

_NAMED = re.compile(r"\(\?P<[^>]+>")


def _regex_of(pattern: str) -> str:
    compiled = _Pattern(pattern)
    if compiled.include is False:
        raise ValueError(f"negated pattern {pattern!r} is not supported here")
    if compiled.regex is None:  # blank or comment line
        return "(?!)"
    return _NAMED.sub("(?:", compiled.regex.pattern)


class Globs:
    """An ordered list of patterns; ``first(path)`` is the index of the first that matches."""

    def __init__(self, patterns: Sequence[str]):
        self.patterns = tuple(patterns)
        alts = "|".join(f"(?P<g{i}>{_regex_of(p)})" for i, p in enumerate(self.patterns))
        self._re = re.compile(alts) if alts else None

    def first(self, path: str) -> int | None:
        if self._re is None:
            return None
        m = self._re.match(path)
        return None if m is None else int(m.lastgroup[1:])  # type: ignore[index]

    def __call__(self, path: str) -> bool:
        return self._re is not None and self._re.match(path) is not None


@lru_cache(maxsize=256)
def globs(patterns: tuple[str, ...]) -> Globs:
    return Globs(patterns)


def check_pattern(pattern: str) -> str | None:
    """An error message for a pattern we cannot use, else None."""
    try:
        _regex_of(pattern)
    except (ValueError, re.error) as exc:
        return str(exc)
    return None
