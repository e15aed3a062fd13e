"""doit actions: thin adapters from a task to the step modules. Expected outcomes are returned."""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Any

from tasks.repo import basedetect, demo, drift, fetch, git, importer, state, treemap
from tasks.core import classify, coupling
from tasks.core.vocabulary import ACTIONABLE
from tasks import exitcodes
from tasks.engine import person, retry, runlock, slices, status
from tasks.report import render, reports
from tasks.report import base as basereport
from tasks.core.paths import map_path
from tasks import modes
from tasks.context import Context
from tasks.errors import CannotRun, Failed, ForkwaveError, user_errors
from tasks.core.plan import combine
from tasks.redact import redact_url
from tasks.workspace import dump_json, read_json, write_if_changed


@user_errors
def make_demo(ctx: Context) -> bool:
    upstream, fork = demo.materialise(ctx.ws.state / "demo")
    print(f"demo: upstream {upstream}\ndemo: fork     {fork}")
    return True


@user_errors
def do_fetch(ctx: Context) -> bool:
    _locked(ctx)
    fetch.fetch(ctx.cfg, ctx.ws, offline=ctx.offline)
    return True


@user_errors
def do_drift(ctx: Context) -> dict[str, Any]:
    upstream = _source_read(ctx, "upstream.json", "fetch")
    _locked(ctx)
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, upstream["sha"])
    window = None
    if ctx.since:
        window = {map_path(p, ctx.cfg.map) for p in git.changed_paths(mirror, ctx.since, upstream["sha"])}
    report = modes.mode_of(ctx.cfg).drift(ctx.cfg, mirror, upstream["sha"], choose_bases(ctx, mirror), window)
    write_if_changed(ctx.ws.source_report("drift.json"), dump_json(report))
    write_if_changed(ctx.ws.source_report("drift.md"),
                     render.drift_board(report, redact_url(ctx.cfg.upstream.url), ctx.cfg.deny))
    totals = ", ".join(f"{c} {n}" for c, n in report["totals"].items())
    print(f"drift{_for(ctx)}: {totals}")
    return {"fork_head": report["fork"]["sha"]}


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
    for name in ctx.sources:
        c = ctx.for_source(name)
        report = _source_read(c, "drift.json", f"drift:{name}" if ctx.cfg.several else "drift")
        plans.append((name, modes.mode_of(c.cfg).plan(c.cfg, report, lambda: upstream_history(c, report))))
    if ctx.cfg.several:
        owners = {}
        shared = {s.name for s in ctx.cfg.sources if s.mode != "cherry-pick"}  # picks land on a branch of their own
        for name, p in plans:
            for f in (f for s in p.slices for f in s.files if name in shared):
                if f.path in owners:
                    raise ForkwaveError(f"{ctx.cfg.file}: sources {owners[f.path]!r} and {name!r} both own {f.path}; "
                                        "give each source paths of its own (sources.<n>.paths)")
                owners[f.path] = name
    plan = combine(plans, ctx.cfg.waves) if ctx.cfg.several else plans[0][1]
    write_if_changed(ctx.ws.report("plan.json"), dump_json(plan.to_json()))
    for wave, names in plan.waves:
        write_if_changed(ctx.ws.report(f"wave-{wave}.md"), render.wave_manifest(plan, wave))
        print(f"plan: wave {wave}: {len(names)} slices")
    if plan.unassigned:
        print(f"plan: {len(plan.unassigned)} actionable paths match no wave (listed in plan.json 'unassigned')")
    return True


def upstream_history(ctx: Context, report: dict[str, Any]) -> list[coupling.Commit]:
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


def slice_view(ctx: Context, plan: dict[str, Any], name: str) -> tuple[Context, dict[str, Any], dict[str, Any]]:
    """(the context of the slice's source, the plan as that source sees it, its drift report)."""
    slice_ = slices.find_slice(plan, name)
    c = ctx.for_source(slice_.get("source") or ctx.sources[0])
    view = {**plan, "upstream": slice_["upstream"]} if slice_.get("source") else plan
    return c, view, _source_read(c, "drift.json", "drift")


# --- slices and waves ---------------------------------------------------------------

