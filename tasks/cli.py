"""The command line as a person sees it: what was asked for, unknown names, quiet output, one summary line.

doit decides its own exit code (0, 1 for a failed task, 2 for an error, 3 before any task
ran). forkwave's codes (``tasks.exitcodes``) are applied in two places:

- before any task runs: an unknown command-line variable (``refuse_unknown_variables``), a
  bad config (``tasks.context``) or an unknown task name (``refuse_unknown``, with "did you
  mean") prints one line and exits 1 while doit loads the dodo file (doit alone would say 3);
- after the run: ``Reporter.complete_run`` raises ``SystemExit`` with the code. doit calls it
  last, from ``Runner.finish()``, after ``dep_manager.close()`` saved its state and after the
  teardowns; ``SystemExit`` is not an ``Exception``, so it passes doit's handlers, and the
  interpreter still runs the ``atexit`` hooks (the run ledger) on its way out.
"""
from __future__ import annotations

import difflib
import os
import re
import sys
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from doit.exceptions import UnmetDependency
from doit.reporter import ConsoleReporter

from tasks import exitcodes
from tasks.errors import Failed, Held, NotRun
from tasks.workspace import read_json

SHOW_TASKS = "FORKWAVE_SHOW_TASKS"  # =1: also print doit's own task lines (`.  name` ran, `-- name` up to date)
NAME_COMMANDS = ("run", "list", "info", "clean", "forget", "ignore", "reset-dep", "strace")  # take task names


# --- what doit was asked to do ------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    command: str                 # run, list, clean, forget, info, ...
    tasks: tuple[str, ...] = ()  # task names (or targets) as given, without doit's variables

    @property
    def runs(self) -> bool:
        """Will doit execute task actions (only ``run`` creates delayed tasks)?"""
        return self.command == "run"


def parse(argv: Sequence[str]) -> Request:
    """What doit will do with ``argv`` (``sys.argv[1:]``), read with doit's own option tables.

    >>> parse(["-f", "dodo.py", "-d", "ws", "wave_a", "config=x.yaml"])
    Request(command='run', tasks=('wave_a',))
    >>> parse(["clean", "--dry-run", "drift"])
    Request(command='clean', tasks=('drift',))
    """
    from doit.cmd_base import DodoTaskLoader
    from doit.cmdparse import CmdOption, CmdParse, CmdParseError
    from doit.doit_cmd import DoitMain

    commands = {cls.get_name(): cls for cls in DoitMain.DOIT_CMDS}
    args = [a for a in _after_loader_options(argv) if not _is_variable(a)]
    command = args.pop(0) if args and args[0] in commands else "run"
    cls = commands[command]
    options = getattr(cls, "base_options", ()) + DodoTaskLoader.cmd_options + tuple(cls.cmd_options)
    try:
        _, positional = CmdParse([CmdOption(o) for o in options]).parse_only(args)
    except CmdParseError:  # doit reports a bad option itself
        return Request(command)
    return Request(command, tuple(a for a in positional if not a.startswith("-")))


def _after_loader_options(argv: Sequence[str]) -> list[str]:
    """``argv`` without doit's loader options (-f, -d, -k), which doit reads first, as it does."""
    from doit.cmd_base import DodoTaskLoader
    from doit.cmdparse import CmdOption, CmdParse, CmdParseError

    try:
        return CmdParse([CmdOption(o) for o in DodoTaskLoader.cmd_options]).parse_only(list(argv))[1]
    except CmdParseError:  # doit goes on with the whole command line, and so do we
        return list(argv)


def _is_variable(arg: str) -> bool:
    """doit's rule for a command-line variable (``key=value``), wherever it stands."""
    return arg[:1] != "-" and "=" in arg


def variables(argv: Sequence[str]) -> dict[str, str]:
    """The command-line variables in ``argv`` (``sys.argv[1:]``), as doit's ``get_var`` will see them.

    >>> variables(["-f", "dodo.py", "-d", "ws", "wave_a", "config=x=y.yaml", "dyr=1"])
    {'config': 'x=y.yaml', 'dyr': '1'}
    """
    return dict(a.split("=", 1) for a in _after_loader_options(argv) if _is_variable(a))


