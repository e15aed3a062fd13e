"""The words forkwave uses, as values: drift classes and slice outcomes (see DESIGN.md's vocabulary)."""
from __future__ import annotations

from typing import Literal

Entry = tuple[str, str] | None  # (mode, oid) or absent
Base = Entry | Literal[False]    # a triple's base entry; False when no base is known (2-way)

THREE_WAY = ("upstream-added", "upstream-changed", "upstream-deleted", "both-changed",
             "fork-added", "fork-changed", "fork-deleted")
TWO_WAY = ("missing", "differs", "extra")
ACTIONABLE = frozenset({"upstream-added", "upstream-changed", "upstream-deleted", "both-changed",
                        "missing", "differs"})
CLASSES = ("identical",) + THREE_WAY + TWO_WAY + ("blocked", "before-since", "ignored")
UPSTREAM_WORK = frozenset({"upstream-added", "upstream-changed", "upstream-deleted", "both-changed", "missing",
                           "differs"})

# slice outcomes: settled (nothing left to do), left for a person, or a check that could not run
SETTLED = ("adopted", "empty", "rolled-back")
FOR_A_PERSON = ("split", "reverted", "conflicted", "failed")
ERROR = "error"
