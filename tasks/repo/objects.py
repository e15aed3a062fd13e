"""The fork's object store stays the user's: forkwave writes its candidates to a private object directory.

git's quarantine (``receive-pack``'s ``tmp_objdir``): while a run works, every git command forkwave
runs in the fork writes its objects to ``.forkwave/objects/<run>/`` (``GIT_OBJECT_DIRECTORY``) and
reads the fork's and the mirrors' object stores as alternates (``GIT_ALTERNATE_OBJECT_DIRECTORIES``).
Merge-tree results, picks, reverts, snapshot candidates, conflict resolutions, dry-run commits and
verdict-tree variants all land there; upstream blobs are read from the mirror where they are, never
copied. Only when a commit lands on a branch does its closure — exactly the objects it reaches that
the fork's refs do not — go into the fork (``settle``: one ``pack-objects --revs``, then
``unpack-objects``, or ``index-pack`` for a pack of more than ``UNPACK_LIMIT`` objects, as
``receive-pack`` does), before the compare-and-swap names it. The directory is dropped when the
run ends; a killed run's is dropped by the next one (which holds the same workspace lock).

The routing itself is ``tasks.repo.git``'s: ``start`` registers the fork and forkwave's private
worktree there, so no caller passes these variables by hand. Commands that move refs or maintain
the store (``OWN_STORE``: ``update-ref``, ``worktree``, ``unpack-objects``, ...) run against the fork's
own store, where git itself refuses a ref to an object the fork lacks; every other command in the
fork also carries ``GIT_QUARANTINE_PATH``, under which git refuses any ref update at all. The private
worktree's ``HEAD`` may name a candidate while its checks run (its checkout reads the private
directory); when the run ends it rests on a commit of the fork again (``rest``), and its ``HEAD``
keeps no reflog, so nothing of the fork names a dropped object.
"""
from __future__ import annotations

import atexit
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.repo import git

FOLDER = "objects"          # under the workspace's .forkwave/
UNPACK_LIMIT = 100          # receive-pack's transfer.unpackLimit: more objects stay one pack
NO_REFLOG = ("-c", "core.logAllRefUpdates=false")   # the private worktree's HEAD keeps no reflog


