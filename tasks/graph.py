"""Task creators. Cheap and deterministic: they read the config, never git; work is in actions.

doit runs every creator on every command, even ``doit list``, so this module imports none of the
steps: ``actions`` and the rest are loaded the first time one of their functions is called (by
an action or an up-to-date test), not when a task is described.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from doit import create_after
from doit.tools import config_changed

from tasks import assets
from tasks.cli import closing_wave, reached, request
from tasks.context import Context, context
from tasks.core.fingerprint import validation_config
from tasks.workspace import read_json


class _Later:
    """A function of a module imported on the first call (``actions.do_fetch`` costs nothing until it runs)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class _Module:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> _Later:
        return _Later(self._name, attr)


actions, clean = _Module("tasks.actions"), _Module("tasks.clean")
fetch, fork, status = _Module("tasks.repo.fetch"), _Module("tasks.repo.fork"), _Module("tasks.engine.status")


class _changed(config_changed):
    """doit's ``config_changed`` on a value computed when doit checks the task, not when it is described
    (``doit list`` never needs it; the slices' check fingerprints need the globs module)."""

    def __init__(self, make: Any):
        super().__init__({})
        self.make = make

    def _calc_digest(self) -> str:
        self.config = self.make()
        return super()._calc_digest()
DEMO = Path(__file__).resolve().parent / "repo" / "demo.py"  # what the demo is built from (its task's file_dep)

DRIFT_KEYS = ("base", "map", "ignore", "deny", "buckets", "waves", "rewrite")


def _cleans(*steps: Any) -> list[Any]:
    """A task's ``clean`` actions; none when `doit clean` resets the whole workspace (``task__workspace``)."""
    req = request()
    return [] if req.command == "clean" and not req.tasks else list(steps)


def task_demo() -> dict[str, Any]:
    """Materialise the bundled demo repositories (only when running without a config)."""
    ctx = context()
    if not ctx.demo:
        return {"actions": None, "uptodate": [True]}
    root = ctx.ws.state / "demo"
    return {
        "actions": [(actions.make_demo, [ctx])],
        "file_dep": [ctx.ws.rel(DEMO)],
        "targets": [ctx.ws.rel(root / "upstream" / "HEAD"), ctx.ws.rel(root / "fork" / ".git" / "HEAD")],
        "clean": _cleans((clean.worktree, [ctx.ws, ctx.cfg.fork.path]), (clean.remove, [ctx.ws, [root]])),
        "verbosity": 2,
    }


def _per_source(make: Any) -> Any:
    """A creator's task for the one source (the names of today: ``fetch``, ``drift``), or one subtask
    per source (``fetch:web``; plain ``fetch`` runs them all)."""
    ctx = context()
    if not ctx.cfg.several:  # a command source that only pushes has nothing to fetch or compare
        return make(ctx.for_source(ctx.fetched[0]), "") if ctx.fetched else {"actions": None, "uptodate": [True]}

    def generate() -> Iterator[dict[str, Any]]:
        for name in ctx.fetched:
            task = make(ctx.for_source(name), name)
            yield {"name": name, **task}

    return generate()


def _rel(ctx: Context, name: str) -> str:
    """A source's own report, relative to the workspace (``reports/drift.json``, ``reports/sources/web/…``)."""
    return ctx.ws.rel(ctx.ws.source_report(name))


def task_fetch() -> Any:
    """Mirror each source and record the commit its ref names (reports/upstream.json, or reports/sources/<name>/)."""

    def make(c: Context, name: str) -> dict[str, Any]:
        def unchanged() -> bool:
            return fetch.is_current(c.cfg, c.ws, offline=c.offline)

        kept = [_rel(c, "outputs.bundle")] if c.cfg.current.command is not None else []  # a command's outputs
        return {
            "actions": [(actions.do_fetch, [c])],
            "task_dep": ["demo"],
            "targets": [_rel(c, "upstream.json")],
            "uptodate": [config_changed(c.cfg.section("upstream")), unchanged],
            "clean": _cleans((clean.remove, [c.ws, [_rel(c, "upstream.json"), c.ws.mirror, *kept]])),
            "verbosity": 2,
        }

    return _per_source(make)


