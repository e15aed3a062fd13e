"""A person closes the loop: resolve a conflict, roll a slice back, or ask for it again.

Every one of these is a commit on the sync branch made in forkwave's private index (never
in the person's checkout), moved by compare-and-swap, and recognised by the next run from
the branch's own history (``tasks.repo.history``), so any clone knows it too:

- ``resolve``: the edited conflict files under ``reports/slices/<slice>/conflicts/`` (or one
  side, ``take=fork|upstream``) committed with a ``Forkwave-Resolved`` trailer; the next run
  finds a person's version there and validates it like any change.
- ``rollback``: the slice's changes reverted (``This reverts commit …`` lines and a
  ``Forkwave-Rollback`` trailer, as ``git revert`` writes them); the next runs leave the slice
  alone until upstream changes its content again.
- ``readopt``: the slice's rollbacks no longer count (recorded in ``reports/readopt.json``);
  the next run imports and validates it again.
"""
from __future__ import annotations

from collections.abc import Sequence

from tasks.repo import git, history, importer, worktree
from tasks.config import Config
from tasks.errors import ForkwaveError
from tasks.repo.importer import Change
from tasks.core.outcome import Outcome, Status
from tasks.engine.pipeline import SliceRun, write_outcome
from tasks.engine.slices import conflicts_dir, drop_conflict_file
from tasks.engine.status import on_sync_branch, readopted, sync_view
from tasks.workspace import Workspace, dump_json, write_if_changed

TAKES = ("fork", "upstream")


def _entry(text: str | None) -> tuple[str, str] | None:
    return None if not text else tuple(text.split(" "))  # type: ignore[return-value]


def _commit(cfg: Config, ws: Workspace, changes: Sequence[Change], message: str, what: str) -> str:
    """One commit on the sync tip with ``changes`` (maybe none: a record only), moved by compare-and-swap."""
    worktree.guard(cfg, ws)
    tip = worktree.sync_tip(cfg)
    if changes:
        commit = importer.build_commit(cfg.fork.path, tip, changes, message)
    else:
        commit = git.git(cfg.fork.path, "commit-tree", git.tree_of(cfg.fork.path, tip), "-p", tip,
                         input=message.encode()).decode().strip()
    worktree.move_sync(cfg, commit, tip, what, ws)
    return commit


# --- resolve ---------------------------------------------------------------------------------

def resolve(job: SliceRun, path: str | None = None, take: str | None = None) -> str:
    """Commit a person's resolution of the slice's conflicts on the sync branch; returns the commit."""
    cfg, ws, name = job.cfg, job.ws, job.name
    outcome = job.earlier
    if take is not None and take not in TAKES:
        raise ForkwaveError(f"take={take}: expected take=fork or take=upstream")
    conflicts = [c for c in (outcome.conflicts if outcome else ()) if path is None or c.path == path]
    if not conflicts:
        known = ", ".join(c.path for c in (outcome.conflicts if outcome else ())) or "none"
        raise ForkwaveError(f"{name}: no conflict{' at ' + path if path else ''} to resolve (conflicts: {known}); "
                            f"see reports/slices/{name}/report.md")
    tip = worktree.sync_tip(cfg)
    done = resolved_since(cfg, outcome, [c.path for c in conflicts], tip)  # type: ignore[arg-type]
    for p in done:  # settled after the run that reported it (an earlier `take=`, a person's commit): no copy left
        drop_conflict_file(ws, name, p)
    conflicts = [c for c in conflicts if c.path not in done]
    if not conflicts:
        return tip  # every conflict asked for is resolved on the sync branch already: the next run validates it
    changes, kept = [], []
    for c in conflicts:
        p = c.path
        if take == "fork":
            kept.append(p)
        elif take == "upstream":
            up = _entry(job.drift.entries.get(p, {}).get("upstream"))
            if up and up[0] != "160000":
                importer.copy_objects(job.mirror, cfg.fork.path, [up[1]])
            changes.append(Change(p, "resolved", up[0] if up else None, up[1] if up else None))
        else:
            changes.append(_edited(cfg, ws, name, p, c.reason, c.file, tip, job.plan.again(name)))
    paths = [c.path for c in conflicts]
    message = (f"forkwave: resolve {', '.join(paths[:5])}{' …' if len(paths) > 5 else ''} of {name} (by a person)\n\n"
               + ("".join(f"Kept the fork's version of {p}.\n" for p in kept) + "\n" if kept else "")
               + f"Forkwave-Resolved: {name}\n" + "".join(f"Forkwave-Kept: {p}\n" for p in kept))
    commit = _commit(cfg, ws, changes, message, f"forkwave: resolve {name}")
    for p in paths:  # the copies a person edited are committed now
        drop_conflict_file(ws, name, p)
    record(job, commit, [c.path for c in changes])
    return commit