def _locked(ctx: Context, fork: bool = True) -> runlock.Run:
    """The run's workspace lock and the fork's own (two workspaces syncing one fork are refused up
    front, not at the compare-and-swap); the first time, moves an interrupted run made are
    reconciled with the outcome files."""
    path = ctx.ws.report("upstream.json")
    run = runlock.acquire(ctx.ws, read_json(path)["sha"] if path.exists() else None)
    if fork and run.fork_lock is None:
        runlock.lock_fork(run, ctx.cfg.fork.path)
        if run.fork_lock is not None:
            slices.reconcile(ctx.cfg, ctx.ws)
    return run


@user_errors
def do_import(ctx: Context, name: str) -> bool:
    """Write the slice's import manifest: its files with upstream/fork entries, and the upstream
    commits that touched them since the base (why each file changes)."""
    ctx, plan, drift_report = slice_view(ctx, _read(ctx, "plan.json", "plan"), name)
    slice_ = slices.find_slice(plan, name)
    entries = drift_report["entries"]
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, plan["upstream"])
    base = drift_report.get("base") or {}
    since = (base.get("groups") or {}).get(slice_["wave"], base.get("sha"))
    upstream_paths = sorted({treemap.upstream_path(entries[f["path"]].get("renamed_from", f["path"]), ctx.cfg.map)
                             for f in slice_["files"]})
    upstream_paths = [p for p in upstream_paths if importer.check_path(p) is None]  # `..` is no pathspec: blocked
    commits = git.log_touching(mirror, [f"{since}..{plan['upstream']}" if since else plan["upstream"]], upstream_paths)
    manifest = {"slice": name, "wave": slice_["wave"], **({"source": ctx.cfg.source} if ctx.cfg.several else {}),
                "upstream": plan["upstream"], "since": since,
                "files": [{**f, **{k: entries[f["path"]].get(k) for k in ("upstream", "fork", "base", "renamed_from")}}
                          for f in slice_["files"]],
                "commits": [{"sha": c.sha, "author": c.author, "subject": c.subject} for c in commits]}
    write_if_changed(slices.slice_dir(ctx.ws, name) / "import.json", dump_json(manifest))
    return True


_CANNOT_RUN: list[str] = []  # a check that cannot run stops every later slice of this run


@user_errors
def do_validate(ctx: Context, name: str, position: str) -> Any:
    run = _locked(ctx, fork=True)
    whole = _read(ctx, "plan.json", "plan")
    ctx, plan, drift_report = slice_view(ctx, whole, name)
    slice_ = slices.find_slice(plan, name)
    fork, sync = str(ctx.cfg.fork.path), ctx.cfg.fork.sync_branch
    if _CANNOT_RUN:
        print(f"[{position}] {name}: not run — {_CANNOT_RUN[0]}", flush=True)
        return Failed(f"{name}: not run, a check cannot run", exitcodes.FAILURE)
    same = slices.unchanged(ctx.cfg, ctx.ws, plan, drift_report, name)
    if same:  # adopted already (maybe by a run killed before doit saved it), or waiting for a person
        reports.write_slice(ctx.ws, same, fork, sync)
        run.record(name, same["status"])
        if same["status"] in slices.SUCCESS:
            print(f"[{position}] {name}: {same['status']} already (at {same['verified_at'][:12]}, same checks); "
                  f"nothing to do", flush=True)
            return True
        print(f"[{position}] {name}: {same['status']} — unchanged since run {same.get('run', '?')} (same upstream, "
              f"fork, checks and sync branch); nothing to run (reports/slices/{name}/report.md)", flush=True)
        return True  # work left for a person: the outcome says so, and the exit code (2) comes from it
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, plan["upstream"])
    print(f"[{position}] {name}: {len(slice_['files'])} files ...", flush=True)
    started = time.monotonic()
    outcome = modes.mode_of(ctx.cfg).run_slice(ctx.cfg, ctx.ws, mirror, plan, drift_report, name, run_id=run.id)
    reports.write_slice(ctx.ws, outcome, fork, sync)
    wave_names = next(w["slices"] for w in plan["waves"] if w["name"] == outcome["wave"])
    reports.write_wave(ctx.ws, outcome["wave"], wave_names, fork, sync)
    reports.write_summary(ctx.ws, whole)
    run.record(name, outcome["status"], outcome)
    if outcome["status"] == "error":
        _CANNOT_RUN.append(outcome["error"])
        runlock.mark_failed()
        print(f"[{position}] {name}: error (reports/slices/{name}/report.md)", flush=True)
        print(f"forkwave: error: {outcome['error']}", file=sys.stderr, flush=True)
        return Failed(outcome["error"], exitcodes.FAILURE)
    deferred = sum(len(d["files"]) for d in outcome["deferred"])
    print(f"[{position}] {name}: {outcome['status']} — {len(outcome['adopted'])} adopted, {deferred} deferred, "
          f"{len(outcome['conflicts'])} conflicts, {outcome['runs']} runs, {time.monotonic() - started:.1f} s "
          f"(reports/slices/{name}/report.md)", flush=True)
    # work left for a person is no failure of the task: its wave must still run (the joint retry may land
    # it); the run's exit code (2) comes from the outcome (tasks.cli)
    return True


