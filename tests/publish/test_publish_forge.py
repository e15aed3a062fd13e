"""The forge layer against fake GitHub and GitLab servers that check every request against the documented API.

Never a real forge: ``forgekit.FakeGitHub``/``FakeGitLab`` run in-process (pytest-httpserver) and keep
state, so idempotency (update, never a second pull request), draft, body trimming and label changes
when the risk changes are checked on what the server ends up holding.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from forgekit import BOT, TOKEN, FakeGitHub, FakeGitLab, serve
from tasks.config import Publish
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.publish import forge
from tasks.publish.body import MANAGED, description
from tasks.publish.forge import Credential, Proposal, credential, sync, target

CRED = Credential(TOKEN, "FORKWAVE_TOKEN", "x-access-token")


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


def gh_client(fake: FakeGitHub, cred: Credential = CRED) -> Any:
    return forge.load("github")(fake.api, fake.repository, cred)


def gl_client(fake: FakeGitLab, cred: Credential = CRED) -> Any:
    return forge.load("gitlab")(fake.url + "/api/v4", fake.project, cred)


def proposal(**kw: Any) -> Proposal:
    base = {"head": "sync/upstream", "base": "main", "title": "chore: sync with up 0123456789ab", "body": "report v1",
            "draft": False, "labels": ("upstream-sync", "risk:low"), "managed": MANAGED}
    return Proposal(**(base | kw))


# --- GitHub ---------------------------------------------------------------------------------------

def test_github_opens_one_pull_request_with_labels_reviewers_and_assignees(github: FakeGitHub) -> None:
    done = sync(gh_client(github), proposal(reviewers=("alice", "@o/core"), assignees=("bob",)))
    assert done.did == ("opened", "labels +upstream-sync +risk:low", "reviewers +alice +@o/core", "assignees +bob")
    (pr,) = github.pulls.values()
    assert (pr["title"], pr["body"], pr["draft"], pr["head"], pr["base"]) == (
        "chore: sync with up 0123456789ab", "report v1", False, "sync/upstream", "main")
    assert pr["labels"] == ["upstream-sync", "risk:low"] and pr["reviewers"] == ["alice"] and pr["teams"] == ["core"]
    assert pr["assignees"] == ["bob"] and done.change.url.endswith("/pull/1")
    assert ("GET", "/repos/o/r/pulls", None) in github.requests
    assert not any(p == "/repos/o/r" for _, p, _ in github.requests)   # lazy: no look-up of the repository first
    create = next(b for m, p, b in github.requests if (m, p) == ("POST", "/repos/o/r/pulls"))
    assert set(create) == {"title", "head", "base", "body", "draft"}


def test_github_a_second_publish_of_the_same_proposal_writes_nothing(github: FakeGitHub) -> None:
    client = gh_client(github)
    first = sync(client, proposal(reviewers=("alice",)))
    github.requests.clear()
    again = sync(gh_client(github), proposal(reviewers=("alice",)), first.requested)
    assert again.did == () and github.writes() == [] and len(github.pulls) == 1


def test_github_updates_in_place_never_a_second(github: FakeGitHub) -> None:
    sync(gh_client(github), proposal())
    done = sync(gh_client(github), proposal(title="chore: sync with up fedcba987654", body="report v2"))
    assert done.did == ("updated title, description",)
    assert len(github.pulls) == 1 and github.pulls[1]["body"] == "report v2"
    patch = next(b for m, p, b in github.requests if m == "PATCH")
    assert set(patch) == {"title", "body"}                       # no `draft`: REST cannot change it


def test_github_draft_goes_both_ways_through_graphql(github: FakeGitHub) -> None:
    sync(gh_client(github), proposal(draft=True))
    assert github.pulls[1]["draft"] is True
    done = sync(gh_client(github), proposal(draft=False))
    assert done.did == ("updated ready for review",) and github.pulls[1]["draft"] is False
    sync(gh_client(github), proposal(draft=True))
    assert github.pulls[1]["draft"] is True
    queries = [b["query"] for m, p, b in github.requests if p == "/graphql"]
    assert ["markPullRequestReadyForReview" in q for q in queries] == [True, False]
    assert all(b["variables"]["input"]["pullRequestId"] == "PR_kw1" for m, p, b in github.requests if p == "/graphql")


def test_github_labels_follow_the_risk_and_a_persons_labels_stay(github: FakeGitHub) -> None:
    sync(gh_client(github), proposal(labels=("upstream-sync", "risk:low")))
    github.pulls[1]["labels"].append("needs-love")               # a person's label
    done = sync(gh_client(github), proposal(labels=("upstream-sync", "risk:high", "conflicts")))
    assert done.did == ("labels +risk:high +conflicts -risk:low",)
    assert github.pulls[1]["labels"] == ["upstream-sync", "needs-love", "risk:high", "conflicts"]
    assert ("DELETE", "/repos/o/r/issues/1/labels/risk%3Alow", None) in github.requests
    done = sync(gh_client(github), proposal(labels=("upstream-sync", "risk:medium")))
    assert github.pulls[1]["labels"] == ["upstream-sync", "needs-love", "risk:medium"]
    assert done.change.labels == ("upstream-sync", "needs-love", "risk:medium")


def test_github_a_label_a_person_removed_already_is_no_error(github: FakeGitHub) -> None:
    client = gh_client(github)
    change = sync(client, proposal(labels=("upstream-sync", "conflicts"))).change
    github.pulls[1]["labels"].remove("conflicts")
    client.set_labels(change, [], ["conflicts"])                 # GitHub answers 404: nothing to do
    assert github.pulls[1]["labels"] == ["upstream-sync"]


def test_github_conflict_reviewers_only_while_there_are_conflicts(github: FakeGitHub) -> None:
    first = sync(gh_client(github), proposal(reviewers=("alice", "carol")))
    assert github.pulls[1]["reviewers"] == ["alice", "carol"]
    done = sync(gh_client(github), proposal(reviewers=("alice",), unrequest=("carol",)), first.requested)
    assert done.did == ("reviewers -carol",) and github.pulls[1]["reviewers"] == ["alice"]
    delete = next(b for m, p, b in github.requests if m == "DELETE" and p.endswith("requested_reviewers"))
    assert delete == {"reviewers": ["carol"]}


def test_github_never_asks_the_author_or_someone_already_asked(github: FakeGitHub) -> None:
    first = sync(gh_client(github), proposal(reviewers=(BOT, "alice")))
    assert github.pulls[1]["reviewers"] == ["alice"]
    github.pulls[1]["reviewers"] = []                            # alice reviewed: GitHub drops the request
    again = sync(gh_client(github), proposal(reviewers=(BOT, "alice")), first.requested)
    assert again.did == () and github.pulls[1]["reviewers"] == []  # no second ping


def test_github_automerge_on_a_low_risk_then_off_when_the_risk_rises(github: FakeGitHub) -> None:
    done = sync(gh_client(github), proposal(automerge=True, merge_method="squash"))
    assert done.automerge == "enabled: GitHub merges it once the required checks pass"
    assert github.pulls[1]["automerge"] == "SQUASH"
    mutation = next(b for m, p, b in github.requests if p == "/graphql")
    assert "enablePullRequestAutoMerge" in mutation["query"]
    assert mutation["variables"]["input"] == {"pullRequestId": "PR_kw1", "mergeMethod": "SQUASH"}
    again = sync(gh_client(github), proposal(automerge=True, merge_method="squash"))
    assert again.automerge == "enabled already"
    off = sync(gh_client(github), proposal(labels=("upstream-sync", "risk:high")))
    assert off.automerge.startswith("disabled") and github.pulls[1]["automerge"] is None


def test_github_with_nothing_required_pending_it_merges_now(github: FakeGitHub) -> None:
    github.clean = True
    done = sync(gh_client(github), proposal(automerge=True))
    assert done.automerge == "merged: nothing the branch protection requires was pending"
    assert github.pulls[1]["merged"] and github.pulls[1]["state"] == "closed"
    merge = next(b for m, p, b in github.requests if m == "PUT" and p.endswith("/merge"))
    assert merge == {"merge_method": "merge"}


def test_github_a_refused_automerge_is_one_line(github: FakeGitHub) -> None:
    github.automerge_allowed = False
    with pytest.raises(ForkwaveFailure) as exc:
        sync(gh_client(github), proposal(automerge=True))
    assert str(exc.value).startswith("publish: GitHub refused to enable auto-merge on #1")
    assert "Auto merge is not allowed for this repository" in str(exc.value) and "\n" not in str(exc.value)


def test_github_takes_the_trimmed_body_and_the_fake_refuses_an_untrimmed_one(github: FakeGitHub) -> None:
    from test_publish_body import huge

    s = huge()
    sync(gh_client(github), proposal(body=description(s, 65_536, None)))
    assert 60_000 < len(github.pulls[1]["body"]) <= 65_536
    with pytest.raises(ForkwaveFailure, match=r"body is too long \(maximum is 65536 characters\)"):
        sync(gh_client(github), proposal(body=description(s, None, None)))
    assert len(github.violations) == 1
    github.violations.clear()


def test_github_a_refused_token_is_one_line_without_the_token(github: FakeGitHub) -> None:
    wrong = Credential("ghp_" + "x" * 36, "GITHUB_TOKEN", "x-access-token")
    with pytest.raises(ForkwaveFailure) as exc:
        sync(gh_client(github, wrong), proposal())
    message = str(exc.value)
    assert message == ("publish: GitHub refused to list the pull requests of sync/upstream (401: Bad credentials); "
                       "the token was refused: check FORKWAVE_TOKEN (or GH_TOKEN/GITHUB_TOKEN)")
    assert "x" * 36 not in message and github.pulls == {}


def test_github_enterprise_under_api_v3_with_graphql_at_api_graphql(httpserver: Any) -> None:
    fake = serve(httpserver, FakeGitHub(httpserver.url_for("/"), prefix="/api/v3"))
    client = forge.load("github")(fake.api, "o/r", CRED)
    sync(client, proposal(draft=True))
    sync(forge.load("github")(fake.api, "o/r", CRED), proposal(draft=False, automerge=True))
    assert {p for _, p, _ in fake.requests} >= {"/api/v3/repos/o/r/pulls", "/api/graphql"}
    assert fake.violations == [] and fake.pulls[1]["automerge"] == "MERGE"


# --- GitLab ---------------------------------------------------------------------------------------

def test_gitlab_opens_one_merge_request_with_labels_reviewers_and_assignees(gitlab: FakeGitLab) -> None:
    done = sync(gl_client(gitlab), proposal(draft=True, reviewers=("alice",), assignees=("@bob",)))
    assert done.did == ("opened", "labels +upstream-sync +risk:low", "reviewers +alice", "assignees +@bob")
    (mr,) = gitlab.mrs.values()
    assert mr["title"] == "Draft: chore: sync with up 0123456789ab" and done.change.draft
    assert done.change.title == "chore: sync with up 0123456789ab"
    assert mr["labels"] == ["upstream-sync", "risk:low"] and mr["reviewers"] == [11] and mr["assignees"] == [12]
    puts = [b for m, p, b in gitlab.requests if m == "PUT"]
    assert {"add_labels": "upstream-sync,risk:low"} in puts and {"reviewer_ids": [11]} in puts


def test_gitlab_is_idempotent_and_updates_in_place(gitlab: FakeGitLab) -> None:
    first = sync(gl_client(gitlab), proposal(draft=True, reviewers=("alice",)))
    gitlab.requests.clear()
    assert sync(gl_client(gitlab), proposal(draft=True, reviewers=("alice",)), first.requested).did == ()
    assert gitlab.writes() == []
    done = sync(gl_client(gitlab), proposal(body="report v2", draft=False), first.requested)
    assert done.did == ("updated description, ready for review",) and len(gitlab.mrs) == 1
    assert gitlab.mrs[1]["title"] == "chore: sync with up 0123456789ab" and gitlab.mrs[1]["description"] == "report v2"


def test_gitlab_labels_follow_the_risk_and_a_persons_labels_stay(gitlab: FakeGitLab) -> None:
    sync(gl_client(gitlab), proposal())
    gitlab.mrs[1]["labels"].append("team::api")
    sync(gl_client(gitlab), proposal(labels=("upstream-sync", "risk:high", "conflicts")))
    assert gitlab.mrs[1]["labels"] == ["upstream-sync", "team::api", "risk:high", "conflicts"]
    assert {"add_labels": "risk:high,conflicts", "remove_labels": "risk:low"} in [b for m, _, b in gitlab.requests]


def test_gitlab_merge_when_pipeline_succeeds_then_cancelled(gitlab: FakeGitLab) -> None:
    done = sync(gl_client(gitlab), proposal(automerge=True))
    assert done.automerge == "merges when the pipeline succeeds" and gitlab.mrs[1]["mwps"]
    merge = next(b for m, p, b in gitlab.requests if p.endswith("/merge"))
    assert merge == {"merge_when_pipeline_succeeds": True}
    off = sync(gl_client(gitlab), proposal(labels=("upstream-sync", "risk:high")))
    assert off.automerge.startswith("disabled") and not gitlab.mrs[1]["mwps"]
    assert any(p.endswith("/cancel_merge_when_pipeline_succeeds") for _, p, _ in gitlab.requests)


def test_gitlab_without_a_pipeline_merges_at_once(gitlab: FakeGitLab) -> None:
    gitlab.pipeline = False
    assert sync(gl_client(gitlab), proposal(automerge=True)).automerge == "merged (no pipeline was pending)"
    assert gitlab.mrs[1]["state"] == "merged"


def test_gitlab_a_new_merge_request_still_being_checked_is_asked_again(gitlab: FakeGitLab) -> None:
    gitlab.checking = 2
    client = gl_client(gitlab)
    client.settle = (0, 0)
    assert sync(client, proposal(automerge=True)).automerge == "merges when the pipeline succeeds"
    assert sum(1 for _, p, _ in gitlab.requests if p.endswith("/merge")) == 3
    gitlab.checking = 5
    client.settle = (0,)
    with pytest.raises(ForkwaveFailure, match=r"^publish: GitLab refused to set !2 to merge when its pipeline "
                                              r"succeeds \(405: 405 Method Not Allowed\)$"):
        sync(client, proposal(head="sync/other", automerge=True))


def test_gitlab_an_unknown_user_is_one_line(gitlab: FakeGitLab) -> None:
    with pytest.raises(ForkwaveFailure, match=r"^publish: GitLab has no user 'nobody'; check publish.reviewers"):
        sync(gl_client(gitlab), proposal(reviewers=("nobody",)))


def test_gitlab_a_ci_job_token_goes_in_its_own_header(gitlab: FakeGitLab) -> None:
    job = credential("gitlab", {"CI_JOB_TOKEN": TOKEN})
    assert job is not None and job.job and job.username == "gitlab-ci-token"
    sync(gl_client(gitlab, job), proposal())
    assert len(gitlab.mrs) == 1


# --- which forge, which token --------------------------------------------------------------------

@pytest.mark.parametrize("url,pub,env,expected", [
    ("https://github.com/o/r.git", {}, {}, ("github", "https://github.com", "https://api.github.com", "o/r")),
    ("git@github.com:o/r.git", {}, {}, ("github", "https://github.com", "https://api.github.com", "o/r")),
    ("https://github.acme.com/o/r", {}, {},
     ("github", "https://github.acme.com", "https://github.acme.com/api/v3", "o/r")),
    ("https://code.acme.com/o/r.git", {}, {"GITHUB_SERVER_URL": "https://code.acme.com",
                                           "GITHUB_API_URL": "https://code.acme.com/api/v3"},
     ("github", "https://code.acme.com", "https://code.acme.com/api/v3", "o/r")),
    ("https://gitlab.com/g/sub/p.git", {}, {},
     ("gitlab", "https://gitlab.com", "https://gitlab.com/api/v4", "g/sub/p")),
    ("ssh://git@gitlab.acme.com:2222/g/p.git", {}, {},
     ("gitlab", "https://gitlab.acme.com", "https://gitlab.acme.com/api/v4", "g/p")),
    ("https://git.acme.com/g/p.git", {}, {"CI_SERVER_HOST": "git.acme.com"},
     ("gitlab", "https://git.acme.com", "https://git.acme.com/api/v4", "g/p")),
    ("https://acme.com/gitlab/g/p.git", {"forge": "gitlab", "url": "https://acme.com/gitlab"}, {},
     ("gitlab", "https://acme.com/gitlab", "https://acme.com/gitlab/api/v4", "g/p")),
    ("https://git.acme.com/o/r.git", {}, {}, ("none", None, None, None)),
    ("/srv/fork.git", {}, {}, ("none", None, None, None)),
    ("/srv/fork.git", {"forge": "github", "api": "http://127.0.0.1:9/", "repository": "o/r"}, {},
     ("github", None, "http://127.0.0.1:9", "o/r")),
    ("https://github.com/o/r.git", {"forge": "none"}, {}, ("none", None, None, None)),
])
def test_target_from_the_remote_url_and_publish(url: str, pub: dict[str, Any], env: dict[str, str],
                                                expected: tuple[Any, ...]) -> None:
    t = target(replace(Publish(), **pub), url, env)
    assert (t.forge, t.web, t.api, t.repository) == expected


def test_target_without_an_address_or_a_repository_says_which_key_to_set() -> None:
    with pytest.raises(ForkwaveError, match=r"publish.url: cannot tell where the github server is"):
        target(replace(Publish(), forge="github"), "/srv/fork.git", {})
    with pytest.raises(ForkwaveError, match=r"publish.repository: cannot tell the repository"):
        target(replace(Publish(), forge="github", api="http://h"), "/srv/fork.git", {})


A, B, C = "tok-aaaaaaaa", "tok-bbbbbbbb", "tok-cccccccc"


@pytest.mark.parametrize("name,env,variable,user", [
    ("github", {"FORKWAVE_TOKEN": A, "GITHUB_TOKEN": B}, "FORKWAVE_TOKEN", "x-access-token"),
    ("github", {"GITHUB_TOKEN": B, "GH_TOKEN": C}, "GH_TOKEN", "x-access-token"),
    ("github", {"GITHUB_TOKEN": B}, "GITHUB_TOKEN", "x-access-token"),
    ("gitlab", {"GITLAB_TOKEN": A, "CI_JOB_TOKEN": B}, "GITLAB_TOKEN", "oauth2"),
    ("gitlab", {"CI_JOB_TOKEN": B}, "CI_JOB_TOKEN", "gitlab-ci-token"),
    ("none", {"FORKWAVE_TOKEN": A, "FORKWAVE_USERNAME": "bot"}, "FORKWAVE_TOKEN", "bot"),
    ("none", {"GITHUB_TOKEN": B}, None, None),
    ("github", {"GITHUB_TOKEN": ""}, None, None),
])
def test_credential_from_the_environment(name: str, env: dict[str, str], variable: str | None,
                                         user: str | None) -> None:
    found = credential(name, env)
    if variable is None:
        assert found is None
        return
    assert found is not None and (found.variable, found.username) == (variable, user)
    assert found.token == env[variable] and found.token not in repr(found)


def test_no_token_names_the_variables_to_set() -> None:
    with pytest.raises(ForkwaveFailure, match=r"^publish: no token for gitlab in the environment; set "
                                              r"FORKWAVE_TOKEN or GITLAB_TOKEN or CI_JOB_TOKEN"):
        forge.need_credential("gitlab", {}, "g/p")
