"""forkwave pipeline steps: one module per step, plus the git plumbing and config they share."""
