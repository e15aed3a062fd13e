"""Pull requests on a sibling's main line (pure): their titles, the commits each merge brought, and whether
one is picked whole."""
from __future__ import annotations

import doctest

import pytest

from tasks.core import pullrequests
from tasks.core.commit import Commit
from tasks.core.conventional import AUTHOR, NOT_CONVENTIONAL, PICKED, SCOPE, TYPE, Rules, decide_pull_request
from tasks.core.pullrequests import brought, title

BOT = ("renovate[bot]", "29139614+renovate[bot]@users.noreply.github.com")


def test_docstring_examples() -> None:
    assert doctest.testmod(pullrequests).failed == 0


@pytest.mark.parametrize(("subject", "body", "expected"), [
    ("Merge pull request #12 from ann/cite", "feat(cite): a viewer\n\nLong text.", "feat(cite): a viewer"),
    ("Merge pull request #12 from ann/cite", "\n\n  fix: leading blank lines\n", "fix: leading blank lines"),
    ("Merge pull request #12 from ann/cite", "", "Merge pull request #12 from ann/cite"),
    ("Merge branch 'cite' into 'main'", "feat(cite): a viewer\n\nSee merge request g/p!3", "feat(cite): a viewer"),
    ("feat(cite): a viewer (#12)", "* feat: one\n* fix: two", "feat(cite): a viewer (#12)"),   # a squash merge
    ("Merge remote-tracking branch 'origin/x'", "body", "Merge remote-tracking branch 'origin/x'"),
])
def test_the_title_is_the_subject_or_the_line_a_forge_writes_under_its_merge_subject(
        subject: str, body: str, expected: str) -> None:
    assert title(Commit("m" * 40, ("a" * 40, "b" * 40), subject=subject, body=body)) == expected


def mk(sha: str, *parents: str, subject: str = "", author: tuple[str, str] = ("Ann", "ann@x"),
       paths: tuple[str, ...] = ("src/a.ts",)) -> Commit:
    return Commit(sha * 40, tuple(p * 40 for p in parents), author[0], author[1], subject=subject, paths=paths)


def test_each_merge_brings_only_what_no_earlier_commit_of_the_line_reached() -> None:
    """main: a - m1 - b - m2 - m3; m1 brings x, y; m2 brings z, which branched off x (already in);
    m3 merges main into a long-lived branch tip that holds w and the older y."""
    a, x, y = mk("a"), mk("x", "a"), mk("y", "x")
    m1 = mk("1", "a", "y")
    b = mk("b", "1")
    z = mk("z", "x")
    m2 = mk("2", "b", "z")
    w = mk("w", "y")
    m3 = mk("3", "2", "w")
    got = brought([a, m1, b, m2, m3], [a, x, y, m1, b, z, m2, w, m3])
    assert [[c.sha[0] for c in got[m.sha]] for m in (m1, m2, m3)] == [["x", "y"], ["z"], ["w"]]
    assert a.sha not in got and b.sha not in got


def test_a_merge_whose_side_starts_before_the_range_brings_only_what_is_in_it() -> None:
    """The log is bounded (``^since``): commits outside it are not in the graph and end the walk."""
    m = mk("m", "b", "y")
    got = brought([mk("b", "o"), m], [mk("b", "o"), mk("y", "o"), m])
    assert [c.sha[0] for c in got[m.sha]] == ["y"]


MERGE = mk("m", "a", "b", subject="Merge pull request #7 from ann/x", paths=("src/a.ts", "docs/x.md"))


@pytest.mark.parametrize(("pr_title", "commits", "rules", "kind", "pick"), [
    ("feat(cite): a viewer", [mk("c", subject="chore: wip")], Rules(scopes=("cite",)), PICKED, True),
    # the title decides
    ("docs(cite): words", [mk("c", subject="feat(cite): x")], Rules(scopes=("cite",)), TYPE, False),
    ("feat(chat): x", [mk("c", subject="feat(cite): x")], Rules(scopes=("cite",)), SCOPE, False),
    ("Update stuff", [mk("c", subject="chore: a"), mk("d", subject="fix(cite): b")], Rules(scopes=("cite",)),
     PICKED, True),
    ("Update stuff", [mk("c", subject="chore: a"), mk("d", subject="fix(chat): b")], Rules(scopes=("cite",)),
     TYPE, False),
    ("Update stuff", [mk("c", subject="wip"), mk("d", subject="more")], Rules(), NOT_CONVENTIONAL, False),
    ("fix(deps): bump", [mk("c", subject="fix(deps): bump", author=BOT)], Rules(exclude_authors=("*[bot]",)),
     AUTHOR, False),
    ("fix(deps): bump", [mk("c", subject="fix(deps): bump", author=BOT), mk("d", subject="fix: by hand")],
     Rules(exclude_authors=("*[bot]",)), PICKED, True),        # a person's commit in it: not a bot's PR
])
def test_a_pull_request_is_decided_by_its_title_else_its_commits(
        pr_title: str, commits: list[Commit], rules: Rules, kind: str, pick: bool) -> None:
    d = decide_pull_request(MERGE, commits, rules, pr_title)
    assert (d.kind, d.pick) == (kind, pick), d.reason


def test_a_breaking_commit_inside_sends_the_pull_request_to_review_and_paths_are_the_merges() -> None:
    d = decide_pull_request(MERGE, [mk("c", subject="feat(cite)!: drop v1")], Rules(paths=("src/**",)),
                            "feat(cite): a viewer")
    assert d.pick and d.review and d.keep == ("src/a.ts",) and d.dropped == (("docs/x.md", "outside paths"),)
