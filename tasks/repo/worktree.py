"""The private worktree where slices are checked out and validated (never the user's checkout)."""
from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

from tasks import faults
from tasks.repo import git, objects
from tasks.config import Config
from tasks.errors import ForkwaveError, Precondition
from tasks.workspace import Workspace

# as many checkout workers as cores (git >= 2.32; ignored before): a first checkout writes every file of the fork
CHECKOUT = (*objects.NO_REFLOG, "-c", "checkout.workers=0")
KEEP = ("node_modules",)  # survive between attempts while the lockfiles are unchanged: installs are expensive
LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")


_REGISTRY = threading.Lock()  # `git worktree add/prune` edit the fork's list of worktrees: one at a time
_HELD: dict[Path, tuple[int, str]] = {}   # worktree -> (who checked it out, what): see ``held``


def held(wt: Path) -> tuple[int, str] | None:
    """Who last checked ``wt`` out through ``hold`` and what (any ``ensure`` since forgets it): a judge that
    finds its own candidate there skips the checkout, and never mistakes another's for it."""
    return _HELD.get(wt)


def hold(wt: Path, owner: int, what: str) -> None:
    _HELD[wt] = (owner, what)


def path_for(ws: Workspace, slot: int = 0) -> Path:
    """The private worktree; slot *k* > 0 is another one, for a candidate judged beside it (``tasks.engine.bench``)."""
    return ws.state / ("worktree" if slot == 0 else f"worktree-{slot}")


def slot_paths(ws: Workspace) -> list[Path]:
    """The extra worktrees earlier runs made (slots 1, 2, ...), for ``doit clean``."""
    return sorted(p for p in ws.state.glob("worktree-*") if p.is_dir() and p.name.split("-", 1)[1].isdigit())


def parse_worktrees(out: bytes) -> list[dict[str, str]]:
    r"""``git worktree list --porcelain -z``: one dict per worktree (``worktree``, ``HEAD``, ``branch``...).

    >>> parse_worktrees(b"worktree /r\0HEAD abc\0branch refs/heads/main\0\0worktree /w\0HEAD def\0detached\0\0")
    [{'worktree': '/r', 'HEAD': 'abc', 'branch': 'refs/heads/main'}, {'worktree': '/w', 'HEAD': 'def', 'detached': ''}]
    """
    trees: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for field in out.decode("utf-8", "surrogateescape").split("\0"):
        if not field:
            if current:
                trees.append(current)
            current = {}
            continue
        key, _, value = field.partition(" ")
        current[key] = value
    if current:
        trees.append(current)
    return trees


def worktrees(fork: Path) -> list[dict[str, str]]:
    return parse_worktrees(git.git(fork, "worktree", "list", "--porcelain", "-z"))


def guard(cfg: Config, ws: Workspace) -> None:
    """Refuse to move the sync branch while a checkout that is not forkwave's has it checked out.

    git itself refuses to move a branch under a checkout; forkwave moves it with ``update-ref``,
    which does not ask, so it asks here: the person's index would otherwise show the reverse
    of every adopted change, and their next commit would undo the sync.
    """
    ref = f"refs/heads/{cfg.fork.sync_branch}"
    ours = str(path_for(ws).resolve())
    for t in worktrees(cfg.fork.path):
        if t.get("branch") == ref and str(Path(t["worktree"]).resolve()) != ours:
            raise Precondition(f"{cfg.fork.sync_branch} is checked out in {t['worktree']}; forkwave never moves a "
                                f"branch under a checkout: switch that checkout to another branch "
                                f"(git -C {t['worktree']} switch {cfg.fork.branch}) and run again")


