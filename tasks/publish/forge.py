"""The forge behind a remote: a small protocol (find, open, update, labels, reviewers, automerge), which one, its token.

Each forge is a module with one class implementing ``Forge`` (``github``, ``gitlab``, ``none``);
``FORGES`` maps ``publish.forge`` to it, and ``sync`` keeps one pull request per branch in step
with a ``Proposal`` through that protocol alone, so adding a forge is a module and a dict entry.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from tasks.config import Publish
from tasks.errors import ForkwaveError, ForkwaveFailure

FORGES = {"github": "tasks.publish.github:GitHub", "gitlab": "tasks.publish.gitlab:GitLab",
          "none": "tasks.publish.none:NoForge"}


@dataclass(frozen=True)
class Change:
    """A pull request (GitHub) or merge request (GitLab) as the forge has it now."""

    number: int
    url: str
    title: str
    body: str
    draft: bool
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()   # review requests still pending
    assignees: tuple[str, ...] = ()
    automerge: bool = False           # merges by itself once its checks pass
    author: str | None = None
    native: Any = field(default=None, compare=False, repr=False)   # the library's own object


@dataclass(frozen=True)
class Proposal:
    """What the pull request of one sync branch should be."""

    head: str
    base: str
    title: str
    body: str
    draft: bool
    labels: tuple[str, ...]
    managed: frozenset[str]            # labels forkwave removes when they no longer apply
    reviewers: tuple[str, ...] = ()    # to request (not again once requested)
    unrequest: tuple[str, ...] = ()    # pending requests to withdraw (conflict reviewers, conflicts gone)
    assignees: tuple[str, ...] = ()
    automerge: bool = False
    merge_method: str = "merge"


@dataclass(frozen=True)
class Issue:
    """An issue as the forge has it now (the sync dashboard forkwave keeps)."""

    number: int
    url: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    open: bool = True
    native: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Notice:
    """What the one sync dashboard issue should be: found again by ``marker`` in its body (and ``label``)."""

    title: str
    body: str
    label: str
    marker: str


class Forge(Protocol):
    name: str
    body_limit: int | None            # characters a description (or an issue's body) may hold

    def find(self, head: str, base: str) -> Change | None: ...
    def open(self, p: Proposal) -> Change: ...
    def update(self, c: Change, *, title: str, body: str, draft: bool) -> Change: ...
    def set_labels(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None: ...
    def request_reviewers(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None: ...
    def assign(self, c: Change, add: Sequence[str]) -> None: ...
    def enable_automerge(self, c: Change, method: str) -> str: ...
    def disable_automerge(self, c: Change) -> None: ...
    def find_issue(self, marker: str, label: str) -> Issue | None: ...
    def open_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue: ...
    def update_issue(self, issue: Issue, *, title: str, body: str, labels: Sequence[str]) -> Issue: ...
    def pin_issue(self, issue: Issue) -> str: ...


@dataclass(frozen=True)
class Synced:
    change: Change
    did: tuple[str, ...]              # what changed, in words ("opened", "labels +risk:low -risk:high")
    requested: tuple[str, ...]        # every review request forkwave made on it so far
    automerge: str                    # what the forge said, in words


def sync(forge: Forge, p: Proposal, requested_before: Sequence[str] = ()) -> Synced:
    """Open the pull request for ``p.head``, or update the open one in place (never a second), until it is ``p``."""
    did: list[str] = []
    change = forge.find(p.head, p.base)
    if change is None:
        change = forge.open(p)
        did.append("opened")
        requested_before = ()
    elif (change.title, change.body, change.draft) != (p.title, p.body, p.draft):
        what = [k for k, a, b in (("title", change.title, p.title), ("description", change.body, p.body),
                                  ("draft" if p.draft else "ready for review", change.draft, p.draft)) if a != b]
        change = forge.update(change, title=p.title, body=p.body, draft=p.draft)
        did.append("updated " + ", ".join(what))
    add = [lb for lb in p.labels if lb not in change.labels]
    remove = [lb for lb in change.labels if lb in p.managed and lb not in p.labels]
    if add or remove:
        forge.set_labels(change, add, remove)
        did.append("labels " + " ".join([f"+{lb}" for lb in add] + [f"-{lb}" for lb in remove]))
    asked = [r for r in p.reviewers if r.lstrip("@") not in {*change.reviewers, *requested_before}
             and r.lstrip("@") != change.author]
    withdraw = [r for r in p.unrequest if r.lstrip("@") in change.reviewers]
    if asked or withdraw:
        forge.request_reviewers(change, asked, withdraw)
        did.append("reviewers " + " ".join([f"+{r}" for r in asked] + [f"-{r}" for r in withdraw]))
    assign = [a for a in p.assignees if a.lstrip("@") not in change.assignees]
    if assign:
        forge.assign(change, assign)
        did.append("assignees " + " ".join(f"+{a}" for a in assign))
    if p.automerge:
        state = forge.enable_automerge(change, p.merge_method) if not change.automerge else "enabled already"
    elif change.automerge:
        forge.disable_automerge(change)
        state = "disabled (no longer low risk and clean)"
    else:
        state = "not asked for"
    requested = tuple(dict.fromkeys([*requested_before, *(r.lstrip("@") for r in asked)]))
    labels = tuple(lb for lb in dict.fromkeys([*change.labels, *add]) if lb not in remove)
    return Synced(replace(change, labels=labels), tuple(did), requested, state)


def sync_issue(forge: Forge, n: Notice) -> tuple[Issue, str]:
    """Keep the one issue ``n`` describes, as Renovate keeps its Dependency Dashboard: found by its marker (among
    the issues with its label, else those the token's user opened), opened (and pinned) when there is none,
    its body updated in place — never a second one. A person who closed it is left alone."""
    found = forge.find_issue(n.marker, n.label)
    if found is None:
        issue = forge.open_issue(n.title, n.body, (n.label,))
        return issue, f"opened, {forge.pin_issue(issue)}"
    if not found.open:
        return found, "closed by a person: left as it is (reopen it to have it kept up to date)"
    labels = tuple(dict.fromkeys((*found.labels, n.label)))
    if (found.title, found.body, found.labels) == (n.title, n.body, labels):
        return found, "up to date already"
    return forge.update_issue(found, title=n.title, body=n.body, labels=labels), "updated"


def load(name: str) -> type:
    """The class of forge ``name``, imported only now (a task creator must not pay for forge libraries)."""
    module, _, cls = FORGES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


# --- which forge, where -------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    forge: str                   # github | gitlab | none
    web: str | None              # https://github.com, https://gitlab.example.com
    api: str | None              # the REST API base forkwave talks to
    repository: str | None       # owner/name (GitLab: group/.../project)


def host_of(url: str) -> str | None:
    """The host of an http(s), ssh or scp-style git URL (None for a local path).

    >>> host_of("git@github.com:o/r.git"), host_of("ssh://git@gitlab.example.com:2222/g/p"), host_of("/srv/r.git")
    ('github.com', 'gitlab.example.com', None)
    """
    m = re.match(r"^[\w.+-]+@([\w.-]+):(?!//)", url)
    if m:
        return m.group(1).lower()
    parts = urlsplit(url)
    return parts.hostname.lower() if parts.scheme and parts.hostname else None


def path_of(url: str) -> str | None:
    """The repository path of a git URL, without ``.git``: ``owner/name``, ``group/sub/project``.

    >>> path_of("https://github.com/o/r.git"), path_of("git@gitlab.com:g/s/p.git"), path_of("/srv/r.git")
    ('o/r', 'g/s/p', None)
    """
    m = re.match(r"^[\w.+-]+@[\w.-]+:(?!//)(.+)$", url)
    path = m.group(1) if m else urlsplit(url).path if urlsplit(url).scheme else None
    if not path:
        return None
    path = path.strip("/").removesuffix(".git").strip("/")
    return path or None


def guess(host: str | None, env: Mapping[str, str]) -> str:
    """The forge of a host: GitHub or GitLab by name or by the CI that runs us, else none."""
    if not host:
        return "none"
    ci = {"github": host_of(env.get("GITHUB_SERVER_URL", "")), "gitlab": (env.get("CI_SERVER_HOST") or "").lower()}
    for forge in ("github", "gitlab"):
        if host == ci[forge] or host == f"{forge}.com" or forge in host.split("."):
            return forge
    return "none"


def target(pub: Publish, remote_url: str, env: Mapping[str, str], file: str = "forkwave.yaml") -> Target:
    """The forge, its web and API addresses and the repository, from ``publish:`` and the remote's URL."""
    host = host_of(remote_url)
    forge = pub.forge if pub.forge != "auto" else guess(host_of(pub.url) if pub.url else host, env)
    if forge == "none":
        return Target("none", None, None, None)
    web = (pub.url or (f"https://{host}" if host else None) or "").rstrip("/") or None
    if web is None and pub.api is None:
        raise ForkwaveError(f"{file}: publish.url: cannot tell where the {forge} server is from the remote "
                            f"{remote_url!r}; set publish.url (its web address) or publish.api")
    api = (pub.api or _api(forge, web or "", env)).rstrip("/")
    repository = pub.repository or _repository(remote_url, web)
    if not repository:
        raise ForkwaveError(f"{file}: publish.repository: cannot tell the repository from the remote {remote_url!r}; "
                            "set publish.repository (owner/name)")
    return Target(forge, web, api, repository)


def _api(forge: str, web: str, env: Mapping[str, str]) -> str:
    if forge == "github":
        if env.get("GITHUB_API_URL") and env.get("GITHUB_SERVER_URL", "").rstrip("/") == web:
            return env["GITHUB_API_URL"]
        return "https://api.github.com" if web == "https://github.com" else f"{web}/api/v3"  # Enterprise Server
    return f"{web}/api/v4"


def _repository(remote_url: str, web: str | None) -> str | None:
    path = path_of(remote_url)
    prefix = (urlsplit(web).path.strip("/") + "/") if web and urlsplit(web).path.strip("/") else ""
    return path.removeprefix(prefix) if path else None   # a GitLab under https://host/gitlab/


# --- whose token ----------------------------------------------------------------------------------

TOKEN_VARIABLES = {"github": ("FORKWAVE_TOKEN", "GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN",
                              "GITHUB_ENTERPRISE_TOKEN"),
                   "gitlab": ("FORKWAVE_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN"),
                   "none": ("FORKWAVE_TOKEN",)}


@dataclass(frozen=True)
class Credential:
    token: str = field(repr=False)
    variable: str                # where it came from, for messages (never the value)
    username: str                # what git sends with it over https

    @property
    def job(self) -> bool:
        return self.variable == "CI_JOB_TOKEN"


def credential(forge: str, env: Mapping[str, str]) -> Credential | None:
    """The token for ``forge`` from the environment: ``FORKWAVE_TOKEN``, else the forge's usual variables.

    >>> credential("gitlab", {"CI_JOB_TOKEN": "t0k3n"}).username
    'gitlab-ci-token'
    >>> credential("github", {"GITHUB_TOKEN": "a", "GH_TOKEN": "b"}).variable
    'GH_TOKEN'
    """
    for name in TOKEN_VARIABLES[forge]:
        if env.get(name):
            user = env.get("FORKWAVE_USERNAME") or {"github": "x-access-token", "none": "forkwave"}.get(
                forge, "gitlab-ci-token" if name == "CI_JOB_TOKEN" else "oauth2")
            return Credential(env[name], name, user)
    return None


def need_credential(forge: str, env: Mapping[str, str], repository: str | None) -> Credential:
    found = credential(forge, env)
    if found is None:
        names = " or ".join(TOKEN_VARIABLES[forge])
        raise ForkwaveFailure(f"publish: no token for {forge} in the environment; set {names} to a token that can "
                              f"push to {repository} and open pull requests "
                              "(see docs/guides/publishing.md, Tokens and scopes)")
    return found
