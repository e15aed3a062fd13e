"""Merge mode: a fork that shares history with its upstream, synced by merging upstream commit ranges.

drift: the upstream's first-parent commits since the merge base with ``fork.branch`` (those old
enough, with ``min_age``), beside the usual 3-way drift of the trees against that merge base;
plan: consecutive ranges of at most ``slices.max_commits`` (``tasks.core.rangeplan``).

A slice's step: the range's commits the sync tip does not hold yet are merged onto it, one
candidate per commit (``git merge-tree``: a tree, no checkout). First the range is bisected for
the first commit whose merge **conflicts** (no check runs), then the clean prefix for the first
commit whose merge **fails its checks** (``tasks.core.ranges.first_bad`` through the verdict memo:
at most ⌈log2 n⌉ + 2 runs). What passes lands as one move — a fast-forward when the sync branch
has no commits of its own, else a merge commit — after a backup ref keeps the old tip. The first
failing commit is the slice's culprit; every commit after it **waits** behind it, and so do later
ranges: a merge cannot skip a commit. A waiting range costs nothing: no object is copied, no
check runs. With ``on_failure: revert`` the culprit is merged and reverted so the rest can land.

Nothing is recorded in a state file: the merge commits on the sync branch are the record.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core import ranges
from tasks.core.classify import Bases, Bucketer
from tasks.core.commit import Commit, iso_date
from tasks.core.outcome import COMMITS, Conflict, Deferral, Outcome, Status, Wait, status_of
from tasks.core.plan import Plan
from tasks.core.rangeplan import plan_ranges
from tasks.engine import slices
from tasks.engine.pipeline import SliceRun, Step, files_of
from tasks.engine.status import commit_inputs, read_outcome, readopted
from tasks.errors import CannotRun, ForkwaveError
from tasks.modes import commitkit
from tasks.engine.dryrun import Simulation
from tasks.redact import redact_url
from tasks.repo import commits, culprits, git, landing, merge, policy, resolutions
from tasks.repo import drift as tree_drift
from tasks.repo.commits import TreeMerge
from tasks.workspace import Workspace


# --- what the source offers ----------------------------------------------------------------------

def drift(cfg: Config, mirror: Path, upstream: str, bases: Bases | None, window: set[str] | None) -> dict[str, Any]:
    head, _, objects = tree_drift.fork_info(cfg)
    env = {"GIT_ALTERNATE_OBJECT_DIRECTORIES": objects}
    base = commits.merge_base(mirror, head, upstream, env=env)
    if base is None:
        raise ForkwaveError(f"{cfg.file}: sources: {cfg.source} (mode: merge): {cfg.fork.branch} shares no history "
                            f"with {cfg.upstream.ref}; a fork copied without history syncs with mode: snapshot")
    options = cfg.current.options if cfg.sources else None
    cooled = commits.ripe(mirror, upstream, base, min_age=options.min_age if options else 0, env=env)
    ripe = list(cooled.ripe)
    tip = ripe[-1].sha if ripe else base
    report = tree_drift.compute(cfg, mirror, tip, Bases("merge-base", base, rev=f"merge base of {cfg.fork.branch}"),
                                window)
    bucket_of = Bucketer(cfg)
    for c in ripe:  # a path a range changes and changes back is still the range's: reports list it
        for p in c.paths:
            report["entries"].setdefault(p, {"class": "identical", "bucket": bucket_of(p), "upstream": None,
                                             "fork": None, "base": None})
    report["commits"] = [{"sha": c.sha, "parents": list(c.parents), "subject": c.subject, "author": c.author,
                          "date": iso_date(c.author_date), "paths": list(c.paths)} for c in ripe]
    report["cooldown"] = {"fetched": upstream, "waiting": len(cooled.waiting),
                          "ripens_at": iso_date(cooled.ripens_at) if cooled.ripens_at else None}
    return report


def plan(cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan:
    return plan_ranges(report, cfg.waves, cfg.max_commits, cfg.max_files, Bucketer(cfg))


# --- one range -----------------------------------------------------------------------------------

@dataclass
class Culprit:
    kind: str                     # "checks" (its merge fails them) or "conflict" (its merge conflicts)
    commit: Commit
    bisection: ranges.Bisection
    results: list[Any] = field(default_factory=list)   # the failing candidate's check results
    merge: TreeMerge | None = None
    fork: Commit | None = None    # a conflict: the fork commit it conflicts with (``tasks.repo.culprits``)


@dataclass
class Range:
    """One run of a range: where it stands, what it moved to."""

    job: SliceRun
    tip: str
    env: dict[str, str]
    moves: list[dict[str, Any]] = field(default_factory=list)
    recheck: Deferral | None = None   # the sync tip as a person left it fails its checks
    held: list[Commit] = field(default_factory=list)   # pending commits not tried: the tip itself fails first
    taken: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)
    replayed: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def cfg(self) -> Config:
        return self.job.cfg

    @property
    def fork(self) -> Path:
        return self.job.fork

    def merged(self, sha: str) -> TreeMerge:
        """``sha`` merged into the tip, conflicts a ``policy:`` rule covers (``self.taken``) or a person resolved
        before (``self.replayed``) resolved."""
        fixed, taken, replayed = settle(self.cfg, commits.merge(self.fork, self.tip, sha, env=self.env), self.env)
        self.taken[(self.tip, sha)], self.replayed[(self.tip, sha)] = taken, replayed
        return fixed

    def passes(self, tree: str, label: str) -> tuple[bool, list[Any]]:
        """The checks' verdict on ``tree`` (a candidate on top of the current tip), through the memo."""
        return self.job.judge(*self.candidate(tree)[:3], label)

    def candidate(self, tree: str) -> tuple[str, str, dict[str, Any]]:
        """``tree`` as a candidate on the current tip: (the tip, the tree, its changes on the tip)."""
        return self.tip, tree, commitkit.tree_changes(self.fork, git.tree_of(self.fork, self.tip), tree, "merge",
                                                      self.env)


