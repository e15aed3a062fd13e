"""The sync ledger: runs and their syncs per (source, sync type), in SQLite at ``reports/ledger.sqlite``.

One ``runs`` row per run (who ran it: pid, machine, the lock it held; its status, the phase it is
in, why it ended as it did) and one ``syncs`` row per (run, source, sync type — a wave name, a
direction, ``verify``) with ``status`` exactly ``running``, ``success``, ``failed`` or ``partial``
(``tasks.core.runstatus``), start and end (UTC ISO), the upstream revision, counts of what *this*
run did (adopted, deferred, conflicted, exported), the error, a note.

Why SQLite, and how it is used:

- **A killed run loses nothing committed and leaves nothing half-written**: every change is
  one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), ``synchronous=FULL``; a SIGKILL inside
  one rolls it back when the file is next opened.
- **Readers never wait** (``doit history`` while a run goes on): WAL mode; opening the
  ledger only reads unless the schema must be created or migrated or ``history.jsonl`` grew.
- **Rows a dead run left ``running``** are closed ``failed`` by the next run (``begin``): the
  run with the note ``interrupted during <phase> (no end recorded)``, naming the phase it was in
  (``fetch web``, ``wave b``, ``verify web``, ``post-sync checks``, ``publish``...), its open syncs
  with ``interrupted (no end recorded)``. A run writes the ledger only while it holds the
  workspace lock (``.forkwave/lock``, an ``flock`` the kernel drops when the process dies), so
  the next run, holding that lock, knows every other run that held it is over. Without the
  lock (another workspace path), a run is dead when its pid is gone on the machine that
  recorded it, or was reused (the process's start time differs); on another machine it is
  left as it is (``live`` is unknown).
- **Versioned schema**: ``meta.schema_version``; ``MIGRATIONS[i]`` takes version ``i`` to
  ``i + 1`` in one transaction. A ledger newer than this code is refused, never rewritten.
- **Today's ledger is kept**: the runs of ``reports/history.jsonl`` are imported (as syncs of
  ``legacy_source`` of type ``pull``) whenever that file changed, so no history is lost.
- CI caches ``reports/``: the ``-wal`` file, if a killed job left one, travels with it.
  Network file systems are not supported (WAL needs shared memory on one machine).
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks import faults
from tasks.core import runstatus
from tasks.errors import ForkwaveError, ForkwaveFailure

LEDGER = "ledger.sqlite"
JSONL = "history.jsonl"
STATUSES = runstatus.STATUSES
CLOSED = runstatus.CLOSED
INTERRUPTED = runstatus.interrupted(None)
LEGACY_SYNC_TYPE = "pull"   # history.jsonl recorded whole runs of the one upstream: its pull

# MIGRATIONS[i] takes the schema from version i to i + 1 (version 0: an empty file). Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE runs (
            run TEXT PRIMARY KEY, started TEXT NOT NULL, ended TEXT,
            pid INTEGER, machine TEXT, pid_start TEXT, lock TEXT,
            origin TEXT NOT NULL DEFAULT 'ledger', error TEXT, note TEXT)""",
        """CREATE TABLE syncs (
            run TEXT NOT NULL REFERENCES runs(run) ON DELETE CASCADE,
            source TEXT NOT NULL, sync_type TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed', 'partial')),
            started TEXT NOT NULL, ended TEXT, revision TEXT,
            adopted INTEGER NOT NULL DEFAULT 0, deferred INTEGER NOT NULL DEFAULT 0,
            conflicted INTEGER NOT NULL DEFAULT 0, exported INTEGER NOT NULL DEFAULT 0,
            error TEXT, note TEXT, detail TEXT,
            PRIMARY KEY (run, source, sync_type),
            CHECK ((status = 'running') = (ended IS NULL)))""",
        "CREATE INDEX syncs_last ON syncs (source, sync_type, status, ended)",  # last_success
        "CREATE INDEX runs_started ON runs (started)",                            # recent
        "CREATE INDEX runs_open ON runs (run) WHERE ended IS NULL",               # reap, live
        "CREATE INDEX syncs_open ON syncs (run) WHERE status = 'running'",
    ),
    (   # counts carry their unit: files for snapshot slices, upstream commits for merge and cherry-pick
        "ALTER TABLE syncs ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE syncs ADD COLUMN unit TEXT NOT NULL DEFAULT 'files'",
    ),
    (   # a run's own status (runs before this version: NULL, read from their syncs) and the phase it is in
        "ALTER TABLE runs ADD COLUMN status TEXT CHECK (status IN ('running', 'success', 'failed', 'partial'))",
        "ALTER TABLE runs ADD COLUMN phase TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

# SQLite primary result codes a write may meet that say nothing about the ledger's own logic
_BUSY, _LOCKED, _READONLY, _IOERR, _FULL = 5, 6, 8, 10, 13


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Counts:
    """Items per kind in one sync, in its ``unit`` (files, or upstream commits for a commit mode); ``exported``
    is always files (``tasks.core.runsummary.tally`` gives them from outcomes)."""

    adopted: int = 0
    deferred: int = 0
    conflicted: int = 0
    exported: int = 0
    waiting: int = 0
    unit: str = "files"

    @classmethod
    def of(cls, counts: Mapping[str, Any] | Counts | None) -> Counts:
        if counts is None or isinstance(counts, Counts):
            return counts or cls()
        return cls(**{k: int(counts.get(k, 0)) for k in ("adopted", "deferred", "conflicted", "exported", "waiting")},
                   unit=str(counts.get("unit") or "files"))


@dataclass(frozen=True)
class Sync:
    """One row of ``syncs``: a source's sync of one type within one run."""

    run: str
    source: str
    sync_type: str
    status: str
    started: str
    ended: str | None
    revision: str | None
    counts: Counts
    error: str | None
    note: str | None


@dataclass(frozen=True)
class Run:
    """A run and its syncs; ``live`` says whether a still-running run's process is there (None: unknown).

    ``recorded`` is the status the run wrote when it ended (None for runs of earlier versions, whose
    status is read from their syncs); ``phase`` the last phase it entered.
    """

    run: str
    started: str
    ended: str | None
    pid: int | None
    machine: str | None
    origin: str
    error: str | None
    note: str | None
    recorded: str | None = None
    phase: str | None = None
    syncs: tuple[Sync, ...] = ()
    live: bool | None = None

    @property
    def status(self) -> str:
        """``running`` until the run ends — between its waves too, whatever its syncs say —, then its own."""
        if self.ended is None:
            return runstatus.RUNNING
        if self.recorded in CLOSED:
            return self.recorded
        return aggregate([s.status for s in self.syncs] + (["failed"] if self.error else []), self.ended)


@dataclass(frozen=True)
class LastSuccess:
    """Where ``since=last-success`` starts: the end of that sync and the upstream revision it reached."""

    run: str
    ended: str
    revision: str | None


def aggregate(statuses: Sequence[str], ended: str | None = "") -> str:
    """A run's status from its syncs', for runs recorded before runs kept their own (an ended run without
    syncs succeeded: it had nothing to do).

    >>> aggregate(["success", "success"]), aggregate(["success", "failed"]), aggregate(["failed", "running"])
    ('success', 'partial', 'running')
    >>> aggregate(["partial"]), aggregate(["failed", "failed"]), aggregate([], None)
    ('partial', 'failed', 'running')
    """
    if "running" in statuses or (not statuses and ended is None):
        return "running"
    if not statuses or all(s == "success" for s in statuses):
        return "success"
    return "failed" if all(s == "failed" for s in statuses) else "partial"


# --- who is running -------------------------------------------------------------------

def machine() -> str:
    """This machine (host name and boot id): a pid names a process only there, and only until a reboot."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}" if boot else socket.gethostname()


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``), None if unknown or gone.

    A zombie (killed, not yet reaped) counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def process_alive(pid: int, started: str | None) -> bool:
    """Is ``pid`` the same live process that recorded ``started`` (a reused pid is not)?"""
    if Path("/proc/self/stat").exists():
        return started is not None and process_start(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the ledger -----------------------------------------------------------------------

class Ledger:
    """The ledger file, open. ``Ledger.open(reports)``; use as a context manager or ``close()``."""

    def __init__(self, db: sqlite3.Connection, path: Path, now: Callable[[], str]):
        self._db, self.path, self._now = db, path, now
        self.current: str | None = None

    @classmethod
    def open(cls, reports: Path, *, legacy_source: str = "upstream", now: Callable[[], str] = utc_now) -> Ledger:
        """Open (create, migrate) ``reports/ledger.sqlite`` and import ``reports/history.jsonl`` if it changed.

        An unreadable file (not a database, malformed) is set aside with a warning, and a new
        ledger starts (with history.jsonl imported again).
        """
        reports.mkdir(parents=True, exist_ok=True)
        path = reports / LEDGER
        try:
            ledger = cls._connect(path, now)
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # OperationalError & co: locked, I/O, permissions
                raise ForkwaveFailure(f"{path}: the run ledger cannot be opened ({exc}); check the file's "
                                      "permissions and free space, then run again") from None
            aside = set_aside(path)
            print(f"forkwave: warning: {path} could not be read ({exc}); set aside as {aside.name}, a new "
                  "ledger starts", file=sys.stderr)
            ledger = cls._connect(path, now)
        ledger._import_jsonl(reports / JSONL, legacy_source)
        return ledger

    @classmethod
    def _connect(cls, path: Path, now: Callable[[], str]) -> Ledger:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)  # autocommit: we open transactions ourselves
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            migrate(db, path)
        except BaseException:
            db.close()
            raise
        return cls(db, path, now)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a kill anywhere inside it leaves the ledger as it was before."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            faults.point("ledger-commit")
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # a COMMIT the disk refused leaves it open
                self._db.execute("ROLLBACK")
            raise

    def _tolerant(self, what: str, write: Callable[[sqlite3.Connection], object]) -> bool:
        """A write the disk or the file refuses costs the record, never the run (the next run closes what is open)."""
        try:
            with self._write() as db:
                write(db)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in (_BUSY, _LOCKED, _READONLY, _IOERR, _FULL):
                raise
            print(f"forkwave: warning: {self.path}: {what} could not be recorded ({exc})", file=sys.stderr)
            return False
        return True

    # --- a run's life -------------------------------------------------------------------

    def begin(self, run: str, *, lock: Path | None, pid: int | None = None) -> list[str]:
        """Record ``run`` as started by this process, holding ``lock``; close what dead runs left running.

        The caller holds the workspace lock ``lock`` (``tasks.engine.runlock``): that is what lets
        this call close every other run that held it. Returns the runs it closed.
        """
        pid = os.getpid() if pid is None else pid
        closed = self.reap(holding=lock)
        self.current = run

        def write(db: sqlite3.Connection) -> None:
            # a run id history.jsonl already holds (runlock still writing it): this ledger takes it over
            db.execute("DELETE FROM syncs WHERE run IN (SELECT run FROM runs WHERE run = ? AND origin != 'ledger')",
                       (run,))
            db.execute("INSERT INTO runs (run, started, pid, machine, pid_start, lock, status) "
                       "VALUES (?, ?, ?, ?, ?, ?, 'running') "
                       "ON CONFLICT (run) DO UPDATE SET pid = excluded.pid, machine = excluded.machine, "
                       "pid_start = excluded.pid_start, lock = excluded.lock, origin = 'ledger', ended = NULL, "
                       "status = 'running'",
                       (run, self._now(), pid, machine(), process_start(pid), _lock_text(lock)))

        self._tolerant(f"run {run}", write)
        return closed

    def enter(self, run: str, phase: str) -> None:
        """The run starts a phase (``fetch web``, ``wave b``, ``verify web``, ``post-sync checks``, ``publish``):
        if it dies there, the next run says so."""
        def write(db: sqlite3.Connection) -> None:
            db.execute("UPDATE runs SET phase = ? WHERE run = ? AND ended IS NULL", (phase, run))

        self._tolerant(f"the phase of run {run}", write)

    def open_sync(self, run: str, source: str, sync_type: str, *, revision: str | None = None) -> None:
        """A sync starts: its row reads ``running`` until ``close_sync`` (or the next run, if this one dies)."""
        now = self._now()
        self._tolerant(f"{source} {sync_type} of run {run}", lambda db: _ensure_run(db, run, now).execute(
            "INSERT INTO syncs (run, source, sync_type, status, started, revision) VALUES (?, ?, ?, 'running', ?, ?) "
            "ON CONFLICT (run, source, sync_type) DO UPDATE SET status = 'running', ended = NULL, error = NULL, "
            "revision = COALESCE(excluded.revision, revision)",
            (run, source, sync_type, now, revision)))

    def progress(self, run: str, source: str, sync_type: str, counts: Mapping[str, int] | Counts,
                 revision: str | None = None) -> None:
        """Counts so far of a running sync (what an interrupted run had done stays readable)."""
        c = Counts.of(counts)
        self._tolerant(f"{source} {sync_type} of run {run}", lambda db: db.execute(
            "UPDATE syncs SET adopted = ?, deferred = ?, conflicted = ?, exported = ?, waiting = ?, unit = ?, "
            "revision = COALESCE(?, revision) WHERE run = ? AND source = ? AND sync_type = ? AND status = 'running'",
            (c.adopted, c.deferred, c.conflicted, c.exported, c.waiting, c.unit, revision, run, source, sync_type)))

    def close_sync(self, run: str, source: str, sync_type: str, status: str, *,
                   counts: Mapping[str, int] | Counts | None = None, revision: str | None = None,
                   error: str | None = None, note: str | None = None, detail: Any = None) -> None:
        """A sync ends ``success``, ``failed`` or ``partial`` (opened first or not)."""
        if status not in CLOSED:
            raise ValueError(f"a sync closes as one of {CLOSED}, not {status!r}")
        c, now = Counts.of(counts), self._now()
        blob = None if detail is None else json.dumps(detail, sort_keys=True)
        self._tolerant(f"{source} {sync_type} of run {run}", lambda db: _ensure_run(db, run, now).execute(
            "INSERT INTO syncs (run, source, sync_type, status, started, ended, revision, adopted, deferred, "
            "conflicted, exported, waiting, unit, error, note, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run, source, sync_type) DO UPDATE SET status = excluded.status, ended = excluded.ended, "
            "revision = COALESCE(excluded.revision, revision), adopted = excluded.adopted, "
            "deferred = excluded.deferred, conflicted = excluded.conflicted, exported = excluded.exported, "
            "waiting = excluded.waiting, unit = excluded.unit, "
            "error = excluded.error, note = excluded.note, detail = COALESCE(excluded.detail, detail)",
            (run, source, sync_type, status, now, now, revision, c.adopted, c.deferred, c.conflicted, c.exported,
             c.waiting, c.unit, error, note, blob)))

    def finish(self, run: str, *, status: str | None = None, error: str | None = None,
               note: str | None = None) -> str:
        """The run ends as ``status`` (None: as its syncs say); syncs it left open close ``failed``. Returns
        the run's status. ``error`` says why it is not a success (an error, or the work left for a person)."""
        if status is not None and status not in CLOSED:
            raise ValueError(f"a run ends as one of {CLOSED}, not {status!r}")
        now = self._now()

        def write(db: sqlite3.Connection) -> None:
            db.execute("UPDATE syncs SET status = 'failed', ended = ?, error = COALESCE(?, error), "
                       "note = COALESCE(note, 'the run ended before this sync did') "
                       "WHERE run = ? AND status = 'running'",
                       (now, error, run))
            db.execute("UPDATE runs SET ended = ?, error = ?, note = COALESCE(?, note), status = ? WHERE run = ?",
                       (now, error, note, status, run))

        self._tolerant(f"the end of run {run}", write)
        if self.current == run:
            self.current = None
        found = self.run(run)
        return found.status if found else "failed"

    # --- interrupted runs ---------------------------------------------------------------

    def reap(self, holding: Path | None = None) -> list[str]:
        """Close as ``failed`` (note ``interrupted (no end recorded)``) the open rows of runs that are over.

        ``holding``: the workspace lock the caller holds; every run that recorded that lock
        (and every run imported from history.jsonl, written under it) is then over.
        """
        dead = [r for r in self._open_runs() if r.run != self.current and self._is_dead(r, holding)]
        if dead:
            self._tolerant("interrupted runs", lambda db: self._close_dead(db, dead))
        return [r.run for r in dead]

    def _open_runs(self) -> list[_Open]:
        rows = self._db.execute(
            "SELECT run, pid, machine, pid_start, lock, origin, phase FROM runs WHERE ended IS NULL "
            "OR run IN (SELECT run FROM syncs WHERE status = 'running') ORDER BY started, rowid").fetchall()
        return [_Open(*row) for row in rows]

    def _is_dead(self, run: _Open, holding: Path | None) -> bool:
        if holding is not None and (run.lock in (None, _lock_text(holding)) or run.origin != "ledger"):
            return True  # we hold the lock it held (every writer holds it; history.jsonl was written under it)
        if run.pid is not None and run.machine == machine():
            return not process_alive(run.pid, run.pid_start)
        return False  # another machine, no pid: nothing here can tell

    def _close_dead(self, db: sqlite3.Connection, runs: Sequence[_Open]) -> None:
        """A dead run is ``failed`` whatever its syncs say, with the phase it died in."""
        now = self._now()
        for run in runs:
            db.execute("UPDATE syncs SET status = 'failed', ended = ?, note = ? WHERE run = ? AND status = 'running'",
                       (now, INTERRUPTED, run.run))
            db.execute("UPDATE runs SET ended = ?, note = COALESCE(note, ?), status = 'failed' "
                       "WHERE run = ? AND ended IS NULL", (now, runstatus.interrupted(run.phase), run.run))

    def live(self, run: str) -> bool | None:
        """Is ``run`` still going? True/False when this machine can tell, None when it cannot."""
        found = next((r for r in self._open_runs() if r.run == run), None)
        if found is None:
            return False
        if found.pid is None or found.machine != machine():
            return None
        return process_alive(found.pid, found.pid_start)

    # --- queries ------------------------------------------------------------------------

    def recent(self, limit: int = 20, *, source: str | None = None, sync_type: str | None = None,
               sources: Sequence[str] | None = None) -> list[Run]:
        """The newest ``limit`` runs (with a sync of ``source``/``sync_type`` when given), newest first.

        ``sources``: only runs with a sync of one of them, and only those syncs.
        """
        where, args = _filters(source, sync_type, sources)
        self._db.execute("BEGIN")  # one snapshot for both queries, even while a run writes
        try:
            heads = self._db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs {where} "
                "ORDER BY started DESC, rowid DESC LIMIT ?", (*args, limit)).fetchall()
            syncs = self._syncs([h[0] for h in heads])
        finally:
            self._db.execute("COMMIT")
        keep = None if sources is None else set(sources)
        runs = [_run_of(h, tuple(s for s in syncs.get(h[0], ()) if keep is None or s.source in keep))
                for h in heads]
        return [_with_live(r, self) for r in runs]

    def run(self, run: str) -> Run | None:
        head = self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run = ?", (run,)).fetchone()
        return None if head is None else _run_of(head, tuple(self._syncs([run]).get(run, ())))

    def _syncs(self, runs: Sequence[str]) -> dict[str, list[Sync]]:
        out: dict[str, list[Sync]] = {}
        marks = ",".join("?" * len(runs))
        for row in self._db.execute(
                "SELECT run, source, sync_type, status, started, ended, revision, adopted, deferred, conflicted, "
                f"exported, waiting, unit, error, note FROM syncs WHERE run IN ({marks}) "
                "ORDER BY started, source, sync_type", runs):
            out.setdefault(row[0], []).append(_sync_of(row))
        return out

    def last_success(self, source: str, sync_type: str) -> LastSuccess | None:
        """The last successful sync of ``source`` and ``sync_type``: its end and upstream revision."""
        row = self._db.execute(
            "SELECT run, ended, revision FROM syncs WHERE source = ? AND sync_type = ? AND status = 'success' "
            "ORDER BY ended DESC, started DESC, rowid DESC LIMIT 1", (source, sync_type)).fetchone()
        return None if row is None else LastSuccess(*row)

    def last_detail(self, source: str, sync_type: str) -> dict[str, Any] | None:
        """The ``detail`` the last successful sync of ``source`` and ``sync_type`` recorded (a command source's
        push: what the source holds of the fork's inputs since), None when there is none."""
        row = self._db.execute(
            "SELECT detail FROM syncs WHERE source = ? AND sync_type = ? AND status = 'success' "
            "ORDER BY ended DESC, started DESC, rowid DESC LIMIT 1", (source, sync_type)).fetchone()
        if row is None or row[0] is None:
            return None
        try:
            found = json.loads(row[0])
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def schema_version(self) -> int:
        return _version(self._db)

    # --- history.jsonl --------------------------------------------------------------------

    def _import_jsonl(self, path: Path, source: str) -> None:
        """Import the runs of ``history.jsonl`` (today's ledger) when the file changed since the last import."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
        if _meta(self._db, "jsonl_seen") == stamp:
            return
        runs = jsonl_runs(path.read_text(encoding="utf-8", errors="replace"))

        def write(db: sqlite3.Connection) -> None:
            native = {r for (r,) in db.execute("SELECT run FROM runs WHERE origin = 'ledger'")}
            for run, entry in runs.items():
                if run not in native:
                    _import_run(db, run, entry, source)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('jsonl_seen', ?)", (stamp,))

        self._tolerant(f"the import of {path.name}", write)


RUN_COLUMNS = "run, started, ended, pid, machine, origin, error, note, status, phase"   # Run's fields, in order


def _run_of(head: Sequence[Any], syncs: tuple[Sync, ...]) -> Run:
    """A ``runs`` row read with ``RUN_COLUMNS`` (``status`` is what the run recorded) and its syncs."""
    run, started, ended, pid, machine, origin, error, note, recorded, phase = head
    return Run(run, started, ended, pid, machine, origin, error, note, recorded, phase, syncs)


def _sync_of(row: Sequence[Any]) -> Sync:
    """A ``syncs`` row read by ``Ledger._syncs``: seven fields, six counts, then error and note."""
    run, source, sync_type, status, started, ended, revision, *counts, error, note = row
    return Sync(run, source, sync_type, status, started, ended, revision, Counts(*counts), error, note)


def _ensure_run(db: sqlite3.Connection, run: str, now: str) -> sqlite3.Connection:
    """A sync's run row, made if ``begin`` was not called (or its write was lost to a full disk)."""
    db.execute("INSERT OR IGNORE INTO runs (run, started) VALUES (?, ?)", (run, now))
    return db


