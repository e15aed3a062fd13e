"""publish: push the sync branches, keep one pull request (or merge request) per branch, automerge by risk.

Above ``tasks/report`` (it reads the outcomes and reports) and ``tasks/git.py`` (plumbing): ``risk``
and ``body`` are pure, ``forge`` is the protocol every forge module implements (``github``,
``gitlab``, ``none``), ``push`` is the one place that pushes (GitPython), ``run`` ties them together.
"""