@user_errors
def do_wave(ctx: Context, wave: str) -> Any:
    run = _locked(ctx, fork=True)
    plan = _read(ctx, "plan.json", "plan")
    names = next((w["slices"] for w in plan["waves"] if w["name"] == wave), [])
    fork, sync = str(ctx.cfg.fork.path), ctx.cfg.fork.sync_branch
    for source in ctx.sources:  # each source's deferrals are retried against its own upstream
        if _CANNOT_RUN:
            break
        c = ctx.for_source(source)
        only = source if ctx.cfg.several else None
        if not modes.mode_of(c.cfg).joint_retry or not retry.deferred_so_far(ctx.ws, plan, wave, only):
            continue
        view = {**plan, "upstream": plan["sources"][source]} if only else plan
        mirror = fetch.ensure_commit(c.cfg, c.ws, view["upstream"])
        try:
            record = retry.retry(c.cfg, c.ws, mirror, view, _source_read(c, "drift.json", "drift"), wave,
                                 run_id=run.id, source=only, prepare=modes.mode_of(c.cfg).prepare)
        except CannotRun as exc:
            _CANNOT_RUN.append(str(exc))
            runlock.mark_failed()
            raise
        for name, files in (record or {}).get("by_slice", {}).items():
            if files and record.get("run") == run.id:
                outcome = slices.load_outcome(ctx.ws, name) or {}
                run.record(name, outcome.get("status", "?"), {"landed": files})
                reports.write_slice(ctx.ws, outcome, fork, sync)
    for w in plan["waves"]:  # a retry may have landed files of earlier waves too
        reports.write_wave(ctx.ws, w["name"], w["slices"], fork, sync, disk=w["name"] == wave)
    statuses = {n: (o or {}).get("status", "not run") for n, o in reports.load_outcomes(ctx.ws, names).items()}
    reports.write_summary(ctx.ws, plan)
    bad = {n: s for n, s in statuses.items() if s not in slices.SUCCESS}
    print(f"wave {wave}: {len(names) - len(bad)}/{len(names)} slices settled (reports/wave-{wave}/report.md)")
    if bad:  # the outcomes say what is left; the exit code (2) comes from them
        return True
    if ctx.since:  # paths upstream changed before `since` were never looked at: not synced to this revision
        print(f"wave {wave}: landed, but not recorded in {state.STATE_PATH}: since= narrowed the drift")
        return True
    if any(s == "rolled-back" for s in statuses.values()):
        print(f"wave {wave}: landed with rolled-back slices; not recorded in {state.STATE_PATH}")
        return True
    in_wave = {slices.find_slice(plan, n).get("source") or ctx.sources[0] for n in names}
    for source in (s for s in ctx.sources if s in in_wave):
        c = ctx.for_source(source)
        revision = plan["sources"][source] if ctx.cfg.several else plan["upstream"]
        if modes.mode_of(c.cfg).record(c.cfg, ctx.ws, wave, revision, redact_url(c.cfg.raw["upstream"]["url"]),
                                      _several(c)):
            print(f"wave {wave}: landed; recorded {source} {revision[:12]} in {state.STATE_PATH} "
                  f"on {ctx.cfg.fork.sync_branch}")
    return True