def record(job: SliceRun, commit: str, paths: Sequence[str]) -> None:
    """The person's resolutions of both-changed files, recorded in the fork (``tasks.repo.resolutions``): the same
    conflict met again — a rollback re-adopted, a clean workspace, another source — is settled the same way."""
    from tasks.repo import merge, resolutions

    merged = merge.merge_paths(job.mirror, job.cfg.fork.path, job.drift.entries,
                               [p for p in paths if p in job.drift.entries])
    now = git.read_paths(job.cfg.fork.path, commit, [p for p, m in merged.items() if m.conflict])
    resolutions.record(job.cfg.fork.path, [
        resolutions.Resolution(p, merged[p].conflict or b"", data,
                               {"slice": job.name, "by": f"doit resolve:{job.name}"})
        for p, data in now.items() if data is not None])


def resolved_since(cfg: Config, outcome: Outcome, paths: Sequence[str], tip: str) -> dict[str, str]:
    """The conflicts of ``outcome`` a person's commit on the sync branch settled after the run that reported them
    (``doit resolve`` with ``path=``, a commit of their own): path -> that commit."""
    if not outcome.verified_at or outcome.verified_at == tip:
        return {}
    newer = set(git.git(cfg.fork.path, "rev-list", f"{outcome.verified_at}..{tip}", "--").decode().split())
    hist = sync_view(cfg)
    found = {}
    for p in paths:
        last = history.last_change(hist, p)
        if last is not None and not last.automatic and last.sha in newer:
            found[p] = last.sha
    return found


def _edited(cfg: Config, ws: Workspace, name: str, path: str, reason: str, file: str | None, tip: str,
            again: str) -> Change:
    """The person's edit of a conflict file, as a change; an error naming the file if it is not ready."""
    if not file:
        raise ForkwaveError(f"{name}: {path}: {reason} — there is no file to edit; resolve it with "
                            f"`doit resolve:{name} path={path} take=fork` (or take=upstream)")
    edited = conflicts_dir(ws, name) / path
    if not edited.is_file():
        raise ForkwaveError(f"{edited}: missing; run `{again}` to write the conflict again")
    data = edited.read_bytes()
    if history.has_conflict_markers(data):
        raise ForkwaveError(f"{edited}: still has conflict markers (<<<<<<< / >>>>>>>); finish the edit and run "
                            f"`doit resolve:{name}` again")
    entry = importer.tip_entries(cfg.fork.path, tip, [path]).get(path)
    mode = entry[0] if entry and entry[0] in ("100644", "100755") else "100644"
    oid = git.git(cfg.fork.path, "hash-object", "-w", "--no-filters", "--stdin", input=data).decode().strip()
    return Change(path, "resolved", mode, oid)


# --- rollback ------------------------------------------------------------------------------