def settle(cfg: Config, raw: TreeMerge, env: dict[str, str] | None = None
           ) -> tuple[TreeMerge, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """A merge's conflicts settled by ``policy:`` rules, then by resolutions a person made before (recorded in the
    fork, ``tasks.repo.resolutions``); (the merge, (path, take) by policy, (path, record id) replayed)."""
    fixed, taken = policy.resolve(cfg.fork.path, raw, cfg.policy, env=env)
    fixed, replayed = resolutions.apply(cfg.fork.path, fixed, env=env)
    return fixed, taken, replayed


def on_failure(cfg: Config) -> str:
    return cfg.current.options.on_failure if cfg.sources else "stop"


class MergeMode:
    name = "merge"
    unit = COMMITS
    file_slices = False
    detects_base = False   # the merge base is the base
    own_branch = False
    joint_retry = False    # a range's culprit waits for a person; there is nothing to retry together

    def drift(self, cfg: Config, mirror: Path, upstream: str, bases: Bases | None,
              window: set[str] | None) -> dict[str, Any]:
        return drift(cfg, mirror, upstream, bases, window)

    def plan(self, cfg: Config, report: Mapping[str, Any], history: Callable[[], Any]) -> Plan:
        return plan(cfg, report, history)

    def inputs(self, job: SliceRun, tip: str | None = None) -> dict[str, Any]:
        shaped = {"policy": [(r.paths, r.take) for r in job.cfg.policy], "on_failure": on_failure(job.cfg),
                  "readopted": readopted(job.ws)}
        return commit_inputs(job.cfg, job.upstream, job.drift, job.slice.paths, tip, shaped_by=shaped)

    def step(self, job: SliceRun) -> Step:
        kept = commitkit.still_rolled_back(job)
        if kept is not None:
            return Step(job.start, kept)
        behind = waits_behind_earlier(job)
        if behind is not None:  # the range before it stopped, and the branch has not moved since: nothing to try
            return Step(job.start, behind)
        shas = list(job.slice.commits)
        env = git.alternates_env(job.mirror)  # the mirror's objects are read, not copied, until something lands
        start = commitkit.readopt_first(job, env) or job.start
        info = {c.sha: c for c in commits.first_parent(job.mirror, shas[-1], limit=len(shas))}
        held = landing.contained(job.fork, shas, start, env=env)
        pending = [info[s] for s in shas[held:]]
        run = Range(job, start, env)
        culprit, waits, error = None, None, None
        if pending and pending[0].parents and not commits.is_ancestor(job.fork, pending[0].parents[0], start, env=env):
            waits = pending[0].parents[0]  # an earlier range's commit is not merged yet: a merge cannot skip it
        elif pending:
            try:
                if start == job.start and commitkit.needs_recheck(job):  # a person's merge or fix is judged first
                    run.recheck = commitkit.recheck(job, start)
                if run.recheck is None:
                    landing.bring(job.mirror, job.fork, shas[-1], [start])
                    culprit, _ = advance(run, pending, on_failure(job.cfg))
                else:
                    run.held = pending
            except CannotRun as exc:
                error = str(exc)
            except StartFails as exc:
                run.recheck, run.held = exc.deferral, exc.pending
        elif start != job.start or commitkit.needs_recheck(job):
            try:
                run.recheck = commitkit.recheck(job, start)
            except CannotRun as exc:
                error = str(exc)
            if run.recheck is not None or error:  # a rollback undone that fails is not taken again
                run.tip = job.start
        if run.tip != job.start:
            landing.backup(job.cfg, job.start)
        outcome = build_outcome(job, info, shas, run, culprit, waits, error)
        return Step(run.tip, outcome, f"forkwave: merge {job.name}")

    def simulate(self, job: SliceRun, tip: str) -> Simulation:
        return simulate(job, tip)

    def resolve(self, job: SliceRun, path: str | None, take: str | None) -> str:
        return resolve(job, path, take)

    def rollback(self, job: SliceRun) -> str:
        return commitkit.rollback(job, moves_of(job.earlier))

    def readopt(self, job: SliceRun) -> list[str]:
        return commitkit.readopt(job)

    def record(self, cfg: Config, ws: Workspace, wave: str, revision: str, upstream_url: str,
               source: str | None) -> str | None:
        return None  # the merge commits are the record: the next merge base is where the fork stands


MODE = MergeMode()


def advance(run: Range, pending: list[Commit], failing: str) -> tuple[Culprit | None, list[Commit]]:
    """Land (in ``run.tip``, objects only) as much of ``pending`` as passes.

    Returns the culprit that stops it (if any) and what is left."""
    while pending:
        good, culprit = bisect(run, pending)
        if good:
            move(run, pending[good - 1], good)
        pending = pending[good:]
        if culprit is None:
            return None, []
        if culprit.kind != "checks" or failing != "revert" or not revert(run, culprit):
            return culprit, pending
        pending = pending[1:]
    return None, []


def bisect(run: Range, pending: Sequence[Commit]) -> tuple[int, Culprit | None]:
    """(how many of ``pending`` can land on ``run.tip``, the first commit that cannot)."""
    n = len(pending)
    cache: dict[int, TreeMerge] = {}

    def at(i: int) -> TreeMerge:
        if i not in cache:
            cache[i] = run.merged(pending[i - 1].sha)
        return cache[i]

    clean_upto = n
    conflict = None
    if not at(n).clean:
        cb = ranges.first_bad(n, lambda i: at(i).clean, known={0: True})
        clean_upto = cb.good
        conflict = Culprit("conflict", pending[cb.good], cb, merge=at(cb.good + 1))
        conflict.fork = culprits.fork_commit(run.fork, run.tip, conflict.commit.sha, at(cb.good + 1).conflicted_paths,
                                             lambda m: settle(run.cfg, m, run.env)[0].clean,
                                             env=run.env)
    if clean_upto == 0:
        return 0, conflict
    failing: dict[int, list[Any]] = {}

    def tree(i: int) -> str:
        return at(i).tree if i else git.tree_of(run.fork, run.tip)

    def verdict(i: int) -> bool:
        ok, results = run.passes(tree(i), f"1..{i} of {n}" if i else "the sync tip")
        if not ok:
            failing[i] = results
        return ok

    # with free slots, the merges the bisection asks next are judged while the current one runs
    slots = run.job.ahead(lambda point: run.candidate(tree(point.i)))
    b = ranges.first_bad(clean_upto, verdict, check_ends=True, slots=slots)
    if b.status == ranges.CLEAN:
        return clean_upto, conflict
    if b.status == ranges.START_FAILS:
        raise StartFails(start_failure(run, failing.get(0, [])), list(pending))
    culprit = b.culprit
    assert culprit is not None, "a bisection that is neither clean nor failing at its start names a culprit"
    return b.good, Culprit("checks", pending[culprit], b, failing.get(culprit + 1, []))


class StartFails(Exception):
    """The sync tip itself fails its checks (``gating: strict``): no upstream commit can be blamed or merged."""

    def __init__(self, deferral: Deferral, pending: list[Commit]) -> None:
        super().__init__(deferral.reason)
        self.deferral, self.pending = deferral, pending


def start_failure(run: Range, results: Sequence[Any]) -> Deferral:
    """What is wrong with the sync tip as it stands, naming the failing checks (and a person's files with conflict
    markers, if a person's merge left some)."""
    job = run.job
    marked = commitkit.conflict_markers(job.fork, run.tip, commitkit.left_in_conflict(job.earlier))
    if marked:
        return commitkit.markers_deferral(job, run.tip, marked, results)
    failing = slices.failing_of(results)
    why = "; ".join(slices.why(r) for r in failing) or "its checks fail"
    return Deferral((), f"{job.cfg.fork.sync_branch} at {run.tip[:12]} itself fails its checks (gating: strict), so "
                        f"no upstream commit can be judged on it: {why}",
                    f"fix {job.cfg.fork.sync_branch} (commit the fix there), or set `gating: baseline` to let "
                    f"failures it already has pass; then run `doit`", tuple(r.name for r in failing),
                    "\n".join(filter(None, (failing[0].stdout, failing[0].stderr))) if failing else "")


def move(run: Range, commit: Commit, count: int) -> None:
    """``run.tip`` to the merge of ``commit`` (fast-forward when it can)."""
    merged = run.merged(commit.sha)
    message = (f"forkwave: merge upstream {commit.short} into {run.cfg.fork.sync_branch} ({count} commit"
               f"{'s' if count != 1 else ''})\n\n{commit.subject}\n\nUpstream-Revision: {commit.sha}\n"
               f"Forkwave-Slice: {run.job.name}\n")
    taken = run.taken.get((run.tip, commit.sha), ())
    replayed = run.replayed.get((run.tip, commit.sha), ())
    message += "".join(f"Forkwave-Policy: {p} take {t}\n" for p, t in taken)
    message += "".join(f"Forkwave-Resolution: {p} as recorded in {key[:12]}\n" for p, key in replayed)
    new, how = landing.land_commit(run.fork, run.tip, commit.sha, merged.tree, message, env=run.env)
    run.moves.append({"from": run.tip, "to": new, "upstream": commit.sha, "how": how, "commits": count,
                      **({"policy": [{"path": p, "take": t} for p, t in taken]} if taken else {}),
                      **({"replayed": [{"path": p, "record": k} for p, k in replayed]} if replayed else {})})
    run.tip = new


def revert(run: Range, culprit: Culprit) -> bool:
    """``on_failure: revert``: merge the culprit, revert it in a follow-up commit; True when that passes."""
    before, moves = run.tip, list(run.moves)
    why = "; ".join(slices.why(r) for r in slices.failing_of(culprit.results)) or "its checks fail"
    move(run, culprit.commit, 1)
    undone = commits.revert(run.fork, culprit.commit.sha, run.tip, env=run.env)
    ok = undone.clean and run.passes(undone.tree, f"revert of {culprit.commit.short}")[0]
    if not ok:
        run.tip, run.moves = before, moves
        return False
    message = commits.revert_message(culprit.commit, why) + f"\nForkwave-Slice: {run.job.name}\nForkwave-Revert: " \
                                                             f"{culprit.commit.sha}\n"
    reverted = commits.commit_tree(run.fork, undone.tree, (run.tip,), message, env=run.env)
    run.moves.append({"from": run.tip, "to": reverted, "upstream": culprit.commit.sha, "how": "revert",
                      "commits": 0, "reverted": culprit.commit.sha, "why": why})
    run.tip = reverted
    return True


# --- the outcome -----------------------------------------------------------------------------------

def moves_of(outcome: Outcome | None) -> list[dict[str, Any]]:
    """Every move the slice made that is recorded (this run's and earlier runs'), oldest first, each with its
    ``from`` (outcomes of earlier versions lack it: the move before, or the outcome's start)."""
    if outcome is None:
        return []
    out, before = [], outcome.parent
    for m in (outcome.record.get("range") or {}).get("moves", ()):
        out.append({**m, "from": m.get("from") or before})
        before = m["to"]
    return out


def build_outcome(job: SliceRun, info: Mapping[str, Commit], shas: Sequence[str], run: Range,
                  culprit: Culprit | None, waits: str | None, error: str | None) -> Outcome:
    name, start, env = job.name, job.start, run.env
    earlier_moves = [m for m in moves_of(job.earlier) if slices.on_sync_branch(job.cfg, m["to"])]
    moves = earlier_moves + run.moves
    now_held = landing.contained(job.fork, shas, run.tip, env=env)
    held_before = landing.contained(job.fork, shas, start, env=env)
    reverted = {m["reverted"] for m in moves if m["how"] == "revert"}
    adopted_commits = [s for s in shas[:now_held] if s not in reverted]
    landed_now = [s for s in shas[held_before:now_held] if s not in reverted]   # by this run, not before it
    files = set(job.slice.paths)

    def paths_of(picked: Iterable[str]) -> list[str]:
        return sorted(files & {p for s in picked for p in info[s].paths})

    deferred = [reverted_deferral(job, info[m["reverted"]], m) for m in moves
                if m["how"] == "revert" and m["reverted"] in info]
    conflicts: list[Conflict] = []
    if culprit and culprit.kind == "checks":
        deferred.append(culprit_deferral(job, culprit))
    if culprit and culprit.kind == "conflict":
        conflicts = conflict_entries(job, culprit, run.tip, env)
    else:
        slices.save_conflicts(job.ws, name, {})
    waiting = []
    if waits:
        waiting.append(waiting_behind(job, [info[s] for s in shas[now_held:]], waits))
    elif run.held:
        waiting.append(Wait(tuple(paths_of([c.sha for c in run.held])),
                            f"waits until {job.cfg.fork.sync_branch} passes "
                            "its checks again (see above: the branch itself fails, so no commit can be judged on it)",
                            "fix the sync branch first (see above); these follow on the next `doit`",
                            tuple(c.sha for c in run.held), None, name))
    elif culprit:
        rest = [info[s] for s in shas[shas.index(culprit.commit.sha) + 1:]]
        if rest:
            waiting.append(Wait(tuple(paths_of([c.sha for c in rest])), f"waits behind upstream commit "
                                f"{culprit.commit.short} {culprit.commit.subject!r} (a merge cannot skip a commit)",
                                f"resolve {culprit.commit.short} first (see above); these follow on the next `doit`",
                                tuple(c.sha for c in rest), culprit.commit.sha, name))
    resolved = still_resolved(job, person_resolved(job, start))
    if run.recheck is not None:
        deferred.append(run.recheck)
    mine = [m["to"] for m in moves]
    status = status_of(error=error is not None, recheck_failed=run.recheck is not None, conflicts=bool(conflicts),
                       deferred=bool(deferred),
                       adopted=bool(adopted_commits) or bool(resolved), waiting=bool(waiting))
    return Outcome(
        name, job.slice.wave, job.upstream, status, start, mode="merge", unit=COMMITS, source=job.slice.source,
        commit=run.tip if run.tip != start else None, verified_at=run.tip, commits=tuple(dict.fromkeys(mine)),
        files=files_of(job.slice), adopted=tuple(paths_of(adopted_commits)),
        landed=tuple(paths_of(landed_now)),
        deferred=tuple(deferred), conflicts=tuple(conflicts), waiting=tuple(waiting), resolved=tuple(resolved),
        reported=tuple(policy_reported(moves, info)), slice_commits=tuple(shas),
        adopted_commits=tuple(adopted_commits), landed_commits=tuple(landed_now), runs=job.runs,
        attempts=tuple(job.attempts), error=error,
        record={"range": {"commits": list(shas), "held_before": held_before, "held": now_held, "moves": moves},
                "reverted": [m for m in moves if m["how"] == "revert"],
                "culprit": culprit_json(culprit) if culprit else None})


def waits_behind_earlier(job: SliceRun) -> Outcome | None:
    """The range's outcome when the source's range before it stopped at a culprit, or waits itself, and the sync
    branch is where that decision left it: this range waits too, decided from that outcome alone (no merge, no
    ancestry walk, no check).

    A merge cannot skip a commit: while the earlier range's culprit is not merged, no commit after it can be.
    """
    earlier_slice = previous_range(job)
    if earlier_slice is None or job.earlier is not None and job.earlier.status is not Status.WAITING:
        return None
    before = read_outcome(job.ws, earlier_slice.name)
    if before is None or before.verified_at != job.start or before.error:
        return None
    culprit = before.record.get("culprit")
    offered = job.drift.by_sha()
    shas = list(job.slice.commits)
    files = tuple(sorted(set(job.slice.paths) & {p for s in shas for p in (offered.get(s) or {}).get("paths", ())}))
    if culprit:
        wait = Wait(files, f"waits behind {earlier_slice.name}'s upstream commit {culprit['short']} "
                    f"{culprit['subject']!r}, not merged yet (a merge cannot skip a commit)",
                    f"resolve {earlier_slice.name} first (its report says how); this range follows on the next `doit`",
                    tuple(shas), culprit["sha"], earlier_slice.name)
    elif before.status is Status.WAITING and before.waiting and before.waiting[0].behind:
        w = before.waiting[0]
        wait = Wait(files, w.reason, w.next, tuple(shas), w.behind, w.slice)
    else:
        return None
    return Outcome(job.name, job.slice.wave, job.upstream, Status.WAITING, job.start, mode="merge", unit=COMMITS,
                   source=job.slice.source, verified_at=job.start, files=files_of(job.slice), waiting=(wait,),
                   slice_commits=tuple(shas), record={"range": {"commits": shas, "held_before": 0, "held": 0,
                                                                "moves": []}, "reverted": [], "culprit": None})


def previous_range(job: SliceRun) -> Any:
    """The plan's slice of the same source right before this one (its commits come just before), if any."""
    before = None
    for s in job.plan.slices:
        if s.name == job.name:
            return before
        if s.source == job.slice.source:
            before = s
    return None


def waiting_behind(job: SliceRun, pending: Sequence[Commit], waits: str) -> Wait:
    """A range behind one an earlier slice could not merge: it names that slice and its culprit."""
    blocker: tuple[str, Mapping[str, Any]] | None = None
    for s in job.plan.slices:
        if s.name == job.name:
            break
        earlier = read_outcome(job.ws, s.name)
        culprit = earlier.record.get("culprit") if earlier else None
        if s.source == job.slice.source and culprit:
            blocker = (s.name, culprit)
    what = (f"{blocker[0]}'s upstream commit {blocker[1]['short']} {blocker[1]['subject']!r}" if blocker
            else f"upstream commit {waits[:10]}")
    files = sorted(set(job.slice.paths) & {p for c in pending for p in c.paths})
    return Wait(tuple(files), f"waits behind {what}, not merged yet (a merge cannot skip a commit)",
                f"resolve {blocker[0] if blocker else 'the earlier slice'} first (its report says how); this range "
                "follows on the next `doit`", tuple(c.sha for c in pending),
                blocker[1]["sha"] if blocker else waits, blocker[0] if blocker else None)


def policy_reported(moves: Sequence[Mapping[str, Any]], info: Mapping[str, Commit]) -> list[dict[str, str]]:
    """Paths a ``policy:`` rule settled in the slice's merges (``regenerate``: a check must rebuild them), and
    conflicts settled as a person resolved them before."""
    out = {}
    for m in moves:
        for t in m.get("policy", ()):
            out[t["path"]] = (policy.REGENERATE if t["take"] == "regenerate" else
                              f"policy take: {t['take']} for its conflicting hunks (merge of {m['upstream'][:10]})")
        for r in m.get("replayed", ()):
            out[r["path"]] = (f"{resolutions.REPLAYED} (merge of {m['upstream'][:10]}; record {r['record'][:12]} in "
                              f"{resolutions.REF})")
    return [{"path": p, "reason": r} for p, r in sorted(out.items())]


def culprit_json(culprit: Culprit) -> dict[str, Any]:
    failures = [slices.why(r) for r in slices.failing_of(culprit.results)]
    record = ranges.culprit_record(culprit.commit, culprit.bisection, failures=failures)
    return record | {"kind": culprit.kind, "line": ranges.culprit_line(culprit.commit),
                     **({"conflicted": list(culprit.merge.conflicted_paths)} if culprit.merge else {}),
                     **({"fork_commit": fork_commit_json(culprit.fork)} if culprit.fork else {})}


def fork_commit_json(c: Commit) -> dict[str, Any]:
    return {"sha": c.sha, "short": c.short, "subject": c.subject, "author": c.author, "date": iso_date(c.author_date)}


def conflicts_with(culprit: Culprit) -> str:
    """``upstream 3f1d2b4a23 'refac: …' (Up <…>) conflicts with fork commit 1a2b3c4d5e 'ci: …' (Ops <…>)``."""
    c, f = culprit.commit, culprit.fork
    line = f"upstream commit {c.short} {c.subject!r} ({c.author})"
    return line + (f" conflicts with fork commit {f.short} {f.subject!r} ({f.author})" if f else "")


def fetch_and_merge(job: SliceRun, sha: str) -> str:
    """The commands a person runs in a checkout of the fork to merge upstream commit ``sha`` by hand."""
    url = redact_url(job.cfg.upstream.url)
    return (f"`git fetch {url} {job.cfg.upstream.ref} && git switch {job.cfg.fork.sync_branch} && "
            f"git merge {sha}`")


def culprit_deferral(job: SliceRun, culprit: Culprit) -> Deferral:
    c, b = culprit.commit, culprit.bisection
    d = slices.deferral(job.name, list(c.paths), culprit.results, rerun=job.plan.again(job.name))
    return Deferral(d.files, f"upstream commit {c.short} {c.subject!r} by {c.author} fails its checks (commit "
                             f"{b.good + 1} of {b.n}, found in {b.calls} runs): {d.reason}",
                    f"merge {c.short} with a fix from a checkout of the fork ({fetch_and_merge(job, c.sha)}, fix, "
                    f"commit), then run `doit resolve:{job.name}`; or fix it upstream; or set `on_failure: revert` on "
                    "the source to merge it and revert it", d.checks, d.output, d.tests, d.log, c.sha)


def reverted_deferral(job: SliceRun, c: Commit, move_: Mapping[str, Any]) -> Deferral:
    return Deferral(tuple(sorted(set(job.slice.paths) & set(c.paths))),
                    f"upstream commit {c.short} {c.subject!r} merged and reverted in {move_['to'][:10]} "
                    f"(on_failure: revert): {move_.get('why', 'its checks fail')}",
                    "fix it upstream (the next `doit` merges the fix), or take it with a fix yourself: revert the "
                    "revert "
                    f"on {job.cfg.fork.sync_branch} (`git revert {move_['to']}`), fix, commit",
                    commit=c.sha)


def conflict_entries(job: SliceRun, culprit: Culprit, tip: str, env: dict[str, str]) -> list[Conflict]:
    """The conflicting commit's paths, with diff3 texts under ``reports/slices/<name>/conflicts/``."""
    raw = commits.merge(job.fork, tip, culprit.commit.sha, env=env)
    result = settle(job.cfg, raw, env)[0]  # what a rule or a recorded resolution settles is no conflict to report
    left = {c.path for c in result.conflicts}
    texts = {p: t for p, t in commits.conflict_texts(job.fork, raw, env=env).items() if p in left or not raw.conflicts}
    slices.save_conflicts(job.ws, job.name, {p: merge.Merge(p, False, reason="conflict", conflict=t)
                                             for p, t in texts.items()})
    c = culprit.commit
    step = (f"edit reports/slices/{job.name}/conflicts/ and run `doit resolve:{job.name}` (forkwave commits the merge "
            f"of {c.short} with your edits), or merge it yourself from a checkout of the fork "
            f"({fetch_and_merge(job, c.sha)}, resolve, commit) and run `doit resolve:{job.name}`")
    return [Conflict(p, f"merge conflict: {conflicts_with(culprit)}: " + (result.why(p) or "conflict"), step,
                     f"conflicts/{p}" if p in texts else None, c.sha)
            for p in result.conflicted_paths]


def person_resolved(job: SliceRun, start: str) -> list[dict[str, Any]]:
    """An earlier run's culprit that the sync tip now holds, merged by a person (the resolve loop)."""
    earlier = job.earlier
    culprit = (earlier.record.get("culprit") or {}) if earlier else {}
    sha = culprit.get("sha")
    if not sha or sha in {m.get("upstream") for m in moves_of(earlier)}:
        return []
    env = git.alternates_env(job.mirror)
    if not commits.is_ancestor(job.fork, sha, start, env=env):
        return []
    paths = culprit.get("conflicted") or culprit.get("files") or []
    if culprit.get("kind") == "conflict" and earlier and earlier.verified_at:  # what the person faced, and did
        faced = commits.merge(job.fork, earlier.verified_at, sha, env=env)
        resolutions.record(job.fork, resolutions.resolutions_of(
            job.fork, faced, start, paths, {"slice": job.name, "upstream": sha, "by": f"a person's merge in {start}"},
            env=env))
    return [{"path": p, "commit": start, "by": "a person"} for p in paths]


def still_resolved(job: SliceRun, found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The resolutions earlier runs of the slice recorded that are still on the sync branch, with ``found`` (new)."""
    new = {r["path"] for r in found}
    kept = [dict(r) for r in (job.earlier.resolved if job.earlier else ())
            if r.get("path") not in new and r.get("commit") and slices.on_sync_branch(job.cfg, r["commit"])]
    return kept + [dict(r) for r in found]


# --- a person's resolution -------------------------------------------------------------------------

def resolve(job: SliceRun, path: str | None, take: str | None) -> str:
    """The slice's conflicting commit merged by a person: found on the sync branch (merged from any checkout),
    or merged now with the person's edits of the conflict files (``take=``: one side for every conflict)."""
    outcome = job.earlier
    culprit = (outcome.record.get("culprit") or {}) if outcome else {}
    if not culprit:
        raise ForkwaveError(f"{job.name}: nothing to resolve (status {outcome.status if outcome else 'not run'}); "
                            f"see reports/slices/{job.name}/report.md")
    env = git.alternates_env(job.mirror)
    tip = job.start
    if commits.is_ancestor(job.fork, culprit["sha"], tip, env=env):
        return tip  # merged by a person already: the next `doit` validates it and merges the rest
    if culprit.get("kind") != "conflict":
        raise ForkwaveError(f"{job.name}: upstream commit {culprit['short']} fails its checks; merge it with a fix "
                            f"from a checkout of the fork ({fetch_and_merge(job, culprit['sha'])}, fix, commit), then "
                            f"run `doit resolve:{job.name}`")
    return commitkit.commit_resolution(job, tip, culprit, path, take, env, merge_parent=culprit["sha"])


# --- dry run ---------------------------------------------------------------------------------------

def simulate(job: SliceRun, tip: str) -> Simulation:
    """The range on a simulated tip: commit by commit, which merges cleanly and which conflicts; no check runs."""
    env = git.alternates_env(job.mirror)
    shas = list(job.slice.commits)
    info = {c.sha: c for c in commits.first_parent(job.mirror, shas[-1], limit=len(shas))}
    held = landing.contained(job.fork, shas, tip, env=env)
    pending = [info[s] for s in shas[held:]]
    rows: list[dict[str, Any]] = [{"sha": s, "subject": info[s].subject, "would": "held already"} for s in shas[:held]]
    if pending and pending[0].parents and not commits.is_ancestor(job.fork, pending[0].parents[0], tip, env=env):
        rows += [{"sha": c.sha, "subject": c.subject, "would": "wait (an earlier commit is not merged)"}
                 for c in pending]
        return Simulation("waiting", tip, commits=rows)
    good, conflict = len(pending), None
    for i, c in enumerate(pending):
        merged = commits.merge(job.fork, tip, c.sha, env=env)
        fixed = settle(job.cfg, merged, env)[0]
        if not fixed.clean:
            good, conflict = i, (c, fixed)
            break
    rows += [{"sha": c.sha, "subject": c.subject, "would": "merge"} for c in pending[:good]]
    if conflict:
        c, fixed = conflict
        rows.append({"sha": c.sha, "subject": c.subject, "would": "conflict",
                     "paths": list(fixed.conflicted_paths)})
        rows += [{"sha": w.sha, "subject": w.subject, "would": "wait"} for w in pending[good + 1:]]
    new_tip = tip
    if good:
        last = pending[good - 1]
        tree = settle(job.cfg, commits.merge(job.fork, tip, last.sha, env=env), env)[0].tree
        new_tip = commitkit.simulated_commit(job.fork, tree, (tip, last.sha), job.name, env)
    landed = sorted(set(job.slice.paths) & {p for c in pending[:good] for p in c.paths})
    blocked = sorted(set(job.slice.paths) - set(landed))
    status = "conflicted" if conflict else "adopted" if good else "empty"
    return Simulation(status, new_tip, would_land=landed, would_defer=blocked if conflict else [],
                      conflicts=[{"path": p, "reason": f"merge of {conflict[0].short} conflicts"}
                                 for p in conflict[1].conflicted_paths] if conflict else [],
                      checks_to_run=commitkit.checks_for(job.cfg, landed), commits=rows)
