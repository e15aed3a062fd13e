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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core import bisect, conventional
from tasks.core import pullrequests as prs
from tasks.core.classify import Bases, Bucketer
from tasks.core.commit import Commit, iso_date
from tasks.core.outcome import COMMITS, Conflict, Deferral, Outcome, Wait, status_of
from tasks.core.bisect import Verdict
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
from tasks.repo import commits, git, importer, pickstate, presence, worktree
from tasks.repo import drift as tree_drift
from tasks.workspace import Workspace

FIRST_RUN = 200      # commits looked at when a source has neither a cursor nor a base
MERGE = "merge"      # pull_requests: a merged pull request is picked whole


def rules(cfg: Config) -> conventional.Rules:
    o = cfg.current.options
    allowed = () if cfg.current.paths == ("**",) else cfg.current.paths
    return conventional.Rules(types=o.types, scopes=o.scopes, exclude_authors=o.exclude_authors,
                              review_breaking=o.review_breaking, paths=allowed, deny=cfg.deny,
                              deny_except=cfg.deny_except)


# --- what the source offers ----------------------------------------------------------------------

def drift(cfg: Config, mirror: Path, upstream: str, bases: Bases | None, window: set[str] | None) -> dict[str, Any]:
    head, _, _ = tree_drift.fork_info(cfg)
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
    units = pull_requests(mirror, fresh, retry, since)
    offered = offer(cfg, considered, units)
    held = present(cfg, mirror, upstream, offered, [since] if since else list(fresh[0].parents[:1]) if fresh else [])
    again = {c.sha for c in retry}
    out = [_entry(o, held.get(o.commit.sha), record) | ({"retry": True} if o.commit.sha in again else {})
           for o in offered]
    return _report(cfg, upstream, head, since, out, warnings, cooled.waiting)


@dataclass(frozen=True)
class Offer:
    """One commit the source offers, decided: a commit of its main line, a merged pull request (``brought``:
    its commits) or one commit of a pull request picked one by one (``unit``: the merge that brought it)."""

    commit: Commit
    decision: conventional.Decision
    brought: tuple[Commit, ...] = ()
    unit: str | None = None


def pull_requests(mirror: Path, fresh: Sequence[Commit], retry: Sequence[Commit],
                  since: str | None) -> dict[str, tuple[Commit, ...]]:
    """merge sha -> the commits it brought, for every merge offered (one ``git log`` for the new ones)."""
    out: dict[str, tuple[Commit, ...]] = {}
    if any(c.is_merge for c in fresh):
        bound = [since] if since else list(fresh[0].parents[:1])
        out.update(prs.brought(fresh, commits.side_history(mirror, fresh[-1].sha, bound)))
    for m in (c for c in retry if c.is_merge and c.sha not in out):
        out.update(prs.brought([m], commits.side_history(mirror, m.sha, m.parents[:1])))
    return out


def offer(cfg: Config, considered: Sequence[Commit], units: Mapping[str, tuple[Commit, ...]]) -> list[Offer]:
    """Each commit decided; a merged pull request whole (``pull_requests: merge``) or as its commits."""
    r, whole = rules(cfg), cfg.current.options.pull_requests == MERGE
    out: list[Offer] = []
    for c in considered:
        if c.sha not in units:
            out.append(Offer(c, conventional.decide(c, r)))
        elif whole:
            out.append(Offer(c, conventional.decide_pull_request(c, units[c.sha], r, prs.title(c)), units[c.sha]))
        else:
            n = len(units[c.sha])
            why = (f"pull request {prs.title(c)[:72]!r} ({n} commit{'' if n == 1 else 's'}): its commits are "
                   "decided one by one (pull_requests: commits)")
            out.append(Offer(c, conventional.Decision(c.sha, False, conventional.MERGE, why), units[c.sha]))
            out += [Offer(b, conventional.decide(b, r), unit=c.sha) for b in units[c.sha]]
    return out


