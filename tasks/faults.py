"""Named fault points, for the kill tests: ``FORKWAVE_FAULT=after-move:2`` SIGKILLs the run the second
time it reaches ``after-move``. Unset (always, outside tests), a point costs one dict lookup.

A test that kills a run at random moments rarely hits the instants that matter most (right
after the sync branch moved, before its record was written); these points let it aim there.
"""
from __future__ import annotations

import os
import signal

_HITS: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get("FORKWAVE_FAULT")
    if not wanted:
        return
    target, _, nth = wanted.partition(":")
    if target != name:
        return
    _HITS[name] = _HITS.get(name, 0) + 1
    if _HITS[name] == int(nth or 1):
        os.killpg(os.getpgrp(), signal.SIGKILL) if os.getpgrp() == os.getpid() else os.kill(os.getpid(), signal.SIGKILL)