def ensure(cfg: Config, ws: Workspace, commit: str, slot: int = 0) -> Path:
    """A clean detached worktree of the fork at ``commit``; stale ones are pruned, unlocked or rebuilt."""
    wt = path_for(ws, slot)
    objects.attach(cfg.fork.path, wt)  # a candidate checked out here reads the run's private object directory
    _HELD.pop(wt, None)
    with _REGISTRY:
        git.git(cfg.fork.path, "worktree", "prune")
        registered = any(str(Path(t["worktree"]).resolve()) == str(wt.resolve()) for t in worktrees(cfg.fork.path))
        if wt.exists() and not registered:
            shutil.rmtree(wt)
        if not wt.exists():
            return _add(cfg, wt, commit)
    clear_stale_locks(wt)
    try:
        checkout(wt, commit)
    except ForkwaveError:  # a killed checkout can leave a worktree git refuses to use: it is ours, rebuild it
        with _REGISTRY:
            remove(cfg, wt)
            return _add(cfg, wt, commit)
    return wt


def _add(cfg: Config, wt: Path, commit: str) -> Path:
    """The worktree made on ``fork.branch`` (a commit the fork holds: ``worktree add`` reads the fork's own store),
    then ``commit`` checked out in it (which may be a candidate in the private object directory)."""
    wt.parent.mkdir(parents=True, exist_ok=True)
    home = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.branch}") or commit
    git.git(cfg.fork.path, *objects.NO_REFLOG, "worktree", "add", "--detach", "--no-checkout", "--force", str(wt), home)
    git.git(wt, *CHECKOUT, "checkout", "--quiet", "--detach", "--force", commit)
    _marker(wt).write_text(lockfile_digest(wt))  # what a later checkout compares its lockfiles with
    return wt


def _marker(wt: Path) -> Path:
    return wt.with_name(wt.name + ".lockfiles")


def remove(cfg: Config, wt: Path) -> None:
    git.git(cfg.fork.path, "worktree", "remove", "--force", "--force", str(wt), check=False)
    if wt.exists():
        shutil.rmtree(wt)
    git.git(cfg.fork.path, "worktree", "prune")


STALE_LOCKS = ("index.lock", "HEAD.lock")


def clear_stale_locks(wt: Path) -> list[Path]:
    """Remove the lock files a killed git left in the private worktree's own git directory, and its HEAD's reflog.

    Only forkwave uses this worktree, and only while it holds the workspace and fork locks,
    so a lock found there now belongs to a process that is gone. Its HEAD names candidates
    in the run's private object directory, which is dropped: a reflog of them would hold
    names of objects the fork never had (``git fsck`` reports them, ``git gc`` fails on them).
    """
    gitdir = _gitdir(wt)
    if gitdir is None:
        return []
    cleared = []
    for name in (*STALE_LOCKS, "logs/HEAD"):
        lock = gitdir / name
        if lock.exists():
            lock.unlink()
            cleared.append(lock)
    return cleared


def _gitdir(wt: Path) -> Path | None:
    """The worktree's own git directory (``<fork>/.git/worktrees/<name>``), from its ``.git`` file."""
    gitdir_file = wt / ".git"
    if not gitdir_file.is_file():
        return None
    gitdir = Path(gitdir_file.read_text().split(":", 1)[1].strip())
    return gitdir if gitdir.is_absolute() else (wt / gitdir).resolve()


def checkout(wt: Path, commit: str) -> None:
    """Check ``commit`` out clean. ``node_modules`` is kept unless a lockfile changed."""
    faults.point("checkout")
    git.git(wt, *CHECKOUT, "checkout", "--quiet", "--detach", "--force", commit)
    marker = _marker(wt)
    digest = lockfile_digest(wt)
    keep = marker.exists() and marker.read_text() == digest
    git.git(wt, "clean", "-ffdxq", *(arg for k in KEEP for arg in ("-e", k)) if keep else ())
    marker.write_text(digest)


def lockfile_digest(wt: Path) -> str:
    """The lockfiles' paths and blob ids in the checked-out commit (from the index: no tree walk)."""
    specs = [f":(glob)**/{name}" for name in LOCKFILES]
    return hashlib.sha1(git.git(wt, "ls-files", "-s", "-z", "--", *specs)).hexdigest()


