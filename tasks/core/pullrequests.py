"""Pull requests on a source's main line (pure): a merge on the first-parent line is one unit of work.

A sibling that merges pull requests with merge commits keeps its work off the main line: the
first-parent commits are the merges, and the commits of each pull request hang off their second
parent. ``brought`` finds, for each merge, the commits only it brought (what ``git log M^1..M^2``
lists), from one log of the whole range; ``title`` reads the pull request's title from the merge's
message the way GitHub and GitLab write it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from tasks.core.commit import Commit

# What forges write as a merge's subject; the pull request's title is then the body's first line.
#   GitHub: "Merge pull request #12 from owner/branch"
#   GitLab: "Merge branch 'feature' into 'main'"
_FORGE_SUBJECT = re.compile(r"^Merge (pull request #\d+ from \S+|branch '[^']*' into '[^']*'|branch \S+)")


def title(merge: Commit) -> str:
    """The pull request's title as the merge commit tells it: the subject, unless it is a forge's
    ``Merge pull request #N from …`` line, in which case the body's first line (when there is one).

    >>> title(Commit("m" * 40, subject="Merge pull request #7 from ann/cite", body="feat(cite): a viewer\\n\\nMore."))
    'feat(cite): a viewer'
    >>> title(Commit("m" * 40, subject="feat(cite): a viewer (#7)")), title(Commit("m" * 40, subject="Merge branch x"))
    ('feat(cite): a viewer (#7)', 'Merge branch x')
    """
    if _FORGE_SUBJECT.match(merge.subject):
        first = next((line.strip() for line in merge.body.splitlines() if line.strip()), "")
        if first:
            return first
    return merge.subject


def brought(line: Sequence[Commit], graph: Sequence[Commit]) -> dict[str, tuple[Commit, ...]]:
    """merge sha -> the commits that merge brought to the main line, oldest first (in ``graph``'s order).

    ``line``: the first-parent commits, oldest first; ``graph``: every commit of the same range
    (``git log --topo-order --reverse``: parents before children), the line's included. Walking the
    line oldest first, every commit reachable from the line so far is claimed; a merge brings what
    its other parents reach that nothing claimed yet — exactly ``git log M^1..M``'s side commits.
    Commits outside the range (absent from ``graph``) end the walk.

    >>> mk = lambda s, *p: Commit(s * 40, tuple(q * 40 for q in p))
    >>> a, b, x, y = mk("a"), mk("b", "a"), mk("x", "a"), mk("y", "x")
    >>> m, z, n = mk("m", "b", "y"), mk("z", "m"), mk("n", "z", "y")   # n merges y again: nothing new
    >>> got = brought([a, b, m, z, n], [a, b, x, y, m, z, n])
    >>> [c.sha[0] for c in got["m" * 40]], got["n" * 40]
    (['x', 'y'], ())
    """
    order = {c.sha: i for i, c in enumerate(graph)}
    by_sha = {c.sha: c for c in graph}
    claimed = {c.sha for c in line}
    out: dict[str, tuple[Commit, ...]] = {}
    for head in line:
        if not head.is_merge:
            continue
        found: list[Commit] = []
        todo = list(head.parents[1:])
        while todo:
            sha = todo.pop()
            if sha in claimed or sha not in by_sha:
                continue
            claimed.add(sha)
            found.append(by_sha[sha])
            todo.extend(by_sha[sha].parents)
        out[head.sha] = tuple(sorted(found, key=lambda c: order.get(c.sha, 0)))
    return out
