"""forkwave in a checkout: ``doit`` here (or ``doit -f <checkout>/dodo.py -d <workspace>``) runs the tasks of
``tasks/dodo.py`` — the table of contents, and the dodo file of the installed ``forkwave`` command."""
from tasks.dodo import *  # noqa: F401,F403  (task creators and DOIT_CONFIG, as doit reads a dodo file's names)
