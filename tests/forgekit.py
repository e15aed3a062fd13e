"""Fake forges and real remotes for the publish tests: nothing here calls a real forge.

``FakeGitHub`` and ``FakeGitLab`` answer, on an in-process HTTP server (pytest-httpserver), the
REST paths (and GitHub's GraphQL mutations) forkwave uses, with state: pull requests, labels,
reviewers, auto-merge. Each request's method, path, query and JSON fields are checked against
the forge's documented API — unknown fields, missing required ones and wrong types are answered
as the forge would (422/400) *and* recorded in ``violations``, which every test asserts empty.

The remotes are real bare repositories: ``bare_remote`` logs every push a hook sees,
``refuse_workflows`` answers like GitHub does a token without the ``workflow`` scope (through
git's proc-receive hook, the only way a local remote gives a reason of its own), and
``SmartHttp`` serves pushes over git's smart HTTP protocol (``git http-backend``) behind Basic auth.
"""
from __future__ import annotations

import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug import Request, Response

TOKEN = "ghp_" + "F0rkwaveT3stT0ken" * 2 + "ab"   # a GitHub token's shape: redaction must catch it by shape too
BOT = "forkwave-bot"                               # the token's user: the pull requests' author


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


class Fake:
    """Shared: routes, auth, request log, violations."""

    body_limit = 0
    routes: list[tuple[str, str, str]] = []   # (method, path regex, handler name)

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.requests: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []

    def authorized(self, request: Request) -> bool:
        raise NotImplementedError

    def violation(self, request: Request, what: str, status: int = 422) -> Response:
        self.violations.append(f"{request.method} {request.path}: {what}")
        return _json({"message": what}, status)

    def handle(self, request: Request) -> Response:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
        path = urlsplit(raw).path
        body = request.get_json(silent=True) if request.data else None
        self.requests.append((request.method, path, body))
        if not self.authorized(request):
            return _json({"message": "Bad credentials" if isinstance(self, FakeGitHub) else "401 Unauthorized"}, 401)
        for method, pattern, name in self.routes:
            m = re.fullmatch(pattern, path)
            if m and method == request.method:
                return getattr(self, name)(request, body, *m.groups())
        return self.violation(request, f"no such endpoint ({request.method} {path})", 404)

    def check_fields(self, request: Request, body: Any, allowed: set[str], required: set[str] = frozenset(),
                     types: dict[str, Any] | None = None) -> Response | None:
        if not isinstance(body, dict):
            return self.violation(request, f"expected a JSON object, got {type(body).__name__}", 400)
        unknown = sorted(set(body) - allowed)
        if unknown:
            return self.violation(request, f"unknown field(s) {unknown}")
        missing = sorted(required - set(body))
        if missing:
            return self.violation(request, f"missing field(s) {missing}")
        for key, kind in (types or {}).items():
            if key in body and not isinstance(body[key], kind):
                return self.violation(request, f"{key}: wrong type {type(body[key]).__name__}")
        return None

    def check_query(self, request: Request, allowed: set[str]) -> Response | None:
        unknown = sorted(set(request.args) - allowed)
        return self.violation(request, f"unknown query parameter(s) {unknown}") if unknown else None

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] != "GET"]


# --- GitHub ------------------------------------------------------------------------------------

