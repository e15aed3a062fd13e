"""doit actions: thin adapters from a task to the step modules. Expected outcomes are returned."""
from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tasks import exitcodes, faults
from tasks.modes import registry as modes
from tasks.context import LAST_SUCCESS, Context
from tasks.core import classify, coupling
from tasks.core.directions import pull_view
from tasks.core.drift import Drift
from tasks.core.outcome import COMMITS, Outcome
from tasks.core.paths import map_path
from tasks.core.plan import Plan, Slice, combine
from tasks.core.vocabulary import ACTIONABLE
from tasks.engine import pipeline, retry, runlock, slices, status
from tasks.engine.pipeline import SliceRun
from tasks.errors import Failed, ForkwaveError, Held, NotRun, Stopped, user_errors
from tasks.redact import redact_url
from tasks.report import base as basereport
from tasks.report import render, reports
from tasks.repo import basedetect, demo, fetch, git, importer, objects, resolutions, state, treemap, worktree
from tasks.workspace import dump_json, read_json, read_parsed, write_if_changed


@user_errors
def make_demo(ctx: Context) -> bool:
    upstream, fork = demo.materialise(ctx.ws.state / "demo")
    print(f"demo: upstream {upstream}\ndemo: fork     {fork}")
    return True


@user_errors
def do_fetch(ctx: Context) -> bool:
    _locked(ctx)
    faults.point("fetch")
    if ctx.cfg.current.command is not None:  # a command source: its entrypoint writes what the source holds
        from tasks.engine import generate

        generate.fetch(ctx.cfg, ctx.ws, offline=ctx.offline)
    else:
        fetch.fetch(ctx.cfg, ctx.ws, offline=ctx.offline)
    return True


@user_errors
def do_drift(ctx: Context) -> dict[str, Any]:
    upstream = _source_read(ctx, "upstream.json", "fetch")
    _locked(ctx)
    if not ctx.dry:  # a fresh clone: the sync branch (and what it records) is the fork's remote's
        worktree.adopt(ctx.cfg)
    faults.point("drift")
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, upstream["sha"])
    window = None
    if ctx.since_last_success:
        window = last_success_window(ctx, mirror, upstream["sha"])
    elif ctx.since == LAST_SUCCESS:
        print(f"drift{_for(ctx)}: full=1: since=last-success ignored, the ledger is not read")
    elif ctx.since:
        window = {map_path(p, ctx.cfg.map) for p in git.changed_paths(mirror, ctx.since, upstream["sha"])}
    report = modes.mode_of(ctx.cfg).drift(ctx.cfg, mirror, upstream["sha"], choose_bases(ctx, mirror), window)
    if ctx.cfg.current.command is not None:
        report = _command_view(ctx, report)
    write_if_changed(ctx.ws.source_report("drift.json"), dump_json(report))
    write_if_changed(ctx.ws.source_report("drift.md"),
                     render.drift_board(report, redact_url(ctx.cfg.upstream.url), ctx.cfg.deny))
    totals = ", ".join(f"{c} {n}" for c, n in report["totals"].items())
    print(f"drift{_for(ctx)}: {totals}")
    stopped = _drift_gates(ctx, mirror, report) or _watched(ctx, report)
    return stopped or {"fork_head": report["fork"]["sha"]}


def _command_view(ctx: Context, report: dict[str, Any]) -> dict[str, Any]:
    """A command source's drift: its outputs are its own (``directions.command_view``); for one that also pushes,
    a path both sides changed since the last sync is one conflict, and a version it took from the fork counts."""
    from tasks.core.directions import command_view
    from tasks.globs import globs

    entry = ctx.cfg.current.command
    assert entry is not None
    if entry.push_run is None:
        return command_view(report, lambda path: False, {})
    return command_view(report, globs(entry.inputs), sent_state(ctx, ctx.cfg.source))


def _watched(ctx: Context, report: dict[str, Any]) -> Held | None:
    """``fail_on_diff``: upstream work the fork lacks stops the run (exit 2), for a CI job that only watches, as
    ``cruft check`` does. Like a drift gate, the task fails, so doit keeps no state: it is judged every run."""
    if not ctx.watches(ctx.cfg.source):
        return None
    work = classify.upstream_work(report["totals"])
    if not work:
        return None
    names = [s.name for s in ctx.cfg.sources]
    key = (f"sources.{names.index(ctx.cfg.source)}.fail_on_diff ({ctx.cfg.source})" if "sources" in ctx.cfg.raw
           else "fail_on_diff")
    message = (f"fail_on_diff: {ctx.cfg.source} has {work} upstream path{'' if work == 1 else 's'} "
               f"{ctx.cfg.fork.branch} lacks ({ctx.ws.rel(ctx.ws.source_report('drift.md'))}); sync "
               + (f"with `doit fail_on_diff=0` ({key} is true)" if ctx.fail_on_diff is None else
                  "with `doit` (without fail_on_diff=1)"))
    if ctx.dry:
        from tasks.publish import preview

        preview.GATE_TRIPS.setdefault(ctx.cfg.source, []).append(message)
        return None
    return _held(message)


def sent_state(ctx: Context, name: str) -> dict[str, str]:
    """What command source ``name`` holds of the fork's inputs: the ledger's last successful push of it."""
    from tasks.engine import sending
    from tasks.report.ledger import Ledger

    run = runlock.current()
    book = run.ledger if run is not None and run.ledger is not None else Ledger.open(_ledger_folder(ctx))
    try:
        return sending.sent_state(book.last_detail(name, sending.SYNC_TYPE))
    finally:
        if run is None or book is not run.ledger:
            book.close()


def sent_key(ctx: Context) -> str:
    """What drift's up-to-date test compares for a command source that pushes: a digest of what it took."""
    from tasks.hashing import digest

    return digest(sent_state(ctx, ctx.cfg.source))


def _drift_gates(ctx: Context, mirror: Path, report: dict[str, Any]) -> Held | None:
    """Stop right after drift when a ``drift_gates`` limit is exceeded: nothing is planned or sliced (exit 2).

    Exit 2, not 1: the config is valid and the run worked; what it measured needs a person's decision
    (sync more often, upstream the fork's changes, or raise the limit). The task fails, so doit keeps no
    state for it: the gate is judged again on the next run.
    """
    from tasks.engine import driftgates

    trips = driftgates.enforce(ctx.cfg, ctx.ws, mirror, report)
    if ctx.dry:  # the dry-run report says the run would stop here, and still shows the slices
        from tasks.publish import preview

        preview.GATE_TRIPS[ctx.cfg.source] = [t.message for t in trips]
        return None
    if not trips:
        return None
    for trip in trips:
        print(f"forkwave: error: {trip.message}", file=sys.stderr)
    where = ctx.ws.rel(ctx.ws.source_report(driftgates.RECORD))
    return Held(f"{trips[0].message} ({where})")


@user_errors
def do_pre(ctx: Context) -> Any:
    """``pre:`` on the fork tip, before anything is imported."""
    from tasks.engine import verify

    _locked(ctx, fork=False)
    tip = verify.fork_tip(ctx.cfg)
    record = verify.run_phase(ctx.cfg, ctx.ws, "pre", ctx.cfg.pre, tip)
    return _phase_done("pre", record) or {"fork_head": tip}


