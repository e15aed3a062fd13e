"""gitignore-style globs: tables of pattern, path, match."""
from __future__ import annotations

import pytest

from tasks.globs import Globs, check_pattern, globs


@pytest.mark.parametrize("pattern,path,matches", [
    # no slash: any depth
    (".env", ".env", True),
    (".env", "packages/server/.env", True),
    (".env", ".env.local", False),
    (".env.*", "packages/server/.env.local", True),
    (".env.*", ".env", False),
    ("Dockerfile*", "Dockerfile", True),
    ("Dockerfile*", "deploy/Dockerfile.prod", True),
    ("Dockerfile*", "docs/Dockerfile-notes/x.md", True),   # a matching directory matches its contents
    ("*.md", "docs/deep/readme.md", True),
    ("*.md", "docs/readme.mdx", False),
    # with a slash: anchored at the root
    ("docs/**", "docs/a.md", True),
    ("docs/**", "docs/deep/a.md", True),
    ("docs/**", "packages/x/docs/a.md", False),
    (".github/workflows/**", ".github/workflows/ci.yml", True),
    (".github/workflows/**", "x/.github/workflows/ci.yml", False),
    ("/README.md", "README.md", True),
    ("/README.md", "docs/README.md", False),
    # ** in the middle and at the front
    ("**/node_modules/**", "node_modules/a.js", True),
    ("**/node_modules/**", "packages/ui/node_modules/x/y.js", True),
    ("**/node_modules/**", "packages/ui/node_modules_old/y.js", False),
    ("**/secrets/**", "packages/server/secrets/key", True),
    ("**/migrations/**", "src/db/migrations/001.sql", True),
    ("**/migrations/**", "src/db/migrations.sql", False),
    ("packages/*/src/**", "packages/ui/src/a/b.ts", True),
    ("packages/*/src/**", "packages/ui/lib/src/b.ts", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    # character classes, odd names
    ("file[0-9].txt", "dir/file7.txt", True),
    ("file[0-9].txt", "dir/filex.txt", False),
    ("dir with space/**", "dir with space/x.txt", True),
    ("café/**", "café/naïve.md", True),
    ("*.md", "日本/説明.md", True),
])
def test_single_pattern(pattern: str, path: str, matches: bool) -> None:
    assert globs((pattern,))(path) is matches


def test_first_returns_the_index_of_the_first_matching_pattern() -> None:
    g = Globs(["packages/acme-server/**", "**/*.md", "packages/**"])
    assert g.first("packages/acme-server/README.md") == 0
    assert g.first("packages/acme-ui/README.md") == 1
    assert g.first("packages/acme-ui/x.ts") == 2
    assert g.first("tools/x.ts") is None


def test_empty_list_matches_nothing() -> None:
    assert Globs([]).first("anything") is None and not Globs([])("anything")


def test_globs_is_cached_per_tuple() -> None:
    assert globs(("*.md", "docs/**")) is globs(("*.md", "docs/**"))


@pytest.mark.parametrize("pattern,problem", [
    ("!keep.txt", "negated pattern '!keep.txt' is not supported here"),
    ("trailing\\", "Invalid git pattern: 'trailing\\\\'"),
    ("docs/**", None),
    ("*.md", None),
])
def test_check_pattern(pattern: str, problem: str | None) -> None:
    assert check_pattern(pattern) == problem
    if problem:
        with pytest.raises(ValueError):
            Globs([pattern])
