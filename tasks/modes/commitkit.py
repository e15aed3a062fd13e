"""What merge and cherry-pick mode share: commit slices and a person's loop on them.

A commit slice lands as commits on the sync (or integration) branch — merges or picks — so a
person's commands work on those commits:

- ``rollback``: every move the slice made reverted in one commit (a merge against its first
  parent, as ``git revert -m 1`` does; a fast-forward over its whole span), with a
  ``Forkwave-Rollback`` trailer; the slice stays rolled back while that commit is there.
- ``readopt``: the rollback no longer counts (``reports/readopt.json``); the next run reverts the
  rollback and lands that only when it passes the checks.
- ``resolve``: a conflicting commit merged or picked with the person's edits of its conflict files
  (or one side, ``take=``), or found already on the branch when the person did it by hand.

When nothing is left to merge or pick but a person changed the branch since the slice was
judged (a resolution, a readopt), the tip is judged once more (``recheck``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core.fingerprint import applicable
from tasks.core.outcome import Deferral, Outcome, Status
from tasks.engine import slices
from tasks.engine.pipeline import SliceRun
from tasks.engine.status import on_sync_branch, readopted
from tasks.errors import ForkwaveError
from tasks.repo import commits, git, history, importer, resolutions, worktree
from tasks.repo.importer import Change
from tasks.workspace import dump_json, write_if_changed

FIXED_DATE = "@0 +0000"   # simulated commits: the same inputs make the same objects


def tree_changes(fork: Path, before: str, after: str, kind: str,
                 env: Mapping[str, str] | None = None) -> dict[str, Change]:
    """path -> Change from tree ``before`` to ``after`` (a deletion has no mode): what a gate looks at."""
    out = git.git(fork, "diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", before, after,
                  env=dict(env) if env is not None else None)
    return {c.path: Change(c.path, kind, c.new[0] if c.new else None, c.new[1] if c.new else None)
            for c in git.parse_diff_raw(out)}


def checks_for(cfg: Config, paths: Sequence[str]) -> list[str]:
    """The checks that would run on a candidate changing ``paths``."""
    return [check.name for check, applies in applicable(cfg.checks, list(paths)) if applies]


def simulated_commit(fork: Path, tree: str, parents: Sequence[str], name: str, env: Mapping[str, str]) -> str:
    """A commit object with fixed dates for a dry run (no ref names it)."""
    dated = {**env, "GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE}
    return commits.commit_tree(fork, tree, parents, f"forkwave dry run: {name}\n", env=dated)


# --- a person changed the branch ---------------------------------------------------------------

def needs_recheck(job: SliceRun) -> bool:
    """Nothing left to land, but the slice was left for a person and the branch moved since it was judged:
    the person's merge or fix is judged once before the slice counts as adopted."""
    earlier = job.earlier
    return (earlier is not None and not earlier.status.settled and earlier.status is not Status.WAITING
            and earlier.verified_at != job.start)


def recheck(job: SliceRun, tip: str) -> Deferral | None:
    """Judge ``tip`` as it stands (what changed since the slice was last judged); a deferral when it fails.

    The person's change is judged against the branch before it (``since``), not the wave's baseline: a check the
    person broke is the person's to fix, never "pre-existing". The files the slice left in conflict are also read
    for conflict markers a person committed (``git commit -a`` in the middle of a merge): those fail whatever the
    checks say, and the deferral names them and the checks that caught them.
    """
    since = job.earlier.verified_at if job.earlier and job.earlier.verified_at else job.start
    if not git.rev_parse(job.fork, f"{since}^{{commit}}"):
        since = job.start
    changes = tree_changes(job.fork, git.tree_of(job.fork, since), git.tree_of(job.fork, tip), "recheck")
    if not changes:
        return None
    marked = conflict_markers(job.fork, tip, [p for p in left_in_conflict(job.earlier) if p in changes])
    ok, results = job.judge(tip, git.tree_of(job.fork, tip), changes, "the sync tip as a person left it",
                            against=since if since != tip else None)
    if ok and not marked:
        return None
    if marked:
        return markers_deferral(job, tip, marked, results)
    d = slices.deferral(job.name, sorted(changes), results, recheck=True, rerun=job.plan.again(job.name))
    return Deferral(d.files, d.reason, f"fix it on {job.cfg.fork.sync_branch} (a person's commit there is judged "
                    f"again), then run `{job.plan.again(job.name)}`", d.checks, d.output, d.tests, d.log)


MARKERS = "conflict-markers"   # forkwave's own look at the files a person resolved


def left_in_conflict(outcome: Outcome | None) -> list[str]:
    """The paths the slice reported in conflict (a person resolves these)."""
    if outcome is None:
        return []
    culprit = outcome.record.get("culprit") or {}
    return sorted({c.path for c in outcome.conflicts} | set(culprit.get("conflicted") or ()))


def conflict_markers(fork: Path, tip: str, paths: Sequence[str]) -> list[str]:
    """Which of ``paths`` hold conflict markers (``<<<<<<<`` / ``>>>>>>>`` at a line start) at ``tip``."""
    return sorted(p for p, data in git.read_paths(fork, tip, paths).items()
                  if data is not None and history.has_conflict_markers(data))


