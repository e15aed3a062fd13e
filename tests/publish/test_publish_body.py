"""The pull request's title, labels, draft state and description (pure), and trimming to a forge's limit."""
from __future__ import annotations

import doctest
from typing import Any

import pytest

from tasks.core.outcome import Outcome
from tasks.config import DEFAULT_RISK_WEIGHTS
from tasks.publish import body
from tasks.publish.body import Section, Sync, description, fit, labels, quiet, title
from tasks.publish.risk import Facts, automerge, facts, score

GITHUB_LIMIT = 65_536


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(body).failed == 0


def sync_of(outcomes: dict[str, Any], changed: list[str], commits: dict[str, Any] | None = None,
            forge: str = "github", automerge_max: float | None = 5) -> Sync:
    f = facts(outcomes, changed)
    r = score(f, DEFAULT_RISK_WEIGHTS)
    draft = body.draft("auto", f)
    return Sync("sync/upstream", "main", "twentyhq/twenty", "https://github.com/twentyhq/twenty.git", "main",
                "0123456789abcdef0123456789abcdef01234567", outcomes, f, r, automerge(r, f, automerge_max, draft),
                draft, forge, commits or {})


def outcome(name: str, status: str = "adopted", **kw: Any) -> Outcome:
    """An outcome as ``outcome.json`` holds it."""
    return Outcome.from_json({"slice": name, "wave": "a", "upstream": "u", "parent": "p", "status": status,
                              "adopted": [], "deferred": [], "conflicts": [], "files": []} | kw)


MIXED = {
    "slice-1": outcome("slice-1", adopted=["packages/api/src/db/migrations/002.sql", "packages/api/package.json",
                                           "packages/api/yarn.lock"]),
    "slice-2": outcome("slice-2", "split", adopted=["packages/ui/src/button.tsx"], deferred=[{
        "files": ["packages/ui/src/card.tsx"], "reason": "unit: 1 test failed (exit code 1)", "checks": ["unit"],
        "tests": [{"id": "ui/card.test.tsx::renders", "line": "expected 2"}],
        "next": "these files fail `unit` on top of the sync branch: fix the cause upstream, then run "
                "`doit validate:slice-2`"}]),
    "slice-3": outcome("slice-3", "conflicted", conflicts=[{
        "path": "packages/api/src/config.ts", "reason": "3-way merge conflict",
        "next": "edit reports/slices/slice-3/conflicts/packages/api/src/config.ts and run `doit resolve:slice-3`",
        "file": "conflicts/packages/api/src/config.ts"}]),
}
CHANGED = ["packages/api/src/db/migrations/002.sql", "packages/api/package.json", "packages/api/yarn.lock",
           "packages/ui/src/button.tsx"]
COMMITS = {"slice-1": [{"sha": "a" * 40, "subject": "feat: add column (thanks @octocat)", "author": "Dev One"}],
           "slice-2": [{"sha": "b" * 40, "subject": "fix: card", "author": "Dev Two"},
                       {"sha": "a" * 40, "subject": "feat: add column (thanks @octocat)", "author": "Dev One"}]}


def test_title_fills_the_placeholders() -> None:
    s = sync_of({}, [])
    assert title("chore: sync with {source} {short_sha}", s) == "chore: sync with twentyhq/twenty 0123456789ab"
    assert title("sync {branch} → {base} ({ref}@{sha})", s) == \
        "sync sync/upstream → main (main@0123456789abcdef0123456789abcdef01234567)"


def test_labels_follow_the_risk_and_the_conflicts() -> None:
    s = sync_of(MIXED, CHANGED)
    assert labels(["upstream-sync"], s.risk, s.facts) == ("upstream-sync", "risk:medium", "conflicts")
    clean = sync_of({"slice-1": outcome("slice-1", adopted=["a.py"])}, ["a.py"])
    assert labels(["upstream-sync", "bot"], clean.risk, clean.facts) == ("upstream-sync", "bot", "risk:low")
    assert body.MANAGED == {"risk:low", "risk:medium", "risk:high", "conflicts"}


@pytest.mark.parametrize("setting,left,expected", [
    ("auto", True, True), ("auto", False, False), (True, False, True), (False, True, False)])
def test_draft_while_anything_is_left_for_a_person(setting: Any, left: bool, expected: bool) -> None:
    f = Facts(files=("a",), deferred=("b",) if left else ())
    assert body.draft(setting, f) is expected


def test_the_description_says_what_landed_what_did_not_and_why() -> None:
    s = sync_of(MIXED, CHANGED, COMMITS)
    text = description(s, GITHUB_LIMIT, "https://ci.example/run/7")
    assert text.startswith("<!-- forkwave:sync/upstream -->\n## Sync with twentyhq/twenty `0123456789ab`")
    assert "3 slices: 1 adopted, 1 conflicted, 1 split; 4 files changed" in text
    assert "**Left for a person**: 1 conflict(s), 1 deferred file(s), 1 failed check(s)" in text
    assert "**Auto-merge**: no (1 conflict(s) left for a person)" in text
    assert "### Risk: 14 (medium)" in text   # 4 files + 3 × 1 failed check + 5 × 1 new failing test + 2 migrations
    assert "| files | files the pull request changes | 4 | 1 | 4 |" in text
    assert "| migrations | database migrations changed (1 if any) | 1 | 2 | 2 |" in text
    # conflicts, with how to resolve them
    assert "- `packages/api/src/config.ts` (slice-3): 3-way merge conflict. To resolve: edit reports/slices/slice-3/" \
           "conflicts/packages/api/src/config.ts and run `doit resolve:slice-3`" in text
    # deferred, with the reason, the failing test and the next step
    assert "- `packages/ui/src/card.tsx` (slice-2): unit: 1 test failed (exit code 1). Failing tests: " \
           "`ui/card.test.tsx::renders`. Next: these files fail `unit`" in text
    # side effects
    assert "- **migrations**: `packages/api/src/db/migrations/002.sql`" in text
    assert "- **dependency manifests and lockfiles**: `packages/api/package.json`, `packages/api/yarn.lock`" in text
    # upstream commits once each, linked, and mentioning nobody (inside code)
    assert text.count("| [`aaaaaaaaaaaa`]") == 1 and "### Upstream commits (2)" in text
    assert "[`aaaaaaaaaaaa`](https://github.com/twentyhq/twenty/commit/" + "a" * 40 + ")" in text
    assert "| `feat: add column (thanks @octocat)` | `Dev One` |" in text
    assert "**Full report**: [the run's reports](https://ci.example/run/7)." in text
    assert "### Changed files (4)" in text and "Trimmed" not in text