@user_errors
def do_post(ctx: Context) -> Any:
    """``post:`` on the sync tip, after the run."""
    from tasks.engine import verify

    _locked(ctx, fork=True)
    faults.point("post")
    tip = verify.sync_tip(ctx.cfg)
    if tip is None:
        print(f"post: {ctx.cfg.fork.sync_branch} does not exist yet: nothing to check")
        return True
    return _phase_done("post", verify.run_phase(ctx.cfg, ctx.ws, "post", ctx.cfg.post, tip)) or True


def _phase_done(phase: str, record: dict[str, Any], where: str = "") -> Failed | None:
    """Print a phase's verdicts; its failure (one line, the exit code ``verify.failure`` gives), if any."""
    from tasks.engine import verify

    for line in verify.say(phase, record, where):
        print(line, flush=True)
    failed = verify.failure(phase, record)
    if failed is None:
        return None
    message, code = failed
    print(f"forkwave: error: {message}", file=sys.stderr)
    if code == exitcodes.FAILURE:  # a command that cannot run: the run's error (work left for a person is not)
        runlock.mark_failed(message)
    return Held(message) if code == exitcodes.PERSON else Failed(message, code)


def last_successes(ctx: Context) -> dict[str, Any]:
    """Per wave, where the source's last successful sync of it ended: ``{"a": {"revision", "ended"}}``, None
    for a wave with no success yet (a run of an earlier forkwave, imported from history.jsonl, counts for all)."""
    from tasks.report.ledger import LEGACY_SYNC_TYPE, Ledger

    run = runlock.current()
    book = run.ledger if run is not None and run.ledger is not None else Ledger.open(_ledger_folder(ctx))
    try:
        found = {}
        for wave in ctx.cfg.waves:
            last = (book.last_success(ctx.cfg.source, runlock.sync_type(wave.name))
                    or book.last_success(ctx.cfg.source, LEGACY_SYNC_TYPE))
            found[wave.name] = None if last is None else {"revision": last.revision, "ended": last.ended}
        return found
    finally:
        if run is None or book is not run.ledger:
            book.close()


def _ledger_folder(ctx: Context) -> Path:
    """Where to open the ledger to read it: ``reports/``; a dry run reads a copy (opening may migrate or import)."""
    if not ctx.dry:
        return ctx.ws.reports
    import shutil

    from tasks.report.ledger import LEDGER

    copy = ctx.ws.computed_reports / "ledger"
    copy.mkdir(parents=True, exist_ok=True)
    for name in (LEDGER, f"{LEDGER}-wal"):  # the database and its write-ahead log (the run holds the lock: no writer)
        if (ctx.ws.reports / name).exists():
            shutil.copyfile(ctx.ws.reports / name, copy / name)
        else:
            (copy / name).unlink(missing_ok=True)
    return copy


def last_success_window(ctx: Context, mirror: Path, tip: str) -> set[str] | None:
    """``since=last-success``: the paths upstream changed after each wave's last successful sync (None: all).

    From the upstream revision that sync reached (``git diff rev tip``: only newer upstream commits),
    else from its end time; a wave never synced successfully, or a revision the mirror lacks (upstream
    rewrote its history), compares everything, and says so.
    """
    starts = last_successes(ctx)
    missing = [w for w, last in starts.items() if last is None]
    if missing:
        print(f"drift{_for(ctx)}: since=last-success: no successful sync of wave {', '.join(missing)} in the ledger "
              "yet; comparing everything")
        return None
    revisions = sorted({last["revision"] or last["ended"] for last in starts.values()})
    gone = [p for p in revisions if len(p) == 40 and not git.rev_parse(mirror, f"{p}^{{commit}}")]
    if gone:
        print(f"drift{_for(ctx)}: since=last-success: upstream no longer has {gone[0][:12]} (its history was "
              "rewritten); comparing everything")
        return None
    window: set[str] = set()
    for point in revisions:
        window |= {map_path(p, ctx.cfg.map) for p in git.changed_paths(mirror, point, tip)}
    print(f"drift{_for(ctx)}: since=last-success: upstream changes after {', '.join(p[:12] for p in revisions)} "
          f"({len(window)} paths)")
    return window


def since_key(ctx: Context) -> Any:
    """What drift's up-to-date test compares for ``since=``: the text, or for last-success the ledger's starts."""
    return last_successes(ctx) if ctx.since_last_success else ctx.since


def _for(ctx: Context) -> str:
    """`` web`` in messages when there are several sources."""
    return f" {ctx.cfg.source}" if ctx.cfg.several else ""


def _several(ctx: Context) -> str | None:
    """The source's name where several share one record (the state file), else None."""
    return ctx.cfg.source if ctx.cfg.several else None


def choose_bases(ctx: Context, mirror: Path) -> classify.Bases | None:
    """config ``base`` (None: ``drift.compute`` resolves it with the trees, in one git call), else the
    state recorded in the fork (unless ``full=1``), else the detected one."""
    cfg = ctx.cfg
    if cfg.base is not None:
        return None
    detected_path = ctx.ws.source_report("base.json")
    detected = read_json(detected_path)["best"]["sha"] if detected_path.exists() else None
    recorded = {} if ctx.full else state.groups(state.read(cfg), _several(ctx))
    known = git.resolve_many(mirror, [f"{sha}^{{commit}}" for sha in recorded.values()])
    recorded = {w: sha for (w, sha), ok in zip(recorded.items(), known) if ok}
    if recorded:
        return classify.Bases("state", detected, recorded, rev=f"recorded in {state.STATE_PATH}")
    if detected:
        return classify.Bases("detected", detected, rev="detected by content (reports/base.md)")
    return classify.Bases("none")


@user_errors
def do_base(ctx: Context) -> dict[str, Any]:
    upstream = _source_read(ctx, "upstream.json", "fetch")
    _locked(ctx)
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, upstream["sha"])
    report = basedetect.detect(ctx.cfg, mirror, upstream["sha"])
    basereport.write_reports(ctx.ws.source_reports, report)
    return {"fork_head": report["fork"]["sha"]}


@user_errors
def do_plan(ctx: Context) -> bool:
    _locked(ctx)
    plans = []
    for name in ctx.fetched:
        c = ctx.for_source(name)
        report = _source_read(c, "drift.json", f"drift:{name}" if ctx.cfg.several else "drift")
        report = pull_view(report, ctx.direction_of(name))  # push: nothing pulled; both: no two-sided path
        batch = dataclasses.replace(c.cfg, max_files=ctx.max_files, max_commits=ctx.max_commits)  # batch_size=N
        plans.append((name, modes.mode_of(c.cfg).plan(batch, report, lambda: upstream_history(c, report))))
    if ctx.cfg.several:
        owners: dict[str, str] = {}
        shared = {s.name for s in ctx.cfg.sources if not modes.mode_named(s.mode).own_branch}  # a branch of its own
        for name, p in plans:
            for f in (f for s in p.slices for f in s.files if name in shared):
                if f.path in owners:
                    raise ForkwaveError(f"{ctx.cfg.file}: sources {owners[f.path]!r} and {name!r} both own {f.path}; "
                                        "give each source paths of its own (sources.<n>.paths)")
                owners[f.path] = name
    plan = combine(plans, ctx.cfg.waves) if ctx.cfg.several or not plans else plans[0][1]
    plan = dataclasses.replace(plan, batch_size=ctx.batch_size)  # the commands it prints carry batch_size=
    write_if_changed(ctx.ws.report("plan.json"), dump_json(plan.to_json()))
    for name in ctx.fetched if ctx.cfg.several else ():  # each source's own part: what publish reads of it later,
        c = ctx.for_source(name)                          # when another schedule's run has planned only its own
        write_if_changed(c.ws.source_report("plan.json"), dump_json(plan.of_source(name).to_json()))
    for wave, names in plan.waves:
        write_if_changed(ctx.ws.report(f"wave-{wave}.md"), render.wave_manifest(plan, wave))
        print(f"plan: wave {wave}: {len(names)} slices")
    if plan.unassigned:
        print(f"plan: {len(plan.unassigned)} actionable paths match no wave (listed in plan.json 'unassigned')")
    return True


