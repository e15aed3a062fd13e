"""Cherry-pick mode: filtered commits of a sibling repository picked onto the source's integration branch.

drift: the source's first-parent commits since its cursor (recorded in the fork's state file on
``sync/<source>``, else ``base``), old enough (``min_age``), each decided by
``tasks.core.conventional`` (type, scope, authors, allowed and denied paths) and checked against
what the fork already holds (pick trailers, ``git patch-id --stable``), plus the commits an earlier
run dropped; plan: slices of up to ``slices.max_commits`` commits (``tasks.core.rangeplan``).

A slice's step: the whole chain is picked first (trees only) and judged once: when it passes,
every commit lands with one check run. Otherwise commits are picked and judged one by one on top
of what passed: a commit that conflicts is **conflicted** (its diff3 texts saved for a person), one
that fails its checks is **deferred**, and a later commit that only applies on top of a dropped one
**waits** behind it (``needs <sha>``). What passed lands as pick commits (the source's message and
author, ``(cherry picked from commit …)`` and ``Forkwave-Source`` trailers), followed by the
source's record in the fork's state file (cursor, processed and dropped commits). A dropped commit
is tried again only when the fork's side of its paths or the checks change (its ``key``).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core import conventional
from tasks.core.classify import Bases, Bucketer
from tasks.core.commit import Commit, iso_date
from tasks.core.outcome import COMMITS, Conflict, Deferral, Outcome, Wait, status_of
from tasks.core.plan import Plan
from tasks.core.rangeplan import plan_picks
from tasks.engine import slices
from tasks.engine.pipeline import SliceRun, Step, files_of
from tasks.engine.status import commit_inputs, on_sync_branch, readopted
from tasks.engine.validate import fingerprint
from tasks.errors import CannotRun, ForkwaveError
from tasks.hashing import digest
from tasks.modes import commitkit
from tasks.engine.dryrun import Simulation
from tasks.repo import commits, git, importer, pickstate
from tasks.repo import drift as tree_drift
from tasks.workspace import Workspace

FIRST_RUN = 200      # commits looked at when a source has neither a cursor nor a base


def rules(cfg: Config) -> conventional.Rules:
    o = cfg.current.options
    allowed = () if cfg.current.paths == ("**",) else cfg.current.paths
    return conventional.Rules(types=o.types, scopes=o.scopes, exclude_authors=o.exclude_authors,
                              review_breaking=o.review_breaking, paths=allowed, deny=cfg.deny,
                              deny_except=cfg.deny_except)


# --- what the source offers ----------------------------------------------------------------------

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


# --- one slice ----------------------------------------------------------------------------------

CONFLICT, CHECKS, NEEDS = "conflict", "checks", "needs"


@dataclass
class Picks:
    job: SliceRun
    tip: str
    picked: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[str, bytes] = field(default_factory=dict)   # conflict texts, for a person
    by_person: list[dict[str, Any]] = field(default_factory=list)   # picked by a person since the last run

    @property
    def env(self) -> dict[str, str]:
        return git.alternates_env(self.job.mirror)

    @property
    def fork(self) -> Path:
        return self.job.fork

    def pick(self, sha: str, onto: str, drop: Sequence[str]) -> commits.Pick:
        return commits.pick(self.fork, sha, onto, drop=drop, env=self.env)

    def passes(self, tree: str, label: str) -> tuple[bool, list[Any]]:
        changes = commitkit.tree_changes(self.fork, git.tree_of(self.fork, self.tip), tree, "pick", self.env)
        self.bring(tree)
        return self.job.judge(self.tip, tree, changes, label)

    def bring(self, tree: str) -> None:
        """Copy the source's objects a candidate tree needs into the fork: the root, the new trees and blobs
        (``diff-tree -t`` lists both; an unchanged subtree is one the fork holds already)."""
        out = git.git(self.fork, "diff-tree", "-r", "-t", "-z", "--no-renames", "--no-abbrev",
                      git.tree_of(self.fork, self.tip), tree, env=self.env)
        importer.copy_objects(self.job.mirror, self.fork, [tree] + [c.new[1] for c in git.parse_diff_raw(out)
                                                                     if c.new and c.new[0] != "160000"])

    def land_pick(self, info: Commit, tree: str) -> None:
        new = commits.commit_pick(self.fork, tree, self.tip, info, self.job.cfg.source, env=self.env)
        self.picked.append({"sha": info.sha, "subject": info.subject, "commit": new})
        self.tip = new


def dependency_key(cfg: Config, tip: str, paths: Sequence[str]) -> str:
    """What a dropped commit's fate depends on: the integration tip's entries at its paths, and the checks."""
    listing = git.git(cfg.fork.path, "ls-tree", "-z", "--full-tree", tip, "--", *paths) if paths else b""
    return digest({"tree": listing.decode("utf-8", "surrogateescape"), "checks": fingerprint(cfg, list(paths))})


class CherryPickMode:
    name = "cherry-pick"
    unit = COMMITS
    file_slices = False
    detects_base = False   # the cursor (or base) is where the source was last read
    own_branch = True      # picks land on sync/<source>, never on the shared sync branch
    joint_retry = False    # a dropped commit is retried when what it depends on changes, not at a wave's end

    def drift(self, cfg: Config, mirror: Path, upstream: str, bases: Bases | None,
              window: set[str] | None) -> dict[str, Any]:
        return drift(cfg, mirror, upstream, bases, window)

    def plan(self, cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan:
        return plan(cfg, report, history)

    def inputs(self, job: SliceRun, tip: str | None = None) -> dict[str, Any]:
        o = job.cfg.current.options
        shaped = {"rules": repr(rules(job.cfg)), "min_age": o.min_age, "readopted": readopted(job.ws)}
        return commit_inputs(job.cfg, job.upstream, job.drift, job.slice.paths, tip, shaped_by=shaped)

    def step(self, job: SliceRun) -> Step:
        kept = commitkit.still_rolled_back(job)
        if kept is not None:
            return Step(job.start, kept)
        start = commitkit.readopt_first(job, git.alternates_env(job.mirror)) or job.start
        entries = {c["sha"]: c for c in job.drift.commits}
        record = pickstate.read(job.cfg, job.start)
        run = Picks(job, start)
        # picked by an earlier run of this plan (the drift is only recomputed when the fork branch moves)
        todo = [entries[s] for s in job.slice.commits
                if not str(record["processed"].get(s, "")).startswith("picked")]
        todo = by_a_person(run, todo)
        todo = _still_dropped(run, record, todo)
        error, recheck = None, None
        try:
            if todo and not whole_chain(run, todo):
                one_by_one(run, todo)
            elif not todo and (start != job.start or commitkit.needs_recheck(job) or run.by_person):
                recheck = commitkit.recheck(job, start)
                if recheck is not None:
                    run.tip = job.start
        except CannotRun as exc:
            error = str(exc)
        final = run.tip
        if error is None:
            final = pickstate.commit(job.cfg, run.tip, updated_record(record, job, run), job.name) or run.tip
        slices.save_conflicts(job.ws, job.name, run.texts)
        outcome = build_outcome(job, final, run, error, recheck)
        return Step(final, outcome, f"forkwave: pick {job.name}")

    def simulate(self, job: SliceRun, tip: str) -> Simulation:
        return simulate(job, tip)

    def resolve(self, job: SliceRun, path: str | None, take: str | None) -> str:
        return resolve(job, path, take)

    def rollback(self, job: SliceRun) -> str:
        earlier = job.earlier
        picks = [p["commit"] for p in (earlier.record.get("picked") or ())] if earlier else []
        moves = []
        for commit in picks:
            parents = git.git(job.fork, "rev-list", "--parents", "-n1", commit).decode().split()[1:]
            moves.append({"from": parents[0], "to": commit})
        return commitkit.rollback(job, moves)

    def readopt(self, job: SliceRun) -> list[str]:
        return commitkit.readopt(job)

    def record(self, cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
               source: str | None) -> str | None:
        return None  # each slice records its cursor and processed commits as it lands (tasks.repo.pickstate)


MODE = CherryPickMode()


def by_a_person(run: Picks, todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Commits a person picked on the integration branch since the slice was last judged (``cherry-pick -x``,
    with or without a fix: the trailer names it; or the same patch) count as picked; the rest are left to do."""
    earlier = run.job.earlier
    since = earlier.verified_at if earlier else None
    if not todo or not since or since == run.job.start or not git.rev_parse(run.fork, f"{since}^{{commit}}"):
        return todo
    present = commits.fork_present(run.fork, run.job.start, since=since)
    held = commits.already_present(run.job.mirror, [c["sha"] for c in todo], present, env=run.env)
    for c in todo:
        if c["sha"] in held:
            run.by_person.append({"sha": c["sha"], "subject": c["subject"], "commit": held[c["sha"]].fork_sha,
                                  "by": "a person"})
    return [c for c in todo if c["sha"] not in held]


