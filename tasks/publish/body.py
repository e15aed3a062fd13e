"""The pull request's title, labels and description, from the slices' outcomes; trimmed to the forge's limit. Pure."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks.core.outcome import COMMITS, Outcome, add, plural
from tasks.publish.risk import DESCRIBE, Decision, Facts, Risk, number
from tasks.report.render import code, table
from tasks.report.reports import side_effects

RISK_LABELS = tuple(f"risk:{lv}" for lv in ("low", "medium", "high"))
CONFLICTS_LABEL = "conflicts"
MANAGED = frozenset({*RISK_LABELS, CONFLICTS_LABEL})   # labels forkwave adds and also takes away
MARKER = "<!-- forkwave:{branch} -->"                   # first line of every body forkwave writes


@dataclass(frozen=True)
class Upstream:
    """One source whose work is on the branch: its name, URL (credentials redacted), ref and the revision synced."""

    name: str
    url: str
    ref: str
    sha: str


@dataclass(frozen=True)
class Sync:
    """One sync branch as its pull request describes it. Several sources on one branch (``sources``): the title
    names them all, the description gives each one's URL and revision, ``held`` the ones not to merge yet."""

    branch: str                      # the sync branch (the PR's head)
    base: str                        # fork.branch (the PR's base)
    source: str                      # the source's name, for the title
    upstream: str                    # its URL, credentials redacted
    ref: str
    sha: str                         # the upstream revision synced
    outcomes: Mapping[str, Outcome | None]
    facts: Facts
    risk: Risk
    decision: Decision
    draft: bool
    forge: str = "github"            # github | gitlab | none: which token scope to name
    commits: Mapping[str, Sequence[Mapping[str, str]]] = field(default_factory=dict)  # slice -> upstream commits
    sources: tuple[Upstream, ...] = ()   # several sources on the branch, in config order
    held: Mapping[str, str] = field(default_factory=dict)   # source -> why its part must not be merged yet

    def url_of(self, slice_source: str | None) -> str:
        """The URL of the source a slice came from (the one upstream's, with one source)."""
        return next((u.url for u in self.sources if u.name == slice_source), self.upstream)


def title(template: str, sync: Sync) -> str:
    """``publish.title`` filled in (the config checked its placeholders). Several sources on one branch are
    named one after the other, and their revisions (several, one per source) are left to the description.

    >>> s = Sync("sync/upstream", "main", "acme/app", "u", "main", "0123456789abcdef", {}, Facts(), Risk(0, "low", ()),
    ...          Decision(False, ""), False)
    >>> title("chore: sync with {source} {short_sha}", s)
    'chore: sync with acme/app 0123456789ab'
    >>> two = (Upstream("web", "u1", "16.0", "aaa"), Upstream("sale", "u2", "16.0", "bbb"))
    >>> from dataclasses import replace
    >>> title("chore: sync with {source} {short_sha}", replace(s, source="web, sale", sha="", ref="", sources=two))
    'chore: sync with web, sale'
    """
    return " ".join(template.format(source=sync.source, short_sha=sync.sha[:12], sha=sync.sha, ref=sync.ref,
                                    branch=sync.branch, base=sync.base).split())


def labels(configured: Sequence[str], risk: Risk, facts: Facts) -> tuple[str, ...]:
    """``publish.labels``, the risk level, and ``conflicts`` while any are left.

    >>> labels(["upstream-sync"], Risk(9, "medium", ()), Facts(conflicts=("a",)))
    ('upstream-sync', 'risk:medium', 'conflicts')
    """
    wanted = [*configured, f"risk:{risk.level}"] + ([CONFLICTS_LABEL] if facts.conflicts else [])
    return tuple(dict.fromkeys(wanted))


def draft(setting: str | bool, facts: Facts) -> bool:
    """``publish.draft``: ``auto`` is a draft while anything is left for a person."""
    return facts.left_for_a_person if setting == "auto" else bool(setting)


# --- the description ---------------------------------------------------------------------------

