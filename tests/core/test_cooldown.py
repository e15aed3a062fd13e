"""Cooldown: durations, the ripe prefix of a commit list, and refs that follow release tags."""
from __future__ import annotations

import doctest

import pytest

from tasks.core import cooldown
from tasks.core.commit import Commit
from tasks.core.cooldown import cool, is_prerelease, parse_duration, tag_glob
from tasks.errors import ForkwaveError

DAY = 86400


def test_docstring_examples() -> None:
    assert doctest.testmod(cooldown).failed == 0


@pytest.mark.parametrize(("text", "seconds"), [
    ("3d", 3 * DAY), ("12h", 12 * 3600), ("90m", 5400), ("45s", 45), ("1w", 7 * DAY), ("1w2d", 9 * DAY),
    ("1d12h30m", DAY + 12 * 3600 + 1800), ("0d", 0), ("0", 0), (0, 0), (3600, 3600), ("600", 600),
])
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "3", "-1", -5, "3 d", "3days", "d", "1.5h", "3D", "1y", True, None, 1.0,
                                  "3d-1h", "h3"])
def test_parse_duration_refuses_what_is_no_duration(text: object) -> None:
    if text == "3":
        assert parse_duration("3") == 3  # a bare number is seconds
        return
    with pytest.raises(ForkwaveError, match=r"^sources\.web\.min_age: .* is no duration; write e\.g\. 3d"):
        parse_duration(text, "sources.web.min_age")  # type: ignore[arg-type]


def commits(*dates: int) -> list[Commit]:
    return [Commit(f"{i:040x}", committer_date=d) for i, d in enumerate(dates)]


@pytest.mark.parametrize(("dates", "min_age", "now", "ripe", "ripens_at"), [
    ((100, 200, 300), 0, 300, 3, None),
    ((100, 200, 300), 50, 300, 2, 350),
    ((100, 200, 300), 1000, 300, 0, 1100),
    ((100, 500, 200), 300, 700, 1, 800),      # a younger commit holds back the older-dated one after it
    ((), 3 * DAY, 0, 0, None),
    ((100,), 100, 200, 1, None),              # exactly min_age old is old enough
])
def test_cool_is_the_ripe_prefix(dates: tuple[int, ...], min_age: int, now: int, ripe: int,
                                 ripens_at: int | None) -> None:
    cs = commits(*dates)
    cooled = cool(cs, min_age, now)
    assert list(cooled.ripe) == cs[:ripe] and list(cooled.waiting) == cs[ripe:]
    assert cooled.ripens_at == ripens_at


@pytest.mark.parametrize(("ref", "glob"), [
    ("tags/v*", "v*"), ("tags/release-[0-9]*", "release-[0-9]*"), ("tags/v1.?", "v1.?"),
    ("tags/v1.2.0", None), ("main", None), ("v*", None), ("refs/tags/v*", None),
])
def test_tag_glob(ref: str, glob: str | None) -> None:
    assert tag_glob(ref) == glob


@pytest.mark.parametrize(("tag", "pre"), [
    ("v2.0.0-rc.1", True), ("v2.0.0-rc1", True), ("2.0.0rc1", True), ("1.4.0a2", True), ("1.4.0b1", True),
    ("v1.0-beta", True), ("v1.0.0-alpha.3", True), ("v5.0.0-next.3", True), ("1.2.3-dev", True),
    ("4.0.0-canary.7", True), ("v3.0.0-pre", True), ("v1.0.0-SNAPSHOT", True), ("2.0.0.dev3", True),
    ("v2.0.0", False), ("2024.10", False), ("release-7", False), ("v1.2.3+build.5", False),
    ("backend-v3", False), ("v1.0.0-devtools", False), ("alpha-centauri-1.0", False), ("v10", False),
])
def test_is_prerelease(tag: str, pre: bool) -> None:
    assert is_prerelease(tag) is pre