def _fork_unchanged(ctx: Context) -> Any:
    """uptodate: the fork branch is where the action (which saved ``fork_head``) saw it."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        try:
            return values.get("fork_head") == fork.fork_head(ctx.cfg)
        except Exception:
            return False

    return check


SOURCE_KEYS = ("map", "ignore", "deny", "rewrite", "base")


def _source_section(c: Context, *keys: str) -> dict[str, Any]:
    """What a source's steps depend on: the config section, and with several sources the source's own keys."""
    section = c.cfg.section(*keys)
    if c.cfg.several:
        section["source"] = {k: c.cfg.section(k)[k] for k in SOURCE_KEYS} | {"paths": list(c.cfg.current.paths)}
    return section


def _mode(c: Context) -> Any:
    """The source's mode (``tasks.modes``, imported on first use: ``doit list`` never needs it)."""
    from tasks.modes import registry as modes

    return modes.mode_of(c.cfg)


def _detects_base(c: Context) -> bool:
    """A mode that compares trees finds a base by content when none is configured; the others need none. A command
    source's base is the output commit the fork last landed (its sync state), never a guess by content."""
    return c.cfg.base is None and _mode(c).detects_base and c.cfg.current.command is None


def _mode_keys(c: Context) -> dict[str, Any]:
    """A source's mode and its options (filters, cooldown, failure policy), for its drift's up-to-date test
    (left out when they are the defaults of a file mode, so its test stays what it was)."""
    src = c.cfg.current if c.cfg.sources else None
    if src is None or (_mode(c).file_slices and not src.options.min_age):
        return {}
    return {"mode": src.mode, "options": c.cfg.section("max_commits")["max_commits"], "keys": repr(src.options)}


def _gate_policy(c: Context) -> dict[str, Any]:
    """``policy:`` for drift's up-to-date test when a ``max_conflicts`` gate counts conflicts (a rule settles some)."""
    gated = any(k == "max_conflicts" for k, _ in c.cfg.current.drift_gates)
    return {"policy": c.cfg.section("policy")["policy"]} if gated and c.cfg.policy else {}


def _not_ripened(c: Context) -> Any:
    """uptodate: no upstream commit held back by ``min_age`` has become old enough since the drift."""

    def check() -> bool:
        path = c.ws.source_report("drift.json")
        if not path.exists():
            return False
        ripens = (read_json(path).get("cooldown") or {}).get("ripens_at")
        if not ripens:
            return True
        from datetime import datetime, timezone

        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") < ripens

    return check


def task_base() -> Any:
    """Find the upstream commit the fork was copied from, by content (reports/base.md); when a source sets no base."""

    def make(c: Context, name: str) -> dict[str, Any]:
        if not _detects_base(c):
            return {"actions": None, "uptodate": [True]}
        targets = [_rel(c, "base.json"), _rel(c, "base.md")]
        return {
            "actions": [(actions.do_base, [c])],
            "file_dep": [_rel(c, "upstream.json")],
            "targets": targets,
            "clean": _cleans((clean.remove, [c.ws, targets])),
            "uptodate": [config_changed(_source_section(c, "fork", "map", "ignore", "deny", "rewrite")),
                         _fork_unchanged(c)],
            "verbosity": 2,
        }

    return _per_source(make)


def task_drift() -> Any:
    """Compare each source's trees with the fork's: reports/drift.json and the priority board drift.md."""

    def make(c: Context, name: str) -> dict[str, Any]:
        targets = [_rel(c, "drift.json"), _rel(c, "drift.md")]
        return {
            "actions": [(actions.do_drift, [c])],
            "task_dep": ["pre"],  # pre-sync checks first: nothing is compared, planned or imported when they fail
            "file_dep": [_rel(c, "upstream.json")] + ([_rel(c, "base.json")] if _detects_base(c) else []),
            "targets": targets,
            "clean": _cleans((clean.remove, [c.ws, targets + [_rel(c, "drift-gates.json")]])),
            "uptodate": [_drift_section(c, {**_source_section(c, "fork", *DRIFT_KEYS), "full": c.full,
                                            "since": c.since, "drift_gates": list(c.cfg.current.drift_gates),
                                            **_mode_keys(c), **_gate_policy(c)}),
                         _fork_unchanged(c), _not_ripened(c)]
                        # since=last-success: where the ledger's last successful syncs ended, read when checked
                        + ([_changed(lambda: {"since": actions.since_key(c)})] if c.since_last_success else []),
            "verbosity": 2,
        }

    return _per_source(make)