@dataclass
class Section:
    """Part of the description: ``items`` (one line each) may be left out from the end when it must be trimmed."""

    head: list[str]
    items: list[str]
    tail: list[str] = field(default_factory=list)
    keep: int = 0                    # trimming order: sections of lower ``keep`` lose their items first
    more: str = "- … and {n} more in the full report"

    def lines(self, shown: int | None = None) -> list[str]:
        n = len(self.items) if shown is None else shown
        rest = len(self.items) - n
        return [*self.head, *self.items[:n], *([self.more.format(n=rest)] if rest else []), *self.tail]


def description(sync: Sync, limit: int | None, report_url: str | None) -> str:
    """The whole description, trimmed to ``limit`` characters (None: whole) with a pointer to the full report."""
    where = (f"[the run's reports]({report_url})" if report_url else
             "`reports/` of the workspace that ran forkwave (`reports/wave-*/report.md`)")
    sections = [_header(sync, where), _risk(sync), _conflicts(sync), _deferred(sync), _side_effects(sync),
                _commits(sync), _adopted(sync)]
    return fit(sections, limit, where)


def fit(sections: Sequence[Section], limit: int | None, where: str) -> str:
    """Join ``sections``; over ``limit``, leave out items, least kept first, and say so at the end.

    >>> s = [Section(["# t"], [], keep=9), Section(["## files"], [f"- f{i}" for i in range(100)])]
    >>> out = fit(s, 300, "x")
    >>> len(out) <= 300, "- f0" in out, "- f99" in out, "more in the full report" in out
    (True, True, False, True)
    """
    text = _join(section.lines() for section in sections)
    if limit is None or len(text) <= limit:
        return text
    total = sum(len(s.items) for s in sections)
    notice = _notice(limit, total, where)  # the longest it can be: as many digits as there are items
    budget = limit - len(notice)
    shown = {id(s): len(s.items) for s in sections}
    size = len(text)
    for s in sorted(sections, key=lambda s: s.keep):
        if size <= budget:
            break
        shown[id(s)], size = _shrink(s, size, budget)
    text = _join(s.lines(shown[id(s)]) for s in sections)
    notice = _notice(limit, total - sum(shown.values()), where)
    return text[:max(0, limit - len(notice))] + notice if len(text) + len(notice) > limit else text + notice


def _notice(limit: int, left_out: int, where: str) -> str:
    return (f"\n---\n_Trimmed to the forge's limit of {limit:,} characters ({left_out} lines left out); "
            f"everything is in {where}._\n")


def _shrink(s: Section, size: int, budget: int) -> tuple[int, int]:
    """How many of ``s``'s items to show so that the whole text (now ``size``) fits ``budget``, and the new size."""
    full = sum(len(i) + 1 for i in s.items)
    kept = full
    for n in range(len(s.items), -1, -1):
        if n < len(s.items):
            kept -= len(s.items[n]) + 1
        more = len(s.more.format(n=len(s.items) - n)) + 1 if n < len(s.items) else 0
        now = size - full + kept + more
        if now <= budget or n == 0:
            return n, now
    return 0, size


def _join(parts: Any) -> str:
    return "\n".join("\n".join(p) for p in parts) + "\n"


def quiet(text: str) -> str:
    """Free text (a check's reason, a next step) that notifies nobody: ``@name`` outside code spans is broken
    with a zero-width space, as GitHub and GitLab would otherwise mention (and notify) that user or team.

    >>> quiet("needs @nestjs/core, see `@types/node`")
    'needs @\u200bnestjs/core, see `@types/node`'
    """
    parts = re.split(r"(`+[^`]*`+)", text.replace("\n", " "))
    return "".join(p if p.startswith("`") else re.sub(r"@(?=\w)", "@\u200b", p) for p in parts)


