"""The smallest conflict: which fork commit an upstream commit that does not merge conflicts with.

When the merge of upstream commit U into the sync tip conflicts, the fork side is bisected the way
git-imerge does: the fork's first-parent commits since the merge base are merged with U one at a
time (``git merge-tree``: trees, no checkout), and the first whose merge conflicts — right after one
whose merge is clean — is the one U conflicts with. Only the commits that touched a conflicted path
can change the answer, so only those are bisected: ⌈log2 m⌉ merges for m such commits, whatever
the length of the fork's history (ten thousand commits cost one ``git log``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tasks.core.commit import Commit
from tasks.core.ranges import CULPRIT, first_bad
from tasks.repo import commits, git
from tasks.repo.commits import TreeMerge

Env = dict[str, str] | None


def fork_commit(repo: Path, tip: str, upstream: str, paths: Sequence[str],
                clean: Callable[[TreeMerge], bool] = lambda m: m.clean, *, env: Env = None) -> Commit | None:
    """The first of ``tip``'s first-parent commits since its merge base with ``upstream`` that touched one of
    ``paths`` and whose merge with ``upstream`` is not ``clean`` (the one before it merges cleanly); None when
    no single commit is to blame (the conflict needs several, or none of them conflicts alone)."""
    base = commits.merge_base(repo, tip, upstream, env=env)
    if base is None or not paths:
        return None
    touched = touching(repo, tip, base, paths, env=env)
    if not touched:
        return None

    def merges_clean(i: int) -> bool:
        return clean(commits.merge(repo, touched[i - 1].sha, upstream, env=env))

    n = len(touched)
    if merges_clean(n):
        return None
    found = first_bad(n, merges_clean, known={0: True, n: False})
    return touched[found.culprit] if found.status == CULPRIT and found.culprit is not None else None


def touching(repo: Path, tip: str, base: str, paths: Sequence[str], *, env: Env = None) -> list[Commit]:
    """``tip``'s first-parent commits since ``base`` that changed one of ``paths`` (against their first parent),
    oldest first."""
    out = git.git(repo, "log", "-z", "--first-parent", "--no-renames", "--reverse", "--no-color",
                  "--no-show-signature", "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%s",
                  "--end-of-options", tip, f"^{base}", "--", *paths, env={**(env or {}), "GIT_LITERAL_PATHSPECS": "1"})
    found = []
    for record in out.decode("utf-8", "replace").split("\x00"):
        fields = record.split("\x1f")
        if len(fields) == 7:
            sha, parents, name, email, adate, cdate, subject = fields
            found.append(Commit(sha, tuple(parents.split()), name, email, int(adate), int(cdate), subject))
    return found
