"""Choosing the commits of a sibling repository: conventional-commit headers, types, scopes, authors, paths."""
from __future__ import annotations

import doctest

import pytest

from tasks.core import conventional
from tasks.core.commit import Commit
from tasks.core.conventional import (ALL_DROPPED, AUTHOR, BOTS, MERGE, NOT_CONVENTIONAL, NOTHING, PICKED, SCOPE,
                                     TYPE, Conventional, Rules, check_author_pattern, decide, parse, select,
                                     split_paths)


def test_docstring_examples() -> None:
    assert doctest.testmod(conventional).failed == 0


@pytest.mark.parametrize(("subject", "body", "expected"), [
    ("feat: add x", "", Conventional("feat", (), False, "add x")),
    ("fix(api): off by one", "", Conventional("fix", ("api",), False, "off by one")),
    ("FEAT(Api): shout", "", Conventional("feat", ("api",), False, "shout")),
    ("feat(api)!: drop v1", "", Conventional("feat", ("api",), True, "drop v1")),
    ("refactor!: rename", "", Conventional("refactor", (), True, "rename")),
    ("perf(db, cache): faster", "", Conventional("perf", ("db", "cache"), False, "faster")),
    ("feat(): empty scope", "", Conventional("feat", (), False, "empty scope")),
    ("fix: x", "Body.\n\nBREAKING CHANGE: ids are strings", Conventional("fix", (), True, "x", "ids are strings")),
    ("fix: x", "BREAKING-CHANGE: same", Conventional("fix", (), True, "x", "same")),
    ("fix: x", "this is no BREAKING CHANGE: in prose", Conventional("fix", (), False, "x")),
    ("fix: x", "breaking change: lower case is no footer", Conventional("fix", (), False, "x")),
    ("chore(deps-dev): bump", "", Conventional("chore", ("deps-dev",), False, "bump")),
    ("feat:  two spaces", "", Conventional("feat", (), False, "two spaces")),
])
def test_parse_conventional_headers(subject: str, body: str, expected: Conventional) -> None:
    assert parse(subject, body) == expected


@pytest.mark.parametrize("subject", [
    "Update README", 'Revert "feat: x"', "fixup! fix: y", "squash! feat: z", "feat:no space", "feat: ",
    "feat(a)(b): two scopes", "feat (api): space before scope", ": no type", "1feat: digit first",
    "Merge pull request #12 from a/b", "feat(api: unclosed",
])
def test_parse_refuses_what_is_not_a_header(subject: str) -> None:
    assert parse(subject) is None


def c(subject: str, *paths: str, author: str = "Ann", email: str = "ann@example.com", body: str = "",
      parents: int = 1) -> Commit:
    return Commit("a" * 40, tuple(f"{i}" * 40 for i in range(parents)), author, email, 0, 0, subject, body,
                  paths or ("src/a.py",))