def upstream_history(ctx: Context, report: Mapping[str, Any]) -> list[coupling.Commit]:
    """The upstream first-parent commits since each base of the drift (none without a base), for co-change.

    One ``git log`` per distinct base (usually one): a commit's files couple only paths compared
    against a base it is newer than.
    """
    bases = coupling.bases_of(report)
    if not bases or not any(e["class"] in ACTIONABLE for e in report["entries"].values()):
        return []
    tip = report["upstream"]["sha"]
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, tip)
    return coupling.history({b: git.first_parent_paths(mirror, tip, b) for b in bases}, ctx.cfg.map)


def _read(ctx: Context, name: str, task: str) -> Any:
    path = ctx.ws.report(name)
    if not path.exists():
        raise ForkwaveError(f"{path} is missing; run `doit {task}` first")
    return read_json(path)


def _source_read(ctx: Context, name: str, task: str) -> Any:
    """One of the source's own reports (``drift.json``...)."""
    path = ctx.ws.source_report(name)
    if not path.exists():
        raise ForkwaveError(f"{path} is missing; run `doit {task}{':' + ctx.cfg.source if ctx.cfg.several else ''}` "
                            "first")
    return read_json(path)


def read_plan(ctx: Context) -> Plan:
    """The plan, typed (parsed once while the file stays the same: every slice of a run reads it)."""
    if not ctx.ws.report("plan.json").exists():
        _read(ctx, "plan.json", "plan")
    return read_parsed(ctx.ws.report("plan.json"), Plan.from_json)


def read_drift(ctx: Context) -> Drift:
    """The source's drift, typed (parsed once while the file stays the same)."""
    path = ctx.ws.source_report("drift.json")
    if not path.exists():
        _source_read(ctx, "drift.json", "drift")
    return read_parsed(path, Drift.from_json)


def slice_view(ctx: Context, plan: Plan, name: str) -> tuple[Context, Plan, Drift, Slice]:
    """(the context of the slice's source, the plan as that source sees it, its drift, the slice)."""
    slice_ = plan.slice(name)
    c = ctx.for_source(slice_.source or ctx.sources[0])
    return c, plan.view(slice_), read_drift(c), slice_


def job_for(ctx: Context, plan: Plan, name: str, run_id: str = "run") -> tuple[Context, SliceRun, modes.Mode]:
    """One slice's run context and its mode: what the pipeline and a person's commands take."""
    c, view, drift_report, slice_ = slice_view(ctx, plan, name)
    return c, SliceRun(c.cfg, c.ws, c.ws.mirror, view, drift_report, slice_, run_id), modes.mode_of(c.cfg)


# --- slices and waves ---------------------------------------------------------------

def _locked(ctx: Context, fork: bool = True) -> runlock.Run:
    """The run's workspace lock and the fork's own (two workspaces syncing one fork are refused up
    front, not at the compare-and-swap); the first time, moves an interrupted run made are
    reconciled with the outcome files."""
    path = ctx.ws.report("upstream.json")
    if ctx.dry:
        runlock.dry_run()  # before the lock records anything: a dry run is in no ledger
    run = runlock.acquire(ctx.ws, read_json(path)["sha"] if path.exists() else None)
    run.targets = run.targets or ctx.pulled  # the sources this run pulls (a source's view keeps the selection)
    if ctx.cfg.fork.path.is_dir():  # what the run writes in the fork goes to a private object directory first
        objects.start(ctx.ws.state, ctx.cfg.fork.path, worktree.path_for(ctx.ws))
        _shared_resolutions(ctx)
    if fork and run.fork_lock is None and not ctx.dry:  # reconciling may move the sync branch: never in a dry run
        runlock.lock_fork(run, ctx.cfg.fork.path)
        if run.fork_lock is not None:
            slices.reconcile(ctx.cfg, ctx.ws)
    return run


_FETCHED: list[str] = []


def _shared_resolutions(ctx: Context) -> None:
    """Once a run: the resolutions recorded on the fork's remote (``worktree.fork_remote``), so a fresh clone or a
    CI job replays what a person resolved elsewhere (not with ``offline=1``, nor in a dry run)."""
    fork = str(ctx.cfg.fork.path)
    if ctx.offline or ctx.dry or fork in _FETCHED:
        return
    _FETCHED.append(fork)
    remote = worktree.fork_remote(ctx.cfg)
    if remote is not None:
        resolutions.fetch(ctx.cfg.fork.path, remote)


def _where(ctx: Context, slice_: Slice, plan: Plan) -> dict[str, Any]:
    """The ledger row a slice counts in: its source, its wave, the upstream revision it is synced to."""
    return {"source": slice_.source or ctx.cfg.source, "wave": slice_.wave, "revision": plan.revision(slice_)}


def _close_wave(ctx: Context, run: runlock.Run, plan: Plan, wave: str, loaded: dict[str, Outcome | None]) -> None:
    """The wave ended: each source's row of it counts the wave's slices as they stand, and closes; a source
    with nothing in the wave synced it too (a success at its revision: since=last-success starts there)."""
    def revision(source: str) -> str:
        return plan.sources[source] if ctx.cfg.several else plan.upstream

    for name, outcome in loaded.items():
        source = plan.slice(name).source or ctx.sources[0]
        run.sync(source, runlock.sync_type(wave), revision(source))
        if outcome:
            run.record(name, outcome, source=source, wave=wave, revision=revision(source))
    for source in ctx.pulled:  # a source that only pushes has no wave to sync
        run.sync(source, runlock.sync_type(wave), revision(source))
    for source, kind in list(run.syncs):  # rows of earlier waves a joint retry re-opened close too
        run.close(source, kind)


@user_errors
def do_import(ctx: Context, name: str) -> bool:
    """Write the slice's import manifest: its files with upstream/fork entries, and its upstream commits (a
    commit slice: exactly the commits it holds; a file slice: those that touched its files since the base)."""
    ctx, plan, drift_report, slice_ = slice_view(ctx, read_plan(ctx), name)
    entries = drift_report.entries
    since = drift_report.base_for(slice_.wave)
    if slice_.commits:
        offered = drift_report.by_sha()
        listed = [{"sha": s, "author": offered.get(s, {}).get("author", ""),
                   "subject": offered.get(s, {}).get("subject", "")} for s in slice_.commits]
    else:
        mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, plan.upstream)
        upstream_paths = sorted({treemap.upstream_path(entries[f.path].get("renamed_from", f.path), ctx.cfg.map)
                                 for f in slice_.files})
        upstream_paths = [p for p in upstream_paths if importer.check_path(p) is None]  # `..` is no pathspec
        found = git.log_touching(mirror, [f"{since}..{plan.upstream}" if since else plan.upstream], upstream_paths)
        listed = [{"sha": c.sha, "author": c.author, "subject": c.subject} for c in found]
    manifest = {"slice": name, "wave": slice_.wave, **({"source": ctx.cfg.source} if ctx.cfg.several else {}),
                "upstream": plan.upstream, "since": since,
                "files": [{**f.to_json(), **{k: entries.get(f.path, {}).get(k)
                                             for k in ("upstream", "fork", "base", "renamed_from")}}
                          for f in slice_.files],
                "commits": listed}
    # made again from plan.json and drift.json whenever it is missing or stale: no fsync
    write_if_changed(status.slice_dir(ctx.ws, name) / "import.json", dump_json(manifest), durable=False)
    return True


