"""Task creators. Cheap and deterministic: they read the config, never git; work is in actions."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from doit import create_after
from doit.tools import config_changed

from tasks import actions, demo, drift, fetch, slices
from tasks.context import context
from tasks.workspace import read_json

DRIFT_KEYS = ("base", "map", "ignore", "deny", "buckets", "waves")


def task_demo() -> dict[str, Any]:
    """Materialise the bundled demo repositories (only when running without a config)."""
    ctx = context()
    if not ctx.demo:
        return {"actions": None, "uptodate": [True]}
    root = ctx.ws.state / "demo"
    return {
        "actions": [(actions.make_demo, [ctx])],
        "file_dep": [ctx.ws.rel(demo.__file__)],
        "targets": [ctx.ws.rel(root / "upstream" / "HEAD"), ctx.ws.rel(root / "fork" / ".git" / "HEAD")],
        "verbosity": 2,
    }


def task_fetch() -> dict[str, Any]:
    """Mirror the upstream and record the commit its ref names (reports/upstream.json)."""
    ctx = context()

    def unchanged() -> bool:
        return fetch.is_current(ctx.cfg, ctx.ws, offline=ctx.offline)

    return {
        "actions": [(actions.do_fetch, [ctx])],
        "task_dep": ["demo"],
        "targets": ["reports/upstream.json"],
        "uptodate": [config_changed(ctx.cfg.section("upstream")), unchanged],
        "verbosity": 2,
    }


def task_drift() -> dict[str, Any]:
    """Compare upstream and fork trees: reports/drift.json and the priority board drift.md."""
    ctx = context()

    def fork_unchanged(task: Any, values: dict[str, Any]) -> bool:
        try:
            return values.get("fork_head") == drift.fork_head(ctx.cfg)
        except Exception:
            return False

    return {
        "actions": [(actions.do_drift, [ctx])],
        "file_dep": ["reports/upstream.json"],
        "targets": ["reports/drift.json", "reports/drift.md"],
        "uptodate": [config_changed(ctx.cfg.section("fork", *DRIFT_KEYS)), fork_unchanged],
        "verbosity": 2,
    }


def task_plan() -> dict[str, Any]:
    """Assign actionable paths to waves and cut slices: reports/plan.json, wave-<x>.md."""
    ctx = context()
    return {
        "actions": [(actions.do_plan, [ctx])],
        "file_dep": ["reports/drift.json"],
        "targets": ["reports/plan.json"] + [f"reports/wave-{w.name}.md" for w in ctx.cfg.waves],
        "uptodate": [config_changed(ctx.cfg.section("waves", "max_files"))],
        "verbosity": 2,
    }


# --- slices and waves (created after plan, from reports/plan.json) -------------------

def _plan() -> dict[str, Any] | None:
    path = context().ws.report("plan.json")
    return read_json(path) if path.exists() else None


def _requested(group: str) -> list[str]:
    """Subtask names asked for on the command line (``validate:slice-99``)."""
    prefix = f"{group}:"
    return [arg[len(prefix):] for arg in sys.argv[1:] if arg.startswith(prefix)]


def _unknown(group: str, plan: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    known = {s["name"] for s in plan["slices"]} if plan else set()
    for name in _requested(group):
        if name not in known:
            yield {"name": name, "actions": [actions.UnknownSlice(name, "reports/plan.json")],
                   "uptodate": [False], "verbosity": 2}


@create_after(executed="plan", target_regex=r"reports/slices/.*/import\.json")
def task_import() -> Iterator[dict[str, Any]]:
    """Per slice: its import manifest (files with upstream and fork entries)."""
    ctx, plan = context(), _plan()
    for s in plan["slices"] if plan else ():
        yield {
            "name": s["name"],
            "actions": [(actions.do_import, [ctx, s["name"]])],
            "file_dep": ["reports/plan.json", "reports/drift.json"],
            "targets": [f"reports/slices/{s['name']}/import.json"],
            "verbosity": 2,
        }
    yield from _unknown("import", plan)


@create_after(executed="plan", target_regex=r"reports/slices/.*/outcome\.json")
def task_validate() -> Iterator[dict[str, Any]]:
    """Per slice: import onto the sync branch in a private worktree, validate, adopt or split."""
    ctx, plan = context(), _plan()
    for w in plan["waves"] if plan else ():
        for i, name in enumerate(w["slices"], 1):
            files = next(s["files"] for s in plan["slices"] if s["name"] == name)
            checks = [c for c, applies in slices.applicable(ctx.cfg.checks, [f["path"] for f in files]) if applies]

            def done(name: str = name) -> bool:
                return slices.is_done(ctx.cfg, ctx.ws, name)

            yield {
                "name": name,
                "actions": [(actions.do_validate, [ctx, name, f"wave {w['name']} {i}/{len(w['slices'])}"])],
                "file_dep": [f"reports/slices/{name}/import.json"],
                "targets": [f"reports/slices/{name}/outcome.json"],
                "uptodate": [config_changed({"checks": [c.__dict__ for c in checks], "gates": list(ctx.cfg.gates),
                                             "deny": list(ctx.cfg.deny), "sync": ctx.cfg.fork.sync_branch}),
                             done],
                "verbosity": 2,
            }
    yield from _unknown("validate", plan)


def wave_tasks() -> Any:
    """The ``wave_<x>`` creator, made here because its task names come from the config."""
    names = [f"wave_{w.name}" for w in context().cfg.waves]

    @create_after(executed="plan", creates=names)
    def task_waves() -> Iterator[dict[str, Any]]:
        ctx, plan = context(), _plan()
        slices_of = {w["name"]: w["slices"] for w in plan["waves"]} if plan else {}
        for w in ctx.cfg.waves:
            members = slices_of.get(w.name, [])
            yield {
                "basename": f"wave_{w.name}",
                "doc": f"import and validate every slice of wave {w.name}; write reports/wave-{w.name}/",
                "actions": [(actions.do_wave, [ctx, w.name])],
                "task_dep": ["plan"] + [f"validate:{n}" for n in members],
                "file_dep": [f"reports/slices/{n}/outcome.json" for n in members],
                "targets": [f"reports/wave-{w.name}/report.md", f"reports/wave-{w.name}/junit.xml"],
                "verbosity": 2,
            }

    return task_waves


def task_report() -> dict[str, Any]:
    """reports/summary.json and every wave report, from the slices' latest outcomes."""
    ctx = context()

    def unchanged(task: Any, values: dict[str, Any]) -> bool:
        return values.get("digest") == actions.outcomes_digest(ctx)

    return {
        "actions": [(actions.do_report, [ctx])],
        "task_dep": ["plan"],
        "uptodate": [unchanged],
        "verbosity": 2,
    }