def _drift_section(c: Context, section: dict[str, Any]) -> Any:
    """Drift's one ``config_changed`` (doit keeps a single digest per task, so every key goes into one): with
    whether fail_on_diff watches the source (a watched drift with work left fails), and for a command source that
    pushes, its inputs and what it holds of them (the ledger's last push, read when the test runs)."""
    section = section | ({"watched": True} if c.watches(c.cfg.source) else {})
    entry = c.cfg.current.command
    if entry is None or entry.push_run is None:
        return config_changed(section)
    return _changed(lambda: section | {"inputs": list(entry.inputs), "sent": actions.sent_key(c)})


def task_export() -> Any:
    """Export the fork's own work to each push/both source: reports/…/export.json; `doit publish` pushes it."""
    ctx = context()
    pushing = ctx.pushed
    if not pushing:
        return {"actions": None, "uptodate": [True]}

    def make(c: Context) -> dict[str, Any]:
        compared = c.cfg.current.command is None or c.cfg.current.command.run is not None
        return {"actions": [(actions.do_export, [c])], "file_dep": [_rel(c, "drift.json")] if compared else [],
                "uptodate": [False],  # cheap, and what was exported meanwhile changes what is left to export
                "clean": _cleans((clean.remove, [c.ws, [_rel(c, "export.json")]])), "verbosity": 2}

    if not ctx.cfg.several:
        return make(ctx.for_source(pushing[0]))

    def generate() -> Iterator[dict[str, Any]]:
        for name in pushing:
            yield {"name": name, **make(ctx.for_source(name))}

    return generate()


def task_pre() -> dict[str, Any]:
    """Pre-sync checks (`pre:`) on the fork tip before anything is imported; `clean`: no uncommitted changes."""
    ctx = context()
    if not ctx.cfg.pre or ctx.dry:  # a dry run runs no command (the report lists what a real run checks first)
        return {"actions": None, "uptodate": [True]}
    asks_checkout = any(c.builtin for c in ctx.cfg.pre)  # a checkout's state is no commit: asked every time
    return {
        "actions": [(actions.do_pre, [ctx])],
        "task_dep": ["demo"],
        "uptodate": [False] if asks_checkout else [config_changed(ctx.cfg.section("pre")), _fork_unchanged(ctx)],
        "clean": _cleans((clean.remove, [ctx.ws, ["reports/pre.json", "reports/pre"]])),
        "verbosity": 2,
    }


def task_post() -> dict[str, Any]:
    """Post-sync checks (`post:`) on the sync tip after the run (after every wave); a failure holds `doit publish`."""
    ctx = context()
    if not ctx.cfg.post or ctx.dry:  # a dry run runs no command on a tip it only simulates
        return {"actions": None, "uptodate": [True]}
    return {
        "actions": [(actions.do_post, [ctx])],
        "task_dep": ["plan", *(f"wave_{w.name}" for w in ctx.cfg.waves)],
        "uptodate": [False],  # cheap when nothing changed: the same commit and commands are recalled, not run
        "clean": _cleans((clean.remove, [ctx.ws, ["reports/post.json", "reports/post"]])),
        "verbosity": 2,
    }


IMAGES = {"forkwave/python:3.11": "python/Dockerfile", "forkwave/node:bookworm": "node/Dockerfile"}
CONTAINERS = assets.folder("containers")
IMAGE_SOURCES = [*IMAGES.values(), "node-release/Dockerfile", "shims/yarn", "lib.sh", "build-base.sh",
                 "build-images.sh",
                 "build-node.sh"]


