"""forkwave: keep a fork in sync with its upstream, as a doit task graph.

    doit                      the whole pipeline (bundled demo when there is no forkwave.yaml)
    doit drift config=PATH    one step, on your own config
    doit wave_a               import and validate every slice of wave a
    doit validate:slice-3     one slice
    doit list                 every task

This file is a table of contents: the creators live in ``tasks/graph.py``.
"""
from tasks.graph import (  # noqa: F401
    slice_tasks, task_base, task_demo, task_drift, task_fetch, task_images, task_plan, task_report,
)

task_slices = slice_tasks()  # import:*, validate:*, wave_<x> (created after plan, from reports/plan.json)

DOIT_CONFIG = {
    "dep_file": "reports/.doit.json",
    "backend": "json",
    "verbosity": 2,
    # a slice that is not adopted fails its task; the wave goes on with the next slice
    "continue": True,
}
