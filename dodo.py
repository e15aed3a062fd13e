"""forkwave: keep a fork in sync with its upstream, as a doit task graph.

    doit                      the whole pipeline (bundled demo when there is no forkwave.yaml)
    doit drift config=PATH    one step, on your own config
    doit list                 every task

This file is a table of contents: the creators live in ``tasks/``.
"""
from tasks.graph import task_demo, task_drift, task_fetch, task_plan  # noqa: F401

DOIT_CONFIG = {
    "dep_file": "reports/.doit.json",
    "backend": "json",
    "verbosity": 2,
}
