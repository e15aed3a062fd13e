"""Where things live in a workspace: reports (cached by CI) and private state (not cached)."""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


DRY = ".forkwave/dry"   # a dry run's own place: doit's state, the reports it computes, its mirrors
# What the steps before the slices compute (fetch, base, drift and its gates, plan, pre, export): a dry run
# computes them again, into DRY; everything else under reports/ is a record of real runs, which it only reads.
COMPUTED = frozenset({"upstream.json", "base.json", "base.md", "drift.json", "drift.md", "drift-gates.json",
                      "plan.json", "pre.json", "pre", "export.json", "export-logs", "run-logs"})


def computed(name: str) -> bool:
    """Is ``name`` (a report's file name) something the steps before the slices compute?

    >>> computed("plan.json"), computed("wave-b.md"), computed("summary.json"), computed("wave-b")
    (True, True, False, False)
    """
    return name in COMPUTED or (name.startswith("wave-") and name.endswith(".md"))


@dataclass(frozen=True)
class Workspace:
    """The workspace, seen for one source (``source``) or for the single one (None); ``dry``: by a dry run.

    With several sources each keeps its mirror in ``.forkwave/sources/<name>.git`` and its own
    reports (``upstream.json``, ``base.*``, ``drift.*``) in ``reports/sources/<name>/``; with one,
    they stay where they always were (``.forkwave/upstream.git``, ``reports/``).

    A dry run writes no real report and moves no ref: what it computes (``COMPUTED``) lives under
    ``.forkwave/dry/reports/`` and its mirrors under ``.forkwave/dry/`` (borrowing the real mirrors'
    objects), while the records of real runs — outcomes, memo, ledger, journal, verifications, what
    was exported — are read from ``reports/`` as they are.
    """

    root: Path
    source: str | None = None
    dry: bool = False

    @property
    def reports(self) -> Path:
        """The real reports (cached by CI): every run's records."""
        return self.root / "reports"

    @property
    def state(self) -> Path:
        """Private, rebuildable state: the upstream mirror, worktrees, demo repositories."""
        return self.root / ".forkwave"

    @property
    def computed_reports(self) -> Path:
        """Where the steps before the slices write: ``reports/``, or a dry run's own copy of it."""
        return self.root / DRY / "reports" if self.dry else self.reports

    @property
    def mirror(self) -> Path:
        state = self.root / DRY if self.dry else self.state
        return state / "upstream.git" if self.source is None else state / "sources" / f"{self.source}.git"

    @property
    def source_reports(self) -> Path:
        """The source's folder of computed reports (``base.*``, ``drift.*``...)."""
        base = self.computed_reports
        return base if self.source is None else base / "sources" / self.source

    def source_report(self, name: str) -> Path:
        """One of the source's own reports (``upstream.json``, ``drift.json``, ``verify.json``...)."""
        if self.dry and not computed(name):
            return self.real.source_report(name)
        return self.source_reports / name

    @property
    def real(self) -> Workspace:
        """The workspace as a real run sees it (a dry run reads the real records through it)."""
        return replace(self, dry=False)

    def scoped(self, source: str | None) -> Workspace:
        return replace(self, source=source)

    def report(self, name: str) -> Path:
        return (self.computed_reports if computed(name) else self.reports) / name

    def rel(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the workspace: doit's state must survive a move (CI caches)."""
        return os.path.relpath(path, self.root)


FULL = (errno.ENOSPC, errno.EDQUOT)


def write_if_changed(path: Path, data: bytes | str, *, durable: bool = True) -> bool:
    """Write atomically, and only when the bytes differ (so doit's file_dep stays up to date).

    A full disk never leaves a torn file: the old one stays whole, and the error is one line
    naming the path (exit 3). ``durable=False``: no fsync, for what is rendered again from a
    durable record on the next run (a report from its outcome file).
    """
    blob = data.encode("utf-8") if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == blob:
        return False
    try:
        atomic_write(path, blob, durable=durable)
    except OSError as exc:
        if exc.errno in FULL:
            from tasks.errors import ForkwaveFailure

            raise ForkwaveFailure(f"{path}: no space left on device; free some space and run again (the file was "
                                  "left as it was)") from None
        raise
    return True


def atomic_write(path: Path, blob: bytes, *, durable: bool = True) -> None:
    """``path`` holds ``blob`` or what it held before, never a part (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
            fh.write(blob)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@functools.cache
def _umask() -> int:
    """The process's umask, read once: reading it means setting it, and while it is 0 a file another thread
    (or a process it starts) makes would be writable by everyone."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


_PARSED: dict[tuple[str, Callable[[Any], Any]], tuple[tuple[int, int, int], Any]] = {}


def read_parsed(path: Path, parse: Callable[[Any], T]) -> T:
    """``parse(read_json(path))``, parsed once per version of the file (inode, size, modification time): a run
    reads the plan, a source's drift and every outcome again for each of its slices. The value is shared between
    callers: it must not be changed (the typed records are frozen)."""
    stat = path.stat()
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    key = (str(path), parse)
    known = _PARSED.get(key)
    if known is None or known[0] != version:
        known = _PARSED[key] = (version, parse(read_json(path)))
    return known[1]