# --- one error every slice would meet stops them all, said once ---------------------------------

_STOP: list[Stopped] = []  # the run-wide error that stopped this run's slices (the first one)


def run_wide(action: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a slice step (the batch, a slice, a wave's joint retry): the first run-wide error
    (``ForkwaveError.run_wide``: a check that cannot run, the sync branch checked out in a person's worktree,
    a lock another run holds) is printed once and stops the run; every later step then does nothing and says
    nothing — each slice would only have met the same error."""
    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _STOP:
            return NotRun(f"not run: {_STOP[0].message}", _STOP[0].exit_code)
        try:
            return action(*args, **kwargs)
        except ForkwaveError as exc:
            if not exc.run_wide:
                raise
            return stop_run(str(exc), exc.exit_code)

    return wrapper


def stop_run(message: str, code: int) -> Stopped:
    """The run's slices stop here: the error once on stderr, the run failed in the ledger."""
    print(f"forkwave: error: {message}", file=sys.stderr, flush=True)
    runlock.mark_failed(message)
    _STOP.append(Stopped(message, code))
    return _STOP[0]


def preconditions(ctx: Context, plan: Plan, names: list[str]) -> None:
    """What every slice of the run needs, checked once before any of them: no person's worktree has a sync
    branch they land on checked out (``worktree.guard``; the pipeline asks again before each move)."""
    seen: set[tuple[Path, str]] = set()
    for name in names:
        c = ctx.for_source(plan.slice(name).source or ctx.sources[0])
        if (c.cfg.fork.path, c.cfg.fork.sync_branch) not in seen:
            seen.add((c.cfg.fork.path, c.cfg.fork.sync_branch))
            worktree.guard(c.cfg, c.ws)


@user_errors
@run_wide
def do_batch(ctx: Context, waves: list[str], names: list[str]) -> Any:
    """Before any slice of the run (``names``): its preconditions, then the union of its file slices in
    ``waves`` judged once (``tasks.engine.batch``; no waves: ``batch: false``, or only slices named)."""
    from tasks.engine import batch

    run = _locked(ctx, fork=True)
    plan = read_plan(ctx)
    preconditions(ctx, plan, names)
    members, mixed = [], []
    for name in (n for w in waves for n in plan.members(w)):
        c, job, mode = job_for(ctx, plan, name, run.id)
        if mode.own_branch:
            continue  # its own branch, its own chain judged first
        if not mode.file_slices:
            mixed.append(name)
            continue
        members.append(batch.Member(c.cfg, fetch.ensure_commit(c.cfg, c.ws, job.upstream), job.plan, job.drift,
                                    job.slice))
    if mixed:
        print(f"batch: not used: {', '.join(mixed[:3])}{' …' if len(mixed) > 3 else ''} land commits on "
              f"{ctx.cfg.fork.sync_branch} too, so each slice is judged on its own")
        return True
    if not members:
        return True
    first = members[0].slice.wave
    for m in (m for m in members if m.slice.wave == first):  # `running` before any check, as a slice opens it;
        where = _where(ctx, m.slice, m.plan)                   # a later wave's row opens when that wave starts
        run.sync(where["source"], runlock.sync_type(where["wave"]), where["revision"])
    record = batch.run(ctx.cfg, ctx.ws, members, run.id, last=plan.waves[-1][0] in waves,
                       fanout=_flag("fanout"))
    reports.write_batch(ctx.ws, record)
    return True


@user_errors
@run_wide
def do_validate(ctx: Context, name: str, position: str) -> Any:
    run = _locked(ctx, fork=True)
    whole = read_plan(ctx)
    c, job, mode = job_for(ctx, whole, name, run.id)
    fork, sync = str(c.cfg.fork.path), c.cfg.fork.sync_branch
    where = _where(c, job.slice, job.plan)
    same = status.unchanged(c.cfg, c.ws, job.plan, name, lambda: mode.inputs(job))
    if same:  # adopted already (maybe by a run killed before doit saved it), or waiting for a person
        reports.write_slice(c.ws, same, fork, sync)
        run.record(name, same, **where)
        if same.status.settled:
            print(f"[{position}] {name}: {same.status} already (at {same.verified_at[:12]}, same checks); "
                  f"nothing to do", flush=True)
            return True
        print(f"[{position}] {name}: {same.status} — unchanged since run {same.run or '?'} (same upstream, fork, "
              f"checks and sync branch); nothing to run (reports/slices/{name}/report.md)", flush=True)
        return True  # work left for a person: the outcome says so, and the exit code (2) comes from it
    job.mirror = fetch.ensure_commit(c.cfg, c.ws, job.upstream)
    print(f"[{position}] {name}: {plural_of(job)} ...", flush=True)
    run.sync(where["source"], runlock.sync_type(where["wave"]), where["revision"])  # `running` before any check
    started = time.monotonic()
    outcome = pipeline.run(mode, job)
    reports.write_slice(c.ws, outcome, fork, sync)
    if _refresh_due(outcome):
        reports.write_wave(c.ws, outcome.wave, list(whole.members(outcome.wave)), fork, sync)
        _write_summary(ctx, whole)
    run.record(name, outcome, **where)
    if outcome.error:  # a check that cannot run: every later slice would meet it too
        print(f"[{position}] {name}: error (reports/slices/{name}/report.md)", flush=True)
        return stop_run(outcome.error, exitcodes.FAILURE)
    print(f"[{position}] {name}: {outcome.status} — {outcome.counts().line()}, {outcome.runs} runs, "
          f"{time.monotonic() - started:.1f} s (reports/slices/{name}/report.md)", flush=True)
    # work left for a person is no failure of the task: its wave must still run (the joint retry may land
    # it); the run's exit code (2) comes from the outcome (tasks.cli)
    return True


REFRESH_SECONDS = 2.0   # a run of ranges that only wait does not rewrite the wave report after each one
_REFRESHED: list[float] = []


def _refresh_due(outcome: Outcome) -> bool:
    """Refresh the wave report and summary after this slice? After any that ran a check or landed, the first of a
    process, and otherwise every ``REFRESH_SECONDS``: rewriting a report of n slices after each of n slices
    that merely wait costs n², and the wave task writes it whole when the wave ends."""
    now = time.monotonic()
    if _REFRESHED and not (outcome.runs or outcome.commit) and now - _REFRESHED[-1] < REFRESH_SECONDS:
        return False
    _REFRESHED.append(now)
    return True


def plural_of(job: SliceRun) -> str:
    """``12 files`` or ``20 commits``: what the slice holds, in its unit."""
    n = len(job.slice.commits) if job.slice.commits else len(job.slice.files)
    unit = COMMITS if job.slice.commits else "files"
    return f"{n} {unit[:-1] if n == 1 else unit}"


@user_errors
@run_wide
def do_wave(ctx: Context, wave: str, closing: bool = False) -> Any:
    """The wave ends (its joint retry, its reports, its ledger rows); ``closing``: the last wave this run
    reaches (``tasks.cli.closing_wave``), after which each source's whole ``verify:`` runs."""
    faults.point("wave")
    done = _wave(ctx, wave)
    verified = _verify_after(ctx, wave, closing) if done is True else done
    faults.point("wave-end")  # between this wave and the next
    return verified


def _verify_after(ctx: Context, wave: str, closing: bool) -> Any:
    """Each pulled source's ``verify:`` on the sync tip: every command after the last wave this run reaches
    (``closing``: it judges what the run finished, not a half-synced tree), the ``when: each_wave`` ones after
    every wave. A failure says which source, which number it read and which bound it missed,
    once; it holds that source's publishing (``verify.publish_holds``) and the run (exit 2)."""
    from tasks.engine import verify

    run, plan = runlock.current(), read_plan(ctx)
    held: list[str] = []
    broken: list[str] = []
    for source in ctx.pulled:
        c = ctx.for_source(source)
        commands = [x for x in c.cfg.current.verify if closing or x.when == verify.EACH_WAVE]
        if not commands:
            continue
        runlock.enter(f"verify {source}")
        faults.point("verify")
        record = verify.verify_source(c.cfg, c.ws, wave, commands)
        if record is None:
            continue
        for line in verify.say("verify", record, f" {source}" if ctx.cfg.several else ""):
            print(line, flush=True)
        failed = verify.failure("verify", record)
        message = None
        if failed is not None:
            message = f"verification failed for {source}: {failed[0]}"
            print(f"forkwave: error: {message}", file=sys.stderr, flush=True)
            (broken if failed[1] == exitcodes.FAILURE else held).append(message)
        if run is not None:
            run.verified(source, record["results"], plan.sources[source] if ctx.cfg.several else plan.upstream,
                         message)
    if broken:  # a command that cannot run: an error of the run, not work for a person
        runlock.mark_failed(broken[0])
        return Failed("; ".join(broken + held), exitcodes.FAILURE)
    return Held("; ".join(held)) if held else True


def _write_summary(ctx: Context, plan: Plan) -> dict[str, Any]:
    """``summary.json``: ``running`` while this run writes it, with each source's verification on the tip."""
    from tasks.engine import verify

    run = runlock.current()
    state = verify.standing(ctx.pulled_views())
    checked = {s: (all(r["passed"] for r in state[s]) if s in state else None)
               for s in ctx.pulled if ctx.for_source(s).cfg.current.verify}
    return reports.write_summary(ctx.ws, plan, run=run.id if run is not None and runlock.recorded() else None,
                                 verification=checked)


def _retry(ctx: Context, run: runlock.Run, plan: Plan, wave: str) -> None:
    """Each file-slice source's deferrals of the wave (and the ones before) retried together on its upstream."""
    for source in ctx.sources:
        c = ctx.for_source(source)
        only = source if ctx.cfg.several else None
        if not modes.mode_of(c.cfg).joint_retry or not retry.deferred_so_far(ctx.ws, plan, wave, only):
            continue
        view = Plan.from_json({**plan.to_json(), "upstream": plan.sources[source]}) if only else plan
        mirror = fetch.ensure_commit(c.cfg, c.ws, view.upstream)
        record = retry.retry(c.cfg, c.ws, mirror, view, read_drift(c),
                             wave, run_id=run.id, source=only)  # a check that cannot run stops the run (run_wide)
        if record is None:
            continue
        for name, files in record.get("by_slice", {}).items():
            if files and record.get("run") == run.id:
                outcome = status.read_outcome(ctx.ws, name)
                if outcome:
                    run.record(name, outcome, **_where(c, plan.slice(name), view))
                    reports.write_slice(ctx.ws, outcome, str(ctx.cfg.fork.path), ctx.cfg.fork.sync_branch)


def _wave(ctx: Context, wave: str) -> Any:
    run = _locked(ctx, fork=True)
    plan = read_plan(ctx)
    names = list(plan.members(wave))
    fork, sync = str(ctx.cfg.fork.path), ctx.cfg.fork.sync_branch
    _retry(ctx, run, plan, wave)
    for w, _ in plan.waves:  # a retry may have landed files of earlier waves too
        reports.write_wave(ctx.ws, w, list(plan.members(w)), fork, sync, disk=w == wave)
    loaded = reports.load_outcomes(ctx.ws, names)
    _write_summary(ctx, plan)
    _close_wave(ctx, run, plan, wave, loaded)
    left = [n for n, o in loaded.items() if o is None or not o.status.settled]
    print(f"wave {wave}: {len(names) - len(left)}/{len(names)} slices settled (reports/wave-{wave}/report.md)")
    if left:  # the outcomes say what is left; the exit code (2) comes from them
        return True
    if ctx.since:  # paths upstream changed before `since` were never looked at: not synced to this revision
        print(f"wave {wave}: landed, but not recorded in {state.STATE_PATH}: since= narrowed the drift")
        return True
    if any(o is not None and str(o.status) == "rolled-back" for o in loaded.values()):
        print(f"wave {wave}: landed with rolled-back slices; not recorded in {state.STATE_PATH}")
        return True
    in_wave = {plan.slice(n).source or ctx.sources[0] for n in names}
    for source in (s for s in ctx.sources if s in in_wave):
        c = ctx.for_source(source)
        revision = plan.sources[source] if ctx.cfg.several else plan.upstream
        waiting = _two_sided(ctx, c)
        if waiting:  # recording would make the source's side the base: the conflict would turn into a fork change
            print(f"wave {wave}: landed; {source} not recorded in {state.STATE_PATH}: {len(waiting)} path"
                  f"{'' if len(waiting) == 1 else 's'} changed on both sides wait ({', '.join(waiting[:3])})")
            continue
        if modes.mode_of(c.cfg).record(c.cfg, ctx.ws, wave, revision, redact_url(c.cfg.raw["upstream"]["url"]),
                                      _several(c)):
            print(f"wave {wave}: landed; recorded {source} {revision[:12]} in {state.STATE_PATH} "
                  f"on {ctx.cfg.fork.sync_branch}")
    return True


def _two_sided(ctx: Context, c: Context) -> list[str]:
    """A command source going both ways in this run: the paths its drift holds as changed on both sides."""
    from tasks.core.directions import TWO_SIDED

    entry = c.cfg.current.command
    if entry is None or entry.push_run is None or ctx.direction_of(c.cfg.source) != "both":
        return []
    report = _source_read(c, "drift.json", "drift")
    return sorted(p for p, e in report["entries"].items() if e["class"] == TWO_SIDED)


# --- a person closes the loop ----------------------------------------------------------

def _var(name: str) -> str | None:
    from doit import get_var

    return get_var(name) or None


def _flag(name: str) -> bool:
    return (_var(name) or "").strip().lower() in {"1", "true", "yes", "on"}


def _person_job(ctx: Context, name: str) -> tuple[Context, SliceRun, modes.Mode]:
    """The slice's run context for a person's command: the sync tip now and its last outcome."""
    from tasks.repo import worktree

    c, job, mode = job_for(ctx, plan_naming(ctx, name), name)
    job.mirror = fetch.ensure_commit(c.cfg, c.ws, job.upstream)
    job.start = worktree.sync_tip(c.cfg)
    job.earlier = status.read_outcome(c.ws, name)
    return c, job, mode


def plan_naming(ctx: Context, name: str) -> Plan:
    """The plan that names slice ``name``: the last run's, else (several sources) the last plan of the source it
    belongs to — a run of another CI schedule planned only its own sources."""
    whole = read_plan(ctx)
    if not ctx.cfg.several or any(s.name == name for s in whole.slices):
        return whole
    for source in ctx.cfg.sources:
        own = ctx.for_source(source.name).ws.source_report("plan.json")
        part = Plan.from_json(read_json(own)) if own.exists() else None
        if part is not None and any(s.name == name for s in part.slices):
            return part
    return whole  # its error names the slices it has


@user_errors
def do_resolve(ctx: Context, name: str) -> bool:
    runlock.unrecorded()  # a person's command is no run
    _locked(ctx, fork=True)
    c, job, mode = _person_job(ctx, name)
    commit = mode.resolve(job, _var("path"), _var("take"))
    if commit == job.start:
        print(f"{name}: your resolution is on {c.cfg.fork.sync_branch} already ({commit[:12]}); run `doit` to "
              "validate it and go on")
    else:
        print(f"{name}: resolution committed on {c.cfg.fork.sync_branch} as {commit[:12]}; run `doit` to validate it")
    return True


@user_errors
def do_rollback(ctx: Context, name: str) -> bool:
    runlock.unrecorded()  # a person's command is no run
    _locked(ctx, fork=True)
    c, job, mode = _person_job(ctx, name)
    commit = mode.rollback(job)
    outcome = status.read_outcome(c.ws, name)
    if outcome:
        reports.write_slice(c.ws, outcome, str(c.cfg.fork.path), c.cfg.fork.sync_branch)
    print(f"{name}: rolled back on {c.cfg.fork.sync_branch} in {commit[:12]}; later runs leave it alone until "
          f"upstream changes it (`doit readopt:{name}` to take it again)")
    return True


@user_errors
def do_readopt(ctx: Context, name: str) -> bool:
    runlock.unrecorded()  # a person's command is no run
    _locked(ctx, fork=True)
    _, job, mode = _person_job(ctx, name)
    reverts = mode.readopt(job)
    print(f"{name}: its rollback ({', '.join(r[:12] for r in reverts)}) no longer counts; the next `doit` imports "
          "and validates it again")
    return True


PERSON_ACTIONS = {"resolve": do_resolve, "rollback": do_rollback, "readopt": do_readopt}


@user_errors
def do_report(ctx: Context) -> dict[str, Any]:
    plan = read_plan(ctx)
    for w, names in plan.waves:
        reports.write_wave(ctx.ws, w, list(names), str(ctx.cfg.fork.path), ctx.cfg.fork.sync_branch)
    _write_summary(ctx, plan)
    from tasks.report import dashboard

    dashboard.write(ctx.ws)
    print(f"report: reports/summary.json, {len(plan.waves)} wave reports and the dashboard "
          f"(reports/{dashboard.PAGE}, reports/{dashboard.MARKDOWN}) written")
    return {"digest": outcomes_digest(ctx)}


@user_errors
def do_publish(ctx: Context) -> bool:
    """Push the sync branch, open or update its pull request, automerge by risk (``tasks.publish``)."""
    from tasks.engine import verify
    from tasks.publish import contrib, run  # its forge libraries load only when a forge is used

    _locked(ctx, fork=True)  # nothing may move the sync branch while it is pushed
    faults.point("publish")
    # what this run was asked for: `doit publish sources=web` (one CI schedule) publishes what that run synced
    chosen = tuple(ctx.sources) if ctx.selected is not None else None
    try:
        _, held = run.publish(ctx.cfg, ctx.ws, selected=tuple(ctx.pulled) if chosen else None)
    except verify.PublishHeld:   # held whole (a post-sync check failed): the dashboard issue says so
        _dashboard_issue(ctx)
        raise
    _, refused = contrib.push_exports(ctx.cfg, ctx.ws, tuple(ctx.pushed) if chosen else None)  # to each push_url
    failed = _push_commands(ctx, chosen)
    _dashboard_issue(ctx)
    holds = _publish_holds(ctx, held, refused, chosen)
    if failed:  # an entrypoint that failed: nothing recorded as sent, the next publish sends it again (exit 3)
        for line in failed:
            print(f"forkwave: error: publish: {line}", file=sys.stderr)
        runlock.mark_failed(f"publish: {failed[0]}")
        return Failed(f"publish: {failed[0]}" + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
                      exitcodes.FAILURE)
    return holds


def _push_commands(ctx: Context, chosen: tuple[str, ...] | None) -> list[str]:
    """Each command source that pushes (of this run's selection) gives ``push_run`` the fork's changed inputs."""
    from tasks.publish import entrypoints

    names = [n for n in (ctx.pushed if chosen else [s.name for s in ctx.cfg.sources])
             if (src := next(s for s in ctx.cfg.sources if s.name == n)).command is not None and src.command.push_run]
    return entrypoints.push_commands(ctx.cfg, ctx.ws, names, lambda n: sent_state(ctx, n),
                                     {n for n in names if _takes_fork_side(ctx, n)})


def _takes_fork_side(ctx: Context, name: str) -> bool:
    """``direction=push`` on a command source that goes both ways: a person chose the fork's side of its conflicts."""
    return ctx.direction_of(name) == "push" and next(s for s in ctx.cfg.sources if s.name == name).direction == "both"


def _dashboard_issue(ctx: Context) -> None:
    """The sync dashboard issue (``tasks.publish.issue``), from the dashboard as this publish leaves it."""
    from tasks.publish import issue
    from tasks.report import dashboard

    dashboard.write(ctx.ws)   # with what this publish held
    said = issue.publish(ctx.cfg, ctx.ws, os.environ)
    if said:
        print(said)


def _publish_holds(ctx: Context, held: dict[str, str], refused: list[str], chosen: tuple[str, ...] | None) -> Any:
    """Each source held by this publish, named once: the sources it was asked for make it exit 2 (work for a
    person); another schedule's only get a note (its own job reports them, and its part waits in the draft)."""
    mine = {n: why for n, why in held.items() if chosen is None or n in chosen}
    for name, why in held.items():
        if name not in mine:
            print(f"publish: note: {name} (not asked for in this run): {why}")
    lines = [f"publish: {name}: {why}" if ctx.cfg.several else f"publish: {why}"
             for name, why in mine.items()] + [f"publish: {line}" for line in refused]
    if not lines:
        return True
    for line in lines:
        print(f"forkwave: error: {line}", file=sys.stderr)
    return Held(lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""))


# --- direction: push ----------------------------------------------------------------------------

@user_errors
def do_export(ctx: Context) -> Any:
    """Build the export of the fork's own work for a push source, judge it with the push checks, record it."""
    from tasks.engine import export

    if ctx.cfg.current.command is not None:
        return _command_export(ctx)
    _locked(ctx, fork=False)
    upstream = _source_read(ctx, "upstream.json", "fetch")
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, upstream["sha"])
    report = _source_read(ctx, "drift.json", "drift")
    record = export.prepare(ctx.cfg, ctx.ws, mirror, report, dry=ctx.dry)
    src = ctx.cfg.current
    where = f"{src.contrib_branch} on {redact_url(src.push_url or '')}"
    for r in record["refused"]:
        print(f"export{_for(ctx)}: refused {r['path']}: {r['reason']}")
    for path in record["conflicts"]:
        print(f"export{_for(ctx)}: conflict: {path} changed in the fork and upstream since the base; exported "
              "nowhere (and not pulled): merge it by hand on one side")
    bad = [r for r in record["checks"] if r["status"] not in ("passed", "skipped")]
    bad += [{"name": v["name"], "status": "failed"} for v in record.get("verify", ()) if not v["passed"]]
    for line in export.say(ctx.cfg, record, _for(ctx)):  # each check that failed, with its output; each deferred part
        print(line)
    print(f"export{_for(ctx)}: {len(record['files'])} files for {where}" + (
        f" (commit {record['commit'][:12]})" if record["commit"] else "") + f", {len(record['skipped'])} skipped, "
          f"{len(record['refused'])} refused, {len(record['conflicts'])} conflicts"
          + (f"; push checks failed: {', '.join(r['name'] for r in bad)}" if bad else ""))
    if ctx.dry:
        from tasks.publish import preview

        preview.EXPORTS[src.name] = {"source": src.name, "branch": src.contrib_branch, "push_url":
                                     redact_url(src.push_url or ""),
                                     "paths": [f["source_path"] for f in record["files"]],
                                     "refused": record["refused"], "conflicts": record["conflicts"]}
        return _dry_report(ctx)
    _ledger_export(ctx, upstream["sha"], record, bad)
    if record["deferred"]:
        failed = sorted({c for d in record["deferred"] for c in d["checks"]})
        kept = (f"the other {len(record['files'])} files will be pushed" if record["commit"]
                else "nothing will be pushed")
        return _held(f"export{_for(ctx)}: push checks failed on the export: {', '.join(failed)}; "
                     f"{sum(len(d['files']) for d in record['deferred'])} files deferred, {kept} "
                     f"({ctx.ws.rel(ctx.ws.source_report(export.RECORD))})")
    if bad:
        return _held(f"export{_for(ctx)}: push checks failed on the export: {', '.join(r['name'] for r in bad)} "
                    f"({ctx.ws.rel(ctx.ws.source_report(export.RECORD))}); nothing will be pushed")
    if record["conflicts"]:
        return _held(f"export{_for(ctx)}: {len(record['conflicts'])} paths changed on both sides "
                    f"({', '.join(record['conflicts'][:3])}): exported nowhere; merge them by hand")
    return True


