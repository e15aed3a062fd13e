"""``dry=1``: what ``doit publish`` would push and open, and the dry-run report that gathers every simulation.

Nothing here pushes, calls a forge or writes ``publish.json``: the remote is resolved and the proposal
(title, labels, draft, reviewers, risk, auto-merge) computed exactly as ``tasks.publish.run`` does it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tasks import exitcodes
from tasks.config import Config
from tasks.core.plan import Plan
from tasks.engine import dryrun, verify
from tasks.errors import ForkwaveError
from tasks.publish import forge, risk, run
from tasks.report import dryrun as dryreport
from tasks.report.reports import load_outcomes
from tasks.repo import git
from tasks.repo.state import STATE_PATH
from tasks.workspace import Workspace, read_json

EXPORTS: dict[str, dict[str, Any]] = {}   # source -> what its push would export (``direction: push``/``both``)
GATE_TRIPS: dict[str, list[str]] = {}     # source -> drift gate messages that would stop a real run


def outcomes_for(ws: Workspace, plan: Mapping[str, Any], only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The slices' outcomes as they would be: simulated ones over the recorded ones (``only`` those sources')."""
    typed = Plan.from_json(plan)
    recorded = load_outcomes(ws, [s.name for s in typed.slices if only is None or s.source in only])
    return {n: dryrun.as_outcome(dryrun.SIMULATED[n], typed.slice(n), typed.revision(typed.slice(n)))
            if n in dryrun.SIMULATED else o for n, o in recorded.items()}


def publish_preview(cfg: Config, ws: Workspace, plan: Mapping[str, Any], tip: str, simulated: bool,
                    env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What publishing ``tip`` (the sync tip, or the simulated one) would do."""
    env = os.environ if env is None else env
    branch, base = cfg.fork.sync_branch, cfg.fork.branch
    try:
        remote_name, remote_url = run.resolve_remote(cfg)
        where = forge.target(cfg.publish, remote_url, env, str(cfg.file))
    except ForkwaveError as exc:
        return {"error": str(exc)}
    cred = forge.credential(where.forge, env)
    view, _, only = next((b for b in run.branches_of(cfg) if b[1] == branch), (cfg, branch, None))
    outcomes = outcomes_for(ws, plan, only)
    changed = [p for p in git.changed_names(cfg.fork.path, f"refs/heads/{base}", tip) if p != STATE_PATH]
    facts = risk.facts(outcomes, changed)
    out: dict[str, Any] = {"branch": branch, "base": base, "tree": git.tree_of(cfg.fork.path, tip),
                           "remote": run.Remote(remote_name, remote_url, {}).shown, "forge": where.forge,
                           "repository": where.repository, "files": list(facts.files)}
    sources = only or tuple(s.name for s in cfg.sources)
    present = verify.on_branch(cfg, tip, sources)
    held = {} if simulated else verify.holds(cfg, ws, tip, present)
    post = None if simulated else verify.post_hold(cfg, ws, tip)
    if simulated and any(s.verify for s in cfg.sources):
        out["verify"] = "verification would run on the new sync tip first; publish holds a source whose fails"
    if post or (present and len(held) == len(present)):
        out["held"] = post or "; ".join(f"{n}: {why}" for n, why in held.items())
    elif held:
        out["held"] = "; ".join(f"{n}: {why}" for n, why in held.items()) + " (pushed as a draft with the others)"
    if cred is None and where.forge in ("github", "gitlab"):
        out["token"] = f"no token in the environment for {where.forge}: a real publish would stop before pushing"
    if not facts.files:
        return out
    sync, proposal = run.propose(view, ws, plan, branch, facts, outcomes, where.forge, None, cred, only, present, held)
    out |= {"pull_request": {"title": proposal.title, "draft": proposal.draft, "labels": list(proposal.labels),
                             "reviewers": list(proposal.reviewers), "assignees": list(proposal.assignees)},
            "risk": sync.risk.to_json(), "automerge": {"merge": sync.decision.merge, "why": sync.decision.why}}
    return out


def assemble(cfg: Config, ws: Workspace, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every simulation of this process, and the publish preview, as ``reports/dry-run.json``'s content."""
    plan_path = ws.report("plan.json")
    plan = read_json(plan_path) if plan_path.exists() else {"slices": [], "waves": []}
    start, exists = dryrun.start_tip(cfg)
    order = [s["name"] for s in plan["slices"]]
    slices = [dryrun.SIMULATED[n] for n in order if n in dryrun.SIMULATED]
    totals: dict[str, int] = {}
    for s in slices:
        totals[s["status"]] = totals.get(s["status"], 0) + 1
    upstream = plan.get("sources") or ({cfg.source: plan["upstream"]} if plan.get("upstream") else {})
    trips = [t for name in sorted(GATE_TRIPS) for t in GATE_TRIPS[name]]
    left = any(s["status"] != "adopted" and s["status"] != "empty" for s in slices) or any(
        e["conflicts"] for e in EXPORTS.values())
    data: dict[str, Any] = {
        "dry_run": True, "upstream": dict(sorted(upstream.items())),
        "sync_branch": {"name": cfg.fork.sync_branch, "sha": start if exists else None,
                        **({} if exists else {"from": start})},
        "pre": [c.name for c in cfg.pre], "drift_gates": trips, "totals": dict(sorted(totals.items())),
        "slices": slices,
        "exports": [EXPORTS[k] for k in sorted(EXPORTS)],
        # what a real run would exit with, when this dry run simulated one (not for `doit publish dry=1` alone)
        "exit_code": (exitcodes.PERSON if trips or left else exitcodes.OK) if slices or trips or EXPORTS else None,
    }
    if not plan_path.exists():
        data["publish"] = {"error": f"{ws.rel(plan_path)} is missing: nothing to publish yet; run `doit` first"}
    else:
        data["publish"] = publish_preview(cfg, ws, plan, dryrun.current_tip(cfg), bool(slices), env)
    return data


def write(cfg: Config, ws: Workspace) -> dict[str, Any]:
    data = assemble(cfg, ws)
    dryreport.write(ws, data)
    return data
