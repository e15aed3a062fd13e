"""doit actions: thin adapters from a task to the step modules. Expected outcomes are returned."""
from __future__ import annotations

from typing import Any

from tasks import demo, drift, fetch, render
from tasks.context import Context
from tasks.errors import ForkwaveError, user_errors
from tasks.plan import plan_waves
from tasks.redact import redact_url
from tasks.workspace import dump_json, read_json, write_if_changed


@user_errors
def make_demo(ctx: Context) -> bool:
    upstream, fork = demo.materialise(ctx.ws.state / "demo")
    print(f"demo: upstream {upstream}\ndemo: fork     {fork}")
    return True


@user_errors
def do_fetch(ctx: Context) -> bool:
    fetch.fetch(ctx.cfg, ctx.ws, offline=ctx.offline)
    return True


@user_errors
def do_drift(ctx: Context) -> dict[str, Any]:
    upstream = _read(ctx, "upstream.json", "fetch")
    mirror = fetch.ensure_commit(ctx.cfg, ctx.ws, upstream["sha"])
    report = drift.compute(ctx.cfg, mirror, upstream["sha"])
    write_if_changed(ctx.ws.report("drift.json"), dump_json(report))
    write_if_changed(ctx.ws.report("drift.md"), render.drift_board(report, redact_url(ctx.cfg.upstream.url)))
    totals = ", ".join(f"{c} {n}" for c, n in report["totals"].items())
    print(f"drift: {totals}")
    return {"fork_head": report["fork"]["sha"]}


@user_errors
def do_plan(ctx: Context) -> bool:
    plan = plan_waves(_read(ctx, "drift.json", "drift"), ctx.cfg.waves, ctx.cfg.max_files)
    write_if_changed(ctx.ws.report("plan.json"), dump_json(plan.to_json()))
    for wave, names in plan.waves:
        write_if_changed(ctx.ws.report(f"wave-{wave}.md"), render.wave_manifest(plan, wave))
        print(f"plan: wave {wave}: {len(names)} slices")
    if plan.unassigned:
        print(f"plan: {len(plan.unassigned)} actionable paths match no wave (listed in plan.json 'unassigned')")
    return True


def _read(ctx: Context, name: str, task: str) -> Any:
    path = ctx.ws.report(name)
    if not path.exists():
        raise ForkwaveError(f"{path} is missing; run `doit {task}` first")
    return read_json(path)