def _command_export(ctx: Context) -> Any:
    """A command source that pushes: what ``doit publish`` would give ``push_run`` (``export.json``), and each
    path changed on both sides since the last sync, reported once (exit 2: sent nowhere, pulled nowhere)."""
    from tasks.engine import sending
    from tasks.redact import redact_text

    _locked(ctx, fork=False)
    src = ctx.cfg.current
    assert src.command is not None
    report = _source_read(ctx, "drift.json", "drift") if src.command.run else None
    todo = sending.pending(ctx.cfg, ctx.ws, sent_state(ctx, src.name), report, _takes_fork_side(ctx, src.name))
    record = {"source": src.name, "push_run": redact_text(src.command.push_run or "")} | todo.to_json()
    write_if_changed(ctx.ws.source_report("export.json"), dump_json(record))
    picked = todo.sending
    for path, why in picked.refused:
        print(f"export{_for(ctx)}: refused {path}: {why}")
    for path in picked.conflicts:
        print(f"export{_for(ctx)}: conflict: {path} changed in the fork and by {src.name} since the last sync; sent "
              f"nowhere and not pulled: make the two agree, or take a side: `doit sources={src.name} direction=pull` "
              f"(the source's) or `doit publish sources={src.name} direction=push` (the fork's)")
    print(f"export{_for(ctx)}: {len(picked.send)} files for push_run (`doit publish` sends them), "
          f"{len(picked.skipped)} skipped, {len(picked.refused)} refused, {len(picked.conflicts)} conflicts")
    if ctx.dry:
        from tasks.publish import preview

        preview.EXPORTS[src.name] = {"source": src.name, "push_run": record["push_run"],
                                     "paths": [p for p, _ in picked.send],
                                     "refused": record["refused"], "conflicts": list(picked.conflicts)}
        return _dry_report(ctx)
    if picked.conflicts:
        return _held(f"export{_for(ctx)}: {len(picked.conflicts)} path{'' if len(picked.conflicts) == 1 else 's'} "
                     f"changed on both sides ({', '.join(picked.conflicts[:3])}): sent nowhere, not pulled; make "
                     "the two agree or take a side")
    return True


