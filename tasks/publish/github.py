"""GitHub pull requests through PyGithub: find by head, open, update, labels, reviewers, assignees, auto-merge.

PyGithub (rather than githubkit): the most used GitHub client for Python, synchronous, on
``requests`` like python-gitlab (one HTTP stack for both forges), lazy objects (no request before
the first one that matters), a ``base_url`` for GitHub Enterprise Server (``/api/v3``, GraphQL
at ``/api/graphql``), and the GraphQL mutations REST lacks — ``enablePullRequestAutoMerge``,
``convertPullRequestToDraft``, ``markPullRequestReadyForReview`` — built in; githubkit would
add pydantic and two generated schema packages for the same eight calls.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from tasks.errors import ForkwaveFailure
from tasks.publish.forge import Change, Credential, Issue, Proposal
from tasks.redact import redact_text

BODY_LIMIT = 65_536          # characters GitHub takes in a pull request's body
METHODS = {"merge": "MERGE", "squash": "SQUASH", "rebase": "REBASE"}


class GitHub:
    name = "github"
    body_limit = BODY_LIMIT

    def __init__(self, api: str, repository: str, credential: Credential, timeout: int = 30):
        from github import Auth, Github
        from github.GithubRetry import GithubRetry

        self.secrets = (credential.token,)
        # GitHub asks for a second between writes (secondary rate limits); FORKWAVE_GITHUB_WRITE_INTERVAL=0 for tests
        pause = float(os.environ.get("FORKWAVE_GITHUB_WRITE_INTERVAL", "1"))
        self.gh = Github(auth=Auth.Token(credential.token), base_url=api, timeout=timeout, lazy=True,
                         retry=GithubRetry(total=3), seconds_between_requests=0, seconds_between_writes=pause)
        self.repo = self.gh.get_repo(repository)  # lazy: no request yet
        self.repository = repository
        self.owner = repository.split("/")[0]

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from github import GithubException

        try:
            yield
        except GithubException as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            detail = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                               for e in data.get("errors") or ()) or data.get("message") or str(exc.message or "")
            step = {401: "the token was refused: check FORKWAVE_TOKEN (or GH_TOKEN/GITHUB_TOKEN)",
                    403: "the token may not do that: it needs contents: write and pull-requests: write",
                    404: f"no repository {self.repository} there, or the token cannot see it"}.get(exc.status, "")
            raise ForkwaveFailure(f"publish: GitHub refused to {what} ({exc.status}: "
                                  f"{redact_text(str(detail), self.secrets)})"
                                  + (f"; {step}" if step else "")) from None

    def _change(self, pr: Any) -> Change:
        return Change(number=pr.number, url=pr.html_url, title=pr.title, body=pr.body or "", draft=bool(pr.draft),
                      labels=tuple(lb.name for lb in pr.labels),
                      reviewers=tuple([u.login for u in pr.requested_reviewers]
                                      + [f"{self.owner}/{t.slug}" for t in pr.requested_teams]),
                      assignees=tuple(u.login for u in pr.assignees), automerge=pr.auto_merge is not None,
                      author=pr.user.login if pr.user else None, native=pr)

    def find(self, head: str, base: str) -> Change | None:
        with self._errors(f"list the pull requests of {head}"):
            for pr in self.repo.get_pulls(state="open", head=f"{self.owner}:{head}", base=base):
                return self._change(pr)
        return None

    def open(self, p: Proposal) -> Change:
        with self._errors(f"open a pull request for {p.head}"):
            return self._change(self.repo.create_pull(base=p.base, head=p.head, title=p.title, body=p.body,
                                                      draft=p.draft))

    def update(self, c: Change, *, title: str, body: str, draft: bool) -> Change:
        pr = c.native
        with self._errors(f"update #{c.number}"):
            if (title, body) != (c.title, c.body):
                pr.edit(title=title, body=body)
            if draft != c.draft:  # REST cannot change it: GraphQL's convertPullRequestToDraft / markPullRequestReady...
                pr.convert_to_draft() if draft else pr.mark_ready_for_review()
        return self._change(pr)

    def set_labels(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None:
        from github import GithubException

        with self._errors(f"label #{c.number}"):
            if add:
                c.native.add_to_labels(*add)  # GitHub creates a label the repository lacks
            for label in remove:
                try:
                    c.native.remove_from_labels(label)
                except GithubException as exc:
                    if exc.status != 404:  # a person took it off already
                        raise

    def request_reviewers(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None:
        def split(names: Sequence[str]) -> dict[str, list[str]]:
            names = [n.lstrip("@") for n in names]
            return {k: v for k, v in (("reviewers", [n for n in names if "/" not in n]),
                                      ("team_reviewers", [n.split("/", 1)[1] for n in names if "/" in n])) if v}

        with self._errors(f"request reviews on #{c.number}"):
            if add:
                c.native.create_review_request(**split(add))
            if remove:
                c.native.delete_review_request(**split(remove))

    def assign(self, c: Change, add: Sequence[str]) -> None:
        with self._errors(f"assign #{c.number}"):
            c.native.add_to_assignees(*(a.lstrip("@") for a in add))

    def enable_automerge(self, c: Change, method: str) -> str:
        from github import GithubException

        try:
            c.native.enable_automerge(merge_method=METHODS[method])
            return "enabled: GitHub merges it once the required checks pass"
        except GithubException as exc:
            if "clean status" not in str(exc.data):
                with self._errors(f"enable auto-merge on #{c.number}"):
                    raise
        # nothing the branch protection requires is pending: GitHub merges only by hand then, so merge now
        with self._errors(f"merge #{c.number}"):
            c.native.merge(merge_method=method)
        return "merged: nothing the branch protection requires was pending"

    def disable_automerge(self, c: Change) -> None:
        with self._errors(f"disable auto-merge on #{c.number}"):
            c.native.disable_automerge()

    # --- the sync dashboard issue ----------------------------------------------------------------

    @staticmethod
    def _issue(i: Any) -> Issue:
        return Issue(i.number, i.html_url, i.title, i.body or "", tuple(lb.name for lb in i.labels),
                     i.state == "open", native=i)

    def _marked(self, issues: Any, marker: str) -> Issue | None:
        """The open issue (else the newest closed one) whose body holds ``marker``; GitHub lists pull requests
        among issues, and their ``html_url`` says so."""
        closed = None
        for i in issues:
            if "/pull/" in i.html_url or marker not in (i.body or ""):
                continue
            if i.state == "open":
                return self._issue(i)
            closed = closed or i
        return self._issue(closed) if closed is not None else None

    def _login(self) -> str | None:
        """The token's user (a GitHub App's installation token has none it may ask for: None)."""
        from github import GithubException

        try:
            return self.gh.get_user().login
        except GithubException:
            return None

    def find_issue(self, marker: str, label: str) -> Issue | None:
        with self._errors(f"list the issues labelled {label}"):
            found = self._marked(self.repo.get_issues(state="all", labels=[label]), marker)
        if found is not None:
            return found
        login = self._login()   # a person may have taken the label off: the issues its user opened
        if login is None:
            return None
        with self._errors(f"list the issues {login} opened"):
            # PyGithub's annotation says NamedUser, but get_issues takes a login too (its docstring and its
            # own isinstance(creator, str) branch): a login spares fetching the user
            return self._marked(self.repo.get_issues(state="all", creator=login), marker)  # type: ignore[arg-type]

    def open_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        with self._errors("open the sync dashboard issue"):
            return self._issue(self.repo.create_issue(title=title, body=body, labels=list(labels)))

    def update_issue(self, issue: Issue, *, title: str, body: str, labels: Sequence[str]) -> Issue:
        with self._errors(f"update issue #{issue.number}"):
            changes: dict[str, Any] = {"title": title, "body": body}
            if tuple(labels) != issue.labels:
                changes["labels"] = list(labels)
            issue.native.edit(**changes)
        return self._issue(issue.native)

    def pin_issue(self, issue: Issue) -> str:
        """Pin it above the issue list (GraphQL ``pinIssue``); a token that may not is no failure: said, not raised."""
        from github import GithubException

        try:
            self.gh.requester.graphql_named_mutation("pinIssue", {"issueId": issue.native.node_id}, "issue { id }")
        except GithubException as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            why = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                            for e in data.get("errors") or ()) or str(exc.status)
            return f"not pinned ({redact_text(why, self.secrets)}): pin it by hand if you like"
        return "pinned"