class FakeGitHub(Fake):
    """GitHub's REST API (api.github.com layout, or Enterprise's /api/v3 with ``prefix``) and GraphQL."""

    body_limit = 65_536
    PR_CREATE = {"title", "head", "head_repo", "base", "body", "maintainer_can_modify", "draft", "issue"}
    PR_UPDATE = {"title", "body", "state", "base", "maintainer_can_modify"}
    MUTATIONS = {
        "enablePullRequestAutoMerge": {"pullRequestId", "mergeMethod", "authorEmail", "clientMutationId",
                                       "commitBody", "commitHeadline", "expectedHeadOid"},
        "disablePullRequestAutoMerge": {"pullRequestId", "clientMutationId"},
        "convertPullRequestToDraft": {"pullRequestId", "clientMutationId"},
        "markPullRequestReadyForReview": {"pullRequestId", "clientMutationId"},
        "pinIssue": {"issueId", "clientMutationId"},
    }
    ISSUE_CREATE = {"title", "body", "assignee", "milestone", "labels", "assignees", "type"}
    ISSUE_UPDATE = {"title", "body", "assignee", "state", "state_reason", "milestone", "labels", "assignees", "type"}
    ISSUE_QUERY = {"milestone", "state", "assignee", "type", "creator", "mentioned", "labels", "sort", "direction",
                   "since", "per_page", "page"}

    def __init__(self, url: str, repository: str = "o/r", prefix: str = "", remote: Path | None = None):
        super().__init__(url)
        self.repository, self.prefix, self.remote = repository, prefix, remote
        self.owner = repository.split("/")[0]
        self.pulls: dict[int, dict[str, Any]] = {}
        self.issues: dict[int, dict[str, Any]] = {}   # numbered with the pull requests, as GitHub does
        self.clean = False          # auto-merge is refused: nothing the branch protection requires is pending
        self.automerge_allowed = True
        self.app_token = False      # a GitHub App's installation token: GET /user is refused
        self.pin_allowed = True
        r, g = re.escape(f"{prefix}/repos/{repository}"), re.escape(prefix.removesuffix("/v3") + "/graphql")
        self.routes = [
            ("GET", rf"{r}/pulls", "list_pulls"), ("POST", rf"{r}/pulls", "create_pull"),
            ("GET", rf"{r}/pulls/(\d+)", "get_pull"), ("PATCH", rf"{r}/pulls/(\d+)", "update_pull"),
            ("POST", rf"{r}/issues/(\d+)/labels", "add_labels"), ("PUT", rf"{r}/issues/(\d+)/labels", "set_labels"),
            ("DELETE", rf"{r}/issues/(\d+)/labels/([^/]+)", "remove_label"),
            ("POST", rf"{r}/pulls/(\d+)/requested_reviewers", "request_reviewers"),
            ("DELETE", rf"{r}/pulls/(\d+)/requested_reviewers", "remove_reviewers"),
            ("POST", rf"{r}/issues/(\d+)/assignees", "add_assignees"),
            ("PUT", rf"{r}/pulls/(\d+)/merge", "merge"), ("POST", g, "graphql"),
            ("GET", rf"{r}/issues", "list_issues"), ("POST", rf"{r}/issues", "create_issue"),
            ("GET", rf"{r}/issues/(\d+)", "get_issue"), ("PATCH", rf"{r}/issues/(\d+)", "update_issue"),
            ("GET", re.escape(f"{prefix}/user"), "get_user"),
        ]

    def authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") in (f"token {TOKEN}", f"Bearer {TOKEN}")

    @property
    def api(self) -> str:
        return self.url + self.prefix

    def open_pulls(self) -> list[dict[str, Any]]:
        return [p for p in self.pulls.values() if p["state"] == "open"]

    def pr_json(self, p: dict[str, Any]) -> dict[str, Any]:
        n, base = p["number"], f"{self.api}/repos/{self.repository}"
        return {"url": f"{base}/pulls/{n}", "issue_url": f"{base}/issues/{n}", "id": 1000 + n, "node_id": f"PR_kw{n}",
                "html_url": f"https://github.example/{self.repository}/pull/{n}", "number": n, "state": p["state"],
                "title": p["title"], "body": p["body"], "draft": p["draft"], "merged": p["merged"],
                "labels": [{"id": i, "name": lb, "url": f"{base}/labels/{lb}"} for i, lb in enumerate(p["labels"])],
                "requested_reviewers": [{"login": u, "id": 7} for u in p["reviewers"]],
                "requested_teams": [{"slug": t, "name": t, "id": 8} for t in p["teams"]],
                "assignees": [{"login": a, "id": 9} for a in p["assignees"]],
                "auto_merge": {"merge_method": p["automerge"].lower(), "enabled_by": {"login": BOT}}
                if p["automerge"] else None,
                "user": {"login": BOT, "id": 1},
                "head": {"ref": p["head"], "label": f"{self.owner}:{p['head']}", "sha": "0" * 40},
                "base": {"ref": p["base"], "label": f"{self.owner}:{p['base']}", "sha": "1" * 40}}

    def _pull(self, n: str) -> dict[str, Any] | None:
        return self.pulls.get(int(n))

    def list_pulls(self, request: Request, body: Any) -> Response:
        bad = self.check_query(request, {"state", "head", "base", "sort", "direction", "per_page", "page"})
        if bad:
            return bad
        head = request.args.get("head")
        if head is not None and ":" not in head:
            return self.violation(request, "head must be user:ref-name")
        state = request.args.get("state", "open")
        found = [p for p in self.pulls.values() if (state == "all" or p["state"] == state)
                 and (head is None or f"{self.owner}:{p['head']}" == head)
                 and (request.args.get("base") is None or p["base"] == request.args["base"])]
        return _json([self.pr_json(p) for p in found])

    def _body_ok(self, request: Request, body: dict[str, Any]) -> Response | None:
        text = body.get("body")
        if text is not None and len(text) > self.body_limit:
            return self.violation(request, f"body is too long (maximum is {self.body_limit} characters)")
        return None

    def create_pull(self, request: Request, body: Any) -> Response:
        bad = self.check_fields(request, body, self.PR_CREATE, {"head", "base"},
                                {"title": str, "head": str, "base": str, "body": (str, type(None)), "draft": bool})
        if bad or (bad := self._body_ok(request, body)):
            return bad
        if "title" not in body and "issue" not in body:
            return self.violation(request, "title is required")
        if any(p["head"] == body["head"] and p["base"] == body["base"] for p in self.open_pulls()):
            return self.violation(request, f"A pull request already exists for {self.owner}:{body['head']}.")
        if self.remote is not None and subprocess.run(
                ["git", "-C", str(self.remote), "rev-parse", "--verify", "--quiet", f"refs/heads/{body['head']}"],
                capture_output=True).returncode != 0:
            return self.violation(request, f"head {body['head']!r} is not a branch of the repository (push it first)")
        n = self.next_number()
        self.pulls[n] = {"number": n, "state": "open", "title": body["title"], "body": body.get("body") or "",
                         "draft": body.get("draft", False), "merged": False, "labels": [], "reviewers": [],
                         "teams": [], "assignees": [], "automerge": None, "head": body["head"], "base": body["base"]}
        return _json(self.pr_json(self.pulls[n]), 201)

    def get_pull(self, request: Request, body: Any, n: str) -> Response:
        p = self._pull(n)
        return _json(self.pr_json(p)) if p else _json({"message": "Not Found"}, 404)

    def update_pull(self, request: Request, body: Any, n: str) -> Response:
        p = self._pull(n)
        bad = self.check_fields(request, body, self.PR_UPDATE, types={"title": str, "body": (str, type(None))})
        if bad or (bad := self._body_ok(request, body)):
            return bad
        p.update({k: body[k] for k in ("title", "body", "state", "base") if k in body})  # type: ignore[union-attr]
        return _json(self.pr_json(p))  # type: ignore[arg-type]

    def _labels_of(self, request: Request, body: Any) -> list[str] | Response:
        names = body.get("labels") if isinstance(body, dict) else body  # both forms are documented
        if isinstance(body, dict) and set(body) - {"labels"}:
            return self.violation(request, f"unknown field(s) {sorted(set(body) - {'labels'})}")
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            return self.violation(request, "labels: expected an array of strings")
        return names

    def _label_list(self, p: dict[str, Any]) -> Response:
        return _json([{"name": lb, "id": i} for i, lb in enumerate(p["labels"])])

    def add_labels(self, request: Request, body: Any, n: str) -> Response:
        p, names = self._pull(n), self._labels_of(request, body)
        if isinstance(names, Response):
            return names
        p["labels"] += [lb for lb in names if lb not in p["labels"]]  # type: ignore[index]
        return self._label_list(p)  # type: ignore[arg-type]

    def set_labels(self, request: Request, body: Any, n: str) -> Response:
        p, names = self._pull(n), self._labels_of(request, body)
        if isinstance(names, Response):
            return names
        p["labels"] = list(dict.fromkeys(names))  # type: ignore[index]
        return self._label_list(p)  # type: ignore[arg-type]

    def remove_label(self, request: Request, body: Any, n: str, name: str) -> Response:
        p, label = self._pull(n), unquote(name)
        if label not in p["labels"]:  # type: ignore[index]
            return _json({"message": "Label does not exist"}, 404)
        p["labels"].remove(label)  # type: ignore[index]
        return self._label_list(p)  # type: ignore[arg-type]

    def request_reviewers(self, request: Request, body: Any, n: str) -> Response:
        p = self._pull(n)
        bad = self.check_fields(request, body, {"reviewers", "team_reviewers"}, types={"reviewers": list,
                                                                                      "team_reviewers": list})
        if bad:
            return bad
        if not body.get("reviewers") and not body.get("team_reviewers"):
            return self.violation(request, "reviewers or team_reviewers is required")
        if BOT in body.get("reviewers", ()):
            return self.violation(request, "Review cannot be requested from pull request author.")
        p["reviewers"] += [u for u in body.get("reviewers", ()) if u not in p["reviewers"]]  # type: ignore[index]
        p["teams"] += [t for t in body.get("team_reviewers", ()) if t not in p["teams"]]  # type: ignore[index]
        return _json(self.pr_json(p), 201)  # type: ignore[arg-type]

    def remove_reviewers(self, request: Request, body: Any, n: str) -> Response:
        p = self._pull(n)
        bad = self.check_fields(request, body, {"reviewers", "team_reviewers"}, {"reviewers"})
        if bad:
            return bad
        p["reviewers"] = [u for u in p["reviewers"] if u not in body["reviewers"]]  # type: ignore[index]
        p["teams"] = [t for t in p["teams"] if t not in body.get("team_reviewers", ())]  # type: ignore[index]
        return _json(self.pr_json(p))  # type: ignore[arg-type]

    def add_assignees(self, request: Request, body: Any, n: str) -> Response:
        p = self._pull(n)
        bad = self.check_fields(request, body, {"assignees"}, types={"assignees": list})
        if bad:
            return bad
        p["assignees"] += [a for a in body.get("assignees", ()) if a not in p["assignees"]]  # type: ignore[index]
        return _json(self.pr_json(p), 201)  # type: ignore[arg-type]

    def merge(self, request: Request, body: Any, n: str) -> Response:
        p = self._pull(n)
        bad = self.check_fields(request, body or {}, {"commit_title", "commit_message", "sha", "merge_method"})
        if bad:
            return bad
        if (body or {}).get("merge_method", "merge") not in ("merge", "squash", "rebase"):
            return self.violation(request, "merge_method must be merge, squash or rebase")
        p.update(state="closed", merged=True)  # type: ignore[union-attr]
        return _json({"sha": "2" * 40, "merged": True, "message": "Pull Request successfully merged"})

    def graphql(self, request: Request, body: Any) -> Response:
        bad = self.check_fields(request, body, {"query", "variables", "operationName"}, {"query"})
        if bad:
            return bad
        m = re.search(r"mutation\b[^{]*\{\s*(\w+)\s*\(\s*input\s*:\s*\$input\s*\)", body["query"])
        if not m or m.group(1) not in self.MUTATIONS:
            return self.violation(request, f"unknown GraphQL operation in {body['query'][:80]!r}", 400)
        name, given = m.group(1), (body.get("variables") or {}).get("input")
        if name == "pinIssue":
            return self._pinIssue(request, given)
        bad = self.check_fields(request, given, self.MUTATIONS[name], {"pullRequestId"})
        if bad:
            return bad
        p = next((p for p in self.pulls.values() if f"PR_kw{p['number']}" == given["pullRequestId"]), None)
        if p is None:
            return _json({"data": {name: None},
                          "errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a node"}]})
        return getattr(self, "_" + name)(p, given)

    @staticmethod
    def _error(name: str, message: str) -> Response:
        return _json({"data": {name: None}, "errors": [{"type": "UNPROCESSABLE", "message": message}]})

    def _enablePullRequestAutoMerge(self, p: dict[str, Any], given: dict[str, Any]) -> Response:  # noqa: N802
        name = "enablePullRequestAutoMerge"
        if given.get("mergeMethod", "MERGE") not in ("MERGE", "SQUASH", "REBASE"):
            return self._error(name, "Invalid merge method")
        if p["draft"]:
            return self._error(name, "Pull request is in draft state")
        if not self.automerge_allowed:
            return self._error(name, "Pull request Auto merge is not allowed for this repository")
        if self.clean:
            return self._error(name, "Pull request Pull request is in clean status")
        p["automerge"] = given.get("mergeMethod", "MERGE")
        return _json({"data": {name: {"actor": {"login": BOT}, "clientMutationId": None}}})

    def _disablePullRequestAutoMerge(self, p: dict[str, Any], given: dict[str, Any]) -> Response:  # noqa: N802
        p["automerge"] = None
        return _json({"data": {"disablePullRequestAutoMerge": {"actor": {"login": BOT}, "clientMutationId": None}}})

    def _convertPullRequestToDraft(self, p: dict[str, Any], given: dict[str, Any]) -> Response:  # noqa: N802
        p["draft"] = True
        draft = {"clientMutationId": None, "pullRequest": {"isDraft": True}}
        return _json({"data": {"convertPullRequestToDraft": draft}})

    def _markPullRequestReadyForReview(self, p: dict[str, Any], given: dict[str, Any]) -> Response:  # noqa: N802
        p["draft"] = False
        return _json({"data": {"markPullRequestReadyForReview": {"clientMutationId": None,
                                                                 "pullRequest": {"isDraft": False}}}})


    # --- issues (GitHub lists pull requests among them) ----------------------------------------

    def next_number(self) -> int:
        return max([*self.pulls, *self.issues], default=0) + 1

    def issue_json(self, i: dict[str, Any]) -> dict[str, Any]:
        n, base = i["number"], f"{self.api}/repos/{self.repository}"
        return {"url": f"{base}/issues/{n}", "id": 2000 + n, "node_id": f"I_kw{n}", "number": n,
                "html_url": f"https://github.example/{self.repository}/issues/{n}", "state": i["state"],
                "title": i["title"], "body": i["body"], "user": {"login": i["user"], "id": 1},
                "labels": [{"id": k, "name": lb, "url": f"{base}/labels/{lb}"} for k, lb in enumerate(i["labels"])],
                "assignees": [], "locked": False, "comments": 0, "state_reason": i.get("state_reason")}

    def pull_as_issue(self, p: dict[str, Any]) -> dict[str, Any]:
        """A pull request as ``GET /issues`` lists it: an issue with a ``pull_request`` key."""
        out = self.issue_json({"number": p["number"], "state": p["state"], "title": p["title"], "body": p["body"],
                               "user": BOT, "labels": p["labels"]})
        html = f"https://github.example/{self.repository}/pull/{p['number']}"
        return out | {"html_url": html,
                      "pull_request": {"url": f"{self.api}/repos/{self.repository}/pulls/{p['number']}",
                                                          "html_url": html}}

    def add_issue(self, title: str, body: str, labels: list[str] | None = None, user: str = BOT,
                  state: str = "open") -> int:
        """An issue made as a person (or the bot, earlier) would: for tests to start from."""
        n = self.next_number()
        self.issues[n] = {"number": n, "title": title, "body": body, "labels": list(labels or ()), "user": user,
                          "state": state}
        return n

    def list_issues(self, request: Request, body: Any) -> Response:
        bad = self.check_query(request, self.ISSUE_QUERY)
        if bad:
            return bad
        a = request.args
        state = a.get("state", "open")
        if state not in ("open", "closed", "all"):
            return self.violation(request, "state must be open, closed or all")
        wanted = [x for x in a.get("labels", "").split(",") if x]
        items = [(i["number"], self.issue_json(i), i) for i in self.issues.values()]
        items += [(p["number"], self.pull_as_issue(p), {**p, "user": BOT}) for p in self.pulls.values()]
        found = [out for _, out, i in sorted(items, key=lambda x: -x[0])   # newest first, as GitHub sorts
                 if (state == "all" or i["state"] == state) and all(lb in i["labels"] for lb in wanted)
                 and (a.get("creator") is None or i["user"] == a["creator"])]
        return _json(found)

    def create_issue(self, request: Request, body: Any) -> Response:
        bad = self.check_fields(request, body, self.ISSUE_CREATE, {"title"},
                                {"title": (str, int), "body": (str, type(None)), "labels": list})
        if bad or (bad := self._body_ok(request, body)):
            return bad
        n = self.add_issue(str(body["title"]), body.get("body") or "", body.get("labels"))
        return _json(self.issue_json(self.issues[n]), 201)

    def get_issue(self, request: Request, body: Any, n: str) -> Response:
        i = self.issues.get(int(n))
        return _json(self.issue_json(i)) if i else _json({"message": "Not Found"}, 404)

    def update_issue(self, request: Request, body: Any, n: str) -> Response:
        i = self.issues.get(int(n))
        if i is None:
            return _json({"message": "Not Found"}, 404)
        bad = self.check_fields(request, body, self.ISSUE_UPDATE,
                                types={"title": (str, int), "body": (str, type(None)), "labels": list, "state": str})
        if bad or (bad := self._body_ok(request, body)):
            return bad
        i.update({k: body[k] for k in ("title", "body", "state", "labels") if k in body})
        return _json(self.issue_json(i))

    def get_user(self, request: Request, body: Any) -> Response:
        if self.app_token:
            return _json({"message": "Resource not accessible by integration"}, 403)
        return _json({"login": BOT, "id": 1, "type": "User"})

    def _pinIssue(self, request: Request, given: Any) -> Response:  # noqa: N802
        bad = self.check_fields(request, given, self.MUTATIONS["pinIssue"], {"issueId"})
        if bad:
            return bad
        i = next((i for i in self.issues.values() if f"I_kw{i['number']}" == given["issueId"]), None)
        if i is None:
            return _json({"data": {"pinIssue": None}, "errors": [{"type": "NOT_FOUND",
                                                                   "message": "Could not resolve to a node"}]})
        if not self.pin_allowed:
            return self._error("pinIssue", "Resource not accessible by personal access token")
        i["pinned"] = True
        return _json({"data": {"pinIssue": {"issue": {"id": given["issueId"]}}}})