# --- a person closes the loop ----------------------------------------------------------

def _var(name: str) -> str | None:
    from doit import get_var

    return get_var(name) or None


@user_errors
def do_resolve(ctx: Context, name: str) -> bool:
    _locked(ctx, fork=True)
    ctx, plan, drift_report = slice_view(ctx, _read(ctx, "plan.json", "plan"), name)
    _files_only(ctx, name, "resolve")
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, plan["upstream"])
    commit = person.resolve(ctx.cfg, ctx.ws, plan, drift_report, mirror, name, _var("path"), _var("take"))
    print(f"{name}: resolution committed on {ctx.cfg.fork.sync_branch} as {commit[:12]}; run `doit` to validate it")
    return True


@user_errors
def do_rollback(ctx: Context, name: str) -> bool:
    _locked(ctx, fork=True)
    plan = _read(ctx, "plan.json", "plan")
    _files_only(slice_view(ctx, plan, name)[0], name, "rollback")
    commit = person.rollback(ctx.cfg, ctx.ws, plan, name)
    outcome = slices.load_outcome(ctx.ws, name)
    if outcome:
        reports.write_slice(ctx.ws, outcome, str(ctx.cfg.fork.path), ctx.cfg.fork.sync_branch)
    print(f"{name}: rolled back on {ctx.cfg.fork.sync_branch} in {commit[:12]}; later runs leave it alone until "
          f"upstream changes it (`doit readopt:{name}` to take it again)")
    return True


@user_errors
def do_readopt(ctx: Context, name: str) -> bool:
    _locked(ctx, fork=True)
    reverts = person.readopt(ctx.cfg, ctx.ws, _read(ctx, "plan.json", "plan"), name)
    print(f"{name}: its rollback ({', '.join(r[:12] for r in reverts)}) no longer counts; the next `doit` imports "
          "and validates it again")
    return True


def _files_only(ctx: Context, name: str, what: str) -> None:
    """`doit resolve:`/`rollback:` work on file slices; a merge or cherry-pick slice is resolved on its branch."""
    mode = modes.mode_of(ctx.cfg)
    if not mode.joint_retry:
        raise ForkwaveError(f"{name}: a {mode.name}-mode slice has no `doit {what}`; {what} it on "
                            f"{ctx.cfg.fork.sync_branch} from any checkout (git merge / git revert, commit), then run "
                            "`doit` (README: Sync modes)")


PERSON_ACTIONS = {"resolve": do_resolve, "rollback": do_rollback, "readopt": do_readopt}


@user_errors
def do_report(ctx: Context) -> dict[str, Any]:
    plan = _read(ctx, "plan.json", "plan")
    for w in plan["waves"]:
        reports.write_wave(ctx.ws, w["name"], w["slices"], str(ctx.cfg.fork.path), ctx.cfg.fork.sync_branch)
    summary = reports.write_summary(ctx.ws, plan)
    print(f"report: reports/summary.json ({summary['status']}) and {len(plan['waves'])} wave reports written")
    return {"digest": outcomes_digest(ctx)}


@user_errors
def do_publish(ctx: Context) -> bool:
    """Push the sync branch, open or update its pull request, automerge by risk (``tasks.publish``)."""
    from tasks.publish import run  # its forge libraries load only when a forge is used

    _locked(ctx, fork=True)  # nothing may move the sync branch while it is pushed
    run.publish(ctx.cfg, ctx.ws)
    return True


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
            slices.find_slice(read_json(Path(self.plan_path)), self.name)
        except ForkwaveError as exc:
            print(f"forkwave: error: {exc}", file=sys.stderr)
            return Failed(str(exc), exitcodes.USAGE)
        return True


def images_present(tags: list[str]) -> bool:
    """Are all ``tags`` in the local engine? (False when there is no engine.)"""
    try:
        import docker

        client = docker.from_env()
        return all(_has_image(client, t) for t in tags)
    except Exception:
        return False


def _has_image(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
