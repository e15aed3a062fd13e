"""gitignore-style glob matching (pathspec), compiled once into a single regex per list.

Patterns follow .gitignore rules, which users already know: a pattern without a slash
(``.env``, ``Dockerfile*``) matches at any depth; one with a slash (``docs/**``) is
anchored at the repository root. Matching is done on fork-side paths.

Deny lists match case-insensitively (``denied``): forks are checked out on
case-insensitive file systems too (macOS, Windows), where ``.ENV`` *is* ``.env``.
"""
from __future__ import annotations

import re
import warnings
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

    def __init__(self, patterns: Sequence[str], *, ignore_case: bool = False):
        self.patterns = tuple(patterns)
        alts = "|".join(f"(?P<g{i}>{_regex_of(p)})" for i, p in enumerate(self.patterns))
        self._re = re.compile(alts, re.IGNORECASE if ignore_case else 0) if alts else None

    def first(self, path: str) -> int | None:
        if self._re is None:
            return None
        m = self._re.match(path)
        return None if m is None else int(m.lastgroup[1:])  # type: ignore[index]

    def __call__(self, path: str) -> bool:
        return self._re is not None and self._re.match(path) is not None


@lru_cache(maxsize=256)
def globs(patterns: tuple[str, ...], *, ignore_case: bool = False) -> Globs:
    return Globs(patterns, ignore_case=ignore_case)


def denied(patterns: Sequence[str]) -> Globs:
    """The matcher for a deny list: case-insensitive, everywhere deny applies (drift, import, the deny gate)."""
    return globs(tuple(patterns), ignore_case=True)


def check_pattern(pattern: str) -> str | None:
    """An error message for a pattern we cannot use, else None.

    >>> check_pattern("docs/**"), check_pattern("!keep"), check_pattern("[z-a]")
    (None, "negated pattern '!keep' is not supported here", "bad character range z-a in '[z-a]'")
    """
    try:
        with warnings.catch_warnings():  # pathspec's regexes may warn (nested sets); the pattern is still usable
            warnings.simplefilter("ignore")
            Globs([pattern])  # compiled as it will be used: inside the list's one regex
    except re.error as exc:
        return f"{exc.msg} in {pattern!r}"
    except ValueError as exc:
        return str(exc)
    except (RecursionError, OverflowError, MemoryError):
        return f"pattern {pattern[:40]!r} is too complex"
    return None