def markers_deferral(job: SliceRun, tip: str, marked: Sequence[str], results: Sequence[Any]) -> Deferral:
    """A person's commit with conflict markers: the files, the person's commit, the checks that also fail."""
    failing = slices.failing_of(results)
    caught = "; ".join(slices.why(r) for r in failing)
    who = git.git(job.fork, "log", "-1", "--format=%h %s (%an)", tip).decode().strip()
    listed = ", ".join(marked)
    reason = (f"conflict markers (<<<<<<< / >>>>>>>) committed in {listed} on {job.cfg.fork.sync_branch} by "
              f"{who}: caught by {MARKERS}" + (f" and by the checks: {caught}" if caught else
                                               " (no configured check looks at them)"))
    return Deferral(tuple(marked), reason,
                    f"finish the resolution on {job.cfg.fork.sync_branch}: edit {listed} (remove the markers, keep "
                    f"what both sides need), commit, then run `doit`", (MARKERS, *(r.name for r in failing)),
                    "\n".join(filter(None, (failing[0].stdout, failing[0].stderr))) if failing else "",
                    tuple({"id": t[0], "line": t[1]} for r in failing for t in r.tests),
                    failing[0].log if failing and failing[0].log else None)


# --- rollback and readopt --------------------------------------------------------------------------

ROLLBACK = "Forkwave-Rollback"


def rollback(job: SliceRun, moves: Sequence[Mapping[str, Any]]) -> str:
    """Revert every move of the slice that is on the branch, newest first, in one commit; returns it."""
    outcome = job.earlier
    mine = [m for m in moves if on_sync_branch(job.cfg, m["to"])]
    if outcome is None or not mine:
        raise ForkwaveError(f"{job.name}: nothing of it is on {job.cfg.fork.sync_branch} to roll back "
                            f"(see reports/slices/{job.name}/report.md)")
    if outcome.status is Status.ROLLED_BACK:
        raise ForkwaveError(f"{job.name}: already rolled back in {outcome.record.get('rollback', '?')[:12]}; "
                            f"`doit readopt:{job.name}` takes it again")
    tip = worktree.sync_tip(job.cfg)
    env = git.alternates_env(job.mirror)
    current = tip
    for m in reversed(mine):
        undone = commits.revert_span(job.fork, m["from"], m["to"], current, env=env)
        if not undone.clean:
            raise ForkwaveError(f"{job.name}: {', '.join(undone.conflicted_paths[:3])} changed on "
                                f"{job.cfg.fork.sync_branch} after the slice landed it; revert that change first, or "
                                f"revert by hand (reports/slices/{job.name}/report.md)")
        current = commits.commit_tree(job.fork, undone.tree, (current,), "rollback step\n", env=env)
    lines = "".join(f"This reverts commit {m['to']}.\n" for m in reversed(mine))
    message = (f"Revert {job.name} (forkwave rollback: {len(mine)} move(s))\n\n{lines}\n{ROLLBACK}: {job.name}\n")
    commit = commits.commit_tree(job.fork, git.tree_of(job.fork, current), (tip,), message)
    worktree.move_sync(job.cfg, commit, tip, f"forkwave: roll back {job.name}", job.ws)
    from tasks.engine.pipeline import write_outcome

    write_outcome(job.ws, outcome.evolve(status=Status.ROLLED_BACK, verified_at=commit, adopted=(),
                                         adopted_commits=(),
                                         commits=(*outcome.commits, commit),
                                         rolled_back=tuple({"path": p, "commit": commit} for p in outcome.adopted),
                                         record={**outcome.record, "rollback": commit}))
    return commit


def still_rolled_back(job: SliceRun) -> Outcome | None:
    """The earlier outcome, when the slice is rolled back and a person did not ask for it again."""
    earlier = job.earlier
    if earlier is None or earlier.status is not Status.ROLLED_BACK:
        return None
    commit = earlier.record.get("rollback")
    if not commit or commit in readopted(job.ws) or not on_sync_branch(job.cfg, commit):
        return None
    return earlier


def readopt(job: SliceRun) -> list[str]:
    """Stop honouring the slice's rollback; the next ``doit`` reverts it and lands that when it passes."""
    earlier = job.earlier
    commit = earlier.record.get("rollback") if earlier else None
    if not commit or not on_sync_branch(job.cfg, commit):
        raise ForkwaveError(f"{job.name}: it was not rolled back on {job.cfg.fork.sync_branch}; nothing to readopt")
    ignore = sorted({*readopted(job.ws), commit})
    write_if_changed(job.ws.report("readopt.json"), dump_json({"ignore": ignore}))
    return [commit]