def test_the_description_names_the_token_scope_a_workflow_change_needs() -> None:
    s = sync_of({"slice-4": outcome("slice-4", adopted=[".github/workflows/ci.yml"])}, [".github/workflows/ci.yml"])
    text = description(s, GITHUB_LIMIT, None)
    assert "**Token scope**: this branch changes `.github/workflows/ci.yml`: GitHub takes the push only from a " \
           "token with the `workflow` scope" in text
    assert "`reports/` of the workspace that ran forkwave" in text
    other = sync_of({"slice-4": outcome("slice-4", adopted=[".gitlab-ci.yml"])}, [".gitlab-ci.yml"])
    assert "Token scope" not in description(other, GITHUB_LIMIT, None)


def test_a_clean_sync_says_so_and_merges_by_itself() -> None:
    s = sync_of({"slice-1": outcome("slice-1", adopted=["a.py", "b.py"])}, ["a.py", "b.py"])
    text = description(s, GITHUB_LIMIT, None)
    assert "**Left for a person**: nothing; every slice was adopted." in text
    assert "**Auto-merge**: yes: the forge merges this once its required checks pass (risk 2 ≤ automerge_max 5" in text
    assert "### Conflicts" not in text and "### Deferred" not in text


def huge() -> Sync:
    """20,000 changed files, 3,000 upstream commits, 400 deferred groups and 300 conflicts."""
    paths = [f"packages/p{i % 50}/src/module_{i}/index.ts" for i in range(20_000)]
    outcomes = {"slice-1": outcome("slice-1", "conflicted", adopted=paths,
                                   conflicts=[{"path": f"c/{i}.ts", "reason": "3-way merge conflict",
                                               "next": f"edit c/{i}.ts and run `doit resolve:slice-1`"}
                                              for i in range(300)],
                                   deferred=[{"files": [f"d/{i}.ts"], "reason": "build failed " * 5,
                                              "checks": ["build"], "next": "fix it"} for i in range(400)])}
    commits = {"slice-1": [{"sha": f"{i:040x}", "subject": f"commit number {i} " * 4, "author": "A"}
                           for i in range(3000)]}
    return sync_of(outcomes, paths, commits)


def test_a_huge_description_is_trimmed_to_githubs_limit_least_important_first() -> None:
    s = huge()
    whole = description(s, None, "https://ci.example/run/7")
    assert len(whole) > 10 * GITHUB_LIMIT
    text = description(s, GITHUB_LIMIT, "https://ci.example/run/7")
    assert len(text) <= GITHUB_LIMIT
    assert text.startswith("<!-- forkwave:sync/upstream -->")
    assert "### Risk: " in text and "| files | files the pull request changes | 20000 |" in text
    assert "c/299.ts" in text                                         # every conflict kept: they need a person
    assert "- … and" in text and "more in the full report" in text
    assert "### Changed files (20000)" in text and "</details>" in text  # the list is cut, its markup stays whole
    assert text.index("<details>") < text.index("</details>")
    assert text.rstrip().endswith("everything is in [the run's reports](https://ci.example/run/7)._")
    assert "characters (" in text and "lines left out)" in text


def test_gitlabs_limit_keeps_what_githubs_cuts() -> None:
    s = huge()
    gitlab = description(s, 1_048_576, None)
    github = description(s, GITHUB_LIMIT, None)
    assert GITHUB_LIMIT < len(gitlab) <= 1_048_576 and len(github) <= GITHUB_LIMIT
    assert gitlab.count("- `d/") > github.count("- `d/")


@pytest.mark.parametrize("limit", [200, 1_000, 5_000, 20_000])
def test_fit_never_exceeds_the_limit(limit: int) -> None:
    sections = [Section(["# head", "x" * 50], [], keep=100),
                Section(["## a"], [f"- item {i} " + "y" * (i % 70) for i in range(500)], ["", "end a"], keep=50),
                Section(["## b"], [f"- other {i}" for i in range(500)], keep=10)]
    out = fit(sections, limit, "the reports")
    assert len(out) <= limit
    assert out.startswith("# head") if limit >= 1_000 else True
    if limit >= 5_000:
        assert "- item 0 " in out and "end a" in out and "more in the full report" in out
        assert out.count("- other") < out.count("- item")          # the least kept section gives way first


def test_quiet_breaks_mentions_outside_code_only() -> None:
    assert quiet("ping @team and @user-1") == "ping @\u200bteam and @\u200buser-1"
    assert quiet("`@scope/pkg` stays, email a@b stays") == "`@scope/pkg` stays, email a@\u200bb stays"
    assert quiet("two\nlines") == "two lines"