# --- GitLab ------------------------------------------------------------------------------------

class FakeGitLab(Fake):
    """GitLab's REST API v4: merge requests, their merge, users."""

    body_limit = 1_048_576
    MR_CREATE = {"source_branch", "target_branch", "title", "allow_collaboration", "allow_maintainer_to_push",
                 "approvals_before_merge", "assignee_id", "assignee_ids", "description", "labels", "milestone_id",
                 "remove_source_branch", "reviewer_ids", "squash", "target_project_id", "merge_after"}
    MR_UPDATE = {"add_labels", "remove_labels", "assignee_id", "assignee_ids", "reviewer_ids", "description",
                 "discussion_locked", "labels", "milestone_id", "remove_source_branch", "squash", "state_event",
                 "target_branch", "title", "allow_collaboration", "allow_maintainer_to_push", "merge_after"}
    MERGE = {"merge_commit_message", "squash_commit_message", "squash", "should_remove_source_branch",
             "merge_when_pipeline_succeeds", "auto_merge", "sha"}
    DRAFT = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:)", re.IGNORECASE)
    ISSUE_CREATE = {"title", "description", "labels", "assignee_id", "assignee_ids", "confidential", "created_at",
                    "due_date", "discussion_to_resolve", "epic_id", "epic_iid", "iid", "issue_type",
                    "merge_request_to_resolve_discussions_of", "milestone_id", "weight"}
    ISSUE_UPDATE = {"title", "description", "labels", "add_labels", "remove_labels", "assignee_ids", "confidential",
                    "discussion_locked", "due_date", "epic_id", "epic_iid", "issue_type", "milestone_id",
                    "state_event", "updated_at", "weight"}
    ISSUE_QUERY = {"state", "labels", "scope", "search", "in", "author_id", "author_username", "assignee_id",
                   "per_page", "page", "order_by", "sort", "iids[]", "milestone", "created_after", "created_before",
                   "updated_after", "updated_before", "confidential", "with_labels_details"}

    def __init__(self, url: str, project: str = "g/sub/p", users: dict[str, int] | None = None):
        super().__init__(url)
        self.project = project
        self.users = {"alice": 11, "bob": 12, "carol": 13, BOT: 1, **(users or {})}
        self.mrs: dict[int, dict[str, Any]] = {}
        self.issues: dict[int, dict[str, Any]] = {}
        self.pipeline = True        # a pipeline runs: merge_when_pipeline_succeeds waits for it
        self.checking = 0           # merges refused (405) while GitLab still checks mergeability
        pid = re.escape(f"/api/v4/projects/{project.replace('/', '%2F')}")
        self.routes = [
            ("GET", rf"{pid}/merge_requests", "list_mrs"), ("POST", rf"{pid}/merge_requests", "create_mr"),
            ("GET", rf"{pid}/merge_requests/(\d+)", "get_mr"), ("PUT", rf"{pid}/merge_requests/(\d+)", "update_mr"),
            ("PUT", rf"{pid}/merge_requests/(\d+)/merge", "merge"),
            ("POST", rf"{pid}/merge_requests/(\d+)/cancel_merge_when_pipeline_succeeds", "cancel"),
            ("GET", r"/api/v4/users", "find_users"),
            ("GET", rf"{pid}/issues", "list_issues"), ("POST", rf"{pid}/issues", "create_issue"),
            ("GET", rf"{pid}/issues/(\d+)", "get_issue"), ("PUT", rf"{pid}/issues/(\d+)", "update_issue"),
        ]

    def authorized(self, request: Request) -> bool:
        return TOKEN in (request.headers.get("PRIVATE-TOKEN"), request.headers.get("JOB-TOKEN"))

    def mr_json(self, m: dict[str, Any]) -> dict[str, Any]:
        ids = {v: k for k, v in self.users.items()}
        return {"id": 500 + m["iid"], "iid": m["iid"], "project_id": 42, "title": m["title"],
                "description": m["description"], "state": m["state"], "draft": bool(self.DRAFT.match(m["title"])),
                "work_in_progress": bool(self.DRAFT.match(m["title"])), "labels": list(m["labels"]),
                "reviewers": [{"id": i, "username": ids[i]} for i in m["reviewers"]],
                "assignees": [{"id": i, "username": ids[i]} for i in m["assignees"]],
                "author": {"id": 1, "username": BOT}, "merge_when_pipeline_succeeds": m["mwps"],
                "source_branch": m["source"], "target_branch": m["target"], "merge_status": "can_be_merged",
                "web_url": f"https://gitlab.example/{self.project}/-/merge_requests/{m['iid']}"}

    def opened(self) -> list[dict[str, Any]]:
        return [m for m in self.mrs.values() if m["state"] == "opened"]

    def list_mrs(self, request: Request, body: Any) -> Response:
        bad = self.check_query(request, {"state", "source_branch", "target_branch", "per_page", "page", "order_by",
                                         "sort", "labels", "view", "scope"})
        if bad:
            return bad
        a = request.args
        found = [m for m in self.mrs.values() if m["state"] == a.get("state", m["state"])
                 and m["source"] == a.get("source_branch", m["source"])
                 and m["target"] == a.get("target_branch", m["target"])]
        return _json([self.mr_json(m) for m in found])

    def _labels(self, request: Request, value: Any, key: str) -> list[str] | Response:
        if not isinstance(value, str):  # the API documents a comma-separated string
            return self.violation(request, f"{key}: expected a comma-separated string", 400)
        return [x.strip() for x in value.split(",") if x.strip()]

    def _description_ok(self, request: Request, body: dict[str, Any]) -> Response | None:
        if len(body.get("description") or "") > self.body_limit:
            return self.violation(request, "description is too long (maximum is 1048576 characters)", 400)
        return None

    def create_mr(self, request: Request, body: Any) -> Response:
        bad = self.check_fields(request, body, self.MR_CREATE, {"source_branch", "target_branch", "title"},
                                {"title": str, "description": str, "reviewer_ids": list, "assignee_ids": list})
        if bad or (bad := self._description_ok(request, body)):
            return bad
        if any(m["source"] == body["source_branch"] and m["target"] == body["target_branch"] for m in self.opened()):
            return self.violation(request, "Another open merge request already exists for this source branch", 409)
        labels = self._labels(request, body.get("labels", ""), "labels")
        if isinstance(labels, Response):
            return labels
        n = len(self.mrs) + 1
        self.mrs[n] = {"iid": n, "title": body["title"], "description": body.get("description", ""),
                       "state": "opened", "labels": labels, "reviewers": list(body.get("reviewer_ids", ())),
                       "assignees": list(body.get("assignee_ids", ())), "mwps": False,
                       "source": body["source_branch"], "target": body["target_branch"]}
        return _json(self.mr_json(self.mrs[n]), 201)

    def get_mr(self, request: Request, body: Any, n: str) -> Response:
        m = self.mrs.get(int(n))
        return _json(self.mr_json(m)) if m else _json({"message": "404 Not found"}, 404)

    def update_mr(self, request: Request, body: Any, n: str) -> Response:
        m = self.mrs[int(n)]
        bad = self.check_fields(request, body, self.MR_UPDATE, types={"title": str, "description": str,
                                                                     "reviewer_ids": list, "assignee_ids": list})
        if bad or (bad := self._description_ok(request, body)):
            return bad
        if not body:
            return self.violation(request, "at least one attribute is required", 400)
        for key in ("add_labels", "remove_labels", "labels"):
            if key in body:
                names = self._labels(request, body[key], key)
                if isinstance(names, Response):
                    return names
                m["labels"] = (names if key == "labels"
                               else [lb for lb in m["labels"] if lb not in names] if key == "remove_labels"
                               else m["labels"] + [lb for lb in names if lb not in m["labels"]])
        for key, field in (("title", "title"), ("description", "description"), ("reviewer_ids", "reviewers"),
                           ("assignee_ids", "assignees")):
            if key in body:
                m[field] = body[key]
        return _json(self.mr_json(m))

    def merge(self, request: Request, body: Any, n: str) -> Response:
        m = self.mrs[int(n)]
        bad = self.check_fields(request, body or {}, self.MERGE, types={"merge_when_pipeline_succeeds": bool})
        if bad:
            return bad
        if self.DRAFT.match(m["title"]) or self.checking:
            self.checking = max(0, self.checking - 1)
            return _json({"message": "405 Method Not Allowed"}, 405)
        if (body or {}).get("merge_when_pipeline_succeeds") and self.pipeline:
            m["mwps"] = True
        else:
            m["state"] = "merged"
        return _json(self.mr_json(m))

    def cancel(self, request: Request, body: Any, n: str) -> Response:
        m = self.mrs[int(n)]
        m["mwps"] = False
        return _json(self.mr_json(m), 201)

    def find_users(self, request: Request, body: Any) -> Response:
        bad = self.check_query(request, {"username", "per_page", "page", "active"})
        if bad:
            return bad
        name = request.args.get("username")
        return _json([{"id": self.users[name], "username": name, "name": name}] if name in self.users else [])


    # --- issues -------------------------------------------------------------------------------

    def issue_json(self, i: dict[str, Any]) -> dict[str, Any]:
        return {"id": 900 + i["iid"], "iid": i["iid"], "project_id": 42, "title": i["title"],
                "description": i["description"], "state": i["state"], "labels": list(i["labels"]),
                "author": {"id": self.users[i["author"]], "username": i["author"]}, "assignees": [],
                "confidential": False, "web_url": f"https://gitlab.example/{self.project}/-/issues/{i['iid']}"}

    def add_issue(self, title: str, description: str, labels: list[str] | None = None, author: str = BOT,
                  state: str = "opened") -> int:
        n = len(self.issues) + 1
        self.issues[n] = {"iid": n, "title": title, "description": description, "labels": list(labels or ()),
                          "author": author, "state": state}
        return n

    def list_issues(self, request: Request, body: Any) -> Response:
        bad = self.check_query(request, self.ISSUE_QUERY)
        if bad:
            return bad
        a = request.args
        if a.get("state") not in (None, "opened", "closed", "all"):
            return self.violation(request, "state must be opened, closed or all", 400)
        if a.get("scope") not in (None, "created_by_me", "assigned_to_me", "all"):
            return self.violation(request, "scope must be created_by_me, assigned_to_me or all", 400)
        wanted = [x for x in a.get("labels", "").split(",") if x]
        found = [self.issue_json(i) for i in sorted(self.issues.values(), key=lambda i: -i["iid"])
                 if a.get("state", "all") in ("all", i["state"]) and all(lb in i["labels"] for lb in wanted)
                 and (a.get("scope") != "created_by_me" or i["author"] == BOT)]
        return _json(found)

    def create_issue(self, request: Request, body: Any) -> Response:
        bad = self.check_fields(request, body, self.ISSUE_CREATE, {"title"}, {"title": str, "description": str})
        if bad or (bad := self._description_ok(request, body)):
            return bad
        labels = self._labels(request, body.get("labels", ""), "labels")
        if isinstance(labels, Response):
            return labels
        n = self.add_issue(body["title"], body.get("description", ""), labels)
        return _json(self.issue_json(self.issues[n]), 201)

    def get_issue(self, request: Request, body: Any, n: str) -> Response:
        i = self.issues.get(int(n))
        return _json(self.issue_json(i)) if i else _json({"message": "404 Not found"}, 404)

    def update_issue(self, request: Request, body: Any, n: str) -> Response:
        i = self.issues.get(int(n))
        if i is None:
            return _json({"message": "404 Not found"}, 404)
        bad = self.check_fields(request, body, self.ISSUE_UPDATE, types={"title": str, "description": str})
        if bad or (bad := self._description_ok(request, body)):
            return bad
        if not body:
            return self.violation(request, "at least one attribute is required", 400)
        for key in ("add_labels", "remove_labels", "labels"):
            if key in body:
                names = self._labels(request, body[key], key)
                if isinstance(names, Response):
                    return names
                i["labels"] = (names if key == "labels"
                               else [lb for lb in i["labels"] if lb not in names] if key == "remove_labels"
                               else i["labels"] + [lb for lb in names if lb not in i["labels"]])
        i.update({k: body[k] for k in ("title", "description") if k in body})
        if body.get("state_event") in ("close", "reopen"):
            i["state"] = "closed" if body["state_event"] == "close" else "opened"
        return _json(self.issue_json(i))


