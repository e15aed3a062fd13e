"""A source's bare mirror in the workspace, and the fetch task that fills it."""
from __future__ import annotations

from pathlib import Path

from tasks.config import Config
from tasks.repo import git
from tasks.workspace import Workspace


def init_mirror(ws: Workspace) -> Path:
    """The source's bare mirror, made when missing. A dry run's own mirror (its refs move, the real one's never
    do) borrows the real mirror's objects as an alternate, so it fetches only what is new."""
    if not (ws.mirror / "HEAD").exists():
        ws.mirror.parent.mkdir(parents=True, exist_ok=True)
        git.git(None, "init", "--quiet", "--bare", str(ws.mirror))
    real = ws.real.mirror
    alternates = ws.mirror / "objects" / "info" / "alternates"
    if ws.dry and (real / "objects").is_dir() and not alternates.exists():
        alternates.parent.mkdir(parents=True, exist_ok=True)
        alternates.write_text(f"{(real / 'objects').resolve()}\n")
    return ws.mirror


def task_name(cfg: Config) -> str:
    """This source's fetch task: ``fetch``, or ``fetch:<name>`` with several sources."""
    return f"fetch:{cfg.source}" if cfg.several else "fetch"
