"""Task creators. Cheap and deterministic: they read the config, never git; work is in actions."""
from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from doit import create_after
from doit.tools import config_changed

from tasks import actions, demo, drift, fetch, slices
from tasks.context import Context, context
from tasks.validate import validation_config
from tasks.workspace import read_json

DRIFT_KEYS = ("base", "map", "ignore", "deny", "buckets", "waves", "rewrite")


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


def _fork_unchanged(ctx: Context) -> Any:
    """uptodate: the fork branch is where the action (which saved ``fork_head``) saw it."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        try:
            return values.get("fork_head") == drift.fork_head(ctx.cfg)
        except Exception:
            return False

    return check


def task_base() -> dict[str, Any]:
    """Find the upstream commit the fork was copied from, by content (reports/base.md); used when no base is set."""
    ctx = context()
    if ctx.cfg.base is not None:
        return {"actions": None, "uptodate": [True]}

    return {
        "actions": [(actions.do_base, [ctx])],
        "file_dep": ["reports/upstream.json"],
        "targets": ["reports/base.json", "reports/base.md"],
        "uptodate": [config_changed(ctx.cfg.section("fork", "map", "ignore", "deny", "rewrite")), _fork_unchanged(ctx)],
        "verbosity": 2,
    }


def task_drift() -> dict[str, Any]:
    """Compare upstream and fork trees: reports/drift.json and the priority board drift.md."""
    ctx = context()

    return {
        "actions": [(actions.do_drift, [ctx])],
        "file_dep": ["reports/upstream.json"] + (["reports/base.json"] if ctx.cfg.base is None else []),
        "targets": ["reports/drift.json", "reports/drift.md"],
        "uptodate": [config_changed({**ctx.cfg.section("fork", *DRIFT_KEYS), "full": ctx.full, "since": ctx.since}),
                     _fork_unchanged(ctx)],
        "verbosity": 2,
    }


def task_plan() -> dict[str, Any]:
    """Assign actionable paths to waves and cut slices: reports/plan.json, wave-<x>.md."""
    ctx = context()
    return {
        "actions": [(actions.do_plan, [ctx])],
        "file_dep": ["reports/drift.json"],
        "targets": ["reports/plan.json"] + [f"reports/wave-{w.name}.md" for w in ctx.cfg.waves],
        # upstream history (co-change) is fixed by the upstream and base shas in drift.json; a `map`
        # change that moves no planned path leaves drift.json, and so the coupling, as it was
        "uptodate": [config_changed(ctx.cfg.section("waves", "max_files", "couple"))],
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
            yield {"basename": group, "name": name, "actions": [actions.UnknownSlice(name, "reports/plan.json")],
                   "uptodate": [False], "verbosity": 2}


def slice_tasks() -> Any:
    """The creator of ``import:*``, ``validate:*`` and ``wave_<x>``, made here because wave names come
    from the config.

    One delayed creator for all three: doit runs a delayed creator only when one of its own tasks
    is asked for, so with separate creators ``doit wave_a`` (or ``doit validate:slice-3``) on a
    fresh workspace would name tasks (or need targets) that no creator had made yet.
    """
    names = ["import", "validate"] + [f"wave_{w.name}" for w in context().cfg.waves]

    @create_after(executed="plan", creates=names,
                  target_regex=r"reports/(slices/[^/]+/(import|outcome)\.json|wave-[^/]+/(report\.md|junit\.xml))$")
    def task_slices() -> Iterator[dict[str, Any]]:
        """Per slice: import manifest, then validation onto the sync branch; per wave: its report."""
        ctx, plan = context(), _plan()
        yield {"basename": "import", "name": None,
               "doc": "per slice: its import manifest (files with upstream and fork entries)"}
        yield {"basename": "validate", "name": None,
               "doc": "per slice: import onto the sync branch in a private worktree, validate, adopt or split"}
        # wave by wave, so a plain `doit` lands wave a (and its joint retry) before wave b starts
        slices_of = {w["name"]: w["slices"] for w in plan["waves"]} if plan else {}
        for w in ctx.cfg.waves:
            members = slices_of.get(w.name, [])
            yield from _import_tasks(ctx, plan, members)
            yield from _validate_tasks(ctx, plan, w.name, members)
            yield _wave_task(ctx, w.name, members)
        yield from _unknown("import", plan)
        yield from _unknown("validate", plan)

    return task_slices


def _import_tasks(ctx: Context, plan: dict[str, Any] | None, names: list[str]) -> Iterator[dict[str, Any]]:
    for name in names:
        yield {
            "basename": "import",
            "name": name,
            "actions": [(actions.do_import, [ctx, name])],
            "file_dep": ["reports/plan.json", "reports/drift.json"],
            "targets": [f"reports/slices/{name}/import.json"],
            "verbosity": 2,
        }


def _validate_tasks(ctx: Context, plan: dict[str, Any] | None, wave: str, names: list[str]
                    ) -> Iterator[dict[str, Any]]:
    files_of = {s["name"]: s["files"] for s in plan["slices"]} if plan else {}
    for i, name in enumerate(names, 1):
        files = files_of[name]

        def done(name: str = name) -> bool:
            return slices.is_done(ctx.cfg, ctx.ws, name)

        yield {
            "basename": "validate",
            "name": name,
            "actions": [(actions.do_validate, [ctx, name, f"wave {wave} {i}/{len(names)}"])],
            "file_dep": [f"reports/slices/{name}/import.json"],
            "targets": [f"reports/slices/{name}/outcome.json"],
            "uptodate": [config_changed(validation_config(ctx.cfg, [f["path"] for f in files])), done],
            "verbosity": 2,
        }


def _wave_task(ctx: Context, wave: str, members: list[str]) -> dict[str, Any]:
    def settled() -> bool:  # a wave with work left runs again: its joint retry, its exit status
        return all(slices.is_done(ctx.cfg, ctx.ws, n) for n in members)

    return {
        "basename": f"wave_{wave}",
        "doc": f"import and validate every slice of wave {wave}; write reports/wave-{wave}/",
        "actions": [(actions.do_wave, [ctx, wave])],
        "task_dep": ["plan"] + [f"validate:{n}" for n in members],
        # the plan too: a wave the plan leaves empty would otherwise have no dependency and run every time
        "file_dep": ["reports/plan.json"] + [f"reports/slices/{n}/outcome.json" for n in members],
        "targets": [f"reports/wave-{wave}/report.md", f"reports/wave-{wave}/junit.xml"],
        "uptodate": [settled],
        "verbosity": 2,
    }


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


IMAGES = {"forkwave/python:3.11": "python/Dockerfile", "forkwave/node:bookworm": "node/Dockerfile"}
CONTAINERS = Path(__file__).resolve().parent.parent / "containers"
IMAGE_SOURCES = [*IMAGES.values(), "node-release/Dockerfile", "shims/yarn", "lib.sh", "build-base.sh", "build-images.sh",
                 "build-node.sh"]


def task_images() -> dict[str, Any]:
    """Build the validation images locally (no registry needed): base, python, node, and forkwave/node:<version>
    for the node the fork pins; ``doit clean`` removes the node images and caches the workspace used."""
    from checks import images

    ctx = context()
    clean = [(_clean_images, [ctx])]
    wanted = "images" in sys.argv[1:] or any(
        (c.image or "").startswith("forkwave/") or c.node or c.compose for c in ctx.cfg.checks)
    if not wanted:  # plain `doit` must not need a Docker engine
        return {"actions": None, "uptodate": [True], "clean": clean}

    def present() -> bool:
        return actions.images_present([*IMAGES, "forkwave/base:bookworm"]) and images.nodes_present(
            ctx.cfg.checks, ctx.cfg.fork.path, ctx.cfg.fork.branch)

    c = ctx.cfg.containers
    return {
        "actions": [(_reports_dir, [ctx]), (images.build_images, [ctx.cfg.checks, ctx.cfg.fork.path, ctx.cfg.fork.branch,
                                           images.build_env(c.ca_bundle, c.network, c.pass_env), ctx.ws.state / "cache"])],
        "file_dep": [ctx.ws.rel(CONTAINERS / s) for s in IMAGE_SOURCES],
        "uptodate": [present],
        "clean": clean,
        "verbosity": 2,
    }


def _reports_dir(ctx: Context) -> None:
    """`doit images` or `doit clean` may be the first command in a workspace: doit saves its state in reports/."""
    ctx.ws.reports.mkdir(parents=True, exist_ok=True)


def _clean_images(ctx: Context) -> None:
    """`doit clean`: the forkwave/node:<version> images this workspace used and .forkwave/cache (issue 11)."""
    from checks import images

    _reports_dir(ctx)
    for line in images.clean(ctx.ws.state / "cache"):
        print(f"clean: {line}")