def serve(httpserver: Any, fake: Fake) -> Fake:
    """Route every request the test server gets to ``fake``."""
    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(fake.handle)
    return fake


# --- real remotes ------------------------------------------------------------------------------

def bare_remote(path: Path) -> Path:
    """A bare repository whose ``pre-receive`` hook logs each push (one line per ref) to ``pushes.log``."""
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    hook = path / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\ncat >> "{path / "pushes.log"}"\n')
    hook.chmod(0o755)
    return path


def pushes(remote: Path) -> list[str]:
    log = remote / "pushes.log"
    return log.read_text().splitlines() if log.exists() else []


PROC_RECEIVE = r'''#!PYTHON
"""GitHub's refusal of workflow changes from a token without the workflow scope (git's proc-receive protocol)."""
import os, subprocess, sys

def read():
    size = int(sys.stdin.buffer.read(4), 16)
    return None if size == 0 else sys.stdin.buffer.read(size - 4).decode().rstrip("\n")

def write(line=None):
    sys.stdout.buffer.write(b"0000" if line is None else b"%04x%s\n" % (len(line) + 5, line.encode()))
    sys.stdout.flush()

read(); read()                       # "version=1\0caps", flush
write("version=1"); write()
commands = []
while (line := read()) is not None:
    commands.append(line.split(" "))
for old, new, ref in commands:
    base = [old] if set(old) != {"0"} else ["--root"]
    changed = subprocess.run(["git", "diff-tree", "-r", "--name-only", "--no-commit-id", *base, new]
                             if base != ["--root"] else ["git", "ls-tree", "-r", "--name-only", new],
                             capture_output=True, text=True).stdout
    bad = [p for p in changed.splitlines() if p.startswith(".github/workflows/")]
    if bad:
        write(f"ng {ref} refusing to allow a Personal Access Token to create or update workflow `{bad[0]}` "
              "without `workflow` scope")
    else:
        subprocess.run(["git", "update-ref", ref, new, old], check=True)
        write(f"ok {ref}")
write()
'''


