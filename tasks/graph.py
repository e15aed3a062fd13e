"""Task creators. Cheap and deterministic: they read the config, never git; work is in actions."""
from __future__ import annotations

from typing import Any

from doit.tools import config_changed

from tasks import actions, demo, drift, fetch
from tasks.context import context

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
