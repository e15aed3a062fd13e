"""Where an upstream path lands in the fork: ``map`` rules on one path (pure).

``tasks.repo.treemap`` applies the same rules to whole trees; these are for single paths
(base detection, co-change, ``since=`` windows).
"""
from __future__ import annotations

from collections.abc import Sequence

from tasks.config import MapRule

IDENTITY = -1  # map priority of an upstream path no rule moves


def place(path: str, rules: Sequence[MapRule]) -> tuple[str, int]:
    """(fork-side path, index of the rule that moved it or -1): first matching prefix wins.

    >>> rules = [MapRule("packages/twenty-", "packages/acme-"), MapRule("docs/", "site/docs/")]
    >>> place("packages/twenty-ui/a.ts", rules), place("README.md", rules)
    (('packages/acme-ui/a.ts', 0), ('README.md', -1))
    """
    for i, rule in enumerate(rules):
        if path.startswith(rule.src):
            return rule.dst + path[len(rule.src):], i
    return path, IDENTITY


def map_path(path: str, rules: Sequence[MapRule]) -> str:
    """The fork-side name of upstream ``path``, as ``treemap.map_tree`` places it.

    >>> map_path("packages/twenty-ui/a.ts", [MapRule("packages/twenty-", "packages/acme-")])
    'packages/acme-ui/a.ts'
    >>> map_path("static/app.js", [MapRule("", "addons/oca/web/")])   # a whole repository, vendored
    'addons/oca/web/static/app.js'
    """
    return place(path, rules)[0]
