"""``doit publish``: push each sync branch, keep its one pull request in step, merge a small clean one by itself.

load the reports ─> facts, risk, decision (pure) ─> title, labels, body (pure) ─> no-op if all as last published
   ─> push (never forced) ─> forge.sync (open or update in place) ─> automerge ─> reports/publish.json
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tasks.repo import git, resolutions
from tasks.modes import registry as modes
from tasks.config import Config, integration_branch
from tasks.engine import verify
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.publish import body, forge, risk
from tasks.publish.push import PushRefused, Pushed, push
from tasks.redact import Redactor, redact_url
from tasks.report.board import EVERY
from tasks.report.reports import load_outcomes, upstream_commits
from tasks.repo.state import STATE_PATH
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

RECORD = "publish.json"
PR_FILE = "pr.md"


@dataclass(frozen=True)
class Remote:
    """Where the push goes: a remote's name (or a URL without credentials), the URL it names, git's extra env."""

    name: str
    url: str
    env: Mapping[str, str]

    @property
    def shown(self) -> str:
        return redact_url(self.url) if self.name == self.url else f"{self.name} ({redact_url(self.url)})"


def source_name(cfg: Config) -> str:
    """The upstream's name for titles: ``owner/name`` of its URL, else its folder's name.

    >>> from tasks.config import Config, Fork, Upstream
    >>> source_name(Config(Path("f"), Upstream("https://github.com/twentyhq/twenty.git"), Fork(Path("."))))
    'twentyhq/twenty'
    """
    url = redact_url(cfg.raw.get("upstream", {}).get("url", cfg.upstream.url))
    path = forge.path_of(url) if forge.host_of(url) else None
    return path or Path(url.rstrip("/")).name.removesuffix(".git") or "upstream"


def report_url(cfg: Config, env: Mapping[str, str]) -> str | None:
    """Where the full reports are: ``publish.report_url``, else this CI run's artifacts (GitHub Actions, GitLab CI)."""
    if cfg.publish.report_url:
        return cfg.publish.report_url
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if env.get("CI_JOB_URL"):
        return f"{env['CI_JOB_URL'].rstrip('/')}/artifacts/browse/reports/"
    return None


def resolve_remote(cfg: Config) -> tuple[str, str]:
    """(what to push to, its URL): a remote of the fork by name, else ``publish.remote`` as a URL or path."""
    name = cfg.publish.remote
    url = git.remote_url(cfg.fork.path, name)
    if url:
        return name, url
    if "://" in name or re.match(r"^[\w.+-]+@[\w.-]+:", name):
        return name, name
    path = (cfg.file.resolve().parent / Path(name).expanduser())
    if path.exists():
        return str(path), str(path)
    raise ForkwaveError(f"{cfg.file}: publish.remote: the fork has no remote {name!r}, and it is no URL or path; "
                        f"add it (git -C {cfg.fork.path} remote add {name} URL) or give a URL")


def remote_for(cfg: Config, cred: forge.Credential | None) -> Remote:
    name, url = resolve_remote(cfg)
    if name == url:
        bare, env = git.remote(url)  # userinfo in a URL goes to git's environment, not its argv
        if env:
            return Remote(bare, bare, env)
    https = url.lower().startswith(("https://", "http://"))
    return Remote(name, url, git.credential_env(cred.username, cred.token) if cred and https else {})


def facts_of(cfg: Config, ws: Workspace, plan: Mapping[str, Any], head: str,
             only: tuple[str, ...] | None = None) -> tuple[risk.Facts, dict[str, Any]]:
    """What the branch holds: its changed paths, and the outcomes of its slices (``only`` those sources')."""
    base = cfg.fork.branch
    fork = cfg.fork.path
    if not git.rev_parse(fork, f"refs/heads/{base}^{{commit}}"):
        raise ForkwaveError(f"{cfg.file}: fork.branch: {base!r} is no branch of {fork}")
    changed = [p for p in git.changed_names(fork, f"refs/heads/{base}", head) if p != STATE_PATH]
    outcomes = load_outcomes(ws, [s["name"] for s in slices_of(cfg, ws, plan, only)])
    return risk.facts(outcomes, changed), outcomes


