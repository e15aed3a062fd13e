"""forkwave's versions of doit's own commands, registered as doit command plugins (pyproject.toml).

doit's ``help`` knows nothing of forkwave, and some of its commands end in a traceback on a
forkwave workspace (``forget`` with no task, ``dumpdb`` on forkwave's JSON state). When the
dodo file is forkwave's, these answer instead:

- ``doit help``: the tasks a person uses and the command-line variables; ``doit help TASK``: the
  task's doc and the variables it reads (an unknown name gets "did you mean", exit 1);
  ``doit help clean``: doit's help, then the variables forkwave adds to the command;
- ``doit forget`` with no task: one line naming the two ways to say what to forget, exit 1;
- ``doit dumpdb``: doit's saved state as forkwave keeps it (``reports/.doit.json``);
- any other doit command that crashes: one line, exit 3, instead of doit's traceback.

With another project's dodo file each is doit's own command, unchanged: the plugins are
installed for every doit in the environment, and must not change what others see.
"""
from __future__ import annotations

import inspect
import json
import pprint
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from doit import cmd_clean, cmd_completion, cmd_dumpdb, cmd_forget, cmd_help, cmd_ignore, cmd_info, cmd_list
from doit import cmd_resetdep, cmd_strace
from doit.cmd_base import DoitCmdBase
from doit.cmdparse import CmdParseError
from doit.exceptions import InvalidCommand, InvalidDodoFile, InvalidTask

from tasks import exitcodes
from tasks.cli import either, suggest
from tasks.context import EVERY, VARIABLES, Variable
from tasks.redact import redact_text

DODOS = (Path(__file__).resolve().parent / "dodo.py",          # the table of contents (`forkwave` loads it)
         Path(__file__).resolve().parent.parent / "dodo.py")   # a checkout's, which reads it
STATE = Path("reports") / ".doit.json"  # tasks.cli.dep_file(): where doit keeps its state for forkwave
# doit reports these itself in one line ("ERROR: ..."); they are no crash
DOIT_ERRORS = (CmdParseError, InvalidCommand, InvalidDodoFile, InvalidTask)

# The tasks a person uses, as `doit help` shows them (doit list has every task).
GUIDE: tuple[tuple[str, str], ...] = (
    ("doit", "the whole pipeline: fetch, drift, plan, every wave's slices, report (the demo without a config)"),
    ("doit wave_a", "fetch, drift, plan, then import and validate every slice of wave a"),
    ("doit validate:slice-3", "one slice again (after fixing the fork, say)"),
    ("doit resolve:slice-3", "commit your resolution of the slice's conflicts on the sync branch"),
    ("doit rollback:slice-3", "revert what the slice landed; `doit readopt:slice-3` takes it again"),
    ("doit publish", "push the sync branches, open or update the pull request, automerge by risk"),
    ("doit history", "the recent runs from the ledger"),
    ("doit drift", "one step and what it needs: fetch, base, drift, plan, report, pre, post, export"),
    ("doit images", "build the validation images locally"),
    ("doit ci", "write the CI files from the sources' schedules"),
    ("doit list [--all]", "every task (--all: every slice, once plan has run)"),
    ("doit clean [TASK]", "remove what forkwave generated; with no task the ledger and the verdict memo stay"),
    ("doit help TASK", "one task: what it does and the variables it reads"),
)


def is_forkwave(values: Mapping[str, Any]) -> bool:
    """Is the dodo file doit will load (``-f``, ``-k``, else ./dodo.py) forkwave's own?"""
    dodo = Path(values.get("dodoFile") or "dodo.py")
    if values.get("seek_file") and not dodo.is_absolute():
        dodo = next((d / dodo for d in (Path.cwd(), *Path.cwd().parents) if (d / dodo).exists()), dodo)
    try:
        return dodo.resolve() in DODOS
    except OSError:
        return False


class _Guarded:
    """A doit command that, on forkwave's dodo file, turns a crash into one line and exit 3."""

    in_forkwave = False

    def execute(self, params: Any, args: Sequence[str]) -> Any:
        self.in_forkwave = is_forkwave({**getattr(self, "opt_vals", {}), **dict(params)})
        return self._guard(super().execute, params, args)  # type: ignore[misc]

    def _guard(self, call: Any, *args: Any) -> Any:
        if not self.in_forkwave:
            return call(*args)
        try:
            return call(*args)
        except DOIT_ERRORS:
            raise
        except Exception as exc:
            name = getattr(self, "name", "?")
            why = redact_text(f"{type(exc).__name__}: {exc}".splitlines()[0])
            print(f"forkwave: error: `doit {name}` crashed inside doit ({why}); `doit help {name}` shows "
                  "its usage", file=sys.stderr)
            return exitcodes.FAILURE


# --- help ------------------------------------------------------------------------------------

def _variable_rows(variables: Sequence[Variable]) -> list[str]:
    width = max((len(v.shape) for v in variables), default=0)
    return [f"  {v.shape:<{width}}  {v.about}" for v in variables]