def refuse_workflows(remote: Path) -> None:
    """Make ``remote`` answer a push that changes ``.github/workflows/`` the way GitHub answers a token without
    the ``workflow`` scope: ``! [remote rejected] ... (refusing to allow ... without `workflow` scope)``."""
    hook = remote / "hooks" / "proc-receive"
    hook.write_text(PROC_RECEIVE.replace("PYTHON", sys.executable, 1))
    hook.chmod(0o755)
    subprocess.run(["git", "-C", str(remote), "config", "receive.procReceiveRefs", "refs/heads/"], check=True)


class _GitHttp(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol through ``git http-backend`` (CGI), behind Basic auth."""

    def _serve(self) -> None:
        server: Any = self.server
        auth = self.headers.get("Authorization")
        server.log.append((self.command, self.path, auth))
        if auth != "Basic " + base64.b64encode(f"{server.user}:{TOKEN}".encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="forge"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urlsplit(self.path)
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
               "GIT_PROJECT_ROOT": str(server.root), "GIT_HTTP_EXPORT_ALL": "1", "REMOTE_USER": server.user,
               "PATH_INFO": unquote(parts.path), "QUERY_STRING": parts.query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(data)),
               "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""), "GATEWAY_INTERFACE": "CGI/1.1"}
        out = subprocess.run(["git", "http-backend"], input=data, capture_output=True, env=env).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line]
        status = next((v for k, v in headers if k.lower() == "status"), "200 OK")
        self.send_response(int(status.split()[0]))
        for k, v in headers:
            if k.lower() != "status":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


class SmartHttp:
    """Bare repositories under ``root`` served at ``url`` for fetch and push, for user ``user`` with ``TOKEN``."""

    def __init__(self, root: Path, user: str = "x-access-token"):
        self.root, self.log = root, []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GitHttp)
        self.httpd.root, self.httpd.user, self.httpd.log = root, user, self.log  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> SmartHttp:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def git_argv_logger(tmp_path: Path) -> tuple[Path, Path]:
    """A ``git`` wrapper directory to put first on PATH (it logs every argv), and the log."""
    real = shutil.which("git")
    assert real
    bin_dir, log = tmp_path / "bin", tmp_path / "git-argv.log"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir, log