def plan_of(cfg: Config, ws: Workspace, plan: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """A source's part of the plan as its last run left it: its own ``plan.json`` (several sources), so a run of
    another schedule, which planned only its own sources, still publishes this one's slices as they stand."""
    own = ws.scoped(source).source_report("plan.json") if cfg.several else None
    if own is not None and own.exists():
        return read_json(own)
    return {**plan, "slices": [s for s in plan["slices"] if not cfg.several or s.get("source") == source]}


def slices_of(cfg: Config, ws: Workspace, plan: Mapping[str, Any], only: tuple[str, ...] | None) -> list[Any]:
    """The slices whose outcomes describe a branch: every slice (one source), or each of ``only``'s own."""
    if only is None or not cfg.several:
        return [s for s in plan["slices"] if only is None or s.get("source") in only]
    return [s for source in only for s in plan_of(cfg, ws, plan, source)["slices"]]


def branches_of(cfg: Config) -> list[tuple[Config, str, tuple[str, ...] | None]]:
    """Each branch to publish: (the config as its source sees it, the branch, the sources whose slices it
    holds — None: every slice). The shared sync branch, then each cherry-pick source's integration branch."""
    if not cfg.several:
        view = cfg.for_source(cfg.sources[0].name) if cfg.sources else cfg
        return [(view, view.fork.sync_branch, None)]
    shared = tuple(s.name for s in cfg.sources if not modes.mode_named(s.mode).own_branch)
    out: list[tuple[Config, str, tuple[str, ...] | None]] = \
        [(cfg.for_source(shared[0]), cfg.fork.sync_branch, shared)] if shared else []
    return out + [(cfg.for_source(s.name), integration_branch(s), (s.name,))
                  for s in cfg.sources if modes.mode_named(s.mode).own_branch]


def _slice_of(outcomes: Mapping[str, Any], path: str) -> str | None:
    return next((n for n, o in outcomes.items() if o and path in o.adopted), None)


def publish(cfg: Config, ws: Workspace, env: Mapping[str, str] | None = None,
            selected: tuple[str, ...] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Publish every sync branch (``branches_of``) that holds work of a ``selected`` source (None: of any);
    returns what ``reports/publish.json`` records, and source -> why it is held (its part is not to be merged)."""
    env = os.environ if env is None else env
    plan_path = ws.report("plan.json")
    if not plan_path.exists():
        raise ForkwaveError(f"{plan_path} is missing: nothing to publish yet; run `doit` first")
    plan = read_json(plan_path)
    record_path = ws.report(RECORD)
    record = read_json(record_path) if record_path.exists() else {}
    previous = record.get("branches", {})
    branches = dict(previous)
    held: dict[str, str] = {}
    asked: list[str] = []
    kept = dict(record.get("held") or {})
    for view, branch, only in branches_of(cfg):
        mine = only or tuple(s.name for s in cfg.sources)
        if selected is not None and not set(mine) & set(selected):
            continue  # another schedule's branch: its own job publishes it
        asked += mine
        try:
            entry, holds = publish_branch(view, ws, plan, branch, previous.get(branch) or {}, env, only, mine)
        except verify.PublishHeld as exc:   # a post-sync check failed on the tip: every source is held
            _record(record_path, branches, {EVERY: str(exc)})
            raise
        held |= holds
        if entry is not None:
            branches[branch] = entry
        kept = {s: h for s, h in kept.items() if s not in asked and s != EVERY}
        _record(record_path, branches, kept | held)
    return {"branches": branches}, held


def _record(path: Path, branches: Mapping[str, Any], held: Mapping[str, Any]) -> None:
    """``publish.json``: each branch as last published, and each source the last publish held, with why and when
    (the dashboard lists them for a person)."""
    now = _now()
    holds = {s: h if isinstance(h, Mapping) else {"why": h, "at": now} for s, h in held.items()}
    if not branches and not holds and not path.exists():
        return
    record = {k: v for k, v in (read_json(path) if path.exists() else {}).items() if k not in ("branches", "held")}
    write_if_changed(path, dump_json({"branches": dict(branches), **({"held": holds} if holds else {}), **record}))


def publish_branch(cfg: Config, ws: Workspace, plan: Mapping[str, Any], branch: str, before: Mapping[str, Any],
                   env: Mapping[str, str], only: tuple[str, ...] | None = None, sources: tuple[str, ...] = ()
                   ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Push one branch and keep its pull request in step; (what publish.json records, or None; the holds)."""
    fork, base, pub = cfg.fork.path, cfg.fork.branch, cfg.publish
    tip = git.rev_parse(fork, f"refs/heads/{branch}^{{commit}}")
    if tip is None:
        print(f"publish: {branch} does not exist in {fork} yet: nothing to publish (run `doit` first)")
        return None, {}
    post = verify.post_hold(cfg, ws, tip)
    if post:  # the post-sync checks judge the whole tip: nothing is pushed, nothing opened (exit 2)
        raise verify.PublishHeld(f"publish: held, nothing pushed: {post}")
    present = verify.on_branch(cfg, tip, sources or tuple(s.name for s in cfg.sources))
    held = verify.holds(cfg, ws, tip, present)
    if present and len(held) == len(present):  # nothing on the branch is ready: nothing pushed, nothing opened
        return None, {name: f"held, nothing pushed: {verify.said(name, why)}" for name, why in held.items()}
    told = {name: f"held, its part of {branch} is in the draft pull request, not to be merged yet: {why}"
            for name, why in held.items()}
    _, remote_url = resolve_remote(cfg)
    where = forge.target(pub, remote_url, env, str(cfg.file))
    cred = forge.need_credential(where.forge, env, where.repository) if where.forge != "none" else \
        forge.credential("none", env)
    remote = remote_for(cfg, cred)
    facts, outcomes = facts_of(cfg, ws, plan, f"refs/heads/{branch}", only)
    ahead = git.count_commits(fork, f"refs/heads/{base}..refs/heads/{branch}")
    sync, proposal = propose(cfg, ws, plan, branch, facts, outcomes, where.forge, report_url(cfg, env), cred, only,
                             present, held)
    digest = _digest(tip, where, remote,
                     propose(cfg, ws, plan, branch, facts, outcomes, where.forge, None, cred, only, present, held)[1])
    if before.get("digest") == digest:  # recorded only once everything below succeeded
        pr = before.get("pr") or {}
        print(f"publish: nothing changed since the last publish ({branch} at {tip[:12]}"
              + (f", {pr.get('url')}" if pr.get("url") else "") + ")")
        return None, told
    _preflight(sync, outcomes)
    pushed = _push(cfg, remote, branch, outcomes)
    entry: dict[str, Any] = {"branch": branch, "base": base, "sha": tip, "remote": remote.shown,
                             "forge": where.forge, "repository": where.repository, "pr": None,
                             "risk": sync.risk.to_json(), "digest": digest}
    if ahead == 0 or not facts.files:
        print(f"publish: {branch} holds nothing {base} lacks: no pull request to open or update")
        return entry | {"pushed": pushed, "published_at": _now()}, told
    print(f"publish: risk {risk.number(sync.risk.score)} ({sync.risk.level}): " + _terms(sync.risk)
          + f"; auto-merge: {'yes' if sync.decision.merge else 'no'} — {sync.decision.why}")
    client = _forge(cfg, ws, where, cred, remote, branch, pr_file(cfg, only))
    if client.body_limit is not None and len(proposal.body) > client.body_limit:
        raise ForkwaveFailure(f"publish: the description is {len(proposal.body):,} characters, over {where.forge}'s "
                              f"{client.body_limit:,}; this is a bug in the trimming, please report it")
    done = forge.sync(client, proposal, before.get("requested", ()) if (before.get("pr") or {}).get("number") else ())
    change = done.change
    what = ", ".join(done.did) or "already as proposed"
    kind = "merge request" if where.forge == "gitlab" else "pull request"
    if where.forge == "none":
        print(f"publish: wrote {ws.rel(client.path)} ({proposal.title}; labels {', '.join(proposal.labels)})")
    else:
        print(f"publish: {kind} #{change.number} {what}: {change.url}"
              + (" (draft)" if change.draft else "") + f"; labels {', '.join(change.labels)}")
    if proposal.automerge or done.automerge.startswith("disabled"):
        print(f"publish: auto-merge {done.automerge}")
    return entry | {"pr": {"number": change.number, "url": change.url} if where.forge != "none" else None,
                    "title": proposal.title, "labels": list(proposal.labels), "draft": proposal.draft,
                    "automerge": {"asked": proposal.automerge, "why": sync.decision.why, "state": done.automerge},
                    "requested": list(done.requested), "held": dict(held), "pushed": pushed,
                    "published_at": _now()}, told


def pr_file(cfg: Config, only: tuple[str, ...] | None) -> str:
    """``reports/pr.md``; an integration branch of several sources has its own (``pr-<source>.md``)."""
    return f"pr-{only[0]}.md" if cfg.several and only and modes.mode_of(cfg).own_branch else PR_FILE


def propose(cfg: Config, ws: Workspace, plan: Mapping[str, Any], branch: str, facts: risk.Facts,
            outcomes: Mapping[str, Any], forge_name: str, link: str | None,
            cred: forge.Credential | None, only: tuple[str, ...] | None = None,
            present: Sequence[str] | None = None, held: Mapping[str, str] | None = None
            ) -> tuple[body.Sync, forge.Proposal]:
    """The pure part: what the pull request of ``branch`` should be (``cfg`` as its source sees it). ``present``:
    the sources with work on the branch (several on one branch are named together); ``held``: those whose part is
    not to be merged yet — the pull request stays a draft and never merges by itself while any is."""
    pub = cfg.publish
    held = dict(held or {})
    score = risk.score(facts, dict(pub.weights), pub.low, pub.medium)
    draft = body.draft(pub.draft, facts) or bool(held)
    decision = risk.automerge(score, facts, pub.automerge_max, draft=draft)
    if held:
        decision = risk.Decision(False, f"held: {', '.join(held)} did not pass verification")
    shared = cfg.several and only is not None and len(only) > 1   # one branch, several sources
    if shared:
        named = [u for u in upstreams(cfg, ws, plan, only or ()) if u.name in (present or only or ())]
        named = named or upstreams(cfg, ws, plan, only or ())
        sync = body.Sync(branch, cfg.fork.branch, ", ".join(u.name for u in named), named[0].url if named else "",
                         "", "", outcomes, facts, score, decision, draft, forge_name,
                         {n: upstream_commits(ws, n) for n in outcomes}, tuple(named), held)
    else:
        mine = ws.scoped(cfg.source if cfg.several else None).source_report("upstream.json")
        upstream = read_json(mine) if mine.exists() else {}
        sha = plan.get("upstream") if not cfg.several else None
        sha = sha or plan_of(cfg, ws, plan, cfg.source).get("upstream") or upstream.get("sha", "")
        sync = body.Sync(branch, cfg.fork.branch, source_name(cfg),
                         redact_url(cfg.raw.get("upstream", {}).get("url", cfg.upstream.url)),
                         upstream.get("ref", cfg.upstream.ref), sha, outcomes, facts, score, decision, draft,
                         forge_name, {n: upstream_commits(ws, n) for n in outcomes}, held=held)
    limit = {"github": 65_536, "gitlab": 1_048_576}.get(forge_name)
    redactor = Redactor.for_env(extra=(cred.token,) if cred else ())
    text = redactor.text(body.description(sync, limit, link))
    reviewers = (*pub.reviewers, *(pub.conflict_reviewers if facts.conflicts else ()))
    unrequest = () if facts.conflicts else tuple(r for r in pub.conflict_reviewers if r not in pub.reviewers)
    proposal = forge.Proposal(
        head=branch, base=cfg.fork.branch, title=redactor.line(body.title(pub.title, sync)), body=text, draft=draft,
        labels=body.labels(pub.labels, score, facts), managed=body.MANAGED, reviewers=tuple(dict.fromkeys(reviewers)),
        unrequest=unrequest, assignees=pub.assignees, automerge=decision.merge, merge_method=pub.merge_method)
    return sync, proposal


def upstreams(cfg: Config, ws: Workspace, plan: Mapping[str, Any], sources: Sequence[str]) -> list[body.Upstream]:
    """Each source's URL (as written, credentials redacted), ref and the revision its slices were planned at."""
    out = []
    for src in (s for s in cfg.sources if s.name in sources):
        view = cfg.for_source(src.name)
        fetched = ws.scoped(src.name).source_report("upstream.json")
        record = read_json(fetched) if fetched.exists() else {}
        sha = plan_of(cfg, ws, plan, src.name).get("upstream") or record.get("sha", "")
        out.append(body.Upstream(src.name, redact_url(view.raw.get("upstream", {}).get("url", src.upstream.url)),
                                 record.get("ref", src.upstream.ref), sha if len(sha) == 40 else record.get("sha", "")))
    return out


def _terms(r: risk.Risk) -> str:
    shown = [f"{t.name} {t.value}×{risk.number(t.weight)}" for t in r.terms if t.points]
    return " + ".join(shown) or "nothing counted"


def _digest(tip: str, where: forge.Target, remote: Remote, p: forge.Proposal) -> str:
    """What a publish did, as one hash: the same again is a no-op (the run's report link left out)."""
    data = {"tip": tip, "target": asdict(where), "remote": redact_url(remote.url), "proposal": asdict(p) | {
        "managed": sorted(p.managed)}}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=list).encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _preflight(sync: body.Sync, outcomes: Mapping[str, Any]) -> None:
    """Say before pushing which token scope the push needs (GitHub's ``workflow``)."""
    workflows = [p for p in sync.facts.workflows if p.startswith(".github/workflows/")]
    if workflows and sync.forge == "github":
        slices = sorted({s for p in workflows if (s := _slice_of(outcomes, p))})
        print(f"publish: {sync.branch} changes {', '.join(workflows[:3])}{' …' if len(workflows) > 3 else ''}"
              + (f" ({', '.join(slices)})" if slices else "")
              + ": GitHub takes this push only from a token with the `workflow` scope")


def _push(cfg: Config, remote: Remote, branch: str, outcomes: Mapping[str, Any]) -> list[dict[str, Any]]:
    secrets = tuple(v for k, v in remote.env.items() if k == "FORKWAVE_GIT_PASSWORD")
    try:
        done = push(cfg.fork.path, remote.name, [f"refs/heads/{branch}:refs/heads/{branch}"], remote.env, secrets,
                    shown=remote.shown)
    except PushRefused as exc:
        if exc.kind == "workflow-scope" and exc.path:
            where = _slice_of(outcomes, exc.path)
            raise ForkwaveFailure(f"publish: {remote.shown} refused {branch}: the token may not change GitHub "
                                  f"workflows ({exc.path}); give FORKWAVE_TOKEN a token with the `workflow` scope "
                                  "(classic) or Workflows: write (fine-grained, GitHub App)"
                                  + (f", or roll back {where} (`doit rollback:{where}`)" if where else "")) from None
        raise ForkwaveFailure(f"publish: {exc}") from None
    for p in done:
        print(f"publish: pushed {branch} to {remote.shown}: {_pushed(p)}")
    return [{"ref": p.ref, "status": p.status} for p in done] + _push_resolutions(cfg, remote, secrets)


def _push_resolutions(cfg: Config, remote: Remote, secrets: tuple[str, ...]) -> list[dict[str, Any]]:
    """The fork's recorded resolutions (``tasks.repo.resolutions``) beside the branch, so every clone and CI has
    them: the remote's first joined in (never a forced push); a refusal is a warning, the branch is pushed."""
    fork = cfg.fork.path
    resolutions.fetch(fork, remote.name)
    resolutions.join(fork)
    if git.rev_parse(fork, resolutions.REF) is None:
        return []
    try:
        done = push(fork, remote.name, [f"{resolutions.REF}:{resolutions.REF}"], remote.env, secrets,
                    shown=remote.shown)
    except PushRefused as exc:
        print(f"publish: warning: {remote.shown} did not take the recorded resolutions ({exc}); they stay in this "
              "clone and go with the next publish")
        return []
    return [{"ref": p.ref, "status": p.status} for p in done]


def _pushed(p: Pushed) -> str:
    return p.status + (f" from {p.old}" if p.old else "")


def _forge(cfg: Config, ws: Workspace, where: forge.Target, cred: forge.Credential | None, remote: Remote,
           branch: str, pr: str = PR_FILE) -> Any:
    cls = forge.load(where.forge)
    if where.forge == "none":
        return cls(ws.report(pr), lambda: _fast_forward(cfg, remote, branch))
    return cls(where.api, where.repository, cred)


def _fast_forward(cfg: Config, remote: Remote, branch: str) -> str:
    """``forge: none``'s auto-merge: move ``fork.branch`` on the remote to the sync branch, if git takes it as a
    fast-forward (no ``+``: a branch that moved meanwhile is refused, never overwritten)."""
    base = cfg.fork.branch
    secrets = tuple(v for k, v in remote.env.items() if k == "FORKWAVE_GIT_PASSWORD")
    try:
        done = push(cfg.fork.path, remote.name, [f"refs/heads/{branch}:refs/heads/{base}"], remote.env, secrets,
                    shown=remote.shown)
    except PushRefused as exc:
        if exc.kind == "non-fast-forward":
            raise ForkwaveFailure(f"publish: {remote.shown} refused to fast-forward {base} to {branch}: {base} there "
                                  f"has commits {branch} lacks; nothing was overwritten; merge {branch} into {base} "
                                  "by hand, or let the next `doit` sync on top of it") from None
        raise ForkwaveFailure(f"publish: {exc}") from None
    tip = git.rev_parse(cfg.fork.path, f"refs/heads/{branch}") or ""
    state = done[0].status if done else "up to date"
    return f"{base} on {remote.shown} {'is already at' if state == 'up to date' else 'fast-forwarded to'} {tip[:12]}"
