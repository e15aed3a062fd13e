"""Which commits of a sibling repository to pick (pure): conventional-commit type and scope, authors, paths.

A subject reads ``type(scope)!: description`` (https://www.conventionalcommits.org): the type
and scope are compared ignoring case, as the specification asks; ``!`` or a
``BREAKING CHANGE:`` / ``BREAKING-CHANGE:`` footer marks a breaking change. Every decision
carries its reason, in words a report can print.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from tasks.core.commit import Commit, short_list
from tasks.globs import denied, globs

DEFAULT_TYPES = ("feat", "fix", "perf", "refactor")
BOTS = ("*[bot]", "*[bot]@*")  # GitHub apps: dependabot[bot], renovate[bot], github-actions[bot]
_HEADER = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9_-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?: +(?P<desc>\S.*)$")
# A footer line anywhere in the body counts: a false "breaking" only asks for a review.
_BREAKING = re.compile(r"^BREAKING[ -]CHANGE: *(.*)$", re.MULTILINE)

PICKED = "picked"
MERGE = "merge"
NOT_CONVENTIONAL = "not-conventional"
TYPE = "type"
SCOPE = "scope"
AUTHOR = "author"
NOTHING = "no-changes"
ALL_DROPPED = "all-paths-dropped"


@dataclass(frozen=True, slots=True)
class Conventional:
    type: str                   # lower case
    scopes: tuple[str, ...]     # ``feat(api,web)``: both; lower case
    breaking: bool
    description: str
    breaking_note: str = ""     # the footer's text (empty for a bare ``!``)


def parse(subject: str, body: str = "") -> Conventional | None:
    """The conventional header of a commit, or None when its subject is not one.

    >>> parse("feat(API, web)!: drop v1")
    Conventional(type='feat', scopes=('api', 'web'), breaking=True, description='drop v1', breaking_note='')
    >>> parse("fix: off by one", "Detail.\\n\\nBREAKING CHANGE: ids start at 0").breaking_note
    'ids start at 0'
    >>> parse("Update README"), parse('Revert "feat: x"'), parse("fixup! fix: y"), parse("feat:no space")
    (None, None, None, None)
    """
    m = _HEADER.match(subject.strip())
    if m is None:
        return None
    scopes = tuple(s.strip().lower() for s in (m["scope"] or "").split(",") if s.strip())
    note = _BREAKING.search(body)
    breaking = bool(m["bang"]) or note is not None
    return Conventional(m["type"].lower(), scopes, breaking, m["desc"].strip(), note[1].strip() if note else "")


# --- author patterns --------------------------------------------------------------------

def author_regex(pattern: str) -> str:
    """A pattern on an author as a regex: ``/…/`` is a regex as written; anything else a glob in which
    only ``*`` and ``?`` are wild (so ``dependabot[bot]`` means itself), matched whole.

    >>> author_regex("*[bot]"), author_regex("/^renovate/")
    ('.*\\\\[bot\\\\]\\\\Z', '^renovate')
    """
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return pattern[1:-1]
    return re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + r"\Z"


def check_author_pattern(pattern: str) -> str | None:
    """An error message for an author pattern that does not compile, else None.

    >>> check_author_pattern("/(/") is not None, check_author_pattern("*[bot]")
    (True, None)
    """
    try:
        re.compile(author_regex(pattern))
    except re.error as exc:
        return f"{exc.msg} in {pattern!r}"
    return None


@lru_cache(maxsize=64)
def _author_res(patterns: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((p, re.compile(author_regex(p), re.IGNORECASE)) for p in patterns)


def excluded_by(commit: Commit, patterns: Sequence[str]) -> str | None:
    """The first pattern that matches the author's name, email or ``Name <email>``, else None.

    >>> bot = Commit("a" * 40, author_name="dependabot[bot]",
    ...              author_email="49699333+dependabot[bot]@users.noreply.github.com")
    >>> excluded_by(bot, BOTS), excluded_by(bot, ["/^renovate/"]), excluded_by(bot, ["*@users.noreply.github.com"])
    ('*[bot]', None, '*@users.noreply.github.com')
    """
    names = (commit.author_name, commit.author_email, commit.author)
    for pattern, regex in _author_res(tuple(patterns)):
        if any(regex.match(name) for name in names):
            return pattern
    return None


# --- rules and decisions ----------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """What a cherry-pick source lets through.

    ``types``: ``("*",)`` takes every conventional type; ``scopes``: empty takes any scope and
    none, else one of the commit's scopes must match (``*``/``?`` globs); ``paths``: globs of
    the paths a pick may change (empty: all); ``deny``/``deny_except`` as in the config (denied
    paths are dropped from the pick, case-insensitive); ``review_breaking``: a breaking change
    is picked but marked for a person's review.
    """

    types: tuple[str, ...] = DEFAULT_TYPES
    scopes: tuple[str, ...] = ()
    exclude_authors: tuple[str, ...] = ()
    review_breaking: bool = True
    paths: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    deny_except: tuple[str, ...] = ()
    skip_merges: bool = True


@dataclass(frozen=True)
class Decision:
    """Whether to pick a commit, and why: ``kind`` for code, ``reason`` for people.

    ``keep``: the paths the pick changes; ``dropped``: (path, why) left out of it.
    """

    sha: str
    pick: bool
    kind: str
    reason: str
    review: bool = False
    conventional: Conventional | None = None
    keep: tuple[str, ...] = ()
    dropped: tuple[tuple[str, str], ...] = ()


def decide(commit: Commit, rules: Rules = Rules()) -> Decision:
    """Pick or skip ``commit`` under ``rules``; the first rule that refuses it gives the reason.

    >>> c = Commit("a" * 40, author_name="Ann", author_email="a@x", subject="feat(api): add /v2",
    ...            paths=("api/v2.py", ".env", "secrets/key.pem"))
    >>> d = decide(c, Rules(deny=(".env", "**/secrets/**"))); d.pick, d.keep
    (True, ('api/v2.py',))
    >>> d.reason
    'feat(api): picked; 2 paths dropped: .env (denied by .env), secrets/key.pem (denied by **/secrets/**)'

    >>> decide(Commit("b" * 40, subject="docs: typo", paths=("README.md",))).reason
    "type 'docs' is not one of feat, fix, perf, refactor"
    """
    refused = _refusal(commit, rules)
    if refused:
        return refused
    conv = parse(commit.subject, commit.body)
    assert conv is not None  # _refusal turned away every commit without a header
    keep, dropped = split_paths(commit.paths, rules)
    if not keep:
        return Decision(commit.sha, False, ALL_DROPPED, "every path dropped: " + _dropped_text(dropped), False,
                        conv, keep, dropped)
    review = conv.breaking and rules.review_breaking
    label = _header(conv)
    reason = f"{label}: picked" + ("; breaking change: goes to review" if review else "")
    if dropped:
        reason += f"; {len(dropped)} path{'s' if len(dropped) > 1 else ''} dropped: " + _dropped_text(dropped)
    return Decision(commit.sha, True, PICKED, reason, review, conv, keep, dropped)


def select(commits: Iterable[Commit], rules: Rules = Rules()) -> list[Decision]:
    """``decide`` for each commit, in order."""
    return [decide(c, rules) for c in commits]


def _refusal(commit: Commit, rules: Rules) -> Decision | None:
    """The decision that skips ``commit`` for its kind, header, type, scope or author; None if none does."""
    def skip(kind: str, reason: str, conv: Conventional | None = None) -> Decision:
        return Decision(commit.sha, False, kind, reason, False, conv)

    if rules.skip_merges and commit.is_merge:
        return skip(MERGE, f"merge commit ({len(commit.parents)} parents): merges are not picked")
    conv = parse(commit.subject, commit.body)
    if conv is None:
        return skip(NOT_CONVENTIONAL, f"not a conventional commit: {commit.subject[:72]!r}")
    if "*" not in rules.types and conv.type not in {t.lower() for t in rules.types}:
        return skip(TYPE, f"type {conv.type!r} is not one of {', '.join(rules.types)}", conv)
    scope_refusal = _scope_refusal(conv, rules.scopes)
    if scope_refusal:
        return skip(SCOPE, scope_refusal, conv)
    pattern = excluded_by(commit, rules.exclude_authors)
    if pattern:
        return skip(AUTHOR, f"author {commit.author} is excluded by {pattern!r}", conv)
    if not commit.paths:
        return skip(NOTHING, "changes no path", conv)
    return None


def _scope_refusal(conv: Conventional, scopes: Sequence[str]) -> str | None:
    """Why the commit's scopes fall outside ``scopes`` (None: they do not, or any scope goes).

    >>> _scope_refusal(parse("fix(web): x"), ("api", "core-*")), _scope_refusal(parse("fix(core-db): x"), ("core-*",))
    ("scope 'web' is not one of api, core-*", None)
    >>> _scope_refusal(parse("fix: x"), ("api",))
    'no scope; scopes: api'
    """
    if not scopes:
        return None
    if not conv.scopes:
        return f"no scope; scopes: {', '.join(scopes)}"
    matchers = [re.compile(author_regex(s), re.IGNORECASE) for s in scopes]
    if any(m.match(s) for s in conv.scopes for m in matchers):
        return None
    return f"scope {','.join(conv.scopes)!r} is not one of {', '.join(scopes)}"


def split_paths(paths: Sequence[str], rules: Rules) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(paths kept, (path, why) dropped): denied paths (unless ``deny_except``), and paths outside ``paths``.

    >>> split_paths(["src/a.py", "docs/x.md", ".ENV"], Rules(paths=("src/**",), deny=(".env",)))
    (('src/a.py',), (('docs/x.md', 'outside paths'), ('.ENV', 'denied by .env')))
    """
    deny, allow = denied(rules.deny), globs(tuple(rules.paths))
    spared = denied(rules.deny_except)
    keep: list[str] = []
    dropped: list[tuple[str, str]] = []
    for path in paths:
        hit = deny.first(path)
        if hit is not None and not spared(path):
            dropped.append((path, f"denied by {rules.deny[hit]}"))
        elif rules.paths and not allow(path):
            dropped.append((path, "outside paths"))
        else:
            keep.append(path)
    return tuple(keep), tuple(dropped)


def _dropped_text(dropped: Sequence[tuple[str, str]]) -> str:
    return short_list([f"{p} ({why})" for p, why in dropped])


def _header(conv: Conventional) -> str:
    return conv.type + (f"({','.join(conv.scopes)})" if conv.scopes else "") + ("!" if conv.breaking else "")

