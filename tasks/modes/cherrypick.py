"""Cherry-pick mode: filtered commits of a sibling repository picked onto the source's integration branch.

drift: the source's first-parent commits since its cursor (recorded in the fork's state file on
``sync/<source>``, else ``base``), old enough (``min_age``), each decided by
``tasks.core.conventional`` (type, scope, authors, allowed and denied paths) and checked against
what the fork already holds (pick trailers, ``git patch-id --stable``), plus the commits an earlier
run dropped; plan: slices of up to ``slices.max_commits`` commits (``tasks.core.rangeplan``); a
slice: its commits picked and validated one by one (``tasks.engine.picking``).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core import conventional
from tasks.core.classify import Bases, Bucketer
from tasks.core.commit import Commit, iso_date
from tasks.core.plan import Plan
from tasks.core.rangeplan import plan_picks
from tasks.errors import ForkwaveError
from tasks.repo import commits, git, pickstate
from tasks.repo import drift as tree_drift
from tasks.repo.importer import Prepared
from tasks.workspace import Workspace

name = "cherry-pick"
joint_retry = False  # a dropped commit is retried when what it depends on changes, not at a wave's end
FIRST_RUN = 200      # commits looked at when a source has neither a cursor nor a base


def rules(cfg: Config) -> conventional.Rules:
    o = cfg.current.options
    allowed = () if cfg.current.paths == ("**",) else cfg.current.paths
    return conventional.Rules(types=o.types, scopes=o.scopes, exclude_authors=o.exclude_authors,
                              review_breaking=o.review_breaking, paths=allowed, deny=cfg.deny,
                              deny_except=cfg.deny_except)


def drift(cfg: Config, mirror: Path, upstream: str, bases: Bases | None, window: set[str] | None) -> dict[str, Any]:
    head, _, objects = tree_drift.fork_info(cfg)
    env = git.alternates_env(cfg.fork.path)
    record = pickstate.read(cfg)
    since = record["cursor"] or (commits.rev(mirror, f"{cfg.base}^{{commit}}") if cfg.base else None)
    if cfg.base and since is None:
        raise ForkwaveError(f"{cfg.file}: sources: {cfg.source}: base {cfg.base!r} names no commit of "
                            f"{cfg.upstream.url}; give a sha or tag of that repository")
    warnings = [] if since else [f"{cfg.source}: no cursor yet and no base: looked at the newest {FIRST_RUN} commits"]
    cooled = commits.ripe(mirror, upstream, since, min_age=cfg.current.options.min_age)
    fresh = list(cooled.ripe)[-FIRST_RUN:] if not since else list(cooled.ripe)
    retry = [commits.commit_info(mirror, s) for s in record["dropped"] if commits.rev(mirror, f"{s}^{{commit}}")]
    considered = [c for c in retry if c.sha not in {f.sha for f in fresh}] + fresh
    decisions = conventional.select(considered, rules(cfg))
    present = commits.fork_present(cfg.fork.path, _branches(cfg))
    held = commits.already_present(mirror, [d.sha for d in decisions if d.pick], present, env=env)
    again = {c.sha for c in retry}
    out = [_entry(c, d, held.get(c.sha), record) | ({"retry": True} if c.sha in again else {})
           for c, d in zip(considered, decisions)]
    return _report(cfg, upstream, head, since, out, warnings, cooled.waiting)


def _branches(cfg: Config) -> list[str]:
    mine = f"refs/heads/{cfg.fork.sync_branch}"
    return [f"refs/heads/{cfg.fork.branch}"] + ([mine] if git.rev_parse(cfg.fork.path, mine) else [])


def _entry(c: Commit, d: conventional.Decision, held: commits.Presence | None,
           record: Mapping[str, Any]) -> dict[str, Any]:
    kind, reason, pick = d.kind, d.reason, d.pick
    if pick and held is not None:
        kind, reason, pick = "already-present", held.reason, False
    elif pick and str(record["processed"].get(c.sha, "")).startswith("picked"):
        kind, reason, pick = "processed", f"already processed: {record['processed'][c.sha]}", False
    return {"sha": c.sha, "subject": c.subject, "author": c.author, "date": iso_date(c.author_date),
            "pick": pick, "kind": kind, "reason": reason, "review": d.review, "paths": list(d.keep if pick else c.paths),
            "dropped": [{"path": p, "why": w} for p, w in d.dropped]}


def _report(cfg: Config, upstream: str, head: str, since: str | None, out: list[dict[str, Any]],
            warnings: list[str], waiting: Any) -> dict[str, Any]:
    bucket_of = Bucketer(cfg)
    paths = sorted({p for c in out if c["pick"] for p in c["paths"]})
    entries = {p: {"class": "upstream-changed", "bucket": bucket_of(p), "upstream": None, "fork": None, "base": None}
               for p in paths}
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    for p, e in entries.items():
        buckets[e["bucket"]]["upstream-changed"] += 1
    blocked = sorted({d["path"] for c in out for d in c["dropped"] if d["why"].startswith("denied")})
    return {
        "mode": "cherry-pick",
        "upstream": {"ref": cfg.upstream.ref, "sha": upstream},
        "fork": {"branch": cfg.fork.branch, "sha": head},
        "base": {"source": "cursor", "rev": since, "sha": since, "groups": {}} if since else None,
        "warnings": warnings,
        "totals": {"upstream-changed": len(paths), **({"blocked": len(blocked)} if blocked else {})},
        "buckets": {b: dict(c) for b, c in sorted(buckets.items())},
        "critical_buckets": [],
        "paths": {"upstream-changed": paths, **({"blocked": blocked} if blocked else {})},
        "renamed": {},
        "entries": entries,
        "commits": out,
        "cooldown": {"waiting": len(waiting)},
    }


def plan(cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan:
    return plan_picks(report, cfg.waves, cfg.max_commits, cfg.max_files, Bucketer(cfg))


def run_slice(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str, run_id: str = "run", runner: Any = None) -> dict[str, Any]:
    from tasks.engine.picking import run_picks

    return run_picks(cfg, ws, mirror, plan, drift, name, runner=runner, run_id=run_id)


def prepare(cfg: Config, ws: Workspace, mirror: Path, slice_: Mapping[str, Any], drift: Mapping[str, Any],
            tip: str, save: bool = True) -> Prepared:
    raise ForkwaveError(f"{slice_['name']}: a cherry-pick slice is commits, not files; run `doit validate:"
                        f"{slice_['name']}`")


def record(cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
           source: str | None) -> str | None:
    return None  # each slice records its cursor and processed commits as it lands (tasks.repo.pickstate)
