"""GitLab merge requests through python-gitlab: find by source branch, open, update, labels, reviewers, auto-merge.

GitLab has no draft flag to set: a merge request is a draft while its title starts with ``Draft:``.
Reviewers and assignees are user ids, looked up by user name (``GET /users?username=``). Labels are
added and removed by name (``add_labels``/``remove_labels``), so labels a person added stay.
"""
from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tasks.errors import ForkwaveFailure
from tasks.publish.forge import Change, Credential, Issue, Proposal
from tasks.redact import redact_text

DRAFT = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s-\s|draft\s|\[wip\]|wip:)\s*", re.IGNORECASE)
DESCRIPTION_LIMIT = 1_048_576
# seconds between tries while GitLab still checks whether a new merge request can merge (it answers
# 405/406/422 to a merge until then)
SETTLE = (2.0, 5.0)


class GitLab:
    name = "gitlab"
    body_limit = DESCRIPTION_LIMIT

    def __init__(self, api: str, repository: str, credential: Credential, timeout: float = 30):
        import gitlab

        self.secrets = (credential.token,)
        base = api.removesuffix("/api/v4")  # python-gitlab adds the API path itself
        job, private = (credential.token, None) if credential.job else (None, credential.token)
        self.gl = gitlab.Gitlab(base, timeout=timeout, retry_transient_errors=True, job_token=job,
                                private_token=private)
        self.project = self.gl.projects.get(repository, lazy=True)
        self.repository = repository
        self.settle = SETTLE
        self._ids: dict[str, int | None] = {}

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import gitlab

        try:
            yield
        except gitlab.GitlabError as exc:
            code = getattr(exc, "response_code", None)
            step = {401: "the token was refused: check FORKWAVE_TOKEN (or GITLAB_TOKEN)",
                    403: "the token may not do that: it needs the api scope and Developer access",
                    404: f"no project {self.repository} there, or the token cannot see it"}.get(code or 0, "")
            message = redact_text(str(getattr(exc, "error_message", exc)), self.secrets)
            raise ForkwaveFailure(f"publish: GitLab refused to {what} ({code}: {message})"
                                  + (f"; {step}" if step else "")) from None

    @staticmethod
    def _change(mr: Mapping[str, Any]) -> Change:
        """A merge request as the API returns it (``attributes`` of python-gitlab's object, or a PUT's answer)."""
        return Change(number=mr["iid"], url=mr.get("web_url", ""), title=DRAFT.sub("", mr["title"]),
                      body=mr.get("description") or "", draft=bool(mr.get("draft") or DRAFT.match(mr["title"])),
                      labels=tuple(mr.get("labels") or ()),
                      reviewers=tuple(r["username"] for r in mr.get("reviewers") or ()),
                      assignees=tuple(a["username"] for a in mr.get("assignees") or ()),
                      automerge=bool(mr.get("merge_when_pipeline_succeeds")),
                      author=(mr.get("author") or {}).get("username"), native=mr)

    @staticmethod
    def _title(title: str, draft: bool) -> str:
        return f"Draft: {title}" if draft else title

    def find(self, head: str, base: str) -> Change | None:
        with self._errors(f"list merge requests of {head}"):
            found = self.project.mergerequests.list(source_branch=head, target_branch=base, state="opened",
                                                    get_all=False)
        return self._change(found[0].attributes) if found else None

    def open(self, p: Proposal) -> Change:
        with self._errors(f"open a merge request for {p.head}"):
            mr = self.project.mergerequests.create({"source_branch": p.head, "target_branch": p.base,
                                                    "title": self._title(p.title, p.draft), "description": p.body})
        return self._change(mr.attributes)

    def _put(self, c: Change, what: str, data: dict[str, Any]) -> Change:
        with self._errors(what):
            return self._change(self.project.mergerequests.update(c.number, data))

    def update(self, c: Change, *, title: str, body: str, draft: bool) -> Change:
        return self._put(c, f"update !{c.number}", {"title": self._title(title, draft), "description": body})

    def set_labels(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None:
        data = {k: ",".join(v) for k, v in (("add_labels", add), ("remove_labels", remove)) if v}
        self._put(c, f"label !{c.number}", data)

    def _user_ids(self, names: Sequence[str]) -> list[int]:
        ids: list[int] = []
        for name in (n.lstrip("@") for n in names):
            if name not in self._ids:
                with self._errors(f"look up user {name}"):
                    users = self.gl.users.list(username=name, get_all=False)
                self._ids[name] = users[0].id if users else None
            uid = self._ids[name]
            if uid is None:
                raise ForkwaveFailure(f"publish: GitLab has no user {name!r}; check publish.reviewers, "
                                      "publish.conflict_reviewers and publish.assignees")
            ids.append(uid)
        return ids

    def request_reviewers(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None:
        teams = [n for n in [*add, *remove] if "/" in n]
        if teams:
            print(f"publish: GitLab takes no group as a reviewer; left out {', '.join(teams)}")
        current = [r["id"] for r in c.native.get("reviewers") or ()]
        gone = set(self._user_ids([n for n in remove if "/" not in n]))
        added = self._user_ids([n for n in add if "/" not in n])
        wanted = [i for i in dict.fromkeys([*current, *added]) if i not in gone]
        self._put(c, f"request reviewers on !{c.number}", {"reviewer_ids": wanted})

    def assign(self, c: Change, add: Sequence[str]) -> None:
        current = [a["id"] for a in c.native.get("assignees") or ()]
        self._put(c, f"assign !{c.number}", {"assignee_ids": list(dict.fromkeys([*current, *self._user_ids(add)]))})

    def enable_automerge(self, c: Change, method: str) -> str:
        import gitlab

        mr = self.project.mergerequests.get(c.number, lazy=True)
        for wait in (*self.settle, None):
            try:
                server = mr.merge(merge_when_pipeline_succeeds=True)
                break
            except gitlab.GitlabError as exc:
                if wait is None or getattr(exc, "response_code", None) not in (405, 406, 422):
                    with self._errors(f"set !{c.number} to merge when its pipeline succeeds"):
                        raise
                time.sleep(wait)
        if server.get("state") == "merged":
            return "merged (no pipeline was pending)"
        return "merges when the pipeline succeeds"

    def disable_automerge(self, c: Change) -> None:
        mr = self.project.mergerequests.get(c.number, lazy=True)
        with self._errors(f"cancel the automatic merge of !{c.number}"):
            mr.cancel_merge_when_pipeline_succeeds()

    # --- the sync dashboard issue ----------------------------------------------------------------

    @staticmethod
    def _issue(data: Mapping[str, Any]) -> Issue:
        return Issue(data["iid"], data.get("web_url", ""), data["title"], data.get("description") or "",
                     tuple(data.get("labels") or ()), data.get("state") == "opened", native=data)

    def _marked(self, what: str, marker: str, **filters: Any) -> Issue | None:
        """The open issue (else the newest closed one) with ``marker`` in its description, of every state."""
        with self._errors(f"list the issues {what}"):
            found = [i.attributes for i in self.project.issues.list(get_all=True, **filters)]
        mine = [i for i in found if marker in (i.get("description") or "")]
        best = next((i for i in mine if i.get("state") == "opened"), mine[0] if mine else None)
        return self._issue(best) if best is not None else None

    def find_issue(self, marker: str, label: str) -> Issue | None:
        return (self._marked(f"labelled {label}", marker, labels=[label])
                or self._marked("the token's user opened", marker, scope="created_by_me"))

    def open_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        with self._errors("open the sync dashboard issue"):
            created = self.project.issues.create({"title": title, "description": body, "labels": ",".join(labels)})
        return self._issue(created.attributes)

    def update_issue(self, issue: Issue, *, title: str, body: str, labels: Sequence[str]) -> Issue:
        data: dict[str, Any] = {"title": title, "description": body}
        missing = [lb for lb in labels if lb not in issue.labels]
        if missing:
            data["add_labels"] = ",".join(missing)
        with self._errors(f"update issue #{issue.number}"):
            return self._issue(self.project.issues.update(issue.number, data))

    def pin_issue(self, issue: Issue) -> str:
        return "not pinned (GitLab has no pinned issues: its label finds it)"
