"""`doit clean`: remove what forkwave generated for the tasks given, or reset the whole workspace.

Only the workspace is touched (``reports/``, ``.forkwave/``): the fork's branches, its
checkout and its objects never are. The one write near the fork is ``git worktree prune``,
which drops the fork's record of forkwave's own private worktree once that is gone.

A reset keeps the workspace's history — the run ledger and the verdict memo — unless
``all=1`` asks for them too: they cannot be rebuilt (the ledger holds every run since the
first, ``since=last-success`` reads it; the memo spares every check already run on a tree),
and a person who frees disk or starts the pipeline over rarely means to lose them.
"""
from __future__ import annotations

import fcntl
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from tasks import exitcodes
from tasks.repo import git
from tasks.workspace import Workspace

KEEP_IN_REPORTS = ("README.md",)  # forkwave's own checkout ships reports/README.md: not generated
# the history a plain reset keeps (all=1 removes it): the ledger with SQLite's WAL files, the
# history.jsonl it was imported from, and the verdict memo; what the reset's last line calls them
HISTORY = {"ledger.sqlite": "the run ledger", "ledger.sqlite-wal": "", "ledger.sqlite-shm": "",
           "history.jsonl": "the run history it imports", "memo": "the verdict memo"}
_LOCK: list[IO[str]] = []         # held until the process ends, like a run's


def hold_lock(ws: Workspace) -> None:
    """Never clean under a running forkwave: take the workspace lock (``tasks.engine.runlock``'s file) or stop."""
    if _LOCK or not ws.state.is_dir():
        return
    handle = open(ws.state / "lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        print(f"forkwave: error: another forkwave run holds {ws.state / 'lock'} ({holder}); "
              "wait for it to finish, then clean", file=sys.__stderr__)  # doit captures a clean action's stderr
        raise SystemExit(exitcodes.FAILURE) from None  # doit's clean ignores a failed clean action
    _LOCK.append(handle)


def remove(ws: Workspace, paths: Iterable[str | Path]) -> None:
    """Remove workspace paths (files or folders); say what went."""
    hold_lock(ws)
    for path in paths:
        full = ws.root / path
        if full.is_dir() and not full.is_symlink():
            shutil.rmtree(full)
        elif full.exists() or full.is_symlink():
            full.unlink()
        else:
            continue
        print(f"clean: removed {ws.rel(full)}")


def worktree(ws: Workspace, fork: Path) -> None:
    """Remove forkwave's private worktrees (the one, and those of candidates judged beside it) and the fork's
    record of them (nothing else of the fork)."""
    from tasks.repo.worktree import path_for, slot_paths

    for wt in [path_for(ws), *slot_paths(ws)]:
        remove(ws, [wt, wt.with_name(wt.name + ".lockfiles")])
    if (fork / ".git").exists() or git.is_repo(fork):
        git.git(fork, "worktree", "prune", check=False)


def slice_state(ws: Workspace, fork: Path, name: str) -> None:
    """A slice's validation state: its outcome, reports, logs and conflicts (the import manifest is
    ``import:<name>``'s), the private worktree, and the slice's verdict memo entries."""
    folder = ws.reports / "slices" / name
    keep = {"import.json"}
    remove(ws, sorted(p for p in folder.iterdir() if p.name not in keep) if folder.is_dir() else [])
    worktree(ws, fork)
    remove(ws, memo_entries(ws, name))


def memo_entries(ws: Workspace, name: str) -> list[Path]:
    """Hook: the verdict memo's entries for slice ``name`` (the memo lives under ``.forkwave/``).

    None yet; the memo module returns its files here so ``doit clean validate:<name>`` drops them.
    """
    return []


def reset(ws: Workspace, fork: Path, everything: bool | None = None) -> None:
    """`doit clean` with no task: what forkwave generated in this workspace, and doit's saved state.

    The ledger and the verdict memo (``HISTORY``) stay unless ``everything`` (``all=1``).
    """
    from doit.globals import Globals

    everything = wants_all() if everything is None else everything
    hold_lock(ws)
    worktree(ws, fork)
    keep = KEEP_IN_REPORTS + (() if everything else tuple(HISTORY))
    generated = sorted(p for p in ws.reports.iterdir() if p.name not in keep) if ws.reports.is_dir() else []
    remove(ws, generated)
    remove(ws, sorted(p for p in ws.state.iterdir() if p.name != "lock") if ws.state.is_dir() else [])
    if Globals.dep_manager is not None:  # doit saves its state at the end of `clean`: save it empty
        Globals.dep_manager.remove_all()
    ws.reports.mkdir(exist_ok=True)      # where doit writes that state
    kept = [f"{what} ({ws.rel(ws.reports / n)}{'/' if (ws.reports / n).is_dir() else ''})"
             for n, what in HISTORY.items() if what and (ws.reports / n).exists()]
    print(f"clean: workspace {ws.root} reset (the fork's branches are untouched)"
          + (f"; kept {_and(kept)}: `doit clean all=1` removes them too" if kept else ""))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def wants_all() -> bool:
    """``doit clean all=1``: the reset removes the ledger and the verdict memo too."""
    from doit import get_var

    return (get_var("all") or "").strip().lower() in {"1", "true", "yes", "on"}