def _ledger_export(ctx: Context, revision: str, record: dict[str, Any], bad: list[dict[str, Any]]) -> None:
    """The export as the ledger's (source, push) row: exported paths, deferred and refused ones, conflicts."""
    from tasks.core.outcome import Conflict, Deferral, Status, status_of

    run = runlock.current()
    if run is None:
        return
    left = [Deferral(tuple(d["files"]), "push checks failed") for d in record["deferred"]]
    left += [Deferral((r["path"],), r["reason"]) for r in record["refused"]]
    pushed = [f["source_path"] for f in record["files"]] if record["commit"] and not bad else []
    added = [f["source_path"] for f in record["files"] if f.get("action") == "add" and f["source_path"] in pushed]
    if bad:
        left.append(Deferral(tuple(f["path"] for f in record["files"]), "push checks failed"))
    conflicts = tuple(Conflict(p, "changed on both sides") for p in record["conflicts"])
    status = status_of(deferred=bool(left), conflicts=bool(conflicts), adopted=bool(pushed)) \
        if left or conflicts else Status.ADOPTED
    outcome = Outcome("export", "push", revision, status, "", deferred=tuple(left), conflicts=conflicts)
    run.record("export", outcome, source=ctx.cfg.source, kind="push", revision=revision, exported=pushed,
               created=added)
    run.close(ctx.cfg.source, "push")