@pytest.mark.parametrize(("commit", "rules", "pick", "kind", "reason"), [
    (c("feat: x"), Rules(), True, PICKED, "feat: picked"),
    (c("fix(api): x"), Rules(), True, PICKED, "fix(api): picked"),
    (c("perf: x"), Rules(), True, PICKED, "perf: picked"),
    (c("refactor: x"), Rules(), True, PICKED, "refactor: picked"),
    (c("docs: x"), Rules(), False, TYPE, "type 'docs' is not one of feat, fix, perf, refactor"),
    (c("chore(deps): x"), Rules(), False, TYPE, "type 'chore' is not one of feat, fix, perf, refactor"),
    (c("revert: feat: x"), Rules(), False, TYPE, "type 'revert' is not one of feat, fix, perf, refactor"),
    (c("docs: x"), Rules(types=("docs",)), True, PICKED, "docs: picked"),
    (c("docs: x"), Rules(types=("*",)), True, PICKED, "docs: picked"),
    (c("Fix: x"), Rules(types=("FIX",)), True, PICKED, "fix: picked"),
    (c("Update x"), Rules(), False, NOT_CONVENTIONAL, "not a conventional commit: 'Update x'"),
    (c("Merge branch 'x'", parents=2), Rules(), False, MERGE, "merge commit (2 parents): merges are not picked"),
    (c("feat: merge", parents=2), Rules(skip_merges=False), True, PICKED, "feat: picked"),
    (c("fix(api): x"), Rules(scopes=("api", "core")), True, PICKED, "fix(api): picked"),
    (c("fix(web): x"), Rules(scopes=("api", "core")), False, SCOPE, "scope 'web' is not one of api, core"),
    (c("fix: x"), Rules(scopes=("api",)), False, SCOPE, "no scope; scopes: api"),
    (c("fix(web,api): x"), Rules(scopes=("api",)), True, PICKED, "fix(web,api): picked"),
    (c("fix(core-db): x"), Rules(scopes=("core-*",)), True, PICKED, "fix(core-db): picked"),
    (c("fix(API): x"), Rules(scopes=("api",)), True, PICKED, "fix(api): picked"),
    (c("feat!: x"), Rules(), True, PICKED, "feat!: picked; breaking change: goes to review"),
    (c("feat: x", body="BREAKING CHANGE: y"), Rules(), True, PICKED, "feat!: picked; breaking change: goes to review"),
    (c("feat!: x"), Rules(review_breaking=False), True, PICKED, "feat!: picked"),
    (c("fix: x", author="dependabot[bot]", email="49699333+dependabot[bot]@users.noreply.github.com"),
     Rules(exclude_authors=BOTS), False, AUTHOR,
     "author dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com> is excluded by '*[bot]'"),
    (c("fix: x", author="Renovate Bot", email="bot@renovateapp.com"), Rules(exclude_authors=("/^renovate/",)),
     False, AUTHOR, "author Renovate Bot <bot@renovateapp.com> is excluded by '/^renovate/'"),
    (c("fix: x", author="Robert", email="rob@x"), Rules(exclude_authors=BOTS), True, PICKED, "fix: picked"),
    (c("fix: x", author="ci", email="ci@example.com"), Rules(exclude_authors=("Ci <CI@example.com>",)),
     False, AUTHOR, "author ci <ci@example.com> is excluded by 'Ci <CI@example.com>'"),
    (Commit("a" * 40, ("b" * 40,), subject="fix: x"), Rules(), False, NOTHING, "changes no path"),
    (c("fix: x", ".env"), Rules(deny=(".env",)), False, ALL_DROPPED, "every path dropped: .env (denied by .env)"),
    (c("fix: x", "src/a.py", ".env.production"), Rules(deny=(".env.*",)), True, PICKED,
     "fix: picked; 1 path dropped: .env.production (denied by .env.*)"),
])
def test_decide(commit: Commit, rules: Rules, pick: bool, kind: str, reason: str) -> None:
    decision = decide(commit, rules)
    assert (decision.pick, decision.kind, decision.reason) == (pick, kind, reason)
    assert decision.review == ("goes to review" in reason)


def test_a_decision_keeps_and_drops_paths_with_reasons() -> None:
    rules = Rules(paths=("src/**", ".env*"), deny=(".env", ".env.*", "**/secrets/**", "infra/prod/**"),
                  deny_except=(".env.example",))
    commit = c("feat(api): x", "src/a.py", ".env", ".env.example", "src/secrets/k.pem", "infra/prod/main.tf",
               "docs/x.md", "SRC/B.py")
    decision = decide(commit, rules)
    assert decision.keep == ("src/a.py", ".env.example")
    assert dict(decision.dropped) == {".env": "denied by .env", "src/secrets/k.pem": "denied by **/secrets/**",
                                      "infra/prod/main.tf": "denied by infra/prod/**", "docs/x.md": "outside paths",
                                      "SRC/B.py": "outside paths"}
    assert decision.conventional == Conventional("feat", ("api",), False, "x")


def test_deny_ignores_case_and_allow_does_not() -> None:
    keep, dropped = split_paths([".ENV", "Config/Secrets/key.pem", "Src/a.py"],
                                Rules(paths=("src/**", ".env", "config/**"), deny=(".env", "**/secrets/**")))
    assert keep == () and [p for p, _ in dropped] == [".ENV", "Config/Secrets/key.pem", "Src/a.py"]


def test_the_first_refusal_is_the_reason() -> None:
    """A bot's merge of a docs change is refused as a merge, not for its type or author."""
    bot_merge = c("Merge docs", author="x[bot]", parents=2)
    assert decide(bot_merge, Rules(exclude_authors=BOTS)).kind == MERGE
    assert decide(c("docs: y", author="x[bot]"), Rules(exclude_authors=BOTS)).kind == TYPE


def test_select_decides_in_order() -> None:
    commits = [c("feat: 1"), c("docs: 2"), c("fix: 3")]
    assert [d.pick for d in select(commits)] == [True, False, True]


@pytest.mark.parametrize(("pattern", "error"), [
    ("*[bot]", None), ("/^renovate/", None), ("/(/", "missing ), unterminated subpattern in '/(/'"),
    ("/", None), ("[", None),
])
def test_check_author_pattern(pattern: str, error: str | None) -> None:
    assert check_author_pattern(pattern) == error


def test_glob_brackets_are_literal_in_author_patterns() -> None:
    assert decide(c("fix: x", author="bot"), Rules(exclude_authors=("*[bot]",))).pick
    assert not decide(c("fix: x", author="x[bot]"), Rules(exclude_authors=("*[bot]",))).pick