def close_matches(word: str, choices: Sequence[str]) -> list[str]:
    """The choices ``word`` was most likely meant to be (a typo's "did you mean"): the closest, ties kept in order.

    >>> close_matches("dyr", ["dry", "direction", "full"]), close_matches("wavea", ["wave_a", "wave_b", "plan"])
    (['dry'], ['wave_a'])
    >>> close_matches("wavex", ["wave_a", "wave_b"]), close_matches("zzz", ["plan"])
    (['wave_a', 'wave_b'], [])
    """
    scores = {c: difflib.SequenceMatcher(None, word, c).ratio() for c in choices}  # difflib's own cutoff: 0.6
    best = max(scores.values(), default=0.0)
    return [c for c, score in scores.items() if score >= max(best, 0.6)][:5]


def either(items: Sequence[str]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [repr(i) for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def refuse_unknown_variables(argv: Sequence[str] | None = None) -> None:
    """A ``key=value`` forkwave does not read (``dyr=1``): one line and exit 1, before anything runs.

    doit would hand it to nobody and run the real pipeline; a typo'd ``dry=1`` must not land work.
    The value is not repeated: it may be a credential typed in the wrong place.
    """
    from tasks.context import VARIABLES

    known = [v.name for v in VARIABLES]
    bad = [name for name in variables(sys.argv[1:] if argv is None else argv) if name not in known]
    if not bad:
        return
    name = bad[0]
    guess = close_matches(name, known)
    hint = f" (did you mean {either([g + '=' for g in guess])}?)" if guess else ""
    print(f"forkwave: error: unknown variable {name}={hint}; the variables are "
          f"{', '.join(n + '=' for n in known)}; `doit help` says what each does", file=sys.stderr)
    raise SystemExit(exitcodes.USAGE)


DRY_STATE = ".forkwave/dry/doit.json"  # dry=1: doit's own state goes here, so reports/.doit.json stays as it was


def dep_file() -> str:
    """Where doit keeps its state this run: ``reports/.doit.json``, or apart from it for ``dry=1``."""
    from doit import get_var

    return DRY_STATE if (get_var("dry") or "").strip().lower() in {"1", "true", "yes", "on"} else "reports/.doit.json"


@lru_cache(maxsize=1)
def request() -> Request:
    """This process's request (the doit command line)."""
    return parse(sys.argv[1:])


READ_ONLY = ("history", "ci")  # commands that read the ledger or the config only: no lock, no doit state, no summary


def reads_only(req: Request | None = None) -> bool:
    """Only read-only tasks asked for (``doit history``): they run beside a run holding the lock."""
    req = req or request()
    return req.runs and bool(req.tasks) and all(t in READ_ONLY for t in req.tasks)


# the task groups of a sync run (``wave_<x>`` too); a person's commands, history, ci, images are none
PIPELINE = ("fetch", "base", "drift", "pre", "plan", "import", "validate", "report", "post", "export", "publish")


def is_run(req: Request | None = None) -> bool:
    """Is this doit command a run of the ledger: a plain ``doit``, or one that names a task of the pipeline?

    A run is recorded from its start, even when every task is up to date (a run with nothing new
    is a run); a person's command (``doit resolve:slice-3``) is not one.

    >>> is_run(Request("run")), is_run(Request("run", ("wave_b",))), is_run(Request("run", ("publish",)))
    (True, True, True)
    >>> is_run(Request("run", ("resolve:slice-3",))), is_run(Request("run", ("history",))), is_run(Request("list"))
    (False, False, False)
    """
    req = req or request()
    if not req.runs or reads_only(req):
        return False
    return not req.tasks or any(t.split(":")[0] in PIPELINE or t.startswith("wave_") for t in req.tasks)


def closing_wave(waves: Sequence[str], req: Request | None = None) -> str | None:
    """The last wave this run reaches, after which each source's ``verify:`` runs: the last wave for a plain
    ``doit`` (or ``doit post``, which waits for every wave), else the last of the waves named; None when the
    run reaches no wave task (``doit validate:slice-3``, ``doit drift``).

    >>> closing_wave(["a", "b"], Request("run")), closing_wave(["a", "b", "c"], Request("run", ("wave_b", "wave_a")))
    ('b', 'b')
    >>> closing_wave(["a", "b"], Request("run", ("post",))), closing_wave(["a", "b"], Request("run", ("drift",)))
    ('b', None)
    """
    req = req or request()
    if not waves:
        return None
    if not req.tasks or "post" in req.tasks:
        return waves[-1]
    named = [w for w in waves if f"wave_{w}" in req.tasks]
    return named[-1] if named else None


def reached(waves: Sequence[tuple[str, Sequence[str]]], req: Request | None = None) -> list[str]:
    """The slices a run is asked to reach, in plan order (``waves``: the plan's, wave -> slice names): every one
    for a plain ``doit`` (``post`` and ``batch`` wait for every wave), a named wave's, a named slice's.

    >>> waves = [("a", ["slice-1", "slice-2"]), ("b", ["slice-3"])]
    >>> reached(waves, Request("run")), reached(waves, Request("run", ("wave_b",)))
    (['slice-1', 'slice-2', 'slice-3'], ['slice-3'])
    >>> reached(waves, Request("run", ("validate:slice-2", "drift"))), reached(waves, Request("run", ("drift",)))
    (['slice-2'], [])
    """
    req = req or request()
    every = [n for _, names in waves for n in names]
    if not req.runs:
        return []
    if not req.tasks or "post" in req.tasks or "batch" in req.tasks:
        return every
    named = {n for w, names in waves if f"wave_{w}" in req.tasks for n in names}
    named |= {t.partition(":")[2] for t in req.tasks if t.partition(":")[0] == "validate"}
    return [n for n in every if n in named]


def phase_of(task: str, wave_of: Any = None) -> str | None:
    """The phase of the run a task is (the ledger names it when the run dies there); None: no phase of its own.

    ``wave_of(slice)`` gives a slice's wave, for its import and validate tasks.

    >>> [phase_of(t) for t in ("fetch:web", "drift", "wave_b", "post", "publish", "export:sale", "images")]
    ['fetch web', 'drift', 'wave b', 'post-sync checks', 'publish', 'export sale', None]
    >>> phase_of("validate:slice-3", {"slice-3": "a"}.get)
    'wave a'
    """
    group, _, name = task.partition(":")
    if group.startswith("wave_"):
        return f"wave {group[len('wave_'):]}"
    if group in ("import", "validate"):
        wave = wave_of(name) if wave_of and name else None
        return f"wave {wave}" if wave else None
    named = {"pre": "pre-sync checks", "post": "post-sync checks", "base": "base detection"}.get(group, group)
    if group not in PIPELINE:
        return None
    return f"{named} {name}" if name else named


def refuse_unknown(namespace: Mapping[str, Any], req: Request | None = None) -> None:
    """Unknown task names on the command line: one line and exit 1, before anything runs."""
    req = req or request()
    if req.command not in NAME_COMMANDS or not req.tasks:
        return
    names = _creator_names(namespace)
    if all(name in names for name in req.tasks):  # the usual case: no need to load the tasks twice
        return
    from doit.doit_cmd import DoitMain
    from doit.loader import load_tasks

    tasks = load_tasks(dict(namespace), [c.get_name() for c in DoitMain.DOIT_CMDS], allow_delayed=req.runs)
    bad = unknown(req, tasks)
    if bad:
        guess = [g for name in bad for g in suggest(name, [t.name for t in tasks])]
        hint = f" (did you mean {either(list(dict.fromkeys(guess)))}?)" if guess else ""
        listed = "doit list --all" if any(":" in name for name in bad) else "doit list"
        print(f"forkwave: error: unknown task {', '.join(map(repr, bad))}{hint}; `{listed}` shows the tasks",
              file=sys.stderr)
        raise SystemExit(exitcodes.USAGE)


def suggest(name: str, names: Sequence[str]) -> list[str]:
    """The task names ``name`` was likely meant to be: a slice task by its group (the slice may be
    planned later), any other by the whole name; forkwave's private tasks are never suggested.

    >>> suggest("valdate:slice-1", ["validate", "import", "wave_a"]), suggest("wavea", ["wave_a", "wave_b"])
    (['validate:slice-1'], ['wave_a'])
    """
    public = [n for n in names if not n.startswith("_") and n != "slices"]
    group, sep, sub = name.partition(":")
    if sep:
        groups = list(dict.fromkeys(n.split(":", 1)[0] for n in public))
        if group not in groups:
            return [f"{g}:{sub}" for g in close_matches(group, groups)]
        return close_matches(name, [n for n in public if n.startswith(group + ":")])
    return close_matches(name, [n for n in public if ":" not in n])


def _creator_names(namespace: Mapping[str, Any]) -> set[str]:
    """Basenames the task creators in ``namespace`` stand for (delayed ones by their ``creates``)."""
    names: set[str] = set()
    for key, ref in namespace.items():
        if key.startswith("task_") and callable(ref):
            delayed = getattr(ref, "doit_create_after", None)
            names.update(delayed.creates if delayed and delayed.creates else [key[len("task_"):]])
    return names


def unknown(req: Request, tasks: Sequence[Any]) -> list[str]:
    """The names in ``req`` that doit would not find among ``tasks`` (doit ``Task`` objects).

    ``run`` also takes targets, ``*`` patterns, and subtasks of a delayed group (those are
    created after ``plan`` and checked then, see ``graph._unknown``); the other commands take
    task names only (``clean``: patterns too), as doit does.
    """
    by_name = {t.name: t for t in tasks}
    targets = {target for t in tasks for target in t.targets}
    regexes = [t.loader.target_regex for t in tasks if t.loader and t.loader.target_regex]

    def known(name: str) -> bool:
        if name in by_name or ("*" in name and req.command in ("run", "clean")):
            return True
        if not req.runs:
            return False
        group = by_name.get(name.split(":", 1)[0])
        return bool(name in targets or (group is not None and group.loader)
                    or any(re.match(r, name) for r in regexes))

    return [name for name in req.tasks if not known(name)]


# --- the run's output ---------------------------------------------------------------------

def summary_line(slices: Mapping[str, tuple[str, str]], code: int, stopped: Sequence[str] = (),
                 commits: Mapping[str, int] | None = None, reason: str | None = None, planned: int = 0,
                 demo: bool = False) -> str:
    """The run's last line: slice counts (and, for commit slices, the upstream commits), the report to open,
    what the exit status means — ``reason`` when the run knows it (a failed verification, a drift gate, an
    error), else the exit code's general meaning.

    ``slices``: slice name -> (wave, state) with state as ``Status.state`` gives it (``error``: a check could not
    run); ``commits``: the commit slices' counts added up (``tasks.core.outcome.add``), when there are any;
    ``planned``: how many slices the run was asked to reach — more than ran when an error stopped it; ``demo``:
    the bundled demo, which leaves work for a person on purpose and exits 0 for it (``exit_code``).

    >>> summary_line({"slice-1": ("a", "adopted"), "slice-2": ("b", "conflicted")}, 2)  # doctest: +NORMALIZE_WHITESPACE
    'forkwave: 2 slices: 1 adopted, 0 deferred, 1 conflicted; open reports/wave-b/report.md — exit 2: work left for a
    person (deferred or conflicted slices)'
    >>> summary_line({"slice-1": ("a", "adopted")}, 2, reason="verification failed for web: verify 'n': printed 4, "
    ...              "below expected_min 6")  # doctest: +NORMALIZE_WHITESPACE
    "forkwave: 1 slice: 1 adopted, 0 deferred, 0 conflicted; open reports/wave-a/report.md — exit 2: verification failed
    for web: verify 'n': printed 4, below expected_min 6"
    >>> summary_line({"slice-1": ("a", "conflicted"), "slice-2": ("a", "waiting")}, 2,  # doctest: +NORMALIZE_WHITESPACE
    ...              commits={"total": 40, "adopted": 2, "deferred": 0, "conflicted": 1, "waiting": 37, "skipped": 0})
    'forkwave: 2 slices: 0 adopted, 0 deferred, 1 conflicted, 1 waiting (commits: 2 of 40 adopted, 1 conflicted,
    37 waiting); open reports/wave-a/report.md — exit 2: work left for a person (deferred or conflicted slices)'
    >>> summary_line({}, 3, ["batch"], planned=12)  # doctest: +NORMALIZE_WHITESPACE
    'forkwave: 12 slices planned, none run; stopped before any slice (the error is above) — exit 3: forkwave or its
    environment failed'
    >>> summary_line({"slice-1": ("a", "adopted"), "slice-2": ("a", "error")}, 3,  # doctest: +NORMALIZE_WHITESPACE
    ...              ["validate:slice-2"], planned=12)
    'forkwave: 12 slices planned, 2 run: 1 adopted, 0 deferred, 0 conflicted, 1 error; 10 not run; open
    reports/wave-a/report.md; stopped at validate:slice-2 (the error is above) — exit 3: forkwave or its environment
    failed'
    >>> summary_line({"slice-1": ("a", "conflicted")}, 2, demo=True)  # doctest: +NORMALIZE_WHITESPACE
    'forkwave: 1 slice: 0 adopted, 0 deferred, 1 conflicted; open reports/wave-a/report.md — exit 0 (the bundled demo):
    a real run would exit 2: work left for a person (deferred or conflicted slices)'
    """
    parts = []
    if planned > len(slices):
        parts.append(f"{planned} slice{'' if planned == 1 else 's'} planned, "
                     + (f"{len(slices)} run: {_counts(slices, commits)}; {planned - len(slices)} not run"
                        if slices else "none run"))
    elif slices:
        n = len(slices)
        parts.append(f"{n} slice{'' if n == 1 else 's'}: {_counts(slices, commits)}")
    if slices:
        open_waves = sorted({w for w, s in slices.values() if s in ("deferred", "conflicted", "waiting", "error")}) \
            or sorted({w for w, _ in slices.values()})
        parts.append("open " + ", ".join(f"reports/wave-{w}/report.md" for w in open_waves))
    if stopped:  # the batch task is where what every slice needs is checked, before any of them
        where = "before any slice" if list(stopped) == ["batch"] else f"at {', '.join(stopped)}"
        parts.append(f"stopped {where} (the error is above)")
    meaning = reason or (exitcodes.MEANING[code] if slices or code else "done")
    shown = exit_code(code, demo)
    status = f"exit {code}" if shown == code else f"exit {shown} (the bundled demo): a real run would exit {code}"
    return f"forkwave: {'; '.join(parts) or 'done'} — {status}: {meaning}"


def exit_code(code: int, demo: bool) -> int:
    """The process's exit status: the run's code, but 0 for the bundled demo's work left for a person — the demo
    leaves it on purpose, and a first command should not end red. A failure or a usage error stays as it is.

    >>> exit_code(2, demo=True), exit_code(3, demo=True), exit_code(2, demo=False)
    (0, 3, 2)
    """
    return exitcodes.OK if demo and code == exitcodes.PERSON else code


def _counts(slices: Mapping[str, tuple[str, str]], commits: Mapping[str, int] | None) -> str:
    """``1 adopted, 0 deferred, 1 conflicted`` (waiting, rolled back and error only when there are any), and the
    commit slices' upstream commits."""
    counts = Counter(state for _, state in slices.values())
    shown = [s for s in ("adopted", "deferred", "conflicted", "waiting", "rolled back", "error")
             if counts[s] or s not in ("waiting", "rolled back", "error")]
    line = ", ".join(f"{counts[s]} {s}" for s in shown)
    if commits:
        line += f" (commits: {commits['adopted']} of {commits['total']} adopted" + "".join(
            f", {commits[k]} {k}" for k in ("deferred", "conflicted", "waiting", "skipped") if commits[k]) + ")"
    return line


def slice_states(reports: Path, names: Sequence[str]) -> tuple[dict[str, tuple[str, str]], dict[str, int] | None]:
    """(name -> (wave, summary state), the commit slices' counts added up or None) from each slice's
    ``outcome.json`` (slices without one are left out)."""
    from tasks.core.outcome import COMMITS, Outcome, Status, add

    found, outcomes = {}, []
    for name in names:
        path = reports / "slices" / name / "outcome.json"
        if path.exists():
            outcome = Outcome.from_json(read_json(path))
            outcomes.append(outcome)
            rolled_back = outcome.status.state == "rolled back"
            state = "conflicted" if outcome.conflicts and not rolled_back else outcome.status.state
            found[name] = (outcome.wave, "error" if outcome.status is Status.ERROR else state)  # judged nothing
    return found, add(o.counts() for o in outcomes).get(COMMITS)


def _left(state: str) -> bool:
    return state not in ("adopted", "rolled back")


def _position(task: Any) -> str | None:
    """``wave a 2/3``: the position the task's action was given (the last argument of do_validate)."""
    for action in getattr(task, "actions", ()):
        args = getattr(action, "args", None)
        if args and isinstance(args[-1], str) and args[-1].startswith("wave "):
            return args[-1]
    return None


def _begin_run(ctx: Any) -> None:
    """The run's lock and its ledger row, before any task (``tasks.engine.runlock``); the fork's lock and the
    journal's reconciliation wait for the first action that needs them (``actions._locked``)."""
    from tasks.engine import runlock

    path = ctx.ws.report("upstream.json")
    run = runlock.acquire(ctx.ws, read_json(path)["sha"] if path.exists() else None)
    run.targets = run.targets or ctx.pulled


class Reporter(ConsoleReporter):
    """doit's console reporter, quiet: forkwave's own lines, each error once, a summary line, the exit code.

    doit's per-task lines (``.  name`` ran, ``-- name`` up to date) show only with
    ``FORKWAVE_SHOW_TASKS=1``; its ``TaskFailed``/``UnmetDependency`` blocks never do: a
    failure forkwave expected was printed by the action, and a task whose dependency failed
    says nothing new. Anything else (a crash in an action, a doit error) is printed once, on
    stderr, and counts as a failure of forkwave (exit 3).
    """

    desc = "forkwave: quiet console output, a summary line and forkwave's exit codes"

    def __init__(self, outstream: Any, options: dict[str, Any]):
        super().__init__(outstream, options)
        self.show_tasks = os.environ.get(SHOW_TASKS, "") == "1" and not reads_only()  # history's JSON: all of stdout
        self.codes: list[int] = []
        self.stopped: list[str] = []
        self.slices: dict[str, None] = {}  # slices whose validate task this run reached, in order
        self.held = False  # a verification, pre-sync check or drift gate left work for a person (tasks.errors.Held)
        self.problems: list[Any] = []  # tasks.engine.runlock.Problem: what stopped or held each part, in order
        self.plan: Any = None  # tasks.core.plan.Plan, read once: slice tasks exist only once `plan` ran
        self.planned = False  # this run planned (or found its plan up to date): the plan's slices are this run's

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        from tasks.context import context

        ctx = context()
        ctx.ws.reports.mkdir(parents=True, exist_ok=True)  # doit saves its state there when the run ends
        if ctx.demo and not reads_only():  # `doit history format=json` in the demo: the JSON is all of stdout
            self.write(f"forkwave: no forkwave.yaml in {ctx.ws.root}: running the bundled demo "
                       f"(repositories in .forkwave/demo/); write a forkwave.yaml or pass config=PATH for your fork\n")
        if is_run() and not ctx.dry:  # recorded from its start: a run with nothing new is a run too
            from tasks.errors import user_errors

            begun = user_errors(_begin_run)(ctx)  # its error in one line (another run holds it, a full disk)
            if isinstance(begun, Failed):
                raise SystemExit(begun.exit_code) from None  # nothing runs

    def _seen(self, task: Any) -> None:
        group, _, name = task.name.partition(":")
        if group == "validate" and name:
            self.slices[name] = None
        self.planned = self.planned or task.name == "plan"

    def _wave_of(self, name: str) -> str | None:
        plan = self._plan()
        return next((s.wave for s in plan.slices if s.name == name), None) if plan is not None else None

    def execute_task(self, task: Any) -> None:
        self._seen(task)
        phase = phase_of(task.name, self._wave_of)
        if phase:
            from tasks.engine import runlock

            runlock.enter(phase)
        if self.show_tasks:
            super().execute_task(task)

    def skip_uptodate(self, task: Any) -> None:
        self._seen(task)
        if self.show_tasks:
            super().skip_uptodate(task)
        group, _, name = task.name.partition(":")
        if group == "validate" and name:
            self._unchanged(name, _position(task))

    def _unchanged(self, name: str, position: str | None) -> None:
        """A slice nothing changed for counts in the run as it stands (its wave's row in the ledger); one left for
        a person gets one line, as a run of it would say."""
        from tasks.context import context

        path = context().ws.reports / "slices" / name / "outcome.json"
        if not path.exists():
            return
        from tasks.core.outcome import Outcome

        outcome = Outcome.from_json(read_json(path))
        self._note_unchanged(outcome)
        if outcome.left:
            self.write(f"[{position or 'wave ' + outcome.wave}] {name}: {outcome.status} — unchanged since run "
                       f"{outcome.run or '?'} (same upstream, fork, checks and sync branch); nothing to run "
                       f"(reports/slices/{name}/report.md)\n")

    def _note_unchanged(self, outcome: Any) -> None:
        """A slice nothing changed for counts in this run's row of its wave as it stands: nothing landed by this
        run, what is left still left."""
        from tasks.engine import runlock

        run = runlock.current()
        plan = self._plan()
        if run is None or not runlock.recorded() or plan is None:
            return
        found = [s for s in plan.slices if s.name == outcome.slice]
        if found:  # an outcome of a slice the plan no longer has counts nowhere
            from tasks.context import context

            slice_ = found[0]
            run.record(outcome.slice, outcome, source=slice_.source or context().sources[0], wave=slice_.wave,
                       revision=plan.revision(slice_))

    def _plan(self) -> Any:
        """The plan (``tasks.core.plan.Plan``), read once; None before there is one."""
        if self.plan is None:
            from tasks.context import context
            from tasks.core.plan import Plan

            path = context().ws.report("plan.json")
            self.plan = Plan.from_json(read_json(path)) if path.exists() else None
        return self.plan

    def add_failure(self, task: Any, fail: Any) -> None:
        if isinstance(fail, UnmetDependency):  # its cause was reported where it happened
            return
        if isinstance(fail, NotRun):  # a run-wide error stopped it: said once, where it happened
            group, _, name = task.name.partition(":")
            self.slices.pop(name if group == "validate" else "", None)
            return
        from tasks.engine.runlock import Problem

        self.planned = self.planned and task.name != "plan"  # a failed plan left an earlier run's on disk
        code = getattr(fail, "exit_code", None)
        if code is None:  # not a failure forkwave expected: a crash or a doit error, shown once
            code = exitcodes.FAILURE
            sys.stderr.write(f"forkwave: error: {task.name}: {fail.get_msg().rstrip()}\n")
        self.codes.append(code)
        if code != exitcodes.PERSON or isinstance(fail, Held):
            self.stopped.append(task.name)
        self.held = self.held or isinstance(fail, Held)
        message = str(getattr(fail, "message", "") or "").strip() or f"{task.name} failed"
        self.problems.append(Problem(self._source_of(task.name), message.splitlines()[0], code))

    def _planned(self) -> int:
        """How many slices this run was asked to reach (``reached``), once it planned; 0 without a plan of its own
        (a drift gate or an error before ``plan``: the plan on disk is an earlier run's) or in a dry run."""
        from tasks.context import context

        plan = self._plan() if self.planned and not context().dry else None
        return len(reached(plan.waves)) if plan is not None else 0

    def _source_of(self, task: str) -> str | None:
        """The source a failed task worked for: ``fetch:web``'s, a slice's; None for the run's own steps."""
        from tasks.context import context

        ctx = context()
        group, _, name = task.partition(":")
        if group in ("fetch", "base", "drift", "export"):
            return name or (ctx.sources[0] if len(ctx.sources) == 1 else None)
        if group in ("import", "validate") and name:
            plan = self._plan()
            found = [s for s in plan.slices if s.name == name] if plan is not None else []
            return (found[0].source or ctx.sources[0]) if found else None   # a slice the plan lacks: no source
        return None

    def _held(self, left: bool) -> str | None:
        """Why the run exits 2 when no slice says it: what held it (each source's failed verification, a drift
        gate, a post-sync check...), after the slices left for a person. None: the slices say it all."""
        held = list(dict.fromkeys(p.message for p in self.problems if p.code == exitcodes.PERSON))
        if not held:
            return None
        return "; ".join(([exitcodes.MEANING[exitcodes.PERSON]] if left else []) + held)

    def _error(self, code: int) -> str | None:
        """The first error behind exit 1 or 3, for the ledger (the line above the last one printed it)."""
        return next((p.message for p in self.problems if p.code == code), None)

    def runtime_error(self, msg: str) -> None:
        self.codes.append(exitcodes.FAILURE)
        sys.stderr.write(f"forkwave: error: {msg.rstrip()}\n")

    def complete_run(self) -> None:
        from tasks.context import context

        crash = sys.exc_info()[1]  # doit calls us from a ``finally``: an exception may be on its way out
        if crash is not None and not isinstance(crash, Exception):
            return  # Ctrl-C or an exit on its way: let it end the run as it would without us
        if crash is not None:  # a bug (in a task creator, say): its traceback once, then the code for it
            sys.stderr.write("forkwave: error: forkwave crashed; this is a bug, please report it with this "
                             "traceback:\n" + "".join(traceback.format_exception(crash)))
            self.codes.append(exitcodes.FAILURE)
            self.stopped.append(type(crash).__name__)
        code = exitcodes.combine([*self.codes, *exitcodes.LATE])
        # a dry run reached the slices only to simulate them: their outcome files are an earlier run's
        states, commits = ({}, None) if context().dry else slice_states(context().ws.reports, list(self.slices))
        left = any(_left(s) for _, s in states.values())
        if code == exitcodes.OK and left:
            code = exitcodes.PERSON  # an outcome left for a person, even if its task did not fail
        elif code == exitcodes.PERSON and states and not left and not self.held:
            code = exitcodes.OK  # a later wave's joint retry landed what an earlier task left: the end state counts
        reason = self._held(left) if code == exitcodes.PERSON else None
        self._conclude(code, reason or self._error(code) or (exitcodes.MEANING[code] if code else None))
        if not (reads_only() and code == exitcodes.OK):  # `doit history format=json`: the JSON is all of stdout
            self.write(summary_line(states, code, self.stopped, commits, reason, self._planned(), context().demo)
                       + "\n")
        self.outstream.flush()
        raise SystemExit(exit_code(code, context().demo)) from None

    def _conclude(self, code: int, reason: str | None) -> None:
        """The run's status follows the exit code: the ledger and run-summary.json hear it before the run ends."""
        from tasks.engine import runlock

        run = runlock.current()
        if run is None or not runlock.recorded():
            return
        from tasks.context import context
        from tasks.engine import verify

        runlock.conclude(code, reason, self.problems, verify.standing(context().pulled_views()))