def _held(message: str) -> Held:
    """Work left for a person, said once on stderr (the reporter prints no failure a task returned)."""
    print(f"forkwave: error: {message}", file=sys.stderr)
    return Held(message)


# --- dry=1 ------------------------------------------------------------------------------------

@user_errors
def do_dry_slice(ctx: Context, name: str, position: str) -> bool:
    """Simulate one slice on the tip the slices before it would have made; write the dry-run report."""
    from tasks.engine import dryrun

    _locked(ctx)
    c, job, mode = job_for(ctx, read_plan(ctx), name)
    job.mirror = fetch.ensure_commit(c.cfg, c.ws, job.upstream)
    sim = mode.simulate(job, dryrun.current_tip(c.cfg))
    dryrun.record(c.cfg, job.slice, sim)
    what = (f"{sum(1 for r in sim.commits if r['would'] in ('merge', 'pick'))} of {plural_of(job)} to land"
            if job.slice.commits else f"{len(sim.would_land)} to land, {len(sim.would_defer)} to defer")
    print(f"[{position}] {name}: would be {sim.status} — {what}, {len(sim.conflicts)} conflicts (dry run)", flush=True)
    return _dry_report(ctx, quiet=True)


def _dry_report(ctx: Context, quiet: bool = False, last_run: bool = False) -> bool:
    """``reports/dry-run.md``/``.json`` with everything simulated so far (each dry task rewrites it, whole); from
    the plan this dry run computed, or with ``last_run`` the one the last real run left."""
    from tasks.publish import preview

    data = preview.write(ctx.cfg, ctx.ws.real if last_run else ctx.ws)
    if not quiet:
        code = "" if data["exit_code"] is None else f" (a real run would exit {data['exit_code']})"
        print(f"dry run: reports/dry-run.md{code}; no branch, state, memo, ledger, remote or other report was "
              "written")
    return True