def _statuses(sync: Sync) -> str:
    counts: dict[str, int] = {}
    for o in sync.outcomes.values():
        s = str(o.status) if o else "not run"
        counts[s] = counts.get(s, 0) + 1
    n = len(sync.outcomes)
    units = add(o.counts() for o in sync.outcomes.values() if o)
    commits = units.get(COMMITS)
    upstream = (f" ({plural(commits['adopted'], COMMITS)} of {commits['total']} adopted"
                + "".join(f", {commits[k]} {k}" for k in ("conflicted", "deferred", "waiting") if commits[k]) + ")"
                ) if commits else ""
    return f"{n} slice{'' if n == 1 else 's'}" + (": " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                                                  if counts else "") + upstream


def scope_note(sync: Sync) -> str | None:
    """Which token scope the push needs, when it needs more than write access (GitHub: ``workflow``)."""
    workflows = [p for p in sync.facts.workflows if p.startswith(".github/workflows/")]
    if not workflows:
        return None
    shown = ", ".join(code(p, cell=False) for p in workflows[:5]) + (" …" if len(workflows) > 5 else "")
    if sync.forge == "github":
        return (f"this branch changes {shown}: GitHub takes the push only from a token with the `workflow` scope "
                "(classic token) or *Workflows: write* (fine-grained token, GitHub App); the Actions "
                "`GITHUB_TOKEN` never has it.")
    return f"this branch changes {shown} (GitHub Actions workflows); a push to GitHub would need the `workflow` scope."


def _origin(sync: Sync) -> list[str]:
    """Where the branch's work comes from: the upstream, or with several sources each one's URL and revision."""
    f = sync.facts
    what = (f"from {code(sync.branch, cell=False)} into {code(sync.base, cell=False)}: {_statuses(sync)}; "
            f"{len(f.files)} file{'' if len(f.files) == 1 else 's'} changed.")
    if not sync.sources:
        return [f"## Sync with {quiet(sync.source)} {code(sync.sha[:12], cell=False)}", "",
                f"Upstream {code(sync.upstream, cell=False)} {code(sync.ref, cell=False)} at "
                f"{code(sync.sha[:12], cell=False)}, {what}", ""]
    rows = [[u.name, code(u.url), code(u.ref), code(u.sha[:12]) if u.sha else "—",
             "held (below)" if u.name in sync.held else "ready"] for u in sync.sources]
    return [f"## Sync with {quiet(sync.source)}", "", f"From {what}", "",
            table(["source", "upstream", "ref", "revision", "state"], rows, "lllll"), ""]


def _header(sync: Sync, where: str) -> Section:
    f = sync.facts
    head = [MARKER.format(branch=sync.branch), *_origin(sync)]
    left = [f"{len(f.conflicts)} conflict(s)" if f.conflicts else "", f"{len(f.deferred)} deferred file(s)"
            if f.deferred else "", f"{len(f.waiting)} file(s) waiting behind a conflict" if f.waiting else "",
            f"{len(f.failed_checks)} failed check(s)" if f.failed_checks else "",
            f"{len(f.not_run)} slice(s) not run" if f.not_run else "", f"{len(f.errors)} slice(s) that could not run"
            if f.errors else ""]
    left = [x for x in left if x]
    head.append(f"- **Left for a person**: {', '.join(left)} (below)." if left else
                "- **Left for a person**: nothing; every slice was adopted.")
    for name, why in sync.held.items():  # its work is on the branch, judged and refused: not to be merged yet
        head.append(f"- **Held**: {quiet(name)} — {quiet(why)}; this pull request stays a draft until it passes.")
    merge = ("yes: the forge merges this once its required checks pass" if sync.decision.merge else "no")
    head.append(f"- **Auto-merge**: {merge} ({sync.decision.why}).")
    head.append(f"- **Risk**: {number(sync.risk.score)} ({sync.risk.level}); the terms are below.")
    note = scope_note(sync)
    if note:
        head.append(f"- **Token scope**: {note}")
    head += [f"- **Full report**: {where}.", ""]
    return Section(head, [], keep=100)


def _risk(sync: Sync) -> Section:
    rows = [[t.name, DESCRIBE[t.name], t.value, number(t.weight), number(t.points)] for t in sync.risk.terms
            if t.weight or t.value]
    return Section([f"### Risk: {number(sync.risk.score)} ({sync.risk.level})", "",
                    table(["term", "what", "value", "weight", "points"], rows, "llrrr"), "",
                    "Weights are `publish.risk.weights` in forkwave.yaml; the seed's formula is the default: "
                    "files + 3 × failed checks + 5 × new failing tests + 2 if migrations.", ""], [], keep=90)


