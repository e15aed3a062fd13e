"""doit's own state file (``reports/.doit.json``), written atomically and read back safely.

doit's json backend writes its state in place (``open(name, 'w')``): a full disk leaves a
0-byte file, and every later run then stops with a ``DatabaseException`` until someone
deletes it — in CI, where ``reports/`` is cached, forever. Installed from ``dodo.py``, this
module makes the write atomic (the old state survives a failed one, reported in one line
with exit 3) and a state file that cannot be read is set aside with a warning instead: doit
starts afresh, and forkwave's own outcome files and verdict memo keep the next run cheap.
"""
from __future__ import annotations

import errno
import sys
import time
from pathlib import Path
from typing import Any

from tasks import exitcodes

_INSTALLED = False
_READ_ONLY = False


def install(read_only: bool = False) -> None:
    """Patch doit's ``JsonDB`` (idempotent). ``read_only``: never write it (``doit history`` beside a run:
    doit writes back the whole state it read at its start, which would undo what the run saved meanwhile)."""
    global _INSTALLED, _READ_ONLY
    _READ_ONLY = read_only
    if _INSTALLED:
        return
    from doit.dependency import JsonDB

    original_load = JsonDB._load

    def dump(self: Any) -> None:
        from tasks.workspace import atomic_write

        if _READ_ONLY:
            return
        try:
            atomic_write(Path(self.name), self.codec.encode(self._db).encode("utf-8"))
        except OSError as exc:
            full = " (no space left on device)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            sys.stderr.write(f"forkwave: error: {self.name}: doit's state could not be saved{full}; it was kept as "
                             "it was before this run (its steps run again next time); free some space and run again\n")
            exitcodes.LATE.append(exitcodes.FAILURE)

    def load(self: Any) -> dict[str, Any]:
        try:
            return original_load(self)
        except Exception as exc:  # DatabaseException (bad JSON), a torn or empty file
            aside = set_aside(Path(self.name))
            sys.stderr.write(f"forkwave: warning: {self.name} could not be read ({type(exc).__name__}); set aside as "
                             f"{aside.name}, doit starts afresh (outcomes and the verdict memo keep it cheap)\n")
            return {}

    JsonDB.dump = dump
    JsonDB._load = load
    _INSTALLED = True


def set_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
    path.rename(aside)
    return aside

