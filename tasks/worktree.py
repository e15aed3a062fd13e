"""The private worktree where slices are checked out and validated (never the user's checkout)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from tasks import git
from tasks.config import Config
from tasks.errors import ForkwaveError
from tasks.workspace import Workspace

KEEP = ("node_modules",)  # survive between attempts while the lockfiles are unchanged: installs are expensive
LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")


def path_for(ws: Workspace) -> Path:
    return ws.state / "worktree"


def ensure(cfg: Config, ws: Workspace, commit: str) -> Path:
    """A clean detached worktree of the fork at ``commit``; stale ones are pruned and rebuilt."""
    wt = path_for(ws)
    git.git(cfg.fork.path, "worktree", "prune")
    registered = git.git(cfg.fork.path, "worktree", "list", "--porcelain", "-z").decode()
    if wt.exists() and f"worktree {wt}\0" not in registered:
        shutil.rmtree(wt)
    if not wt.exists():
        wt.parent.mkdir(parents=True, exist_ok=True)
        git.git(cfg.fork.path, "worktree", "add", "--detach", "--force", str(wt), commit)
        return wt
    checkout(wt, commit)
    return wt


def checkout(wt: Path, commit: str) -> None:
    """Check ``commit`` out clean. ``node_modules`` is kept unless a lockfile changed."""
    git.git(wt, "checkout", "--quiet", "--detach", "--force", commit)
    marker = wt.with_name(wt.name + ".lockfiles")
    digest = lockfile_digest(wt)
    keep = marker.exists() and marker.read_text() == digest
    git.git(wt, "clean", "-ffdxq", *(arg for k in KEEP for arg in ("-e", k)) if keep else ())
    marker.write_text(digest)


def lockfile_digest(wt: Path) -> str:
    """The lockfiles' paths and blob ids in the checked-out commit (from the index: no tree walk)."""
    specs = [f":(glob)**/{name}" for name in LOCKFILES]
    return hashlib.sha1(git.git(wt, "ls-files", "-s", "-z", "--", *specs)).hexdigest()


def sync_tip(cfg: Config) -> str:
    """The sync branch's commit, creating the branch from ``fork.branch`` when missing."""
    ref = f"refs/heads/{cfg.fork.sync_branch}"
    tip = git.rev_parse(cfg.fork.path, ref)
    if tip:
        return tip
    base = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.branch}")
    if base is None:
        raise ForkwaveError(f"{cfg.file}: fork.branch: no branch {cfg.fork.branch!r} in {cfg.fork.path}")
    git.git(cfg.fork.path, "update-ref", "-m", "forkwave: create sync branch", ref, base, "")
    return base


def move_sync(cfg: Config, new: str, old: str, message: str) -> None:
    """Compare-and-swap the sync branch: fails if someone else moved it meanwhile."""
    ref = f"refs/heads/{cfg.fork.sync_branch}"
    out = git.git(cfg.fork.path, "update-ref", "-m", message, ref, new, old, check=False)
    if git.rev_parse(cfg.fork.path, ref) != new:
        raise ForkwaveError(f"{cfg.fork.sync_branch} moved while the slice was validated (expected {old[:12]}); "
                            f"nothing was changed; run again {out.decode().strip()}")