@dataclass(frozen=True)
class _Open:
    run: str
    pid: int | None
    machine: str | None
    pid_start: str | None
    lock: str | None
    origin: str
    phase: str | None = None


def _with_live(run: Run, ledger: Ledger) -> Run:
    if run.status != "running":
        return run
    return replace(run, live=ledger.live(run.run))


def _filters(source: str | None, sync_type: str | None,
             sources: Sequence[str] | None = None) -> tuple[str, tuple[str, ...]]:
    conds, args = [], []
    for column, value in (("source", source), ("sync_type", sync_type)):
        if value is not None:
            conds.append(f"{column} = ?")
            args.append(value)
    if sources is not None:
        conds.append(f"source IN ({','.join('?' * len(sources))})" if sources else "0")
        args.extend(sources)
    if not conds:
        return "", ()
    return f"WHERE run IN (SELECT run FROM syncs WHERE {' AND '.join(conds)})", tuple(args)


def _lock_text(lock: Path | None) -> str | None:
    return None if lock is None else os.path.abspath(lock)


# --- schema ---------------------------------------------------------------------------

def migrate(db: sqlite3.Connection, path: Path, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the schema to ``len(migrations)``, one transaction; a newer file is refused. Returns the version."""
    target = len(migrations)
    if _version(db) == target:
        return target  # the usual case: a read, no lock taken
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _version(db)  # again, under the lock: another process may have migrated meanwhile
        if version > target:
            raise ForkwaveError(f"{path}: the ledger's schema version {version} is newer than this forkwave knows "
                                f"({target}); upgrade forkwave, or move the file aside to start a new ledger")
        for step in migrations[version:]:
            for statement in step:
                db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(target),))
        faults.point("ledger-migrate")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return target


def _version(db: sqlite3.Connection) -> int:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        return 0
    value = _meta(db, "schema_version")
    return int(value) if value is not None else 0


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # no meta table yet
        return None
    return None if row is None else row[0]


def set_aside(path: Path) -> Path:
    """Move an unreadable ledger (and its WAL files) out of the way, kept for a person to look at."""
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    path.rename(aside)
    return aside


# --- history.jsonl (today's ledger, written by tasks/runlock.py) ------------------------

def jsonl_runs(text: str) -> dict[str, dict[str, Any]]:
    """Run id -> its merged record: later lines of a run update earlier ones; torn lines are skipped.

    >>> jsonl_runs('{"run": "r1", "status": "running", "start": "T1"}\\n'
    ...            '{"run": "r1", "status": "success", "end": "T2"}\\n{"ru')
    {'r1': {'run': 'r1', 'status': 'success', 'start': 'T1', 'end': 'T2'}}
    """
    runs: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("run"), str):
            runs[entry["run"]] = {**runs.get(entry["run"], {}), **entry}
    return runs


def legacy_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A history.jsonl run as the values of its one ``syncs`` row.

    >>> r = legacy_row({"run": "r", "status": "partial", "start": "T1", "end": "T2", "upstream": "abc",
    ...                 "adopted": ["a", "b"], "deferred": ["c"], "conflicted": [], "slices": {"slice-1": "adopted"}})
    >>> r["status"], r["ended"], r["revision"], r["adopted"], r["deferred"], r["detail"]
    ('partial', 'T2', 'abc', 2, 1, '{"slices": {"slice-1": "adopted"}}')
    """
    status = entry.get("status") if entry.get("status") in STATUSES else "failed"
    started = str(entry.get("start") or entry.get("end") or "")
    ended = None if status == "running" else str(entry.get("end") or started)
    slices = entry.get("slices")
    return {"status": status, "started": started, "ended": ended, "revision": entry.get("upstream"),
            **{k: len(entry.get(k) or ()) for k in ("adopted", "deferred", "conflicted")},
            "note": entry.get("note"),
            "detail": None if slices is None else json.dumps({"slices": slices}, sort_keys=True)}


def _import_run(db: sqlite3.Connection, run: str, entry: Mapping[str, Any], source: str) -> None:
    row = legacy_row(entry)
    pid = entry.get("pid") if isinstance(entry.get("pid"), int) else None
    db.execute("INSERT OR REPLACE INTO runs (run, started, ended, pid, origin, note) VALUES (?, ?, ?, ?, ?, ?)",
               (run, row["started"], row["ended"], pid, JSONL, row["note"]))
    db.execute("DELETE FROM syncs WHERE run = ?", (run,))
    db.execute("INSERT INTO syncs (run, source, sync_type, status, started, ended, revision, adopted, deferred, "
               "conflicted, note, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (run, source, LEGACY_SYNC_TYPE, row["status"], row["started"], row["ended"], row["revision"],
                row["adopted"], row["deferred"], row["conflicted"], row["note"], row["detail"]))
