"""Cooldown (pure): which upstream commits are old enough (``min_age``), and refs that follow release tags."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tasks.core.commit import Commit
from tasks.errors import ForkwaveError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw])")
TAG_PREFIX = "tags/"
GLOB_CHARS = "*?["
# A pre-release in the usual spellings: v2.0.0-rc.1, 2.0.0rc1 (PEP 440), 1.0-beta, 3.1.0-alpha2, 5.0.0-next.3,
# 1.2.3-dev, 4.0.0-canary; never a plain release such as v2.0.0 or 2024.10.
_PRERELEASE = re.compile(r"(?i)(?:[-_.+]|(?<=\d))(?:alpha|beta|rc|pre|preview|dev|next|canary|nightly|snapshot"
                         r"|a(?=\d)|b(?=\d)|c(?=\d))(?:[-_.]?\d+)*(?:$|[-_.+])")


def parse_duration(text: str | int, key: str = "min_age") -> int:
    """A duration in seconds: ``3d``, ``12h``, ``90m``, ``1w2d``, ``45s``; a bare number is seconds.

    >>> parse_duration("3d"), parse_duration("1d12h"), parse_duration("90m"), parse_duration(0)
    (259200, 129600, 5400, 0)
    >>> parse_duration("3 days")
    Traceback (most recent call last):
    tasks.errors.ForkwaveError: min_age: '3 days' is no duration; write e.g. 3d, 12h, 90m or 1w2d
    """
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ForkwaveError(f"{key}: {text!r} is no duration; write e.g. 3d, 12h, 90m or 1w2d")
    if isinstance(text, int) or text.isdigit():
        seconds = int(text)
        if seconds >= 0:
            return seconds
    elif _DURATION.sub("", text) == "" and text:
        return sum(int(n) * UNITS[u] for n, u in _DURATION.findall(text))
    raise ForkwaveError(f"{key}: {text!r} is no duration; write e.g. 3d, 12h, 90m or 1w2d")


@dataclass(frozen=True, slots=True)
class Cooled:
    """``ripe``: the commits old enough to sync, oldest first; ``waiting``: the rest, in order."""

    ripe: tuple[Commit, ...]
    waiting: tuple[Commit, ...]
    ripens_at: int | None = None  # when the first waiting commit is old enough (Unix seconds)


def cool(commits: Sequence[Commit], min_age: int, now: int) -> Cooled:
    """The longest prefix (oldest first) whose every commit was committed ``min_age`` seconds before ``now``.

    A prefix, not a filter: merging a commit brings all its ancestors, and a cherry-pick cursor
    only moves forward, so a young commit holds back the older-dated ones after it (committer
    dates need not grow along a branch: rebases, clock skew).

    >>> cs = [Commit("a", committer_date=100), Commit("b", committer_date=500), Commit("c", committer_date=200)]
    >>> c = cool(cs, 300, 700); [x.sha for x in c.ripe], [x.sha for x in c.waiting], c.ripens_at
    (['a'], ['b', 'c'], 800)
    """
    cutoff = now - min_age
    for i, commit in enumerate(commits):
        if commit.committer_date > cutoff:
            return Cooled(tuple(commits[:i]), tuple(commits[i:]), commit.committer_date + min_age)
    return Cooled(tuple(commits), ())


def tag_glob(ref: str) -> str | None:
    """The tag pattern of a ref that follows release tags (``tags/v*`` → ``v*``), else None.

    >>> tag_glob("tags/v*"), tag_glob("tags/v1.2.0"), tag_glob("main")
    ('v*', None, None)
    """
    if ref.startswith(TAG_PREFIX) and any(ch in ref for ch in GLOB_CHARS):
        return ref[len(TAG_PREFIX):]
    return None


def is_prerelease(tag: str) -> bool:
    """Does a tag name a pre-release (rc, beta, alpha, dev, next, canary, PEP 440 ``a1``/``b1``/``rc1``)?

    >>> [is_prerelease(t) for t in ("v2.0.0-rc.1", "2.0.0rc1", "v1.0-beta", "1.4.0a2", "v5.0.0-next.3")]
    [True, True, True, True, True]
    >>> [is_prerelease(t) for t in ("v2.0.0", "2024.10", "release-7", "v1.2.3+build.5", "backend-v3")]
    [False, False, False, False, False]
    """
    return _PRERELEASE.search(tag) is not None