def _conflicts(sync: Sync) -> Section:
    items = [f"- {code(c.path, cell=False)} ({name}): {quiet(c.reason)}. To resolve: {quiet(c.next)}"
             for name, o in sync.outcomes.items() if o for c in o.conflicts]
    if not items:
        return Section([], [])
    head = [f"### Conflicts ({len(items)}): not in this branch yet", "",
            f"Resolve each on {code(sync.branch, cell=False)} (commit and push there from any checkout); the next "
            "forkwave run validates the resolution and this pull request follows.", ""]
    return Section(head, items, [""], keep=80)


def _deferred(sync: Sync) -> Section:
    items = []
    for name, o in sync.outcomes.items():
        for d in (o.deferred if o else ()):
            files = ", ".join(code(p, cell=False) for p in d.files[:10]) + (" …" if len(d.files) > 10 else "")
            tests = [t["id"] for t in d.tests][:5]
            extra = f" Failing tests: {', '.join(code(t, cell=False) for t in tests)}." if tests else ""
            items.append(f"- {files} ({name}): {quiet(d.reason)}.{extra} Next: {quiet(d.next)}")
    if not items:
        return Section([], [])
    return Section([f"### Deferred ({len(sync.facts.deferred)} files): not in this branch", ""], items, [""], keep=70)


def _side_effects(sync: Sync) -> Section:
    effects = side_effects(list(sync.facts.files))
    items = [f"- **{kind}**: " + ", ".join(code(p, cell=False) for p in paths[:20])
             + (f" … and {len(paths) - 20} more" if len(paths) > 20 else "")
             for kind, paths in effects.items() if paths]
    return Section(["### Side effects to review", ""], items or ["- none"], [""], keep=60)


def commit_url(upstream: str, sha: str) -> str | None:
    """A web link to an upstream commit on GitHub or GitLab (https URLs only).

    >>> commit_url("https://github.com/twentyhq/twenty.git", "abc")
    'https://github.com/twentyhq/twenty/commit/abc'
    >>> commit_url("https://gitlab.com/g/p.git", "abc"), commit_url("/srv/up.git", "abc")
    ('https://gitlab.com/g/p/-/commit/abc', None)
    """
    m = re.match(r"^https://([^/@]+)/(.+?)(?:\.git)?/?$", upstream)
    if not m:
        return None
    host = m.group(1).lower()
    if "github" in host:
        return f"https://{m.group(1)}/{m.group(2)}/commit/{sha}"
    if "gitlab" in host:
        return f"https://{m.group(1)}/{m.group(2)}/-/commit/{sha}"
    return None


def _commits(sync: Sync) -> Section:
    seen: dict[str, tuple[Mapping[str, str], str | None]] = {}
    for name, o in sync.outcomes.items():
        for c in sync.commits.get(name, ()):
            seen.setdefault(c["sha"], (c, o.source if o else None))  # linked to the source it came from
    rows = []
    for sha, (c, source) in seen.items():
        link = commit_url(sync.url_of(source), sha)
        short = f"[{code(sha[:12])}]({link})" if link else code(sha[:12])
        rows.append(f"| {short} | {code(c['subject'][:100])} | {code(c['author'])} |")
    head = [f"### Upstream commits ({len(rows)})", ""]
    if not rows:
        return Section(head, ["No upstream commit touched these files since the base (or no base is known).", ""])
    return Section([*head, "| commit | subject | author |", "| --- | --- | --- |"], rows, [""], keep=40,
                   more="| … | {n} more in the full report | |")


def _adopted(sync: Sync) -> Section:
    files = sync.facts.files
    return Section([f"### Changed files ({len(files)})", "", "<details><summary>paths</summary>", ""],
                   [f"- {code(p, cell=False)}" for p in files], ["", "</details>", ""], keep=20)