@dataclass
class Quarantine:
    """One run's private object directory for ``fork`` (and forkwave's worktree of it)."""

    fork: Path
    dir: Path
    own: Path                      # the fork's own object directory
    state: Path                    # the workspace's .forkwave/: its mirrors are read as alternates
    worktrees: set[Path]           # forkwave's worktrees of the fork (a slot each), routed here too

    def alternates(self) -> list[str]:
        """The fork's objects, then every mirror of the workspace that exists (a fetch may add one mid-run; a dry
        run's own mirrors under ``dry/`` hold what it fetched beyond the real ones)."""
        mirrors = [where / "upstream.git" for where in (self.state, self.state / "dry")]
        mirrors += [*sorted((self.state / "sources").glob("*.git")),
                    *sorted((self.state / "dry" / "sources").glob("*.git"))]
        return [str(self.own), *(str(m / "objects") for m in mirrors if (m / "objects").is_dir())]

    def env(self, *, refs: bool = False) -> dict[str, str]:
        """Write here, read the fork and the mirrors; ``refs``: a ref (the worktree's HEAD) may still move."""
        out = {"GIT_OBJECT_DIRECTORY": str(self.dir),
               "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(self.alternates())}
        return out if refs else out | {"GIT_QUARANTINE_PATH": str(self.dir)}


_OPEN: dict[str, Quarantine] = {}


def _key(path: Path) -> str:
    return str(Path(path).resolve())


def start(state: Path, fork: Path, worktree: Path) -> Quarantine | None:
    """The run's private object directory for ``fork`` (made once per process; None: no repository there).

    Called with the workspace lock held: any private directory already there is a killed run's —
    forkwave's worktree is first moved off its objects, then it is dropped.
    """
    key = _key(fork)
    if key in _OPEN:
        return _OPEN[key]
    if not git.is_repo(fork):
        return None
    own = git.object_dir(fork)
    state = state.resolve()
    slots = {worktree.resolve(), *(p.resolve() for p in state.glob(f"{worktree.name}-*") if p.is_dir())}
    root = state / FOLDER
    for stale in sorted(root.iterdir()) if root.is_dir() else ():
        drop(Quarantine(fork, stale, own, state, slots))
    q = Quarantine(fork, root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}", own, state, set())
    for sub in ("pack", "info"):
        (q.dir / sub).mkdir(parents=True, exist_ok=True)
    _OPEN[key] = q
    git.route(fork, q.env)
    attach(fork, worktree)
    if len(_OPEN) == 1:
        atexit.register(close_all)
    return q


def attach(fork: Path, worktree: Path) -> None:
    """Route forkwave's worktree ``worktree`` (slot 0 or another one) of ``fork`` through its private directory:
    a candidate checked out there reads from it (its HEAD may name one; ``rest`` moves it off when the run ends)."""
    q = active(fork)
    if q is None:
        return
    wt = Path(worktree).resolve()
    if wt not in q.worktrees:
        q.worktrees.add(wt)
        git.route(wt, lambda: q.env(refs=True))


def active(fork: Path) -> Quarantine | None:
    return _OPEN.get(_key(fork))


def reads(fork: Path, mirror: Path) -> bool:
    """Does the fork's private object directory read ``mirror``'s objects (so none need copying into the fork)?"""
    q = active(fork)
    return q is not None and str(Path(mirror).resolve() / "objects") in q.alternates()


def close_all() -> None:
    """The run ends: every private directory it opened is dropped (forkwave's worktree rested first)."""
    for key in list(_OPEN):
        q = _OPEN.pop(key)
        git.unroute(q.fork)
        for wt in q.worktrees:
            git.unroute(wt)
        drop(q)


def drop(q: Quarantine) -> None:
    """Rest forkwave's worktrees on commits of the fork, then remove the private directory."""
    try:
        for wt in sorted(q.worktrees):
            rest(q, wt)
    finally:
        shutil.rmtree(q.dir, ignore_errors=True)


def rest(q: Quarantine, wt: Path) -> None:
    """Forkwave's worktree ``wt``, if its HEAD names an object only ``q`` holds, checked out at the nearest
    first-parent ancestor the fork has (the candidate's start): the fork's gc and fsck must find every HEAD."""
    if not (wt / ".git").exists():
        return
    head = git.git(wt, "rev-parse", "--verify", "--quiet", "HEAD", check=False,
                   env=q.env(refs=True)).decode().strip()
    if not head or _has(q.fork, [head])[0]:
        return
    line = git.git(q.fork, "rev-list", "--first-parent", "--max-count=64", head, check=False,
                   env=q.env()).decode().split()
    found = [c for c, ok in zip(line, _has(q.fork, line)) if ok]
    target = found[0] if found else git.rev_parse(q.fork, "HEAD")
    if target is None:
        return
    git.git(wt, *NO_REFLOG, "checkout", "--quiet", "--detach", "--force", target, env=q.env(refs=True))


def _has(fork: Path, oids: Sequence[str]) -> list[bool]:
    """Which of ``oids`` the fork's own object store holds (its alternates included, never a private one)."""
    if not oids:
        return []
    out = git.git(fork, "cat-file", "--batch-check=%(objectname)", input="".join(f"{o}\n" for o in oids).encode(),
                  own=True)
    return [not line.endswith(b" missing") for line in out.splitlines()]


# --- landing ---------------------------------------------------------------------------------------

def settle(fork: Path, commit: str) -> int:
    """Copy ``commit``'s closure the fork lacks — what no ref of the fork reaches — from the private directory
    (and the mirrors) into the fork, before a ref names it. Returns how many objects were copied (0: nothing to do,
    or no private directory is open: the objects were written into the fork as they were made)."""
    q = active(fork)
    if q is None or _has(fork, [commit])[0] and _connected(fork, commit):
        return 0
    revs = f"{commit}\n--not\n" + "".join(f"{t}\n" for t in _tips(fork))
    pack = git.git(fork, "pack-objects", "--revs", "--stdout", "-q", "--window=0", input=revs.encode(), env=q.env())
    count = int.from_bytes(pack[8:12], "big") if len(pack) >= 12 else 0
    if count > UNPACK_LIMIT:
        git.git(fork, "index-pack", "--stdin", input=pack, own=True)
    elif count:
        git.git(fork, "unpack-objects", "-q", input=pack, own=True)
    return count


def update_ref(fork: Path, ref: str, new: str, old: str | None, message: str) -> bool:
    """Move ``ref`` to ``new`` if it is at ``old`` (None: if it does not exist) — the objects ``new`` needs
    copied in first; False when someone else moved it meanwhile."""
    settle(fork, new)
    git.git(fork, "update-ref", "-m", message, ref, new, old or "", check=False)
    return git.rev_parse(fork, ref) == new


def _tips(fork: Path) -> list[str]:
    """Every commit the fork's refs name (what it holds with all its history)."""
    return list(dict.fromkeys(git.git(fork, "for-each-ref", "--format=%(objectname)", own=True).decode().split()))


def _connected(fork: Path, commit: str) -> bool:
    """Does the fork hold everything ``commit`` reaches (a run killed while copying may have left part of it)?"""
    from tasks.proc import run

    argv = ["git", "-C", str(fork), "rev-list", "--objects", "--quiet", commit, "--not", "--glob=refs/*"]
    return run(argv, check=False, env=git.git_env()).returncode == 0


def for_checks(fork: Path) -> dict[str, str]:
    """What a check on the host gets so that git in forkwave's worktree reads the candidate it checked out, writes
    nothing into the fork, and moves no ref (empty when no private directory is open)."""
    q = active(fork)
    return q.env() if q is not None else {}


def unreachable(repo: Path) -> list[str]:
    """The objects of ``repo`` no ref, HEAD or index reaches (reflogs not counted), sorted: what a run must not add."""
    out = git.git(repo, "fsck", "--unreachable", "--no-reflogs", "--no-progress", own=True)
    return sorted(line.split()[-1] for line in out.decode().splitlines() if line.startswith("unreachable "))