def readopt_first(job: SliceRun, env: Mapping[str, str]) -> str | None:
    """A rollback a person asked to undo: the commit that reverts it, on the start (objects only), or None."""
    earlier = job.earlier
    commit = earlier.record.get("rollback") if earlier else None
    if not commit or commit not in readopted(job.ws) or earlier is None or earlier.status is not Status.ROLLED_BACK:
        return None
    if not on_sync_branch(job.cfg, commit):
        return None
    undone = commits.revert_span(job.fork, f"{commit}^", commit, job.start, env=env)
    if not undone.clean:
        raise ForkwaveError(f"{job.name}: its rollback {commit[:12]} cannot be reverted cleanly on "
                            f"{job.cfg.fork.sync_branch} ({', '.join(undone.conflicted_paths[:3])} changed since); "
                            f"revert it by hand (`git revert {commit}`) and run `doit`")
    message = (f"Reapply {job.name} (forkwave readopt)\n\nThis reverts commit {commit}.\n\n"
               f"Forkwave-Readopt: {job.name}\n")
    return commits.commit_tree(job.fork, undone.tree, (job.start,), message, env=dict(env))


# --- a person's resolution of a conflicting commit ------------------------------------------------

def commit_resolution(job: SliceRun, tip: str, culprit: Mapping[str, Any], path: str | None, take: str | None,
                      env: Mapping[str, str], merge_parent: str | None) -> str:
    """The conflicting commit applied with the person's resolution, committed on the branch (compare-and-swap):
    a merge commit (``merge_parent``: the upstream commit) or a pick (None)."""
    if take is not None and take not in ("fork", "upstream"):
        raise ForkwaveError(f"take={take}: expected take=fork or take=upstream")
    sha = culprit["sha"]
    result = commits.merge(job.fork, tip, sha, env=dict(env)) if merge_parent else \
        commits.pick(job.fork, sha, tip, env=dict(env)).result
    if result is None:
        raise ForkwaveError(f"{job.name}: {sha[:10]} changes nothing on {job.cfg.fork.sync_branch} any more; "
                            "run `doit`")
    conflicted = list(result.conflicted_paths)
    if path is not None and path not in conflicted:
        raise ForkwaveError(f"{job.name}: no conflict at {path} (conflicts: {', '.join(conflicted) or 'none'})")
    if path is not None and len(conflicted) > 1:
        raise ForkwaveError(f"{job.name}: a commit is resolved whole: give no path= (or take= for all of "
                            f"{', '.join(conflicted)})")
    changes = [resolution(job, result, p, take, env) for p in conflicted]
    base = commits.commit_tree(job.fork, result.tree, (tip,), "resolution base\n", env=dict(env))
    importer.copy_objects(job.mirror, job.fork, [c.oid for c in changes if c.oid and c.mode != "160000"])
    landing_bring(job, sha, tip)
    tree = importer.build_tree(job.fork, base, changes)
    info = commits.commit_info(job.fork, sha)
    resolved = f"Forkwave-Resolved: {job.name}"
    if merge_parent:
        message = (f"forkwave: merge upstream {info.short} into {job.cfg.fork.sync_branch}, resolved by a person\n\n"
                   f"{info.subject}\n\nUpstream-Revision: {sha}\nForkwave-Slice: {job.name}\n{resolved}\n")
        commit = commits.commit_merge(job.fork, tree, tip, sha, message)
    else:
        commit = commits.commit_pick(job.fork, tree, tip, info, job.cfg.source, trailers=(resolved,))
    worktree.move_sync(job.cfg, commit, tip, f"forkwave: resolve {job.name}", job.ws)
    for p in conflicted:
        slices.drop_conflict_file(job.ws, job.name, p)
    resolutions.record(job.fork, resolutions.resolutions_of(  # made once: the same conflict is settled this way again
        job.fork, result, commit, conflicted, {"slice": job.name, "upstream": sha, "by": f"doit resolve:{job.name}"},
        env=dict(env)))
    return commit


def landing_bring(job: SliceRun, sha: str, tip: str) -> None:
    """The upstream commit and its history the fork lacks, copied before a commit names it as a parent."""
    from tasks.repo import landing

    landing.bring(job.mirror, job.fork, sha, [tip])


def resolution(job: SliceRun, result: commits.TreeMerge, path: str, take: str | None,
               env: Mapping[str, str]) -> Change:
    """One conflicted path as the person resolved it: a side (``take=``) or their edit of the conflict file."""
    stages = next(c for c in result.conflicts if c.path == path)
    if take is not None:
        entry = stages.stage(2 if take == "fork" else 3)
        return Change(path, "resolved", entry[0] if entry else None, entry[1] if entry else None)
    edited = slices.conflicts_dir(job.ws, job.name) / path
    if not edited.is_file():
        raise ForkwaveError(f"{job.name}: {path}: no conflict file to edit ({result.why(path) or 'conflict'}); "
                            f"resolve it with `doit resolve:{job.name} take=fork` (or take=upstream)")
    data = edited.read_bytes()
    if history.has_conflict_markers(data):
        raise ForkwaveError(f"{edited}: still has conflict markers (<<<<<<< / >>>>>>>); finish the edit and run "
                            f"`doit resolve:{job.name}` again")
    ours = stages.stage(2) or stages.stage(3)
    mode = ours[0] if ours and ours[0] in ("100644", "100755") else "100644"
    oid = git.git(job.fork, "hash-object", "-w", "--no-filters", "--stdin", input=data).decode().strip()
    return Change(path, "resolved", mode, oid)
