"""The commands reference page, generated: every task (from the creators' own docstrings and the slice groups'
descriptions ``doit list`` shows) and every command-line variable (``tasks.context.VARIABLES``), so the page
cannot drift from what ``doit help`` and ``doit list`` say.

    python -m tasks.commandref > docs/reference/commands.md
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

from tasks import exitcodes, graph
from tasks.commands import GUIDE
from tasks.context import EVERY, VARIABLES

REGENERATE = "python -m tasks.commandref > docs/reference/commands.md"
WAVE = "wave_<x>"   # one task per wave of the config: wave_a, wave_b, ...


def _first_paragraph(doc: str) -> str:
    return " ".join(inspect.cleandoc(doc).split("\n\n", 1)[0].split())


def creators() -> dict[str, Callable[..., object]]:
    """The task creators every config has (``task_<name>`` in ``tasks.graph``), forkwave's private ones left out."""
    return {name[len("task_"):]: ref for name, ref in vars(graph).items()
            if name.startswith("task_") and not name.startswith("task__") and callable(ref)}


def tasks() -> dict[str, str]:
    """Every task name (``wave_<x>`` for the waves) -> what it does, sorted as ``doit list`` sorts them."""
    found = {name: _first_paragraph(ref.__doc__ or "") for name, ref in creators().items()}
    found |= dict(graph.GROUP_DOCS)
    found[WAVE] = graph.wave_doc("<x>")
    return dict(sorted(found.items()))


def _cell(text: str) -> str:
    r"""Text for a table cell: ``|`` escaped, and ``<name>`` outside code spans written so that neither GitHub nor
    GitLab reads it as an HTML tag (which they would hide).

    >>> _cell("reports/sources/<name>/ for ``doit clean``; `wave_<x>` and push|both")
    'reports/sources/&lt;name&gt;/ for `doit clean`; `wave_<x>` and push\\|both'
    """
    parts = text.replace("``", "`").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;")
                    for i, p in enumerate(parts)).replace("|", "\\|")


def _readers(task: str) -> str:
    own = [f"`{v.name}=`" for v in VARIABLES if v.read_by(task)]
    return ", ".join(own)


def page() -> str:
    lines = ["# Commands and variables", "",
             f"<!-- Generated from tasks/graph.py and tasks/context.py by `{REGENERATE}`; do not edit. -->", "",
             "`doit TASK… key=value…` (installed: `forkwave TASK… key=value…`, the current directory being the",
             "workspace). `doit help` and `doit help TASK` print the same from the same tables;",
             "[Running forkwave](../guides/running.md) shows each command at work, and",
             "[exit codes](exit-codes.md) says what each run's code means.", "",
             "## What a person runs", "", "| command | what it does |", "|---|---|"]
    lines += [f"| `{command}` | {_cell(what)} |" for command, what in GUIDE]
    lines += ["", "## Tasks", "",
              "Every task `doit list` shows (`doit list --all` adds each slice once `plan` has run: "
              "`import:slice-3`, `validate:slice-3`, with several sources `validate:slice-web-3`). "
              "Tasks per source take its name: `fetch:web`, `drift:sale`.", "",
              "| task | what it does | variables it reads itself |", "|---|---|---|"]
    lines += [f"| `{name}` | {_cell(doc)} | {_readers(name)} |" for name, doc in tasks().items()]
    lines += ["", "## Variables", "",
              "`key=value` anywhere on the command line. Any other name is an error (exit "
              f"{exitcodes.USAGE}) with a \"did you mean\", before anything runs.", "",
              "| variable | read by | what it does |", "|---|---|---|"]
    for v in VARIABLES:
        who = "every task" if EVERY in v.tasks else ", ".join(f"`{t}`" for t in v.tasks)
        lines.append(f"| `{_cell(v.shape)}` | {who} | {_cell(v.about)} |")
    return "\n".join(lines) + "\n"


def _main() -> None:
    import sys

    sys.stdout.write(page())


if __name__ == "__main__":
    _main()
