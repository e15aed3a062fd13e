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


def decide_pull_request(merge: Commit, brought: Sequence[Commit], rules: Rules = Rules(),
                        title: str | None = None) -> Decision:
    """Pick or skip a merged pull request as one change (its diff against its first parent).

    Its type and scope are the pull request's ``title`` (``pullrequests.title``: the merge's subject,
    or the body's first line under a forge's ``Merge pull request #N`` subject) when that is a
    conventional header; else its commits', where one commit of a picked type and scope is enough.
    Authors are those of its commits: it is skipped when every one of them is excluded. Paths are the
    merge's, against its first parent.

    >>> m = Commit("m" * 40, ("a" * 40, "b" * 40), subject="Merge pull request #7 from ann/cite",
    ...            body="feat(cite): a viewer", paths=("src/cite.ts", ".env"))
    >>> work = [Commit("c" * 40, subject="test(cite): cover it"), Commit("d" * 40, subject="fix(cite): off by one")]
    >>> rules = Rules(scopes=("cite",), deny=(".env",))
    >>> d = decide_pull_request(m, work, rules, "feat(cite): a viewer"); d.pick, d.keep
    (True, ('src/cite.ts',))
    >>> d.reason
    "pull request 'feat(cite): a viewer' (2 commits), feat(cite): picked; 1 path dropped: .env (denied by .env)"
    >>> decide_pull_request(m, work, rules, "Merge pull request #7 from ann/cite").reason.split(";")[0]
    "pull request 'Merge pull request #7 from ann/cite' (2 commits), fix(cite) (1 of its 2 commits): picked"
    """
    header = title if title is not None else merge.subject
    what = f"pull request {header[:72]!r} ({len(brought)} commit{'' if len(brought) == 1 else 's'})"
    conv, via = parse(header, merge.body), ""
    if conv is None:
        conv, kind, via = _via_commits(brought, rules)
        if conv is None:
            return Decision(merge.sha, False, kind, f"{what}: {via}")
    else:
        refused = _kind_refusal(conv, rules)
        if refused:
            return Decision(merge.sha, False, refused[0], f"{what}: {refused[1]}", False, conv)
    authors = [c for c in brought if not c.is_merge] or [merge]
    patterns = [excluded_by(c, rules.exclude_authors) for c in authors]
    if all(patterns):
        return Decision(merge.sha, False, AUTHOR, f"{what}: every author is excluded by {patterns[0]!r}", False, conv)
    if not merge.paths:
        return Decision(merge.sha, False, NOTHING, f"{what}: changes no path", False, conv)
    breaking = conv.breaking or any((parse(c.subject, c.body) or conv).breaking for c in brought)
    conv = Conventional(conv.type, conv.scopes, breaking, conv.description, conv.breaking_note)
    keep, dropped = split_paths(merge.paths, rules)
    if not keep:
        return Decision(merge.sha, False, ALL_DROPPED, f"{what}: every path dropped: " + _dropped_text(dropped),
                        False, conv, keep, dropped)
    review = breaking and rules.review_breaking
    reason = f"{what}, {_header(conv)}{via}: picked" + ("; breaking change: goes to review" if review else "")
    if dropped:
        reason += f"; {len(dropped)} path{'s' if len(dropped) > 1 else ''} dropped: " + _dropped_text(dropped)
    return Decision(merge.sha, True, PICKED, reason, review, conv, keep, dropped)


def _via_commits(brought: Sequence[Commit], rules: Rules) -> tuple[Conventional | None, str, str]:
    """(header, kind, text): the first of a pull request's commits whose type and scope are picked, with
    how many are (`` (1 of its 2 commits)``); else (None, the kind of refusal, why none is)."""
    headers = [h for h in (parse(c.subject, c.body) for c in brought if not c.is_merge) if h is not None]
    if not headers:
        return None, NOT_CONVENTIONAL, "neither its title nor any of its commits is a conventional commit"
    taken = [h for h in headers if _kind_refusal(h, rules) is None]
    if not taken:
        kind, why = _kind_refusal(headers[0], rules) or (TYPE, "")
        return None, kind, f"no commit of it has a type and scope that is picked (the first: {why})"
    return taken[0], PICKED, f" ({len(taken)} of its {len(brought)} commits)"


def _kind_refusal(conv: Conventional, rules: Rules) -> tuple[str, str] | None:
    """(kind, why) when the header's type or scope is not picked, else None."""
    if "*" not in rules.types and conv.type not in {t.lower() for t in rules.types}:
        return TYPE, f"type {conv.type!r} is not one of {', '.join(rules.types)}"
    scope_refusal = _scope_refusal(conv, rules.scopes)
    return (SCOPE, scope_refusal) if scope_refusal else None


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
    refused = _kind_refusal(conv, rules)
    if refused:
        return skip(*refused, conv)
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