def sync_tip(cfg: Config) -> str:
    """The sync branch's commit. A missing branch starts from the fork's remote's (``adopt``); only when the
    remote has none either is it cut from ``fork.branch``."""
    tip = git.ref_tip(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}") or adopt(cfg)
    if tip:
        return tip
    base = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.branch}^{{commit}}")
    if base is None:
        raise ForkwaveError(f"{cfg.file}: fork.branch: no branch {cfg.fork.branch!r} in {cfg.fork.path}")
    return _create(cfg, base, "forkwave: create sync branch")


def adopt(cfg: Config) -> str | None:
    """A missing sync branch made from the fork's remote's (a fresh clone: the remote holds every processed
    commit, resolution and rollback), tracking it as ``git switch <branch>`` would; None when the remote has
    none. Never a new branch over a remote one: its history is the record of what was done."""
    ref = f"refs/heads/{cfg.fork.sync_branch}"
    shared = remote_ref(cfg)
    if git.ref_tip(cfg.fork.path, ref) or shared is None:
        return None
    start = git.rev_parse(cfg.fork.path, f"{shared}^{{commit}}") or ""
    tip = _create(cfg, start, f"forkwave: sync branch from {shared}")
    if tip == start:  # ours: track the remote's, as `git switch` does
        remote = shared.removeprefix("refs/remotes/").removesuffix(f"/{cfg.fork.sync_branch}")
        git.git(cfg.fork.path, "config", f"branch.{cfg.fork.sync_branch}.remote", remote)
        git.git(cfg.fork.path, "config", f"branch.{cfg.fork.sync_branch}.merge", ref)
    return tip


def _create(cfg: Config, start: str, why: str) -> str:
    """The sync branch made at ``start`` (compare-and-swap from nothing: one made meanwhile stands)."""
    ref = f"refs/heads/{cfg.fork.sync_branch}"
    out = git.git(cfg.fork.path, "update-ref", "-m", why, ref, start, "", check=False)
    git.refs_moved(cfg.fork.path)
    now = git.rev_parse(cfg.fork.path, ref)
    if now is None:
        raise ForkwaveError(f"could not create {cfg.fork.sync_branch} in {cfg.fork.path}: {out.decode().strip()}")
    return now


def fork_remote(cfg: Config) -> str | None:
    """The remote of the fork its branches are shared through: ``publish.remote`` when it names one, else
    ``origin`` when the fork has it."""
    for name in dict.fromkeys((cfg.publish.remote, "origin")):
        if git.remote_url(cfg.fork.path, name):
            return name
    return None


def remote_ref(cfg: Config, branch: str | None = None) -> str | None:
    """``refs/remotes/<remote>/<branch>`` (default: the sync branch) when the fork's remote has it."""
    remote = fork_remote(cfg)
    ref = f"refs/remotes/{remote}/{branch or cfg.fork.sync_branch}" if remote else None
    return ref if ref and git.ref_tip(cfg.fork.path, ref) else None


def sync_ref(cfg: Config) -> str | None:
    """Where the sync branch's state is read before the branch is made: the local branch, else the remote's."""
    ref = f"refs/heads/{cfg.fork.sync_branch}"
    return ref if git.ref_tip(cfg.fork.path, ref) else remote_ref(cfg)


def move_sync(cfg: Config, new: str, old: str, message: str, ws: Workspace | None = None) -> None:
    """Compare-and-swap the sync branch: fails if someone else moved it meanwhile, or if a checkout
    that is not forkwave's has it checked out (``ws`` names forkwave's own)."""
    if ws is not None:
        guard(cfg, ws)
    objects.settle(cfg.fork.path, new)  # the commit's objects the fork lacks, from the private directory
    ref = f"refs/heads/{cfg.fork.sync_branch}"
    out = git.git(cfg.fork.path, "update-ref", "-m", message, ref, new, old, check=False)
    git.refs_moved(cfg.fork.path)
    if git.rev_parse(cfg.fork.path, ref) != new:
        raise ForkwaveError(f"{cfg.fork.sync_branch} moved while the slice was validated (expected {old[:12]}); "
                            f"nothing was changed; run again {out.decode().strip()}")