def task_images() -> dict[str, Any]:
    """Build the validation images locally (no registry needed): base, python, node, and forkwave/node:<version>
    for the node the fork pins; ``doit clean`` removes the node images and caches the workspace used."""
    ctx = context()
    clean = _cleans((_clean_images, [ctx]))
    wanted = "images" in request().tasks or any(
        (c.image or "").startswith("forkwave/") or c.node or c.compose for c in ctx.cfg.checks)
    if not wanted:  # plain `doit` must not need a Docker engine
        return {"actions": None, "uptodate": [True], "clean": clean}
    from checks import images

    c = ctx.cfg.containers

    def present() -> bool:  # on some engine: the others get it copied when a check needs it there
        return images.present([*IMAGES, "forkwave/base:bookworm"], c.engines) and images.nodes_present(
            ctx.cfg.checks, ctx.cfg.fork.path, ctx.cfg.fork.branch, c.engines)

    env = images.build_env(c.ca_bundle, c.network, c.pass_env)
    return {
        "actions": [(_reports_dir, [ctx]),
                    (images.build_images, [ctx.cfg.checks, ctx.cfg.fork.path, ctx.cfg.fork.branch,
                                           env, ctx.ws.state / "cache", c.engines])],
        "file_dep": [ctx.ws.rel(CONTAINERS / s) for s in IMAGE_SOURCES],
        "uptodate": [present],
        "clean": clean,
        "verbosity": 2,
    }


def _reports_dir(ctx: Context) -> None:
    """`doit images` or `doit clean` may be the first command in a workspace: doit saves its state in reports/."""
    ctx.ws.reports.mkdir(parents=True, exist_ok=True)


def _clean_images(ctx: Context) -> None:
    """`doit clean`: the forkwave/node:<version> images this workspace used and .forkwave/cache."""
    from checks import images

    _reports_dir(ctx)
    for line in images.clean(ctx.ws.state / "cache", engines=ctx.cfg.containers.engines):
        print(f"clean: {line}")


def task_plan() -> dict[str, Any]:
    """Assign actionable paths to waves and cut slices: reports/plan.json, wave-<x>.md (several sources: each one's
    part in reports/sources/<name>/plan.json too)."""
    ctx = context()
    targets = [ctx.ws.rel(ctx.ws.report(n)) for n in ["plan.json", *(f"wave-{w.name}.md" for w in ctx.cfg.waves)]]
    return {
        "actions": [(actions.do_plan, [ctx])],
        "file_dep": [_rel(ctx.for_source(name), "drift.json") for name in ctx.fetched],
        "targets": targets,
        "clean": _cleans((clean.remove, [ctx.ws, targets + ([_rel(ctx.for_source(n), "plan.json") for n in ctx.fetched]
                                                           if ctx.cfg.several else [])])),
        # upstream history (co-change) is fixed by the upstream and base shas in drift.json; a `map`
        # change that moves no planned path leaves drift.json, and so the coupling, as it was
        # each source's direction too: a push source plans nothing, `both` plans what is not two-sided, so
        # push -> both must plan what the source offers even when no drift.json changed
        # batch_size=N wins
        "uptodate": [config_changed({**ctx.cfg.section("waves", "couple"), "max_files": ctx.max_files}
                                    | ({"max_commits": ctx.max_commits} if _commit_keys(ctx) else {})
                                    | ({"sources": ctx.sources} if ctx.cfg.several else {})
                                    | {"directions": {n: ctx.direction_of(n) for n in ctx.sources}})],
        "verbosity": 2,
    }


def _commit_keys(ctx: Context) -> tuple[str, ...]:
    """``slices.max_commits`` cuts the plan of a commit mode's source (left out for file-slice-only configs)."""
    from tasks.modes import registry as modes

    return ("max_commits",) if any(not modes.mode_named(s.mode).file_slices for s in ctx.cfg.sources) else ()


# --- slices and waves (created after plan, from reports/plan.json) -------------------

def _plan() -> dict[str, Any] | None:
    path = context().ws.report("plan.json")
    return read_json(path) if path.exists() else None


def _requested(group: str) -> list[str]:
    """Subtask names asked for on the command line (``validate:slice-99``)."""
    prefix = f"{group}:"
    return [arg[len(prefix):] for arg in request().tasks if arg.startswith(prefix)]