def present(cfg: Config, mirror: Path, upstream: str, offered: Sequence[Offer],
            since: Sequence[str]) -> dict[str, commits.Presence]:
    """sha -> how the fork already holds it, for each commit to pick (all of them newer than ``since``). A
    merged pull request is held when the merge is (picked with ``-m 1``, or the same change) or every commit
    it brought is; one of its commits is held when it is, or when its merge is. Nothing of the fork is read
    when nothing is to be picked."""
    picks = [o for o in offered if o.decision.pick]
    if not picks:
        return {}
    every = {o.commit.sha: o.commit for o in offered}
    wanted = {o.commit.sha: o.commit for o in picks}
    for o in picks:
        wanted.update({b.sha: b for b in o.brought if not b.is_merge and b.paths})
        if o.unit:
            wanted.setdefault(o.unit, every[o.unit])
    found = fork_holds(cfg, mirror, upstream, list(wanted.values()))
    found |= merged(cfg, mirror, upstream, since, [s for s in wanted if s not in found])
    held = {o.commit.sha: as_unit(o.commit.sha, [b.sha for b in o.brought if not b.is_merge and b.paths], o.unit,
                                  found) for o in picks}
    return {sha: h for sha, h in held.items() if h is not None}


def as_unit(sha: str, work: Sequence[str], unit: str | None,
            found: Mapping[str, commits.Presence]) -> commits.Presence | None:
    """How the fork holds ``sha``: itself; a merged pull request through every commit it brought (``work``);
    one of its commits through its merge (``unit``)."""
    if sha in found:
        return found[sha]
    if work and all(b in found for b in work):
        return commits.Presence(sha, found[work[-1]].fork_sha, f"its {len(work)} commits")
    if unit and unit in found:
        return commits.Presence(sha, found[unit].fork_sha, f"its pull request {unit[:10]}")
    return None


def fork_holds(cfg: Config, mirror: Path, upstream: str, candidates: Sequence[Commit],
               refs: Sequence[str] | None = None) -> dict[str, commits.Presence]:
    """Which ``candidates`` the fork's branch and the integration branch hold, reading the fork only where it
    diverged from the source (``^<source tip>``: the whole history when they share none)."""
    branch = f"refs/heads/{cfg.fork.branch}"
    mine = worktree.sync_ref(cfg)
    return _holds(cfg.fork.path, mirror, refs or [branch, *([mine] if mine else [])], [upstream], candidates)


def merged(cfg: Config, mirror: Path, upstream: str, since: Sequence[str],
           shas: Sequence[str]) -> dict[str, commits.Presence]:
    """Which of ``shas`` (source commits newer than ``since``) ``fork.branch`` has in its history — it merged
    the source, or what the source merged: what ``^<source tip>`` leaves out of the patch-id scan."""
    base = commits.merge_base(cfg.fork.path, f"refs/heads/{cfg.fork.branch}", upstream,
                              env=git.alternates_env(mirror)) if shas else None
    if base is None:
        return {}
    history = set(git.git(mirror, "rev-list", base, *(f"^{s}" for s in since), "--").decode().split())
    return {s: commits.Presence(s, base, "in the history of") for s in shas if s in history}


def _holds(fork: Path, mirror: Path, refs: Sequence[str], bound: Sequence[str],
           candidates: Sequence[Commit]) -> dict[str, commits.Presence]:
    index = presence.scan(fork, refs, bound, sorted({p for c in candidates for p in c.paths}),
                          cache=mirror / presence.CACHE, env=git.alternates_env(mirror))
    found = presence.held(index, mirror, candidates, env=git.alternates_env(fork))
    index.save()
    return found


def _entry(o: Offer, held: commits.Presence | None, record: Mapping[str, Any]) -> dict[str, Any]:
    c, d = o.commit, o.decision
    kind, reason, pick = d.kind, d.reason, d.pick
    done = _processed(o, record)
    if pick and held is not None:
        kind, reason, pick = "already-present", held.reason, False
    elif pick and done:
        kind, reason, pick = "processed", f"already processed: {done}", False
    extra = ({"commits": [b.sha for b in o.brought]} if o.brought and d.kind != conventional.MERGE else {}) | \
        ({"unit": o.unit} if o.unit else {})
    return {"sha": c.sha, "subject": c.subject, "author": c.author, "date": iso_date(c.author_date),
            "pick": pick, "kind": kind, "reason": reason, "review": d.review,
            "paths": list(d.keep if pick else c.paths),
            "dropped": [{"path": p, "why": w} for p, w in d.dropped]} | extra