@user_errors
def do_dry_wave(ctx: Context, wave: str) -> bool:
    _locked(ctx)
    return _dry_report(ctx)


@user_errors
def do_dry_publish(ctx: Context, alone: bool = False) -> bool:
    """``doit publish dry=1``: what would be pushed and opened; no push, no forge call, no publish.json. Alone on
    the command line it previews what the last real run left (its plan); after simulated slices, their tip."""
    _locked(ctx)
    _dry_report(ctx, last_run=alone)
    pub = read_json(ctx.ws.real.report("dry-run.json")).get("publish") or {}
    if pub.get("error"):
        print(f"publish (dry run): would not publish: {pub['error']}")
    elif pub.get("pull_request"):
        pr = pub["pull_request"]
        print(f"publish (dry run): would push {pub['branch']} to {pub['remote']} and open or update "
              f"\"{pr['title']}\"{' (draft)' if pr['draft'] else ''}; risk {pub['risk']['score']} "
              f"({pub['risk']['level']})" + (f"; held: {pub['held']}" if pub.get("held") else ""))
    elif pub:
        print(f"publish (dry run): {pub['branch']} holds nothing {pub['base']} lacks: no pull request")
    return True


@user_errors
def do_history(ctx: Context) -> bool:
    """``doit history``: the ledger's recent runs (``limit=`` of them, 20 by default) as ``format=``.

    It takes no lock: the ledger's readers never wait for a run (SQLite in WAL mode).
    """
    from tasks.report import history, ledger

    fmt, limit = _var("format"), _var("limit") or "20"
    if not limit.isdigit() or int(limit) < 1:
        raise ForkwaveError(f"limit={limit}: give a whole number of runs, 1 or more")
    with ledger.Ledger.open(ctx.ws.reports) as book:
        runs = book.recent(int(limit), sources=ctx.sources if ctx.selected is not None else None)
    sys.stdout.write(history.render(runs, fmt, where=ctx.ws.rel(ctx.ws.report(ledger.LEDGER))))
    sys.stdout.flush()
    return True


@user_errors
def do_ci(ctx: Context) -> bool:
    """``doit ci``: the GitHub Actions workflow and the GitLab CI file from the sources' ``schedule:`` keys."""
    from tasks.core import schedules

    groups = schedules.group([(s.name, s.schedule) for s in ctx.cfg.sources])
    options = schedules.CiOptions(fork_path=_ci_fork_path(ctx))
    matrix = _ci_matrix(ctx, groups)
    refused = []
    for rel, text in ((".github/workflows/forkwave.yml", schedules.github_workflow(groups, options, matrix)),
                      (".gitlab-ci.yml", schedules.gitlab_ci(groups, options, matrix))):
        path = ctx.ws.root / rel
        if path.exists() and not schedules.written_by_forkwave(path.read_text(encoding="utf-8", errors="replace")):
            refused.append(rel)  # the repository's own file of that name: never written over
            continue
        changed = write_if_changed(path, text)
        print(f"ci: {rel} {'written' if changed else 'unchanged'} ({len(groups)} schedule"
              f"{'' if len(groups) == 1 else 's'})")
    for group in groups:
        print(f"ci:   {group.cron:<16} {', '.join(group.sources)}")
    if not groups:
        print("ci: no source has a schedule: key; the files run by hand only")
    if refused:
        one = len(refused) == 1
        return _fail_once(f"ci: {' and '.join(refused)} {'is' if one else 'are'} not forkwave's (no "
                          f"'{schedules.MARKER}' line): left as {'it is' if one else 'they are'}; rename or remove "
                          f"{'it' if one else 'them'} and run `doit ci` again to write forkwave's", exitcodes.USAGE)
    return True


def _ci_matrix(ctx: Context, groups: Any) -> dict[str, tuple[str, ...]]:
    """``matrix=sources``: per schedule, the sources the batch judges (file slices on the shared sync branch,
    pulled), each judged on a runner of its own; a schedule with fewer than two, or one whose run has no
    batch (``batch: false``; a source landing commits on the shared branch), stays one job — said why."""
    wanted = (_var("matrix") or "").strip().lower()
    if not wanted:
        return {}
    if wanted != "sources":
        raise ForkwaveError(f"matrix={wanted}: `doit ci` fans out by source only; write matrix=sources (or leave "
                            "it out for one job per schedule)")
    out: dict[str, tuple[str, ...]] = {}
    for group in groups:
        srcs = [s for s in ctx.cfg.sources if s.name in group.sources]
        batched = tuple(s.name for s in srcs if modes.mode_named(s.mode).file_slices
                        and not modes.mode_named(s.mode).own_branch and s.direction in ("pull", "both"))
        mixed = [s.name for s in srcs if not modes.mode_named(s.mode).file_slices
                 and not modes.mode_named(s.mode).own_branch]
        why = ("batch: false judges each slice on its own" if not ctx.cfg.batch else
               f"{', '.join(mixed)} land{'s' if len(mixed) == 1 else ''} commits on the shared sync branch (no batch)"
               if mixed else "fewer than two of its sources are judged in the batch" if len(batched) < 2 else "")
        if why:
            print(f"ci: {group.cron}: one job, not fanned out: {why}")
            continue
        out[group.cron] = batched
        print(f"ci: {group.cron}: fanned out: {', '.join(batched)} each judged on a runner of its own, then one job "
              "lands and publishes")
    return out


def _fail_once(message: str, code: int) -> Failed:
    """An expected failure, said once on stderr (the reporter prints no failure a task returned)."""
    print(f"forkwave: error: {message}", file=sys.stderr)
    return Failed(message, code)


def _ci_fork_path(ctx: Context) -> str:
    """Where CI checks the fork out: ``fork.path`` as written when it is inside the workspace, else ``fork``."""
    written = str((ctx.cfg.raw.get("fork") or {}).get("path") or "fork")
    parts = Path(written).parts
    inside = not Path(written).is_absolute() and ".." not in parts and not written.startswith("~")
    if not inside:
        print(f"ci: fork.path {written!r} is outside the workspace; the CI files check the fork out at fork/ "
              "(give CI a config with fork.path: fork)")
    return written if inside else "fork"


def outcomes_digest(ctx: Context) -> str:
    return status.outcomes_digest(ctx.ws)


def unknown_slice(name: str, plan_path: str) -> Any:
    return UnknownSlice(name, plan_path)()


class UnknownSlice:
    """A placeholder task for a slice name the plan lacks: fails with a message (doit would exit 0)."""

    def __init__(self, name: str, plan_path: str):
        self.name, self.plan_path = name, plan_path

    def __call__(self) -> Any:
        try:
            Plan.from_json(read_json(Path(self.plan_path))).slice(self.name)
        except ForkwaveError as exc:
            print(f"forkwave: error: {exc}", file=sys.stderr)
            return Failed(str(exc), exitcodes.USAGE)
        return True