def _unknown(group: str, plan: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """`doit validate:slice-99`: a task that fails with a message (exit 1), since doit alone would exit 0.

    Only for ``run``: its slice tasks are created after ``plan`` ran, so the name can only be
    checked then; the other commands see the real tasks and ``cli.refuse_unknown`` checks them.
    """
    if not request().runs:
        return
    known = {s["name"] for s in plan["slices"]} if plan else set()
    for name in _requested(group):
        if name not in known:
            yield {"basename": group, "name": name,
                   "actions": [(actions.unknown_slice, [name, "reports/plan.json"])],
                   "uptodate": [False], "verbosity": 2}


TARGETS = r"reports/(slices/[^/]+/(import|outcome)\.json|wave-[^/]+/(report\.md|junit\.xml))$"


def slice_creators(eager: bool | None = None) -> dict[str, Any]:
    """The creators of ``import:*``, ``validate:*`` and ``wave_<x>`` (wave names come from the config).

    For ``doit run`` they are delayed until ``plan`` has run (``create_after``): one creator per
    name, so ``doit list`` shows each its own description, and whichever doit runs first yields
    every slice and wave task, so ``doit wave_a`` (or ``doit validate:slice-3``) on a fresh
    workspace finds every task and target it needs made in the same batch. The other commands
    (``list``, ``clean``, ``forget``, ``info``) never run delayed creators, so for them (``eager``)
    one ordinary creator yields the tasks from the plan as it stands — as for a person's commands alone
    (``person_only``), which act on the plan that printed them.
    """
    eager = (not request().runs or person_only()) if eager is None else eager

    def generate() -> Iterator[dict[str, Any]]:
        ctx, plan = context(), _plan()
        docs = _group_docs(ctx, plan)
        yield {"basename": "import", "name": None, "doc": docs["import"]}
        yield {"basename": "validate", "name": None, "doc": docs["validate"]}
        # wave by wave, so a plain `doit` lands wave a (and its joint retry) before wave b starts
        slices_of = {w["name"]: w["slices"] for w in plan["waves"]} if plan else {}
        # a plain `doit`: a wave's slices start on what the waves before it (and their retries) landed;
        # `doit wave_c` or `doit validate:slice-5` run just what they name
        ordered = request().runs and not request().tasks
        before: list[str] = []
        for w in ctx.cfg.waves:
            members = slices_of.get(w.name, [])
            if ctx.dry:  # simulated: no import manifest, outcome, memo, ref or wave state is written
                yield from _dry_tasks(ctx, w.name, members, docs, before)
                before = [f"wave_{w.name}"]  # simulated in order, each wave on what the ones before would land
                continue
            yield from _import_tasks(ctx, plan, members)
            yield from _validate_tasks(ctx, plan, w.name, members, before, chained=ordered)
            yield _wave_task(ctx, w.name, members, docs)
            before = [f"wave_{w.name}"] if ordered else []
        if not ctx.dry:
            yield _batch_task(ctx, plan)
        yield from _person_tasks(ctx, docs)
        yield from _unknown("import", plan)
        yield from _unknown("validate", plan)

    if eager:
        def task_slices() -> Iterator[dict[str, Any]]:
            """Slices and waves, from reports/plan.json."""
            yield from generate()

        return {"task_slices": task_slices}
    creators = {}
    for i, (name, doc) in enumerate(_group_docs(context(), _plan()).items()):
        def creator() -> Iterator[dict[str, Any]]:
            yield from generate()

        creator.__doc__ = doc
        creator.__name__ = f"task_{name}"
        # one target regex is enough: the creator it names makes every slice target
        creators[f"task_{name}"] = create_after(executed="plan", creates=[name],
                                                target_regex=TARGETS if i == 0 else None)(creator)
    return creators


def _group_docs(ctx: Context, plan: dict[str, Any] | None) -> dict[str, str]:
    """The first line ``doit list`` shows for each slice group and wave."""
    count = {w["name"]: len(w["slices"]) for w in plan["waves"]} if plan else {}
    docs = dict(GROUP_DOCS)
    for w in ctx.cfg.waves:
        docs[f"wave_{w.name}"] = wave_doc(w.name, count.get(w.name))
    return docs


def wave_doc(wave: str, slices: int | None = None) -> str:
    """What ``doit list`` says of ``wave_<wave>`` (``slices``: how many the plan gave it; None before a plan)."""
    what = "its slices (once plan has run)" if slices is None else f"its {slices} slice{'' if slices == 1 else 's'}"
    return f"wave {wave}: validate {what}, then write reports/wave-{wave}/"


def _about(wave: str, files: list[Any]) -> str:
    return f"wave {wave}, {len(files)} file{'' if len(files) == 1 else 's'}"


def _import_tasks(ctx: Context, plan: dict[str, Any] | None, names: list[str]) -> Iterator[dict[str, Any]]:
    slices_of = {s["name"]: s for s in plan["slices"]} if plan else {}
    for name in names:
        s = slices_of[name]
        target = f"reports/slices/{name}/import.json"
        yield {
            "basename": "import",
            "name": name,
            "doc": f"{_about(s['wave'], s['files'])}: import manifest",
            "actions": [(actions.do_import, [ctx, name])],
            "file_dep": ["reports/plan.json", _rel(ctx.for_source(s.get("source") or ctx.sources[0]), "drift.json")],
            "targets": [target],
            "clean": _cleans((clean.remove, [ctx.ws, [target]])),
            "verbosity": 2,
        }


def _validate_tasks(ctx: Context, plan: dict[str, Any] | None, wave: str, names: list[str],
                    after: list[str], chained: bool = False) -> Iterator[dict[str, Any]]:
    """Each slice's validate task. ``chained`` (a plain ``doit``): each after the one before it, so slices run
    and land in plan order and identical inputs make identical sync-branch history; ``doit validate:slice-5``
    alone never pulls in its neighbours."""
    files_of = {s["name"]: s["files"] for s in plan["slices"]} if plan else {}
    for i, name in enumerate(names, 1):
        previous = [f"validate:{names[i - 2]}"] if chained and i > 1 else []
        files = files_of[name]

        def done(name: str = name) -> bool:
            return _done(ctx, plan, name)

        def checks(files: list[Any] = files) -> dict[str, Any]:
            return validation_config(ctx.cfg, [f["path"] for f in files])

        yield {
            "basename": "validate",
            "name": name,
            "doc": f"{_about(wave, files)}: validate onto {ctx.cfg.fork.sync_branch}",
            "actions": [(actions.do_validate, [ctx, name, f"wave {wave} {i}/{len(names)}"])],
            # images: a no-op unless a check needs forkwave's images; batch: the run's changes judged at once first
            "task_dep": ["images", "batch", *after, *previous],
            "file_dep": [f"reports/slices/{name}/import.json"],
            "targets": [f"reports/slices/{name}/outcome.json"],
            "uptodate": [_changed(checks), done],
            "clean": _cleans((clean.slice_state, [ctx.ws, ctx.cfg.fork.path, name])),
            "verbosity": 2,
        }


def batch_scope(ctx: Context) -> list[str]:
    """The waves a run lands, judged together first: every wave for a plain ``doit``, the named ones for
    ``doit wave_b``, none when only slices are named (each judges itself)."""
    req = request()
    if not req.runs or not ctx.cfg.batch:
        return []
    if not req.tasks or "batch" in req.tasks:
        return [w.name for w in ctx.cfg.waves]
    return [w.name for w in ctx.cfg.waves if f"wave_{w.name}" in req.tasks]


def _batch_task(ctx: Context, plan: dict[str, Any] | None) -> dict[str, Any]:
    """``batch``: before any slice the run reaches, what they all need (``actions.preconditions``), then the union
    of the run's file slices judged once (``tasks.engine.batch``)."""
    waves = batch_scope(ctx)
    members = reached([(w["name"], w["slices"]) for w in plan["waves"]], request()) if plan else []
    if not members:
        return {"basename": "batch", "doc": GROUP_DOCS["batch"], "actions": None, "uptodate": [True]}

    def settled() -> bool:  # no slice of it will run: nothing to judge, not even from its record
        return all(_done(ctx, plan, n) for n in members)

    return {
        "basename": "batch",
        "doc": GROUP_DOCS["batch"],
        "actions": [(actions.do_batch, [ctx, waves, members])],
        "task_dep": ["images", "plan"],
        "file_dep": ["reports/plan.json"],
        # when a slice will run, the same changes on the same tip with the same checks are answered from the
        # record (no check runs)
        "uptodate": [settled],
        "verbosity": 2,
    }


def _dry_tasks(ctx: Context, wave: str, members: list[str], docs: dict[str, str],
               after: list[str]) -> Iterator[dict[str, Any]]:
    """``dry=1``: each slice simulated (``actions.do_dry_slice``), the wave writing the dry-run report."""
    for i, name in enumerate(members, 1):
        yield {"basename": "import", "name": name, "actions": None, "task_dep": ["plan"], "uptodate": [False]}
        yield {"basename": "validate", "name": name, "uptodate": [False], "verbosity": 2,
               "actions": [(actions.do_dry_slice, [ctx, name, f"wave {wave} {i}/{len(members)}"])],
               "task_dep": ["plan", f"import:{name}", *after]}
    yield {"basename": f"wave_{wave}", "doc": docs[f"wave_{wave}"], "actions": [(actions.do_dry_wave, [ctx, wave])],
           "task_dep": ["plan", *after, *(f"validate:{n}" for n in members)], "uptodate": [False], "verbosity": 2}


_DRIFTS: dict[str, Any] = {}


def _done(ctx: Context, plan: dict[str, Any] | None, name: str) -> bool:
    """Settled — or left for a person with every input as it was: nothing to run either way."""
    if plan is None:
        return False
    from tasks.core.drift import Drift
    from tasks.core.plan import Plan
    from tasks.engine.pipeline import SliceRun

    if id(plan) not in _PLANS:
        _PLANS[id(plan)] = Plan.from_json(plan)
    typed = _PLANS[id(plan)]
    slice_ = typed.slice(name)
    source = slice_.source or ctx.sources[0]
    c = ctx.for_source(source)
    if source not in _DRIFTS:
        path = c.ws.source_report("drift.json")
        _DRIFTS[source] = Drift.from_json(read_json(path)) if path.exists() else None
    if _DRIFTS[source] is None:
        return False
    job = SliceRun(c.cfg, c.ws, c.ws.mirror, typed.view(slice_), _DRIFTS[source], slice_)
    mode = _mode(c)
    return status.is_done(c.cfg, c.ws, job.plan, name, lambda: mode.inputs(job))


_PLANS: dict[int, Any] = {}


PERSON = {"resolve": "per slice, when asked: commit your resolution of its conflicts on the sync branch "
                      "(the edited conflict files, or path=<p> take=fork|upstream); the next doit validates it",
          "rollback": "per slice, when asked: revert what it landed on the sync branch (your checkout is not "
                      "touched); the next runs leave it alone until upstream changes it",
          "readopt": "per slice, when asked: stop honouring its rollbacks; the next doit imports it again"}


# the slice groups' descriptions (their creators are made from the plan, so doit has no docstring for them)
GROUP_DOCS = {"import": "per slice: its import manifest (files with upstream, fork and base entries, commits)",
              "validate": "per slice: import onto the sync branch in a private worktree, validate, adopt or split",
              "batch": "judge everything the run lands at once, before any slice; search it only when it fails "
                       "(reports/batch.json)",
              **PERSON}


def person_only() -> bool:
    """Only a person's commands on the command line (``doit resolve:slice-58 path=… take=fork``).

    They name a slice of the plan that printed them, so they act on ``reports/plan.json`` as it stands:
    nothing is fetched, compared or planned first — another ``batch_size=``, new upstream commits or a
    changed config would re-cut the plan, and ``slice-58`` would be other files or none.
    """
    asked = request().tasks
    return request().runs and bool(asked) and all(":" in t and t.split(":", 1)[0] in PERSON for t in asked)


def _person_tasks(ctx: Context, docs: dict[str, str]) -> Iterator[dict[str, Any]]:
    """``doit resolve:slice-3`` and friends: only ever made when asked for by name (never by a plain `doit`)."""
    alone = person_only()
    for group in PERSON:
        yield {"basename": group, "name": None, "doc": docs[group]}
        for name in _requested(group) if request().runs else ():
            yield {"basename": group, "name": name, "actions": [(getattr(actions, f"do_{group}"), [ctx, name])],
                   "task_dep": [] if alone else ["plan"], "uptodate": [False], "verbosity": 2}


def _wave_task(ctx: Context, wave: str, members: list[str], docs: dict[str, str]) -> dict[str, Any]:
    plan = _plan()

    def settled() -> bool:  # a wave with work left runs again (its joint retry) unless nothing it holds changed
        return all(_done(ctx, plan, n) for n in members)

    def verified() -> bool:  # the run's last wave verifies the tip: again until it passed on the tip as it is
        from tasks.engine import verify

        return verify.all_passed(ctx.pulled_views())

    closing = wave == closing_wave([w.name for w in ctx.cfg.waves])

    return {
        "basename": f"wave_{wave}",
        "doc": docs[f"wave_{wave}"],
        "actions": [(actions.do_wave, [ctx, wave, closing])],
        "task_dep": ["plan"] + [f"validate:{n}" for n in members],
        # the plan too: a wave the plan leaves empty would otherwise have no dependency and run every time
        "file_dep": ["reports/plan.json"] + [f"reports/slices/{n}/outcome.json" for n in members],
        "targets": [f"reports/wave-{wave}/report.md", f"reports/wave-{wave}/junit.xml"],
        "uptodate": [settled, *([verified] if closing and any(ctx.for_source(n).cfg.current.verify
                                                               for n in ctx.pulled) else [])],
        "clean": _cleans((clean.remove, [ctx.ws, [f"reports/wave-{wave}"]])),
        "verbosity": 2,
    }


def task_report() -> dict[str, Any]:
    """reports/summary.json, every wave report and the dashboard (reports/index.html, dashboard.md), from the
    slices' latest outcomes."""
    ctx = context()
    if ctx.dry:  # a dry run writes reports/dry-run.* only
        return {"actions": None, "uptodate": [True]}

    def unchanged(task: Any, values: dict[str, Any]) -> bool:
        return values.get("digest") == status.outcomes_digest(ctx.ws)

    return {
        "actions": [(actions.do_report, [ctx])],
        "task_dep": ["plan"],
        "targets": [ctx.ws.rel(ctx.ws.reports / "dashboard.md"), ctx.ws.rel(ctx.ws.reports / "index.html")],
        "uptodate": [unchanged],
        "clean": _cleans((clean.remove, [ctx.ws, ["reports/summary.json", "reports/dashboard.md",
                                                   "reports/index.html"]])),
        "verbosity": 2,
    }


def task_publish() -> dict[str, Any]:
    """Push the sync branch and open or update its pull request, with the reports as its body (`doit publish`)."""
    ctx = context()
    cleans = _cleans((clean.remove, [ctx.ws, ["reports/publish.json", "reports/pr.md"]]))
    if "publish" not in request().tasks:  # never part of a plain `doit`: publishing is asked for by name
        return {"actions": None, "uptodate": [True], "clean": cleans}
    # no task_dep: it publishes what the last run left (a wave with work left fails its task, and
    # a draft pull request is just what that work needs); the action itself is a no-op when
    # nothing changed since the last publish (reports/publish.json)
    if ctx.dry:  # what it would push and open, after whatever else this dry run simulates
        later = [t for t in request().tasks if t != "publish"]
        alone = not later  # `doit publish dry=1`: what publishing what the last real run left would do
        later += ["export"] if ctx.pushed else []
        return {"actions": [(actions.do_dry_publish, [ctx, alone])], "task_dep": later, "uptodate": [False],
                "verbosity": 2}
    return {"actions": [(actions.do_publish, [ctx])], "uptodate": [False], "clean": cleans, "verbosity": 2}


def task_history() -> dict[str, Any]:
    """The recent runs from the ledger (reports/ledger.sqlite) as a table; format=json for machines, limit=N."""
    if "history" not in request().tasks:  # asked for by name only; it reads, never takes the lock
        return {"actions": None, "uptodate": [True]}
    return {"actions": [(actions.do_history, [context()])], "uptodate": [False], "verbosity": 2}


def task_ci() -> dict[str, Any]:
    """Write the CI files from the sources' schedule: keys: .github/workflows/forkwave.yml and .gitlab-ci.yml."""
    if "ci" not in request().tasks:  # asked for by name only
        return {"actions": None, "uptodate": [True]}
    return {"actions": [(actions.do_ci, [context()])], "uptodate": [False], "verbosity": 2}


def task__workspace() -> dict[str, Any]:
    """`doit clean` with no task (or -a) resets the workspace: reports/ and .forkwave/ (never the fork's branches;
    the ledger and the verdict memo unless all=1, see ``tasks.clean.reset``)."""
    ctx = context()
    # the node images this workspace used first: their record lives in .forkwave/cache, which the reset removes
    return {"actions": None, "uptodate": [True],
            "clean": [(_clean_images, [ctx]), (clean.reset, [ctx.ws, ctx.cfg.fork.path])]}