def _processed(o: Offer, record: Mapping[str, Any]) -> str | None:
    """What an earlier run did with the commit, when it picked it (or its pull request, or all of its commits)."""
    done = record["processed"]
    picked = lambda sha: str(done.get(sha, "")).startswith("picked")  # noqa: E731
    if picked(o.commit.sha):
        return str(done[o.commit.sha])
    if o.unit and picked(o.unit):
        return f"its pull request {o.unit[:10]} {done[o.unit]}"
    work = [b.sha for b in o.brought if not b.is_merge and b.paths]
    if work and all(picked(b) for b in work):
        return f"its {len(work)} commits were picked"
    return None


def _report(cfg: Config, upstream: str, head: str, since: str | None, out: list[dict[str, Any]],
            warnings: list[str], waiting: Any) -> dict[str, Any]:
    bucket_of = Bucketer(cfg)
    paths = sorted({p for c in out if c["pick"] for p in c["paths"]})
    bucket = {p: bucket_of(p) for p in paths}
    entries = {p: {"class": "upstream-changed", "bucket": bucket[p], "upstream": None, "fork": None, "base": None}
               for p in paths}
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    for p in paths:
        buckets[bucket[p]]["upstream-changed"] += 1
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


@dataclass(frozen=True)
class Question:
    """One judging of the picks: ``tree``, picked onto a tip whose tree is ``base`` (``tip``: a commit with it)."""

    base: str
    tree: str
    tip: str
    label: str

    @property
    def key(self) -> tuple[str, str]:
        return self.base, self.tree