def overview() -> str:
    """`doit help` on forkwave: the tasks a person uses, then every variable and who reads it."""
    width = max(len(c) for c, _ in GUIDE)
    lines = ["forkwave: keep a fork in sync with where its changes come from, as a doit task graph", "",
             "Tasks a person uses:"]
    lines += [f"  {c:<{width}}  {what}" for c, what in GUIDE]
    lines += ["", "Variables (key=value anywhere on the command line; any other name is an error):"]
    shape = max(len(v.shape) for v in VARIABLES)
    for v in VARIABLES:
        who = "every task" if EVERY in v.tasks else ", ".join(v.tasks)
        lines.append(f"  {v.shape:<{shape}}  {who}: {v.about}")
    lines += ["", "`doit help TASK` describes a task and its variables; `doit help COMMAND` a doit command "
              "(run, list, info, forget, clean, ignore, dumpdb); docs/ has the rest (docs/reference/commands.md)."]
    return "\n".join(lines)


def task_help(name: str, doc: str) -> str:
    """One task's help: its doc, the variables it reads itself, and those every task reads."""
    own = [v for v in VARIABLES if v.read_by(name)]
    lines = [f"doit {name}", "", inspect.cleandoc(doc or "(no description)"), ""]
    if own:
        lines += ["Variables it reads:", *_variable_rows(own), ""]
    lines += ["Variables every task reads:", *_variable_rows([v for v in VARIABLES if EVERY in v.tasks])]
    return "\n".join(lines)


def _doc(task: Any, namespace: Mapping[str, Any]) -> str:
    """The whole docstring of the task's creator when it has its own (doit keeps the first line only)."""
    creator = namespace.get(f"task_{task.name}") if ":" not in task.name else None
    return (getattr(creator, "__doc__", None) or task.doc or "").strip()


class Help(_Guarded, cmd_help.Help):
    def execute(self, params: Any, args: Sequence[str]) -> Any:
        self.in_forkwave = is_forkwave({**self.opt_vals, **dict(params)})
        return self._guard(self._help, params, args)

    def _help(self, params: Any, args: Sequence[str]) -> Any:
        if not self.in_forkwave or (args and args[0] == "task") or len(args) > 1:
            return cmd_help.Help.execute(self, params, args)
        if not args:
            print(overview())
            return 0
        if args[0] in self.cmds:  # doit's help for its command, then what forkwave adds to it
            code = cmd_help.Help.execute(self, params, args)
            own = [v for v in VARIABLES if v.read_by(args[0])]
            if own:
                print("forkwave's variables for it:\n" + "\n".join(_variable_rows(own)))
            return code
        return DoitCmdBase.execute(self, params, args)  # loads the tasks, then _execute

    def _execute(self, pos_args: Sequence[str]) -> int:
        name = pos_args[0]
        tasks = {t.name: t for t in self.task_list}
        if name not in tasks:
            guess = suggest(name, list(tasks))
            hint = f" (did you mean {either(guess)}?)" if guess else ""
            listed = "doit list --all" if ":" in name else "doit list"
            print(f"forkwave: error: unknown task {name!r}{hint}; `{listed}` shows the tasks", file=sys.stderr)
            return exitcodes.USAGE
        print(task_help(name, _doc(tasks[name], self.loader.namespace or {})))
        return 0


# --- forget, dumpdb ----------------------------------------------------------------------------

class Forget(_Guarded, cmd_forget.Forget):
    def _execute(self, forget_sub: bool, forget_disable_default: bool, forget_all: bool) -> Any:
        if self.in_forkwave and not (self.sel_tasks or forget_all or forget_disable_default):
            print("forkwave: error: `doit forget` needs a task: `doit forget drift` runs drift (and what needs "
                  "it) again next time; `doit forget --all` forgets every task", file=sys.stderr)
            return exitcodes.USAGE
        return super()._execute(forget_sub, forget_disable_default, forget_all)


class DumpDB(_Guarded, cmd_dumpdb.DumpDB):
    """doit's dumpdb reads dbm files only; forkwave keeps doit's state as JSON (``reports/.doit.json``)."""

    def execute(self, opt_values: Any, pos_args: Sequence[str]) -> Any:
        self.in_forkwave = is_forkwave(self.opt_vals)
        if not self.in_forkwave:
            return cmd_dumpdb.DumpDB.execute(self, opt_values, pos_args)
        return self._guard(self._dump, opt_values, pos_args)

    def _dump(self, opt_values: Any, pos_args: Sequence[str]) -> Any:
        given = opt_values.get("dep_file")
        default = cmd_dumpdb.opt_depfile["default"]
        path = Path(given) if given and given != default else Path(self.opt_vals.get("cwdPath") or ".") / STATE
        if not path.is_file():
            print(f"forkwave: error: no doit state at {path}: nothing has run in this workspace yet "
                  "(or give --db-file PATH)", file=sys.stderr)
            return exitcodes.USAGE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):  # not forkwave's JSON: a dbm file doit reads itself
            return cmd_dumpdb.DumpDB.execute(self, {**opt_values, "dep_file": str(path)}, pos_args)
        print(f"doit state in {path} (JSON)")
        for key, value in state.items():
            print(f"{key} -> {pprint.pformat(value, indent=4, width=100)}")
        return 0


# --- the other commands: doit's own, with a crash as one line ---------------------------------

class List(_Guarded, cmd_list.List):
    pass


class Info(_Guarded, cmd_info.Info):
    pass


class Clean(_Guarded, cmd_clean.Clean):
    pass


class Ignore(_Guarded, cmd_ignore.Ignore):
    pass


class ResetDep(_Guarded, cmd_resetdep.ResetDep):
    pass


class Strace(_Guarded, cmd_strace.Strace):
    pass


class TabCompletion(_Guarded, cmd_completion.TabCompletion):
    pass
