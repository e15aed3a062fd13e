"""The sync dashboard issue on GitHub and GitLab: found by its marker, opened once (and pinned on GitHub), its
body updated in place, never a second one; a closed one left alone; trimmed to the forge's limit.

Against ``forgekit``'s fake forges, which check each request against the documented REST fields
(GitHub: ``GET/POST/PATCH /repos/{owner}/{repo}/issues``, GraphQL ``pinIssue``; GitLab:
``GET/POST/PUT /projects/{id}/issues``) and keep state: what the server holds at the end is what counts.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from forgekit import TOKEN, FakeGitHub, FakeGitLab, serve
from tasks.publish import forge
from tasks.publish.forge import Credential, Notice, sync_issue
from tasks.publish.issue import LABEL, MARKER, TITLE

CRED = Credential(TOKEN, "FORKWAVE_TOKEN", "x-access-token")


def notice(body: str = "dashboard v1") -> Notice:
    return Notice(TITLE, f"{MARKER}\n{body}", LABEL, MARKER)


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKWAVE_GITHUB_WRITE_INTERVAL", "0")


@pytest.fixture
def github(httpserver: Any) -> Iterator[FakeGitHub]:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/")))
    yield fake  # type: ignore[misc]
    assert fake.violations == []
    httpserver.check_handler_errors()


@pytest.fixture
def gitlab(httpserver: Any) -> Iterator[FakeGitLab]:
    fake = serve(httpserver, FakeGitLab(httpserver.url_for("/")))
    yield fake  # type: ignore[misc]
    assert fake.violations == []
    httpserver.check_handler_errors()


def gh(fake: FakeGitHub) -> Any:
    return forge.load("github")(fake.api, fake.repository, CRED)


def gl(fake: FakeGitLab) -> Any:
    return forge.load("gitlab")(fake.url + "/api/v4", fake.project, CRED)


# --- GitHub ---------------------------------------------------------------------------------------

def test_github_opens_pins_and_then_updates_one_dashboard_issue(github: FakeGitHub) -> None:
    github.add_issue("A bug", "something broke", ["bug"], user="alice")
    issue, did = sync_issue(gh(github), notice())
    assert did == "opened, pinned" and issue.url.endswith(f"/issues/{issue.number}")
    mine = github.issues[issue.number]
    assert (mine["title"], mine["body"], mine["labels"], mine.get("pinned")) == (TITLE, f"{MARKER}\ndashboard v1",
                                                                               [LABEL], True)
    create = next(b for m, p, b in github.requests if (m, p) == ("POST", "/repos/o/r/issues"))
    assert set(create) == {"title", "body", "labels"}

    again, did = sync_issue(gh(github), notice("dashboard v2"))
    assert (again.number, did) == (issue.number, "updated") and len(github.issues) == 2
    assert github.issues[issue.number]["body"] == f"{MARKER}\ndashboard v2"
    patch = next(b for m, p, b in github.requests if m == "PATCH")
    assert set(patch) == {"title", "body"}                        # the labels were right: not sent again

    github.requests.clear()
    _, did = sync_issue(gh(github), notice("dashboard v2"))
    assert did == "up to date already" and github.writes() == []  # nothing changed: nothing written


def test_github_finds_it_by_its_marker_not_by_a_pull_request_or_a_lookalike(github: FakeGitHub) -> None:
    github.pulls[1] = {"number": 1, "state": "open", "title": "sync", "body": f"{MARKER} quoted in a pull request",
                       "draft": False, "merged": False, "labels": [LABEL], "reviewers": [], "teams": [],
                       "assignees": [],
                       "automerge": None, "head": "sync/upstream", "base": "main"}
    github.add_issue("Sync dashboard", "no marker here", [LABEL])            # a person's issue of the same name
    mine = github.add_issue(TITLE, f"{MARKER}\nold", [LABEL, "pinned-by-hand"])
    issue, did = sync_issue(gh(github), notice())
    assert (issue.number, did) == (mine, "updated")
    assert github.issues[mine]["labels"] == [LABEL, "pinned-by-hand"]       # a person's label stays
    assert not any(m == "POST" for m, _, _ in github.requests)


def test_github_finds_it_by_its_creator_when_a_person_took_the_label_off(github: FakeGitHub) -> None:
    mine = github.add_issue(TITLE, f"{MARKER}\nold", ["triaged"])
    issue, did = sync_issue(gh(github), notice())
    assert (issue.number, did) == (mine, "updated") and len(github.issues) == 1
    assert github.issues[mine]["labels"] == ["triaged", LABEL]              # its label put back
    assert ("GET", "/user", None) in github.requests


def test_github_with_an_app_token_that_may_not_ask_who_it_is_still_opens_only_one(github: FakeGitHub) -> None:
    github.app_token = True
    github.pin_allowed = False
    first, did = sync_issue(gh(github), notice())
    assert did.startswith("opened, not pinned (Resource not accessible") and "pin it by hand" in did
    second, did = sync_issue(gh(github), notice("v2"))
    assert (second.number, did, len(github.issues)) == (first.number, "updated", 1)


def test_github_leaves_a_dashboard_a_person_closed_alone(github: FakeGitHub) -> None:
    mine = github.add_issue(TITLE, f"{MARKER}\nold", [LABEL], state="closed")
    issue, did = sync_issue(gh(github), notice())
    assert issue.number == mine and did.startswith("closed by a person: left as it is")
    assert github.writes() == [] and len(github.issues) == 1


# --- GitLab ---------------------------------------------------------------------------------------

def test_gitlab_opens_then_updates_one_dashboard_issue(gitlab: FakeGitLab) -> None:
    gitlab.add_issue("A bug", "something broke", ["bug"], author="alice")
    issue, did = sync_issue(gl(gitlab), notice())
    assert did.startswith("opened, not pinned (GitLab has no pinned issues")
    mine = gitlab.issues[issue.number]
    assert (mine["title"], mine["description"], mine["labels"]) == (TITLE, f"{MARKER}\ndashboard v1", [LABEL])
    listed = [p for m, p, _ in gitlab.requests if m == "GET"]
    assert listed and all(p.endswith("/issues") for p in listed)

    again, did = sync_issue(gl(gitlab), notice("dashboard v2"))
    assert (again.number, did, len(gitlab.issues)) == (issue.number, "updated", 2)
    put = next(b for m, p, b in gitlab.requests if m == "PUT")
    assert set(put) == {"title", "description"}
    assert gitlab.issues[issue.number]["description"] == f"{MARKER}\ndashboard v2"


def test_gitlab_finds_its_own_issue_when_the_label_is_gone_and_puts_it_back(gitlab: FakeGitLab) -> None:
    gitlab.add_issue(TITLE, f"{MARKER}\nby a person, quoting the marker", [], author="alice")
    mine = gitlab.add_issue(TITLE, f"{MARKER}\nold", ["triaged"])
    issue, did = sync_issue(gl(gitlab), notice())
    assert (issue.number, did) == (mine, "updated")
    assert gitlab.issues[mine]["labels"] == ["triaged", LABEL] and len(gitlab.issues) == 2
    scoped = [b for m, p, b in gitlab.requests if m == "GET"]
    assert len(scoped) == 2                                            # by label, then the token's user's own


def test_gitlab_leaves_a_closed_dashboard_alone(gitlab: FakeGitLab) -> None:
    gitlab.add_issue(TITLE, f"{MARKER}\nold", [LABEL], state="closed")
    _, did = sync_issue(gl(gitlab), notice())
    assert did.startswith("closed by a person") and gitlab.writes() == [] and len(gitlab.issues) == 1


def test_the_marker_is_not_a_pull_requests_marker() -> None:
    from tasks.publish.body import MARKER as PR_MARKER

    assert PR_MARKER.format(branch="dashboard") != MARKER