@dataclass
class Picks:
    job: SliceRun
    tip: str
    picked: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[str, bytes] = field(default_factory=dict)   # conflict texts, for a person
    by_person: list[dict[str, Any]] = field(default_factory=list)   # picked by a person since the last run
    parked: dict[str, Mapping[str, Any]] = field(default_factory=dict)   # dropped before, unchanged: no check runs
    ask: Callable[[Question], Verdict] | None = None   # judging through a search that looks ahead (speculate)
    rehearsal: bool = False   # a replay with verdicts assumed: what would land moves a stand-in tip only
    known: dict[Any, Any] = field(default_factory=dict)   # picks, trees, commits by what they depend on

    @property
    def env(self) -> dict[str, str]:
        return git.alternates_env(self.job.mirror)

    @property
    def fork(self) -> Path:
        return self.job.fork

    def entry(self, c: Mapping[str, Any]) -> Mapping[str, Any]:
        """The drift's entry of a commit (its dropped paths with it)."""
        return self.job.drift.commit(c["sha"]) or c

    def _once(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        if key not in self.known:
            self.known[key] = make()
        return self.known[key]

    def tree_of(self, commit: str) -> str:
        return self._once(("tree", commit), lambda: commits.tree_of(self.fork, commit, env=self.env))

    def info(self, sha: str) -> Commit:
        return self._once(("info", sha), lambda: commits.commit_info(self.fork, sha, env=self.env))

    def pick(self, sha: str, onto: str, drop: Sequence[str]) -> commits.Pick:
        """``sha`` picked onto ``onto`` (a tree-level result: the same for any commit with ``onto``'s tree)."""
        return self._once(("pick", sha, self.tree_of(onto), tuple(drop)),
                          lambda: commits.pick(self.fork, sha, onto, drop=drop, env=self.env))

    def passes(self, tree: str, label: str) -> tuple[bool, list[Any]]:
        if self.ask is not None:
            verdict = self.ask(Question(self.tree_of(self.tip), tree, self.tip, label))
            return verdict.passed, list(verdict.detail or [])
        return self.judged(tree, label)

    def judged(self, tree: str, label: str) -> tuple[bool, list[Any]]:
        changes = commitkit.tree_changes(self.fork, git.tree_of(self.fork, self.tip), tree, "pick", self.env)
        self.bring(tree)
        return self.job.judge(self.tip, tree, changes, label)

    def candidate(self, q: Question) -> tuple[str, str, dict[str, Any]]:
        """A question as a candidate to judge ahead: (its tip, its tree, its changes), its objects in the fork."""
        self.bring(q.tree, q.base)
        return q.tip, q.tree, commitkit.tree_changes(self.fork, q.base, q.tree, "pick", self.env)

    def bring(self, tree: str, base: str | None = None) -> None:
        """Copy the source's objects a candidate tree needs into the fork: the root, the new trees and blobs
        (``diff-tree -t`` lists both; an unchanged subtree is one the fork holds already)."""
        out = git.git(self.fork, "diff-tree", "-r", "-t", "-z", "--no-renames", "--no-abbrev",
                      base or git.tree_of(self.fork, self.tip), tree, env=self.env)
        importer.copy_objects(self.job.mirror, self.fork, [tree] + [c.new[1] for c in git.parse_diff_raw(out)
                                                                     if c.new and c.new[0] != "160000"])

    def land_pick(self, info: Commit, tree: str) -> None:
        """The pick's commit on the tip; every object its tree needs is copied first — in a chain, a middle
        tree can be one of the source's own, present only in the mirror."""
        if self.rehearsal:  # the same tree on a stand-in commit (fixed dates: the same one each replay)
            self.picked.append({"sha": info.sha, "subject": info.subject, "commit": ""})
            self.tip = self._once(("stand-in", self.tip, tree), lambda: commits.commit_tree(
                self.fork, tree, (self.tip,), "candidate\n", env={**self.env, **commits.FIXED_DATES}))
            return
        self.bring(tree)
        new = commits.commit_pick(self.fork, tree, self.tip, info, self.job.cfg.source, env=self.env)
        self.picked.append({"sha": info.sha, "subject": info.subject, "commit": new})
        self.tip = new

    def rehearse(self, ask: Callable[[Question], Verdict]) -> Picks:
        """A copy as it stands, judging through ``ask``, whose landings move only a stand-in tip."""
        return replace(self, picked=list(self.picked), dropped=list(self.dropped), skipped=list(self.skipped),
                       texts=dict(self.texts), by_person=list(self.by_person), ask=ask, rehearsal=True)


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
        shaped = {"rules": repr(rules(job.cfg)), "min_age": o.min_age, "readopted": readopted(job.ws),
                  "pull_requests": o.pull_requests}
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
                judge_one_by_one(run, todo)
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


def by_a_person(run: Picks, todo: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Commits a person picked on the integration branch count as picked (``cherry-pick -x``, with or without
    a fix: the trailer names it; or the same patch; a pull request picked whole with ``-m 1``, or all of its
    commits); the rest are left to do. Read since the slice was last judged, else — a fresh workspace, a
    forgotten outcome — since ``fork.branch``: what the integration branch holds of its own."""
    earlier = run.job.earlier
    since = earlier.verified_at if earlier else None
    if since and not git.rev_parse(run.fork, f"{since}^{{commit}}"):
        since = None
    bound = since or git.ref_tip(run.fork, f"refs/heads/{run.job.cfg.fork.branch}")
    if not todo or bound == run.job.start:  # nothing on the branch since: nobody picked anything there
        return todo
    held = _held_units(run.job, [run.job.start], [bound or f"refs/heads/{run.job.cfg.fork.branch}"], todo)
    for c in todo:
        if c["sha"] in held:
            run.by_person.append({"sha": c["sha"], "subject": c["subject"], "commit": held[c["sha"]].fork_sha,
                                  "by": "a person"})
    return [c for c in todo if c["sha"] not in held]


def _held_units(job: SliceRun, refs: Sequence[str], bound: Sequence[str],
                todo: Sequence[Mapping[str, Any]]) -> dict[str, commits.Presence]:
    """Which of ``todo`` (drift entries) the fork's ``refs`` since ``bound`` hold, a pull request whole or
    through its commits."""
    shas = [c["sha"] for c in todo] + [b for c in todo for b in c.get("commits") or ()] + \
        [c["unit"] for c in todo if c.get("unit")]
    infos = commits.commit_infos(job.mirror, list(dict.fromkeys(shas)))
    found = _holds(job.fork, job.mirror, refs, bound, list(infos.values()))
    held = {c["sha"]: as_unit(c["sha"], [b for b in c.get("commits") or ()
                                         if b in infos and not infos[b].is_merge and infos[b].paths],
                              c.get("unit"), found) for c in todo}
    return {sha: h for sha, h in held.items() if h is not None}


def _still_dropped(run: Picks, record: Mapping[str, Any],
                   todo: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Commits dropped before whose dependencies did not change stay dropped, with no check run — unless the
    commit one waited for is in now, or a newer commit to pick changes their paths: the source may have
    fixed its own commit, so it is offered again with it (``parked``: judged with it, never alone again)."""
    settled = {c["sha"] for c in run.job.drift.commits if c["kind"] in ("already-present", "processed")} | \
        {p["sha"] for p in run.by_person}
    left: list[Mapping[str, Any]] = []
    for i, c in enumerate(todo):
        was = record["dropped"].get(c["sha"])
        needs = was.get("needs") if was else None
        if not was or was.get("key") != dependency_key(run.job.cfg, run.tip, c["paths"]) or \
                (needs and (needs not in record["dropped"] or needs in settled)):  # what it waited for is in
            left.append(c)
        elif any(set(n["paths"]) & set(c["paths"]) for n in todo[i + 1:] if n["sha"] not in record["dropped"]):
            run.parked[c["sha"]] = was
            left.append(c)
        else:
            run.dropped.append(_kept(c, was))
    return left


def _kept(c: Mapping[str, Any], was: Mapping[str, Any]) -> dict[str, Any]:
    """A dropped commit as an earlier run left it."""
    return {"sha": c["sha"], "subject": c["subject"], "reason": was["reason"],
            "kind": was.get("kind") or (NEEDS if was.get("needs") else CHECKS),
            "needs": was.get("needs"), "key": was["key"], "files": c["paths"], "again": True,
            "conflicted": was.get("conflicted", [])}


def whole_chain(run: Picks, todo: Sequence[Mapping[str, Any]]) -> bool:
    """Pick every commit in turn (trees only) and judge the end once; True when it all landed."""
    tip, last = run.tip, None
    trees: list[tuple[Mapping[str, Any], tuple[Commit, str] | str]] = []   # (commit, (its info, tree) or why empty)
    for c in todo:
        p = run.pick(c["sha"], tip, _drop(c))
        if p.empty:
            trees.append((c, p.reason))
            continue
        if not p.clean:
            return False
        info = commits.commit_info(run.fork, c["sha"], env=run.env)
        tip = commits.commit_tree(run.fork, p.tree or "", (tip,), "candidate\n", env=run.env)
        trees.append((c, (info, p.tree or "")))
        last = p.tree  # may be one of the source's own trees, not yet in the fork: judged (and brought) by id
    if tip == run.tip:
        # every pick was empty (a pick that changes something moves the tip)
        run.skipped += [{"sha": c["sha"], "subject": c["subject"], "reason": why} for c, why in trees]
        return True
    ok, _ = run.passes(last or "", f"all {len(todo)} commits")
    if not ok:
        return False
    for c, landed in trees:
        if isinstance(landed, str):
            run.skipped.append({"sha": c["sha"], "subject": c["subject"], "reason": landed})
        else:
            run.land_pick(*landed)
    return True


def _drop(c: Mapping[str, Any]) -> list[str]:
    return [d["path"] for d in c.get("dropped", ())]


def judge_one_by_one(run: Picks, todo: Sequence[Mapping[str, Any]]) -> None:
    """``one_by_one``; with free slots, the picks it judges next — the next commit on top of this one, passing
    first, as a gate queue assumes — are judged while the current one runs (``bisect.speculate``). The picks
    follow the real verdicts in the same order, so what lands, drops and waits is the one-slot outcome."""
    slots = run.job.ahead(run.candidate)
    if slots is None:
        one_by_one(run, todo)
        return
    before = run.rehearse(run.ask or (lambda q: bisect.FAIL))   # the state each replay starts from

    def search(ask: Callable[[Question], Verdict]) -> None:
        run.ask = ask
        try:
            one_by_one(run, todo)
        finally:
            run.ask = None

    def real(q: Question) -> Verdict:
        ok, results = run.judged(q.tree, q.label)
        return Verdict(ok, results)

    bisect.speculate(search, real, slots, prefer=bisect.PASS,
                     rehearse=lambda ask: one_by_one(before.rehearse(ask), todo))


def one_by_one(run: Picks, todo: Sequence[Mapping[str, Any]]) -> None:
    for c in todo:
        was = run.parked.get(c["sha"])
        if was is not None:  # known to fail alone: kept for a fix-up that follows, not judged again
            run.dropped.append(_kept(c, was))
            continue
        p = run.pick(c["sha"], run.tip, _drop(c))
        if p.empty:
            overlap = _overlap(run, c)
            if overlap is None:
                run.skipped.append({"sha": c["sha"], "subject": c["subject"], "reason": p.reason})
            elif not with_its_fix(run, overlap, c):
                drop(run, c, NEEDS, f"needs {overlap['sha'][:10]} ({overlap['subject']!r}), which was dropped; "
                                    "alone it changes nothing", overlap)
            continue
        if not p.clean:
            needs = _needs(run, c)
            if needs and with_its_fix(run, needs, c):
                continue
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
            overlap = _overlap(run, c)
            if overlap and with_its_fix(run, overlap, c):
                continue
            failing = "; ".join(slices.why(r) for r in slices.failing_of(results)) or "its checks fail"
            if overlap:
                drop(run, c, NEEDS, f"needs {overlap['sha'][:10]} ({overlap['subject']!r}), which was dropped; "
                                    f"alone it fails: {failing}", overlap, results)
            else:
                drop(run, c, CHECKS, f"fails its checks: {failing}", None, results)
            continue
        run.land_pick(run.info(c["sha"]), p.tree or "")


def _overlap(run: Picks, c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The newest dropped commit that changes one of ``c``'s paths."""
    return next((d for d in reversed(run.dropped) if set(d["files"]) & set(c["paths"])), None)


def _needs(run: Picks, c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The dropped commit on top of which ``c`` applies cleanly, if any (newest first). A commit dropped for
    a conflict counts with its own version of the paths it changes: what a person's resolution would hold."""
    for d in reversed(run.dropped):
        with_it = _applied(run, d)
        if with_it is not None and run.pick(c["sha"], with_it, _drop(c)).clean:
            return d
    return None


def _applied(run: Picks, d: Mapping[str, Any]) -> str | None:
    """A candidate commit on the tip with the dropped ``d`` applied: its pick, or — when it conflicts — the tip
    with ``d``'s paths as ``d`` has them."""
    base = run.pick(d["sha"], run.tip, _drop(run.entry(d)))
    if base.tree is not None and base.clean:
        tree = base.tree
    elif d.get("kind") == CONFLICT and d["files"]:
        tree = commits.reset_paths(run.fork, run.tip, d["sha"], d["files"], env=run.env)
    else:
        return None
    return commits.commit_tree(run.fork, tree, (run.tip,), "candidate\n", env=run.env)


def with_its_fix(run: Picks, dropped: Mapping[str, Any], c: Mapping[str, Any]) -> bool:
    """``c`` and the dropped commit it touches (with what waits on that one) picked together and judged once;
    True when they passed and landed, in source order. A source that fixes its own broken commit in the
    next one makes exactly this pair: the fix alone is empty, conflicts or fails."""
    if dropped.get("kind") == CONFLICT:
        return False  # a conflict waits for a person; a later commit does not resolve it
    order = {e["sha"]: i for i, e in enumerate(run.job.drift.commits)}
    waiting = [w for w in run.dropped if w.get("needs") == dropped["sha"]]
    group = sorted([dropped, *waiting], key=lambda g: order.get(g["sha"], -1)) + [dict(c, files=c["paths"])]
    tip, trees, empty = run.tip, [], []
    for g in group:
        p = run.pick(g["sha"], tip, _drop(run.entry(g)))
        if p.empty:
            empty.append(g)
            continue
        if not p.clean or p.tree is None:
            return False
        tip = commits.commit_tree(run.fork, p.tree, (tip,), "candidate\n", env=run.env)
        trees.append((g, p.tree))
    if not trees or trees[-1][0]["sha"] != c["sha"]:
        return False
    ok, _ = run.passes(trees[-1][1], f"{dropped['sha'][:10]} with {c['sha'][:10]}")
    if not ok:
        return False
    for g, tree in trees:
        run.land_pick(run.info(g["sha"]), tree)
    run.skipped += [{"sha": g["sha"], "subject": g["subject"], "reason": "empty on top of the others"} for g in empty]
    gone = {g["sha"] for g in group}
    run.dropped = [d for d in run.dropped if d["sha"] not in gone]
    return True


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
    for c in job.drift.commits:  # dropped before, and found in the fork since (a person's pick of it)
        if c["sha"] in record["dropped"] and c["kind"] == "already-present":
            processed[c["sha"]] = c["reason"]
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
        slice_commits=job.slice.commits, adopted_commits=tuple(adopted_commits),
        landed_commits=tuple(p["sha"] for p in run.picked if p["sha"] in job.slice.commits), runs=job.runs,
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
    infos = commits.commit_infos(job.mirror, [d["sha"] for d in dropped])
    held = fork_holds(job.cfg, job.mirror, job.upstream, list(infos.values()),
                      refs=[f"refs/heads/{job.cfg.fork.sync_branch}"])
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
