"""A command source's outputs as commits of its mirror: what ``run`` wrote, one deterministic commit per change.

The mirror (``.forkwave/sources/<name>.git``, or ``upstream.git`` alone) holds the branch ``outputs``: each
commit's tree is exactly the files the source owns as the entrypoint last wrote them (sanitised), its parent
the previous output commit, its dates fixed, so the same outputs after the same history make the same
commit and an unchanged output makes none. Everything downstream reads it as a fetched upstream.

The mirror is private, rebuildable state that CI does not keep; the output history is what nothing else can
rebuild (the recorded base in the fork names one of its commits). So the branch also lives in the source's
reports as a git bundle (``outputs.bundle``, written when the branch moves), and a fresh checkout with
``reports/`` restored gets its mirror back from it.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tasks.config import OUTPUT_REF, Config
from tasks.errors import ForkwaveFailure
from tasks.repo import git
from tasks.repo.mirror import init_mirror, task_name
from tasks.workspace import Workspace, write_if_changed

BUNDLE = "outputs.bundle"
REF = f"refs/heads/{OUTPUT_REF}"
FIXED = "@0 +0000"  # every output commit's dates: its id depends on its content and history only


def init(ws: Workspace) -> Path:
    """The source's mirror, made when missing, with its output branch back from the bundle when it lacks it."""
    mirror = init_mirror(ws)
    if tip(mirror) is None and not restore(ws, mirror) and ws.dry:
        real = tip(ws.real.mirror) if (ws.real.mirror / "HEAD").exists() else None
        if real is not None:  # a dry run's mirror borrows the real one's objects: its branch starts where that is
            git.git(mirror, "update-ref", REF, real)
    return mirror


def tip(mirror: Path) -> str | None:
    """The last output commit, None before the first."""
    return git.rev_parse(mirror, REF)


def write_tree(mirror: Path, files: Mapping[str, tuple[str, bytes]]) -> str:
    """The tree holding ``files`` (path -> (mode, bytes)), its blobs written into the mirror."""
    if not files:
        return git.EMPTY_TREE
    fd, index = tempfile.mkstemp(prefix="forkwave-outputs-index-")
    os.close(fd)
    os.unlink(index)
    env = {"GIT_INDEX_FILE": index}
    try:
        info = []
        for path in sorted(files):
            mode, data = files[path]
            oid = git.git(mirror, "hash-object", "-w", "--no-filters", "--stdin", input=data).decode().strip()
            info.append(f"{mode} {oid}\t".encode() + path.encode("utf-8", "surrogateescape") + b"\0")
        git.git(mirror, "update-index", "-z", "--add", "--index-info", input=b"".join(info), env=env)
        return git.git(mirror, "write-tree", env=env).decode().strip()
    finally:
        if os.path.exists(index):
            os.unlink(index)


def commit(mirror: Path, tree: str, parent: str | None, message: str) -> str:
    """A commit of ``tree`` on ``parent`` with fixed dates and forkwave's identity (``git.IDENTITY``)."""
    dated = {"GIT_AUTHOR_DATE": FIXED, "GIT_COMMITTER_DATE": FIXED}
    args = ["commit-tree", tree] + (["-p", parent] if parent else [])
    return git.git(mirror, *args, input=message.encode(), env=dated).decode().strip()


def advance(ws: Workspace, mirror: Path, new: str, old: str | None) -> None:
    """Move the output branch from ``old`` to ``new`` (compare-and-swap) and keep it in the bundle (not in a dry
    run: its mirror is its own, its reports are not written)."""
    git.git(mirror, "update-ref", REF, new, old or "0" * 40)
    if not ws.dry:
        keep(ws, mirror)


def keep(ws: Workspace, mirror: Path) -> None:
    """``outputs.bundle`` in the source's reports: the whole output branch, rewritten only when its bytes change."""
    with tempfile.TemporaryDirectory(prefix="forkwave-bundle-") as tmp:
        path = Path(tmp) / BUNDLE
        git.git(mirror, "bundle", "create", "--quiet", str(path), REF)
        write_if_changed(ws.real.source_report(BUNDLE), path.read_bytes())


def restore(ws: Workspace, mirror: Path) -> bool:
    """The output branch from the bundle into ``mirror`` (a fresh checkout with ``reports/`` restored). False
    when there is no bundle, or it cannot be read (the next output commit then starts a new history)."""
    bundle = ws.real.source_report(BUNDLE)
    if not bundle.exists():
        return False
    git.git(mirror, "fetch", "--quiet", "--no-write-fetch-head", str(bundle), f"+{REF}:{REF}", check=False)
    return tip(mirror) is not None


def ensure(cfg: Config, ws: Workspace, sha: str) -> Path:
    """The mirror holding output commit ``sha`` (``fetch.ensure_commit`` for a command source): restored from
    the bundle when a fresh checkout lacks it; never by running the entrypoint again, which may give other
    outputs than the ones this run planned."""
    mirror = init(ws)
    if not git.rev_parse(mirror, f"{sha}^{{commit}}"):
        restore(ws, mirror)
    if not git.rev_parse(mirror, f"{sha}^{{commit}}"):
        raise ForkwaveFailure(f"{cfg.current.name}: output commit {sha[:12]} recorded in "
                              f"{ws.rel(ws.source_report('upstream.json'))} is neither in {ws.rel(mirror)} nor in "
                              f"{ws.rel(ws.real.source_report(BUNDLE))}; run `doit forget {task_name(cfg)}` and `doit` "
                              "again (the entrypoint runs again)")
    return mirror


def files_of(mirror: Path, commit_sha: str | None) -> dict[str, tuple[str, str]]:
    """path -> (mode, oid) of an output commit (empty before the first)."""
    if commit_sha is None:
        return {}
    return git.tree_entries(mirror, f"{commit_sha}^{{tree}}")