def rollback(job: SliceRun) -> str:
    """Revert what the slice landed (only its own paths, also from a joint retry's commit); returns the commit."""
    cfg, ws, name = job.cfg, job.ws, job.name
    outcome = job.earlier
    if outcome is not None and outcome.status is Status.ROLLED_BACK and outcome.rolled_back:
        done = outcome.rolled_back[0]["commit"]
        if on_sync_branch(cfg, done):
            raise ForkwaveError(f"{name}: already rolled back in {done[:12]}; `doit readopt:{name}` takes it again")
    commits = [c for c in (outcome.commits if outcome else ()) if on_sync_branch(cfg, c)]
    if not commits:
        raise ForkwaveError(f"{name}: nothing of it is on {cfg.fork.sync_branch} to roll back "
                            f"(see reports/slices/{name}/report.md)")
    own = set(job.slice.paths)
    before: dict[str, tuple[str, str] | None] = {}   # path -> its entry before the slice first changed it
    after: dict[str, tuple[str, str] | None] = {}    # path -> what the slice's last commit left there
    for c in commits:  # oldest first
        for ch in git.diff_trees(cfg.fork.path, git.tree_of(cfg.fork.path, f"{c}^"), git.tree_of(cfg.fork.path, c)):
            if ch.path in own:
                before.setdefault(ch.path, ch.old)
                after[ch.path] = ch.new
    tip = worktree.sync_tip(cfg)
    now = importer.tip_entries(cfg.fork.path, tip, sorted(before))
    undone = history.rollbacks(sync_view(cfg), readopted(ws))  # (path, the entry a revert took away) -> the revert
    rolled = {p: undone[p, history.entry_text(after[p])] for p in before
              if (p, history.entry_text(after[p])) in undone and now.get(p) == before[p]}
    if rolled and len(rolled) == len(before):  # its outcome may say otherwise (a conflict still open): the branch
        done = sorted(set(rolled.values()))      # is the record
        raise ForkwaveError(f"{name}: already rolled back in {', '.join(c[:12] for c in done)}; "
                            f"`doit readopt:{name}` takes it again")
    before = {p: e for p, e in before.items() if p not in rolled}
    moved = sorted(p for p in before if now.get(p) != after[p])
    if moved:
        raise ForkwaveError(f"{name}: {moved[0]} changed on {cfg.fork.sync_branch} after the slice landed it; "
                            f"revert that change first, or revert by hand (reports/slices/{name}/report.md)")
    changes = [Change(p, "rollback", e[0] if e else None, e[1] if e else None) for p, e in sorted(before.items())]
    lines = "".join(f"This reverts commit {c}.\n" for c in reversed(commits))
    message = (f"Revert {name} (forkwave rollback: {len(changes)} file(s))\n\n{lines}\n"
               f"Forkwave-Rollback: {name}\n")
    commit = _commit(cfg, ws, changes, message, f"forkwave: roll back {name}")
    if outcome:  # the slice is settled: rolled back (the next run says the same, from the branch)
        reverts = {**rolled, **dict.fromkeys(before, commit)}
        write_outcome(ws, outcome.evolve(status=Status.ROLLED_BACK,
                                         rolled_back=tuple({"path": p, "commit": c}
                                                           for p, c in sorted(reverts.items()))))
    return commit


# --- readopt -------------------------------------------------------------------------------

def readopt(job: SliceRun) -> list[str]:
    """Stop honouring the rollbacks of the slice's files; returns the reverts now ignored."""
    cfg, ws, name = job.cfg, job.ws, job.name
    own = set(job.slice.paths)
    rolled_back = history.rollbacks(sync_view(cfg), readopted(ws))
    reverts = sorted({sha for (path, _), sha in rolled_back.items() if path in own})
    if not reverts:
        raise ForkwaveError(f"{name}: none of its files was rolled back on {cfg.fork.sync_branch}; nothing to readopt")
    path = ws.report("readopt.json")
    ignore = sorted({*readopted(ws), *reverts})
    write_if_changed(path, dump_json({"ignore": ignore}))
    return reverts