def _still_dropped(run: Picks, record: Mapping[str, Any], todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Commits dropped before whose dependencies did not change stay dropped, with no check run."""
    left = []
    for c in todo:
        was = record["dropped"].get(c["sha"])
        if was and was.get("key") == dependency_key(run.job.cfg, run.tip, c["paths"]):
            run.dropped.append({"sha": c["sha"], "subject": c["subject"], "reason": was["reason"],
                                "kind": was.get("kind") or (NEEDS if was.get("needs") else CHECKS),
                                "needs": was.get("needs"), "key": was["key"], "files": c["paths"], "again": True,
                                "conflicted": was.get("conflicted", [])})
        else:
            left.append(c)
    return left


def whole_chain(run: Picks, todo: Sequence[dict[str, Any]]) -> bool:
    """Pick every commit in turn (trees only) and judge the end once; True when it all landed."""
    tip, trees, last = run.tip, [], None
    for c in todo:
        p = run.pick(c["sha"], tip, _drop(c))
        if p.empty:
            trees.append((c, None, p.reason))
            continue
        if not p.clean:
            return False
        info = commits.commit_info(run.fork, c["sha"], env=run.env)
        tip = commits.commit_tree(run.fork, p.tree or "", (tip,), "candidate\n", env=run.env)
        trees.append((c, p.tree, info))
        last = p.tree  # may be one of the source's own trees, not yet in the fork: judged (and brought) by id
    if tip == run.tip:
        run.skipped += [{"sha": c["sha"], "subject": c["subject"], "reason": why} for c, _, why in trees]
        return True
    ok, _ = run.passes(last or "", f"all {len(todo)} commits")
    if not ok:
        return False
    run.bring(last or "")
    for c, tree, info in trees:
        if tree is None:
            run.skipped.append({"sha": c["sha"], "subject": c["subject"], "reason": info})
        else:
            run.land_pick(info, tree)
    return True


def _drop(c: Mapping[str, Any]) -> list[str]:
    return [d["path"] for d in c.get("dropped", ())]


def one_by_one(run: Picks, todo: Sequence[dict[str, Any]]) -> None:
    for c in todo:
        p = run.pick(c["sha"], run.tip, _drop(c))
        if p.empty:
            run.skipped.append({"sha": c["sha"], "subject": c["subject"], "reason": p.reason})
            continue
        if not p.clean:
            needs = _needs(run, c)
            if needs:
                drop(run, c, NEEDS, f"needs {needs['sha'][:10]} ({needs['subject']!r}), which was dropped", needs)
                continue
            paths = list(p.result.conflicted_paths if p.result else ())
            if p.result is not None:
                run.texts.update(commits.conflict_texts(run.fork, p.result, env=run.env))
            drop(run, c, CONFLICT, "conflicts on the integration branch: " + ", ".join(paths), None, conflicted=paths)
            continue
        ok, results = run.passes(p.tree or "", c["sha"][:10])
        if not ok:
            overlap = next((d for d in run.dropped if set(d["files"]) & set(c["paths"])), None)
            failing = "; ".join(slices.why(r) for r in slices.failing_of(results)) or "its checks fail"
            if overlap:
                drop(run, c, NEEDS, f"needs {overlap['sha'][:10]} ({overlap['subject']!r}), which was dropped; "
                                    f"alone it fails: {failing}", overlap, results)
            else:
                drop(run, c, CHECKS, f"fails its checks: {failing}", None, results)
            continue
        run.bring(p.tree or "")
        run.land_pick(commits.commit_info(run.fork, c["sha"], env=run.env), p.tree or "")


def _needs(run: Picks, c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The dropped commit on top of which ``c`` applies cleanly, if any (newest first)."""
    for d in reversed(run.dropped):
        base = run.pick(d["sha"], run.tip, [])
        if base.tree is None or not base.clean:
            continue
        with_it = commits.commit_tree(run.fork, base.tree, (run.tip,), "candidate\n", env=run.env)
        if run.pick(c["sha"], with_it, _drop(c)).clean:
            return d
    return None


def drop(run: Picks, c: Mapping[str, Any], kind: str, why: str, needs: Mapping[str, Any] | None,
         results: Sequence[Any] = (), conflicted: Sequence[str] = ()) -> None:
    failing = slices.failing_of(list(results))
    run.dropped.append({"sha": c["sha"], "subject": c["subject"], "reason": why, "kind": kind,
                        "needs": needs["sha"] if needs else None, "files": list(c["paths"]),
                        "checks": [r.name for r in failing], "conflicted": list(conflicted),
                        "results": list(results),
                        "key": dependency_key(run.job.cfg, run.tip, c["paths"])})


def updated_record(record: Mapping[str, Any], job: SliceRun, run: Picks) -> dict[str, Any]:
    processed = dict(record["processed"])
    for p in run.picked:
        processed[p["sha"]] = f"picked as {p['commit']}"
    for p in run.by_person:
        processed[p["sha"]] = f"picked by a person as {p['commit']}"
    for s in run.skipped:
        processed.setdefault(s["sha"], f"skipped: {s['reason']}")
    dropped = {k: v for k, v in record["dropped"].items() if k not in processed}
    for d in run.dropped:
        dropped[d["sha"]] = {"reason": d["reason"], "key": d["key"], "kind": d["kind"],
                             **({"needs": d["needs"]} if d.get("needs") else {}),
                             **({"conflicted": d["conflicted"]} if d.get("conflicted") else {})}
    cursor = job.slice.cursor or record["cursor"]
    return {"cursor": cursor, "processed": processed, "dropped": dropped}


# --- the outcome -----------------------------------------------------------------------------------

def build_outcome(job: SliceRun, final: str, run: Picks, error: str | None, recheck: Deferral | None) -> Outcome:
    name, cfg = job.name, job.cfg
    entries = job.drift.by_sha()
    files = set(job.slice.paths)
    earlier = job.earlier
    kept_picks = [p for p in (earlier.record.get("picked") or ()) if on_sync_branch(cfg, p["commit"])] \
        if earlier else []
    picked = [*kept_picks, *run.picked, *run.by_person]
    adopted_commits = [p["sha"] for p in picked if p["sha"] in job.slice.commits]
    adopted = sorted(files & {f for s in adopted_commits for f in entries.get(s, {}).get("paths", ())})
    landed = sorted(files & {f for p in run.picked for f in entries.get(p["sha"], {}).get("paths", ())})
    deferred, conflicts, waiting = [], [], []
    for d in run.dropped:
        sha, subject = d["sha"], d["subject"]
        if d["kind"] == CONFLICT:
            conflicts += [Conflict(p, f"commit {sha[:10]} {subject!r} conflicts on {cfg.fork.sync_branch}",
                                   pick_step(job, sha), f"conflicts/{p}" if p in run.texts else None, sha)
                          for p in d.get("conflicted") or d["files"]]
        elif d["kind"] == NEEDS:
            waiting.append(Wait(tuple(d["files"]), f"commit {sha[:10]} {subject!r}: {d['reason']}",
                                f"resolve {d['needs'][:10]} first (it is listed above); this commit is tried again "
                                "with it", (sha,), d["needs"], name))
        else:
            failing = (slices.deferral(name, d["files"], d.get("results") or None, rerun=job.plan.again(name))
                       if d.get("results") else None)
            deferred.append(Deferral(tuple(d["files"]), f"commit {sha[:10]} {subject!r}: {d['reason']}",
                                     "fix it in the source repository (the next `doit` picks the fix together with "
                                     f"it), or pick it with a fix yourself on {cfg.fork.sync_branch} (`git cherry-pick "
                                     f"-x {sha}`, fix, commit) and run `doit resolve:{name}`",
                                     tuple(d.get("checks") or ()), failing.output if failing else "",
                                     failing.tests if failing else (), failing.log if failing else None, sha))
    if recheck is not None:
        deferred.append(recheck)
    review = [{"path": f, "reason": f"breaking change {p['sha'][:10]} {p['subject']!r}: picked, for a person to "
                                    "review"} for p in run.picked if entries.get(p["sha"], {}).get("review")
              for f in entries[p["sha"]]["paths"]]
    status = status_of(error=error is not None, recheck_failed=recheck is not None, conflicts=bool(conflicts),
                       deferred=bool(deferred), adopted=bool(adopted_commits), waiting=bool(waiting))
    mine = [c for c in (earlier.commits if earlier else ()) if on_sync_branch(cfg, c)] + \
        [p["commit"] for p in run.picked] + ([final] if final != run.tip else [])
    plain_dropped = [{k: v for k, v in d.items() if k != "results"} for d in run.dropped]
    return Outcome(
        name, job.slice.wave, job.upstream, status, job.start, mode="cherry-pick", unit=COMMITS,
        source=job.slice.source, commit=final if final != job.start else None, verified_at=final,
        commits=tuple(dict.fromkeys(mine)), files=files_of(job.slice), adopted=tuple(adopted), landed=tuple(landed),
        deferred=tuple(deferred), conflicts=tuple(conflicts), waiting=tuple(waiting), reported=tuple(review),
        resolved=tuple({"path": f, "commit": p["commit"], "by": "a person"} for p in run.by_person
                       for f in entries.get(p["sha"], {}).get("paths", ())),
        slice_commits=job.slice.commits, adopted_commits=tuple(adopted_commits), runs=job.runs,
        attempts=tuple(job.attempts), error=error,
        record={"review": [p["sha"] for p in run.picked if entries.get(p["sha"], {}).get("review")],
                "picked": picked, "skipped": run.skipped, "dropped": plain_dropped})


def pick_step(job: SliceRun, sha: str) -> str:
    return (f"edit reports/slices/{job.name}/conflicts/ and run `doit resolve:{job.name}` (forkwave commits the pick "
            f"with your edits), or pick it yourself on {job.cfg.fork.sync_branch} from a checkout of the fork "
            f"(`git fetch {job.cfg.upstream.url} {job.cfg.upstream.ref} && git switch {job.cfg.fork.sync_branch} && "
            f"git cherry-pick -x {sha}`, resolve, commit) and run `doit resolve:{job.name}`")


# --- a person's resolution -------------------------------------------------------------------------

def resolve(job: SliceRun, path: str | None, take: str | None) -> str:
    """The slice's conflicting pick, resolved: found on the integration branch (picked by a person with
    ``-x``), or picked now with the person's edits of its conflict files (``take=``: one side)."""
    earlier = job.earlier
    dropped = [d for d in (earlier.record.get("dropped") or ()) if d.get("kind") in (CONFLICT, CHECKS)] \
        if earlier else []
    if not dropped:
        raise ForkwaveError(f"{job.name}: nothing to resolve (status {earlier.status if earlier else 'not run'}); "
                            f"see reports/slices/{job.name}/report.md")
    env = git.alternates_env(job.mirror)
    present = commits.fork_present(job.fork, [f"refs/heads/{job.cfg.fork.sync_branch}"])
    held = commits.already_present(job.mirror, [d["sha"] for d in dropped], present, env=env)
    first = next((d for d in dropped if d["sha"] not in held), None)
    if first is None:
        return job.start  # every one picked by a person already: the next `doit` judges the branch
    if first.get("kind") != CONFLICT:
        raise ForkwaveError(f"{job.name}: commit {first['sha'][:10]} fails its checks; pick it with a fix on "
                            f"{job.cfg.fork.sync_branch} (`git cherry-pick -x {first['sha']}`, fix, commit), then run "
                            f"`doit resolve:{job.name}`")
    return commitkit.commit_resolution(job, job.start, first, path, take, env, merge_parent=None)


# --- dry run ---------------------------------------------------------------------------------------

def simulate(job: SliceRun, tip: str) -> Simulation:
    """The picks on a simulated tip, commit by commit: which apply, which are empty, which conflict."""
    env = git.alternates_env(job.mirror)
    entries = job.drift.by_sha()
    rows, landed, conflicts, current = [], [], [], tip
    for sha in job.slice.commits:
        c = entries[sha]
        p = commits.pick(job.fork, sha, current, drop=_drop(c), env=env)
        if p.empty:
            rows.append({"sha": sha, "subject": c["subject"], "would": f"skip ({p.reason})"})
        elif not p.clean:
            paths = list(p.result.conflicted_paths if p.result else ())
            rows.append({"sha": sha, "subject": c["subject"], "would": "conflict", "paths": paths})
            conflicts += [{"path": path, "reason": f"pick of {sha[:10]} conflicts"} for path in paths]
        else:
            rows.append({"sha": sha, "subject": c["subject"], "would": "pick"})
            current = commitkit.simulated_commit(job.fork, p.tree or "", (current,), job.name, env)
            landed += list(c["paths"])
    land = sorted(set(job.slice.paths) & set(landed))
    status = "conflicted" if conflicts else "adopted" if land else "empty"
    return Simulation(status, current, would_land=land, conflicts=conflicts,
                      would_defer=sorted(set(job.slice.paths) - set(land)) if conflicts else [],
                      checks_to_run=commitkit.checks_for(job.cfg, land), commits=rows)
