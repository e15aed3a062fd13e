"""forkwave: keep a fork in sync with its upstream, as a doit task graph.

    doit                      the whole pipeline (bundled demo when there is no forkwave.yaml)
    doit drift config=PATH    one step, on your own config
    doit wave_a               import and validate every slice of wave a
    doit validate:slice-3     one slice
    doit publish              push the sync branch, open or update its pull request
    doit history              the recent runs from the ledger (format=json for machines)
    doit ci                   write the GitHub Actions workflow and GitLab CI file from the schedules
    doit list                 every task
    doit clean [TASK]         remove what forkwave generated (no task: reset the workspace, the
                              ledger and the verdict memo kept; all=1 removes them too)
    doit help [TASK]          the tasks a person uses and the variables; one task and its variables

Installed, ``forkwave`` is the same command line (``tasks/console.py``: ``doit -f <this file> -d .``, the
current directory the workspace): ``forkwave``, ``forkwave wave_a``, ``forkwave help``. In a checkout,
``dodo.py`` at its root reads this file, so ``doit`` there runs the same tasks.

This file is a table of contents: the creators live in ``tasks/graph.py``, the command line
(reporter, exit codes, unknown names and variables) in ``tasks/cli.py``, the variables in
``tasks/context.py``, forkwave's versions of doit's own commands (help, forget, dumpdb) in
``tasks/commands.py``.
"""
from tasks import cli, doitstate

cli.refuse_unknown_variables()      # `doit dyr=1`: one line and exit 1, before the config is read or anything runs
from tasks.graph import (  # noqa: E402, F401  (after the check above, so a typo costs no import)
    slice_creators, task__workspace, task_base, task_ci, task_demo, task_drift, task_export, task_fetch, task_history,
    task_images, task_plan, task_post, task_pre, task_publish, task_report,
)

globals().update(slice_creators())  # task_import, task_validate, task_wave_<x> (after plan, from reports/plan.json)
cli.refuse_unknown(globals())       # `doit wavex`: one line and exit 1 (doit alone: exit 3)

doitstate.install(read_only=cli.reads_only())  # doit's state: atomic, an unreadable one set aside; `doit history`
                                                # saves none (it runs beside a run that will save its own)

DOIT_CONFIG = {
    "dep_file": cli.dep_file(),  # reports/.doit.json; dry=1 keeps its own (nothing of a real run's state moves)
    "backend": "json",
    "verbosity": 2,
    # a slice that is not adopted fails its task; the wave goes on with the next slice
    "continue": True,
    # quiet output, a summary line, forkwave's exit codes (0 adopted, 1 usage, 2 work left, 3 failure)
    "reporter": cli.Reporter,
}
